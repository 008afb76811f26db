// Stub for the app compile check (tests/android/test_app_compiles.py, the probe of the dependency set
// the app had before: litert alone): declarations only, written from google-ai-edge/LiteRT at tag v2.2.0:
// the org.tensorflow.lite classes the litert 2.2.0 artifact carries (the app's build strips them) (litert/kotlin/BUILD, TFLITE_JAVA_SRCS_*: litert/kotlin/src/copied_from_tflite/java/ and
// tflite/java/src/main/java/org/tensorflow/lite/). Note what is NOT there: Interpreter.Options has
// no addDelegate/setUseNNAPI and there is no org.tensorflow.lite.nnapi package.
package org.tensorflow.lite;
/** Upstream: Interpreter extends InterpreterImpl implements InterpreterApi; flattened here. */
public final class Interpreter implements InterpreterApi {
    public static class Options extends InterpreterApi.Options {
        public Options() {}
        @Override public Options setNumThreads(int numThreads) { return this; }
        @Override public Options setUseXNNPACK(boolean useXNNPACK) { return this; }
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
