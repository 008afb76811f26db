"""The embedded example: a small CNN trained in seconds on scikit-learn's digits.

The digits ship inside scikit-learn (no download). They are written as 8x8 grayscale PNGs in
one folder per class, so the example exercises the same image-folder path users have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager import quiet

DIGITS_MEAN = (0.0,)
DIGITS_STD = (255.0,)


@dataclass(frozen=True)
class DigitsData:
    train_dir: Path
    test_dir: Path
    labels_file: Path
    train_pixels: np.ndarray
    train_labels: np.ndarray
    test_pixels: np.ndarray
    test_labels: np.ndarray


def digits_pixels() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # noqa: PLC0415

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return pixels, digits.target.astype(np.int64)


def write_digits_dataset(root: Path, test_fraction: float = 0.3, seed: int = 0) -> DigitsData:
    """Write train/ and test/ image folders (class subfolders) and labels.txt under root."""
    from PIL import Image  # noqa: PLC0415

    pixels, labels = digits_pixels()
    order = np.random.default_rng(seed).permutation(len(labels))
    split = int(len(order) * (1 - test_fraction))
    parts = {"train": order[:split], "test": order[split:]}
    root.mkdir(parents=True, exist_ok=True)
    for part, indices in parts.items():
        for digit in range(10):
            (root / part / str(digit)).mkdir(parents=True, exist_ok=True)
        for i in indices:
            path = root / part / str(labels[i]) / f"{i:04d}.png"
            if not path.exists():
                Image.fromarray(pixels[i, :, :, 0], mode="L").save(path)
    labels_file = root / "labels.txt"
    labels_file.write_text("".join(f"{name}\n" for name in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]))
    tr, te = parts["train"], parts["test"]
    return DigitsData(root / "train", root / "test", labels_file, pixels[tr], labels[tr], pixels[te], labels[te])


def build_digits_cnn():
    quiet.import_tensorflow()
    import keras  # noqa: PLC0415

    # conv-BN-ReLU, as mobile CNNs are built: the converter folds BN into the conv, and the
    # normalized activations quantize well (measured: int8 within 0.2 points over 5 seeds)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1), name="image"),
        layers.Conv2D(16, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ], name="digits_cnn")


def train_digits_cnn(data: DigitsData, epochs: int = 15, seed: int = 0):
    """Train on the same normalization the bundle declares (x / 255). Takes a few seconds."""
    quiet.import_tensorflow()
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    model = build_digits_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = (data.train_pixels.astype(np.float32) - DIGITS_MEAN[0]) / DIGITS_STD[0]
    model.fit(x, data.train_labels, epochs=epochs, batch_size=32, verbose=0)
    return model
