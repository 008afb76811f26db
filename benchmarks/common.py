"""Shared set-up for the benchmarks: workloads that both the naive way and packager run."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def timer(results: dict[str, float], key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started


def write_photo_dataset(root: Path, count: int, size: int = 128, classes: int = 10, seed: int = 0) -> Path:
    """`count` JPEG photos (crops of scikit-learn's bundled sample photos, flipped and shifted),
    `size` x `size`, spread over `classes` class folders named 0..classes-1."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(img) for img in load_sample_images().images]
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = photos[i % len(photos)]
        crop = int(rng.integers(size, min(photo.shape[:2])))
        y = int(rng.integers(0, photo.shape[0] - crop))
        x = int(rng.integers(0, photo.shape[1] - crop))
        patch = Image.fromarray(photo[y : y + crop, x : x + crop]).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            patch = patch.transpose(Image.FLIP_LEFT_RIGHT)
        patch.save(root / str(i % classes) / f"{i:05d}.jpg", quality=90)
    return root


def ratio(naive: float, ours: float) -> str:
    return f"{naive / ours:.2f}x" if ours > 0 else "n/a"
