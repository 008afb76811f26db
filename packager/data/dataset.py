"""The types of calibration and evaluation sets: packager.data.readers reads them, packager.data.loading
fills one in the background; both build on this module, which imports neither."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class MultiInputs:
    """The samples of a model with several inputs: one array per input (model order, same
    number of samples), indexed and sliced together like one array of samples."""

    names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, key) -> MultiInputs:
        return MultiInputs(self.names, tuple(a[key] for a in self.arrays))


Samples = np.ndarray | MultiInputs  # normalized samples of one input, or of several (MultiInputs)


def take_order(length: int, count: int, seed: int = 0) -> np.ndarray:
    """Which of `length` samples Dataset.take keeps (sorted), e.g. to take the same rows of a side array."""
    return np.sort(np.random.default_rng(seed).permutation(length)[:count])


@dataclass(frozen=True)
class Dataset:
    """Normalized model inputs (float64, before any quantization) with optional labels."""

    source: str
    inputs: np.ndarray | MultiInputs  # (N, ...) normalized values, float64; several inputs: one array each
    labels: np.ndarray | None  # (N,) int64 class indices
    class_names: tuple[str, ...] | None
    files: tuple[str, ...] = ()
    pixels: bool = True  # False when the inputs came as float arrays (no image preprocessing)

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, count: int | None, seed: int = 0) -> Dataset:
        """A deterministic random subset of at most `count` samples (all when None)."""
        if count is None or count >= len(self):
            return self
        order = take_order(len(self), count, seed)
        return replace(
            self,
            inputs=self.inputs[order],
            labels=None if self.labels is None else self.labels[order],
            files=tuple(self.files[i] for i in order) if self.files else (),
        )
