// Stub for the app compile check (tests/android/test_app_compiles.py, the probe of the dependency set
// the app had before: litert alone): declarations only, written from google-ai-edge/LiteRT at tag v2.2.0:
// the org.tensorflow.lite classes the litert 2.2.0 artifact carries (the app's build strips them) (litert/kotlin/BUILD, TFLITE_JAVA_SRCS_*: litert/kotlin/src/copied_from_tflite/java/ and
// tflite/java/src/main/java/org/tensorflow/lite/). Note what is NOT there: Interpreter.Options has
// no addDelegate/setUseNNAPI and there is no org.tensorflow.lite.nnapi package.
package org.tensorflow.lite;
public interface Tensor {
    class QuantizationParams {
        public float getScale() { return 0; }
        public int getZeroPoint() { return 0; }
    }
    DataType dataType();
    int numDimensions();
    int numBytes();
    int numElements();
    int[] shape();
    int[] shapeSignature();
    int index();
    String name();
    QuantizationParams quantizationParams();
    java.nio.ByteBuffer asReadOnlyBuffer();
}
