"""The .tflite file: the one flatbuffer reader/editor, TFLite metadata, and `packager inspect`."""
