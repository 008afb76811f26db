// Stub for the app compile check (tests/android/test_app_compiles.py, the probe of the dependency set
// the app had before: litert alone): declarations only, written from google-ai-edge/LiteRT at tag v2.2.0:
// the org.tensorflow.lite classes the litert 2.2.0 artifact carries (the app's build strips them) (litert/kotlin/BUILD, TFLITE_JAVA_SRCS_*: litert/kotlin/src/copied_from_tflite/java/ and
// tflite/java/src/main/java/org/tensorflow/lite/). Note what is NOT there: Interpreter.Options has
// no addDelegate/setUseNNAPI and there is no org.tensorflow.lite.nnapi package.
package org.tensorflow.lite;
public interface InterpreterApi extends AutoCloseable {
    class Options {
        public Options() {}
        public Options setNumThreads(int numThreads) { return this; }
        public Options setUseXNNPACK(boolean useXNNPACK) { return this; }
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
