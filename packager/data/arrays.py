""".npy and .npz files read with bounds: calibration and evaluation data, golden files, device outputs.

`numpy.load` trusts a file: an .npz is a zip whose members can declare gigabytes that a few
kilobytes inflate to, a zip can hold any number of members, and an .npy header can declare a
shape far larger than the data that follows (numpy allocates the whole array before it finds the
data missing). Here every size is checked against a named limit before anything is allocated or
inflated, and the declared shape must fit in the bytes actually there. Pickled (object) arrays
are never loaded.
"""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from packager.errors import PackagerError
from packager.fileio import NotRegularFile, open_regular, refuse_special

# A dataset .npz holds inputs, labels and perhaps class names: a few members. Thousands of members
# are not a dataset, and every one of them would be listed and parsed.
MAX_NPZ_MEMBERS = 64
# One array is decoded whole into memory, then only the samples used are preprocessed. 2 GiB is e.g.
# 10,000 224x224x3 float32 images, fifty times what calibration uses (200 samples); a 4 MB .npz
# declaring a 3.9 GiB array of zeros took 9 GB under the old 4 GiB limit.
MAX_ARRAY_BYTES = 2 << 30
# All members of one .npz together, uncompressed, as its zip directory declares them (zipfile never
# inflates a member beyond its declared size, so this bounds the work of a zip bomb too).
MAX_NPZ_BYTES = 3 << 30

# what numpy, zipfile and zlib raise on a damaged file (numpy parses .npy headers with a tokenizer)
_READ_ERRORS = (OSError, ValueError, TypeError, EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError)
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_FIX = "save it with numpy.save/savez (arrays of numbers, no objects)"


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n:,} bytes"


def _read_npy(fp, size: int, what: str) -> np.ndarray:
    """One .npy stream of `size` bytes: header checked, then exactly the declared data read."""
    version = np.lib.format.read_magic(fp)
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    shape, fortran, dtype = reader(fp)
    if dtype.hasobject:
        raise PackagerError(f"{what} holds Python objects (a pickled array), which are never loaded", _FIX)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    nbytes = count * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise PackagerError(f"{what} declares an array of {_gib(nbytes)} {list(shape)}, more than the {_gib(MAX_ARRAY_BYTES)} "
                            "one array may take in memory (arrays.MAX_ARRAY_BYTES)", "subsample it: calibration uses 200 samples by default")
    left = size - fp.tell()
    if nbytes > left:
        raise PackagerError(f"{what} declares {list(shape)} {dtype} ({nbytes:,} bytes) but holds {max(left, 0):,} bytes of data: "
                            "it is truncated or corrupt", _FIX)
    out = np.empty(count, dtype=dtype)
    view, done = out.data.cast("B"), 0  # ndarray.data: the array's memoryview
    while done < nbytes:
        n = fp.readinto(view[done:])
        if not n:
            raise PackagerError(f"{what} ends after {done:,} of {nbytes:,} bytes of data: it is truncated", _FIX)
        done += n
    return out.reshape(shape[::-1]).transpose() if fortran else out.reshape(shape)


class NpzArrays:
    """The members of an .npz by key (`x` for `x.npy`), each read on demand with the bounds above."""

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self._zip = zipfile.ZipFile(path)
        infos = self._zip.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            self._zip.close()
            raise PackagerError(f"{what} {path} holds {len(infos):,} members, more than the {MAX_NPZ_MEMBERS} a dataset "
                                "can need (arrays.MAX_NPZ_MEMBERS)", "save only the inputs, labels and class names")
        total = sum(i.file_size for i in infos)
        if total > MAX_NPZ_BYTES:
            self._zip.close()
            raise PackagerError(f"{what} {path} inflates to {_gib(total)}, more than {_gib(MAX_NPZ_BYTES)} (arrays.MAX_NPZ_BYTES)",
                                "subsample it: calibration uses 200 samples by default")
        self._members = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in infos}
        self.files = list(self._members)

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def __getitem__(self, key: str) -> np.ndarray:
        info = self._members[key]
        with self._zip.open(info) as fp:
            return _read_npy(fp, info.file_size, f"{self.what} {self.path} member {key!r}")

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _unreadable(path: Path, what: str, exc: BaseException) -> PackagerError:
    return PackagerError(f"{what} {path} cannot be read as a numpy file ({exc})", _FIX)


def load(path: Path | str, what: str) -> np.ndarray | NpzArrays:
    """An .npy array, or the members of an .npz (use as a context manager); PackagerError, one line,
    for anything unreadable, truncated, pickled or over a limit."""
    path = Path(path)
    try:
        refuse_special(path, allow_dir=False)
        if zipfile.is_zipfile(path):
            return NpzArrays(path, what)
        with open_regular(path) as fp:
            return _read_npy(fp, path.stat().st_size, f"{what} {path}")
    except PackagerError:
        raise
    except NotRegularFile as exc:
        raise PackagerError(f"{what} {exc}", "pass a .npy or .npz file") from None
    except _READ_ERRORS as exc:
        raise _unreadable(path, what, exc) from None


def load_array(path: Path | str, what: str) -> np.ndarray:
    """An .npy file only (golden files, device outputs)."""
    loaded = load(path, what)
    if isinstance(loaded, NpzArrays):
        loaded.close()
        raise PackagerError(f"{what} {path} is an .npz archive, not an .npy array", "save it with numpy.save")
    return loaded


def member(arrays: NpzArrays, key: str) -> np.ndarray:
    """arrays[key], with a damaged member's error as one line."""
    try:
        return arrays[key]
    except PackagerError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(arrays.path, arrays.what, exc) from None
