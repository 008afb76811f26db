// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, for
// org.tensorflow:tensorflow-lite / tensorflow-lite-api 2.16.1, whose sources are tensorflow/tensorflow
// at tag v2.16.1 (tensorflow/lite/java/src/main/java/org/tensorflow/lite/, tensorflow/lite/delegates/
// nnapi/java/). That repository (2.2 GB) cannot be fetched here, so these were written from the same
// files as they continue in google-ai-edge/LiteRT at tag v2.2.0 (tflite/java/src/main/java/org/
// tensorflow/lite/, tflite/delegates/nnapi/java/src/main/java/org/tensorflow/lite/nnapi/), where
// every declaration below is present; only the ones the app calls are declared (see README).
package org.tensorflow.lite;
/** Upstream: Interpreter extends InterpreterImpl implements InterpreterApi; flattened here. */
public final class Interpreter implements InterpreterApi {
    public static class Options extends InterpreterApi.Options {
        public Options() {}
        @Override public Options setNumThreads(int numThreads) { return this; }
        @Override public Options setUseXNNPACK(boolean useXNNPACK) { return this; }
        @Override public Options addDelegate(Delegate delegate) { return this; }
    }
    public Interpreter(java.io.File modelFile) {}
    public Interpreter(java.io.File modelFile, Options options) {}
    public Interpreter(java.nio.ByteBuffer byteBuffer) {}
    public Interpreter(java.nio.ByteBuffer byteBuffer, Options options) {}
    @Override public void run(Object input, Object output) { throw new UnsupportedOperationException("stub"); }
    @Override public void runForMultipleInputsOutputs(Object[] inputs, java.util.Map<Integer, Object> outputs) { throw new UnsupportedOperationException("stub"); }
    @Override public int getInputTensorCount() { throw new UnsupportedOperationException("stub"); }
    @Override public int getInputIndex(String opName) { throw new UnsupportedOperationException("stub"); }
    @Override public Tensor getInputTensor(int inputIndex) { throw new UnsupportedOperationException("stub"); }
    @Override public int getOutputTensorCount() { throw new UnsupportedOperationException("stub"); }
    @Override public int getOutputIndex(String opName) { throw new UnsupportedOperationException("stub"); }
    @Override public Tensor getOutputTensor(int outputIndex) { throw new UnsupportedOperationException("stub"); }
    @Override public Tensor getInputTensorFromSignature(String inputName, String signatureKey) { throw new UnsupportedOperationException("stub"); }
    @Override public String[] getSignatureKeys() { throw new UnsupportedOperationException("stub"); }
    @Override public String[] getSignatureInputs(String signatureKey) { throw new UnsupportedOperationException("stub"); }
    @Override public String[] getSignatureOutputs(String signatureKey) { throw new UnsupportedOperationException("stub"); }
    @Override public Tensor getOutputTensorFromSignature(String outputName, String signatureKey) { throw new UnsupportedOperationException("stub"); }
    @Override public void close() { throw new UnsupportedOperationException("stub"); }
}
