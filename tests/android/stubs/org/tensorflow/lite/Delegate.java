// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, for
// org.tensorflow:tensorflow-lite / tensorflow-lite-api 2.16.1, whose sources are tensorflow/tensorflow
// at tag v2.16.1 (tensorflow/lite/java/src/main/java/org/tensorflow/lite/, tensorflow/lite/delegates/
// nnapi/java/). That repository (2.2 GB) cannot be fetched here, so these were written from the same
// files as they continue in google-ai-edge/LiteRT at tag v2.2.0 (tflite/java/src/main/java/org/
// tensorflow/lite/, tflite/delegates/nnapi/java/src/main/java/org/tensorflow/lite/nnapi/), where
// every declaration below is present; only the ones the app calls are declared (see README).
package org.tensorflow.lite;
public interface Delegate extends java.io.Closeable {
    long getNativeHandle();
    @Override default void close() {}
}
