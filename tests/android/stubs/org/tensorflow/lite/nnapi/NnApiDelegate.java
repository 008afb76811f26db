// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, for
// org.tensorflow:tensorflow-lite / tensorflow-lite-api 2.16.1, whose sources are tensorflow/tensorflow
// at tag v2.16.1 (tensorflow/lite/java/src/main/java/org/tensorflow/lite/, tensorflow/lite/delegates/
// nnapi/java/). That repository (2.2 GB) cannot be fetched here, so these were written from the same
// files as they continue in google-ai-edge/LiteRT at tag v2.2.0 (tflite/java/src/main/java/org/
// tensorflow/lite/, tflite/delegates/nnapi/java/src/main/java/org/tensorflow/lite/nnapi/), where
// every declaration below is present; only the ones the app calls are declared (see README).
package org.tensorflow.lite.nnapi;
/** Deprecated upstream from LiteRT 2.1.6/2.2.0 (commit 9ddd3c8, "Explicitly deprecate the Java NNAPI Delegate"); not in 2.16.1. */
public class NnApiDelegate implements org.tensorflow.lite.Delegate, AutoCloseable {
    public static final class Options {
        public Options() {}
        public Options setExecutionPreference(int preference) { return this; }
        public Options setUseNnapiCpu(boolean enable) { return this; }
        public Options setAllowFp16(boolean enable) { return this; }
    }
    public NnApiDelegate(Options options) {}
    public NnApiDelegate() {}
    @Override public long getNativeHandle() { throw new UnsupportedOperationException("stub"); }
    @Override public void close() {}
    public int getNnapiErrno() { throw new UnsupportedOperationException("stub"); }
    public boolean hasErrors() { throw new UnsupportedOperationException("stub"); }
}
