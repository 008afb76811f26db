// Stub for the app compile check (tests/android/test_app_compiles.py): declarations only, for
// org.tensorflow:tensorflow-lite / tensorflow-lite-api 2.16.1, whose sources are tensorflow/tensorflow
// at tag v2.16.1 (tensorflow/lite/java/src/main/java/org/tensorflow/lite/, tensorflow/lite/delegates/
// nnapi/java/). That repository (2.2 GB) cannot be fetched here, so these were written from the same
// files as they continue in google-ai-edge/LiteRT at tag v2.2.0 (tflite/java/src/main/java/org/
// tensorflow/lite/, tflite/delegates/nnapi/java/src/main/java/org/tensorflow/lite/nnapi/), where
// every declaration below is present; only the ones the app calls are declared (see README).
package org.tensorflow.lite;
public interface InterpreterApi extends AutoCloseable {
    class Options {
        public Options() {}
        public Options setNumThreads(int numThreads) { return this; }
        public Options setUseXNNPACK(boolean useXNNPACK) { return this; }
        public Options addDelegate(Delegate delegate) { return this; }
    }
    void run(Object input, Object output);
    void runForMultipleInputsOutputs(Object[] inputs, java.util.Map<Integer, Object> outputs);
    int getInputTensorCount();
    int getInputIndex(String opName);
    Tensor getInputTensor(int inputIndex);
    int getOutputTensorCount();
    int getOutputIndex(String opName);
    Tensor getOutputTensor(int outputIndex);
    Tensor getInputTensorFromSignature(String inputName, String signatureKey);
    String[] getSignatureKeys();
    String[] getSignatureInputs(String signatureKey);
    String[] getSignatureOutputs(String signatureKey);
    Tensor getOutputTensorFromSignature(String outputName, String signatureKey);
    void close();
}
