// Stub for the app compile check (tests/android/test_app_compiles.py, the probe of the dependency set
// the app had before: litert alone): declarations only, written from google-ai-edge/LiteRT at tag v2.2.0:
// the org.tensorflow.lite classes the litert 2.2.0 artifact carries (the app's build strips them) (litert/kotlin/BUILD, TFLITE_JAVA_SRCS_*: litert/kotlin/src/copied_from_tflite/java/ and
// tflite/java/src/main/java/org/tensorflow/lite/). Note what is NOT there: Interpreter.Options has
// no addDelegate/setUseNNAPI and there is no org.tensorflow.lite.nnapi package.
package org.tensorflow.lite;
public enum DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }
