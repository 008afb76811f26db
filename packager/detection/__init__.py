"""Object detection: SSD-style detectors with TFLite's TFLite_Detection_PostProcess op.

- anchors.py     anchor boxes (grid generator, files), box encoding as the op decodes it;
- postprocess.py the op appended to a raw detector's graph (boxes + class scores over anchors),
                 a .tflite that already has the four outputs recognised;
- decode.py      the four outputs read back as detections (the same numbers as the app's core);
- metrics.py     detections matched by IoU: precision/recall against float, mAP@0.5, score error;
- example.py     the synthetic shapes data set and the small SSD trained on it (tests, demo).
"""
