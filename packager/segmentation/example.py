"""The segmentation example: coloured shapes on a noisy background, and a segmenter made for them.

Images are 32x32 RGB: a grey background with noise, red rectangles (class 1, "rect") and blue discs
(class 2, "disc"), and a mask PNG of the class at every pixel. The segmenter is constructed, not
trained (it exists in well under a second): a 3x3 box blur per channel (the noise averaged away)
then a 1x1 convolution whose weights score each class from the blurred colour, so its float masks
match the drawn ones except at shape borders. Its output is [1, 32, 32, 3] logits, as DeepLab's.

Written the way `packager build --task segmentation` reads it: a folder of PNG images with their
masks in masks/<image stem>.png, and labels.txt (one class per line, in output order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager import quiet

SIZE = 32
CLASSES = ("background", "rect", "disc")
MEAN, STD = (127.5,), (127.5,)


@dataclass(frozen=True)
class SegmentationData:
    images: Path  # PNGs, masks in images/masks/
    calib: Path  # PNGs, no masks
    labels_file: Path
    masks: np.ndarray  # [N, 32, 32] the drawn classes of `images`, in file-name order


def make_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels [N, 32, 32, 3] uint8, masks [N, 32, 32] uint8)."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((count, SIZE, SIZE, 3), np.uint8)
    masks = np.zeros((count, SIZE, SIZE), np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in range(count):
        grey = rng.uniform(70, 150)
        image = np.full((SIZE, SIZE, 3), grey) + rng.normal(0, 18, (SIZE, SIZE, 3))
        mask = masks[i]
        for _ in range(rng.integers(1, 4)):
            if rng.random() < 0.5:
                top, left = rng.integers(0, SIZE - 8, 2)
                h, w = rng.integers(6, 16, 2)
                region = (yy >= top) & (yy < top + h) & (xx >= left) & (xx < left + w)
                colour, cls = (rng.uniform(170, 230), rng.uniform(20, 70), rng.uniform(20, 70)), 1
            else:
                cy, cx = rng.integers(6, SIZE - 6, 2)
                region = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(3, 8) ** 2
                colour, cls = (rng.uniform(20, 70), rng.uniform(40, 90), rng.uniform(170, 230)), 2
            image[region] = np.asarray(colour) + rng.normal(0, 18, (int(region.sum()), 3))
            mask[region] = cls
        pixels[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return pixels, masks


def write_data(root: Path, count: int = 24, calib_count: int = 32) -> SegmentationData:
    from PIL import Image  # noqa: PLC0415 - Pillow only when writing the example

    images, calib = root / "images", root / "calib"
    (images / "masks").mkdir(parents=True, exist_ok=True)
    calib.mkdir(parents=True, exist_ok=True)
    pixels, masks = make_images(count, seed=1)
    for i, (p, m) in enumerate(zip(pixels, masks)):
        Image.fromarray(p).save(images / f"scene{i:03d}.png")
        Image.fromarray(m, mode="L").save(images / "masks" / f"scene{i:03d}.png")
    for i, p in enumerate(make_images(calib_count, seed=2)[0]):
        Image.fromarray(p).save(calib / f"calib{i:03d}.png")
    labels = root / "labels.txt"
    labels.write_text("".join(f"{c}\n" for c in CLASSES), encoding="utf-8")
    return SegmentationData(images, calib, labels, masks)


def build_model(path: Path) -> Path:
    """The constructed segmenter saved as a .keras file (inputs normalized as (pixel - 127.5) / 127.5)."""
    quiet.import_tensorflow()
    import keras  # noqa: PLC0415 - TensorFlow only when the example is made

    image = keras.Input((SIZE, SIZE, 3), name="image")
    blur = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="blur")
    x = blur(image)
    head = keras.layers.Conv2D(len(CLASSES), 1, name="logits")
    model = keras.Model(image, head(x))
    blur.set_weights([np.full((3, 3, 3, 1), 1 / 9, np.float32)])
    # logits from the blurred colour in [-1, 1]: red rectangles (R high, G and B low), blue discs (B high),
    # the grey background (R = G = B) scores 0 on both shape classes and wins with its bias
    weights = np.array([[0.0, 5.0, -2.5], [0.0, -2.5, -2.5], [0.0, -2.5, 5.0]], np.float32)  # [in RGB, out class]
    head.set_weights([weights[None, None], np.array([1.0, -1.0, -1.0], np.float32)])
    with quiet.captured_output():
        model.save(path)
    return path
