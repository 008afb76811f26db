"""Semantic segmentation: models whose output is a class score per pixel, [1, H, W, C].

- meta.py   tflite-support's ImageSegmenter metadata (labels on the class axis, the output an image:
            a category mask), read back and checked;
- masks.py  class masks (argmax over the class axis, dequantized first), their figures against float
            and ground truth (per-pixel agreement, mean IoU), labelled masks read from PNGs or arrays,
            and the compact golden form a phone is checked against.
"""
