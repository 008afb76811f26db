"""A dataset whose inputs one background thread is still decoding, in order.

Evaluation reads rows as they become ready (`rows`), so inference on the first images overlaps the
decoding of the rest; everything else waits for the whole (`result`). The loader's error (a file
that does not decode) is raised in whichever thread asks next, as the error it is.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import threading
from collections.abc import Callable

import numpy as np

from packager import progress
from packager.data.dataset import Dataset, MultiInputs

# load_rows(advance) fills the dataset's input rows in order and calls advance(count) after each block
RowLoader = Callable[[Callable[[int], None]], None]


def allocate_rows(shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """An uninitialised array for a dataset's rows, in an anonymous mapping of its own (4 KiB pages).

    np.empty would do, but numpy asks for transparent huge pages on arrays over 4 MiB, and where the
    kernel's THP defrag is "madvise" (a common default) a fault in such a region may first compact
    memory: decoding 500 images into a 110 MB array took 0.27-0.63 s that way, half the runs over
    0.5 s, against 0.27-0.33 s in a plain mapping (benchmarks/bench_build.py's images, idle machine)."""
    dtype = np.dtype(dtype)
    count = 1
    for dim in shape:
        count *= int(dim)
    if count * dtype.itemsize == 0 or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(shape, dtype)
    pages = mmap.mmap(-1, count * dtype.itemsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(pages, dtype, count).reshape(shape)  # the array keeps the mapping alive


class LoadingDataset:
    """`dataset` with inputs still being filled by `load_rows` on a thread of its own (None: complete)."""

    def __init__(self, dataset: Dataset, load_rows: RowLoader | None = None, ready: int = 0):
        self._dataset = dataset  # its inputs array is allocated up front and filled in place: read it through rows()/result()
        self._ready = len(dataset) if load_rows is None else ready
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        if load_rows is not None and self._ready < len(dataset):
            threading.Thread(target=self._run, args=(load_rows,), name="load-data", daemon=True).start()

    def __len__(self) -> int:
        return len(self._dataset)

    @property
    def labels(self) -> np.ndarray | None:
        return self._dataset.labels  # known before any image is decoded (class folders)

    @property
    def files(self) -> tuple[str, ...]:
        return self._dataset.files

    @property
    def ready(self) -> int:
        """How many leading rows are decoded (a snapshot: it only grows)."""
        return self._ready

    @property
    def done(self) -> bool:
        with self._changed:
            return self._ready >= len(self._dataset) or self._error is not None

    def rows(self, start: int, stop: int) -> np.ndarray | MultiInputs:
        """Inputs [start, stop), once those rows are decoded."""
        self._wait(min(stop, len(self)))
        return self._dataset.inputs[start:stop]

    def result(self, progress_label: str | None = None) -> Dataset:
        """The whole dataset, once decoded (with a progress bar on the way when labelled)."""
        def moved(seen: int) -> bool:
            return self._error is not None or self._ready != seen

        with progress.task(progress_label, len(self)) if progress_label else contextlib.nullcontext(progress.ignore) as advance:
            shown = 0
            with self._changed:
                while True:
                    self._changed.wait_for(functools.partial(moved, shown))
                    advance(self._ready - shown)
                    shown = self._ready
                    if self._error is not None:
                        raise self._error
                    if self._ready >= len(self):
                        return self._dataset

    def _wait(self, stop: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._error is not None or self._ready >= stop)
            if self._error is not None:
                raise self._error

    def _run(self, load_rows: RowLoader) -> None:
        try:
            load_rows(self._advance)
        except BaseException as exc:  # noqa: BLE001 - raised again in the thread that waits for the rows
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def _advance(self, count: int) -> None:
        with self._changed:
            self._ready += count
            self._changed.notify_all()


Inputs = np.ndarray | MultiInputs | LoadingDataset  # what evaluation runs on


def ready_rows(inputs: Inputs) -> int:
    """How many leading samples can be read without waiting."""
    return inputs.ready if isinstance(inputs, LoadingDataset) else len(inputs)


def rows_of(inputs: Inputs, start: int, stop: int):
    """Samples [start, stop) of an array, several inputs' arrays, or a dataset still loading."""
    return inputs.rows(start, stop) if isinstance(inputs, LoadingDataset) else inputs[start:stop]
