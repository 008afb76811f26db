"""Datasets for calibration and evaluation, turned into model inputs by the one Preprocessing.

Accepted forms:
- an image folder: one subfolder per class (names are the labels, sorted), .jpg/.jpeg/.png files;
  or a folder of images without subfolders (unlabeled). Calibration needs no labels: read with
  `labelled=False`, a folder gives every image in it at any depth and its subfolders mean nothing;
- a .npz file with inputs under `x`/`images`/`inputs` and optional labels under `y`/`labels`
  (optional `class_names`); or a .npy file of inputs.
uint8 arrays are pixels (NHWC) and go through the preprocessing; float arrays are already model
inputs and must match the model's input shape.

Images must already have the model's input size unless resizing is allowed (`--resize`), and
must be in a mode that matches the color space: nothing silently changes the data distribution.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from packager.data import arrays
from packager.data.dataset import Dataset, MultiInputs
from packager.data.loading import LoadingDataset, allocate_rows
from packager.data.preprocess import Preprocessing, Scratch
from packager.errors import PackagerError
from packager.fileio import refuse_special

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# An image is decoded whole: a PNG of a few KB can declare 50,000 x 50,000 pixels (7.5 GB decoded).
# 64 Mpixel (8192 x 8192, 192 MB as RGB) is far beyond any model input; Pillow's own guard only warns
# below twice its limit and raises an exception this code would not otherwise expect.
MAX_IMAGE_PIXELS = 64 << 20
IMAGES_PER_STEP = 8  # images decoded and preprocessed together, then signalled ready (packager.data.loading)
# PIL modes we accept per color space, and what they are converted with
_MODES_FOR = {
    "RGB": {"RGB": "RGB", "RGBA": "RGB", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "P": "RGB"},
    "GRAYSCALE": {"L": "L", "LA": "L"},
}


@dataclass(frozen=True)
class InputSpec:
    """One model input, for reading its samples from an .npz: name, shape after the batch, dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def load_dataset(
    path: str | Path,
    preprocessing: Preprocessing | None,
    input_shape: tuple[int, ...],
    *,
    allow_resize: bool = False,
    label_names: list[str] | None = None,
    what: str = "dataset",
    limit: int | None = None,
    labelled: bool = True,
    dense_labels: bool = False,
) -> Dataset:
    """Load `path` and produce normalized inputs for a model input of `input_shape` (no batch).

    `labelled=False` (calibration): images are taken from the folder at any depth and any labels
    (class subfolders, label arrays) are dropped, never checked.
    `dense_labels=True` (segmentation): the labels are masks, read by packager.segmentation.masks: the
    images directly in the folder (its masks/ subfolder is not images), an array's labels dropped here.
    """
    return start_loading(path, preprocessing, input_shape, allow_resize=allow_resize, label_names=label_names, what=what,
                         limit=limit, labelled=labelled, dense_labels=dense_labels).result(f"Loading {what}")


def start_loading(
    path: str | Path,
    preprocessing: Preprocessing | None,
    input_shape: tuple[int, ...],
    *,
    allow_resize: bool = False,
    label_names: list[str] | None = None,
    what: str = "dataset",
    limit: int | None = None,
    labelled: bool = True,
    dense_labels: bool = False,
) -> LoadingDataset:
    """load_dataset, with an image folder decoded by a background thread (packager.data.loading): every
    check that needs no pixels, and the first image, are done before this returns."""
    path = Path(path)
    if not path.exists():
        raise PackagerError(f"{what} {path} does not exist", "check the path")
    if path.is_dir():
        if preprocessing is None:
            raise PackagerError(f"{what} {path} is an image folder but the model input is not an image", "pass .npy/.npz arrays instead")
        data, load_rows = _plan_image_folder(path, preprocessing, allow_resize, what, limit, labelled, dense_labels)
    elif path.suffix.lower() in (".npz", ".npy"):
        data, load_rows = _load_arrays(path, preprocessing, input_shape, allow_resize, what, limit), None
        if not labelled or dense_labels:
            data = replace(data, labels=None, class_names=None)
    else:
        raise PackagerError(f"{what} {path} is neither an image folder nor a .npy/.npz file", "pass a folder with one subfolder per class, or arrays")
    if len(data) == 0:
        raise PackagerError(f"{what} {path} is empty", "add samples (images in class subfolders, or a non-empty array)")
    if tuple(data.inputs.shape[1:]) != tuple(input_shape):  # an image folder's array is allocated, not yet filled
        raise PackagerError(
            f"{what} {path} gives inputs of shape {list(data.inputs.shape[1:])} but the model takes {list(input_shape)}",
            "check the preprocessing size and color space",
        )
    if labelled and label_names is not None and data.class_names is not None:
        data = _map_labels(data, label_names, what)
    if load_rows is None:
        return LoadingDataset(data.take(limit))  # arrays: complete already
    load_rows(lambda count: None, 0, 1)  # the first image now: a folder of the wrong mode or size fails here, at once
    return LoadingDataset(data, lambda advance: load_rows(advance, 1, len(data)), ready=1)


def _map_labels(data: Dataset, label_names: list[str], what: str) -> Dataset:
    """Re-index labels so index i means label_names[i] (folder names must be known labels)."""
    assert data.class_names is not None  # called for a labelled dataset with class names
    names = list(data.class_names)
    if names == label_names[: len(names)] and len(names) == len(label_names):
        return data
    index = {name: i for i, name in enumerate(label_names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        if all(n.isdigit() for n in names) and max(int(n) for n in names) < len(label_names):
            mapping = np.array([int(n) for n in names])  # class folders named by index
        else:
            raise PackagerError(
                f"{what} has classes {unknown[:5]} that are not in the labels file",
                "name class folders after the labels (or by label index), or put the images directly in the folder for agreement-only metrics",
            )
    else:
        mapping = np.array([index[n] for n in names])
    labels = None if data.labels is None else mapping[data.labels]
    return replace(data, labels=labels, class_names=tuple(label_names))


# --- image folders ------------------------------------------------------------------------------
def _find_images(root: Path, labelled: bool = True, dense_labels: bool = False) -> tuple[list[Path], list[int] | None, list[str] | None]:
    if dense_labels:  # segmentation: the images are the folder's own files; subfolders (masks/) are not inputs
        return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")), None, None
    if not labelled:  # calibration: every image below root, subfolders carry no meaning
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        return files, None, None
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders:
        files, labels = [], []
        for index, folder in enumerate(subfolders):
            found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            files.extend(found)
            labels.extend([index] * len(found))
        return files, labels, [p.name for p in subfolders]
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return files, None, None


def _decode(path: Path, preprocessing: Preprocessing, allow_resize: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    # MAX_IMAGE_PIXELS below is stricter than Pillow's guard, which would warn first (a second line)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    try:
        refuse_special(path, allow_dir=False)  # a FIFO named like an image would block the decoder
        image: Image.Image  # the file's, then its conversions
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise PackagerError(f"image {path} is {image.width}x{image.height}, more than {MAX_IMAGE_PIXELS >> 20} Mpixel "
                                    "(packager.data.readers.MAX_IMAGE_PIXELS)", "resize it to about the model's input size")
            image.load()
            mode = image.mode
            if mode == "P":  # palette images: judge by what the palette holds
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                if preprocessing.color_space == "GRAYSCALE" and _is_gray(image):
                    image = image.convert("L")
                mode = image.mode
            accepted = _MODES_FOR[preprocessing.color_space]
            if mode not in accepted:
                raise PackagerError(
                    f"image {path} is in mode {mode} but the model expects {preprocessing.color_space}",
                    "convert the images, or set the color space (--color-space) to match the model",
                )
            image = image.convert(accepted[mode])
            width, height = image.size
            if (height, width) != tuple(preprocessing.size) and not allow_resize:
                raise PackagerError(
                    f"image {path} is {width}x{height} but the model input is {preprocessing.size[1]}x{preprocessing.size[0]}",
                    f"resize the images, or pass --resize to resize them ({preprocessing.resize_method}) as the app will",
                )
            pixels = np.asarray(image, dtype=np.uint8)
    except PackagerError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise PackagerError(f"image {path} cannot be decoded ({exc})", "remove or replace the file") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _is_gray(image) -> bool:
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _plan_image_folder(root: Path, preprocessing: Preprocessing, allow_resize: bool, what: str, limit: int | None,
                       labelled: bool = True, dense_labels: bool = False):
    """The folder's dataset with its inputs allocated, and what fills rows [start, stop) of them in order."""
    files, labels, class_names = _find_images(root, labelled, dense_labels)
    if not files:
        raise PackagerError(
            f"{what} {root} has no images",
            "put .jpg/.png files directly in the folder (their masks in masks/<image name>.png)" if dense_labels
            else "put .jpg/.png files in one subfolder per class (or directly in the folder, unlabeled)" if labelled
            else "put .jpg/.png files in the folder (at any depth; no labels needed)",
        )
    if limit is not None and limit < len(files):  # decode only what will be used
        keep = np.sort(np.random.default_rng(0).permutation(len(files))[:limit])
        files = [files[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
    out = allocate_rows((len(files), *preprocessing.size, preprocessing.channels), np.float64)
    data = Dataset(
        source=str(root),
        inputs=out,
        labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        class_names=None if class_names is None else tuple(class_names),
        files=tuple(str(f.relative_to(root)) for f in files),
    )

    def load_rows(advance, start: int, stop: int) -> None:
        # One thread, IMAGES_PER_STEP images at a time: decoded, then resized and normalized together straight
        # into their rows (one numpy pass per step for the batch, temporaries kept in a Scratch). Decoding and
        # numpy's small steps hold the GIL most of the time: two threads took as long, with 50 % more CPU.
        scratch = Scratch()
        for first in range(start, stop, IMAGES_PER_STEP):
            last = min(first + IMAGES_PER_STEP, stop)
            images = [_decode(files[i], preprocessing, allow_resize) for i in range(first, last)]
            if len({image.shape for image in images}) == 1:
                preprocessing.apply(np.stack(images), out[first:last], scratch)
            else:  # images of several sizes: one at a time
                for i, image in zip(range(first, last), images):
                    preprocessing.apply(image[None], out[i : i + 1], scratch)
            advance(last - first)
            time.sleep(0)  # hand the GIL to a waiting evaluation thread now, not at the end of a 5 ms switch interval

    return data, load_rows


# --- arrays -------------------------------------------------------------------------------------
_INPUT_KEYS = ("x", "images", "inputs", "data")
_LABEL_KEYS = ("y", "labels", "targets")


def _load_arrays(path: Path, preprocessing: Preprocessing | None, input_shape: tuple[int, ...], allow_resize: bool, what: str,
                 limit: int | None = None) -> Dataset:
    loaded = arrays.load(path, what)  # bounded: see arrays.MAX_NPZ_MEMBERS, MAX_ARRAY_BYTES, MAX_NPZ_BYTES
    labels = class_names = None
    if isinstance(loaded, arrays.NpzArrays):
        with loaded:
            key = next((k for k in _INPUT_KEYS if k in loaded.files), None)
            if key is None:
                raise PackagerError(f"{what} {path} has no inputs array (keys: {loaded.files[:10]})", f"store inputs under one of {list(_INPUT_KEYS)}")
            x = arrays.member(loaded, key)
            label_key = next((k for k in _LABEL_KEYS if k in loaded.files), None)
            if label_key is not None:
                y = arrays.member(loaded, label_key)
                if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()):
                    raise PackagerError(f"{what} {path} has labels of dtype {y.dtype} that are not whole numbers",
                                        "store labels as integer class indices")
                labels = np.asarray(y).astype(np.int64).reshape(-1)
                if len(labels) and int(labels.min()) < 0:
                    raise PackagerError(f"{what} {path} has a negative label ({int(labels.min())})", "store labels as class indices from 0")
            if "class_names" in loaded.files:
                class_names = tuple(str(n) for n in arrays.member(loaded, "class_names").reshape(-1))
                if labels is not None and len(labels) and int(labels.max()) >= len(class_names):
                    raise PackagerError(f"{what} {path} has label {int(labels.max())} but only {len(class_names)} class names",
                                        "store one class name per class index")
    else:
        x = loaded
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise PackagerError(f"{what} {path} is empty", "save a non-empty array of samples")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise PackagerError(f"{what} {path} holds {bad} NaN or infinite values", "save finite samples only (check the export that made it)")
    if labels is not None and len(labels) != len(x):
        raise PackagerError(f"{what} {path} has {len(x)} inputs but {len(labels)} labels", "save one label per sample")
    if limit is not None and limit < len(x):
        # the samples Dataset.take(limit) would keep, picked before preprocessing: 200 calibration
        # samples of 20,000 uint8 images took 2.2 GB and 63 s when every image was preprocessed first
        order = np.sort(np.random.default_rng(0).permutation(len(x))[:limit])
        x = x[order]
        labels = None if labels is None else labels[order]
    if x.dtype == np.uint8 and preprocessing is not None:
        if x.ndim == 3 and preprocessing.channels == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != preprocessing.channels:
            raise PackagerError(
                f"{what} {path} holds pixels of shape {list(x.shape[1:])}, not {preprocessing.color_space} images",
                "store uint8 images as (N, height, width, channels)",
            )
        if tuple(x.shape[1:3]) != tuple(preprocessing.size) and not allow_resize:
            raise PackagerError(
                f"{what} {path} holds {x.shape[2]}x{x.shape[1]} images but the model input is {preprocessing.size[1]}x{preprocessing.size[0]}",
                "resize them, or pass --resize",
            )
        inputs = preprocessing.apply(x)
        pixels = True
    elif x.dtype.kind == "f":
        if tuple(x.shape[1:]) != tuple(input_shape):
            raise PackagerError(
                f"{what} {path} holds float inputs of shape {list(x.shape[1:])} but the model takes {list(input_shape)}",
                "float arrays are used as model inputs as they are; save them in the model's input shape",
            )
        inputs = x.astype(np.float64)
        pixels = False
    else:
        raise PackagerError(f"{what} {path} has dtype {x.dtype}", "use uint8 pixels or float32 model inputs")
    if labels is not None and class_names is None:
        class_names = None
    return Dataset(str(path), inputs, labels, class_names, (), pixels)


# --- several inputs -----------------------------------------------------------------------------
def _short(name: str) -> str:
    """'serving_default_input_a:0' -> 'input_a': the converter's decorations of an input name."""
    import re  # noqa: PLC0415

    return re.sub(r":\d+$", "", name).removeprefix("serving_default_")


def load_multi_input(path: str | Path, inputs: list[InputSpec], *, what: str = "dataset", limit: int | None = None,
                     labelled: bool = True) -> Dataset:
    """An .npz with one array per model input, stored under the input's name (the signature's or
    the tensor's; `x_<i>` by position also works) and optional labels (`y`/`labels`). Float arrays
    are used as they are, integer arrays of integer inputs too (token ids, masks)."""
    path = Path(path)
    names = ", ".join(_short(i.name) for i in inputs)
    if path.is_dir() or path.suffix.lower() != ".npz" or not path.exists():
        if not path.exists():
            raise PackagerError(f"{what} {path} does not exist", "check the path")
        raise PackagerError(f"{what} {path}: a model with {len(inputs)} inputs ({names}) takes an .npz with one array per input",
                            f"save it with numpy.savez(path, {', '.join(f'{_short(i.name)}=...' for i in inputs)})")
    loaded = arrays.load(path, what)
    if not isinstance(loaded, arrays.NpzArrays):
        raise PackagerError(f"{what} {path} is not an .npz archive", "save it with numpy.savez")
    with loaded:
        out, labels = [], None
        for position, spec in enumerate(inputs):
            key = next((k for k in (spec.name, _short(spec.name), f"x_{position}") if k in loaded.files), None)
            if key is None:
                raise PackagerError(f"{what} {path} has no array for input {_short(spec.name)!r} (keys: {loaded.files[:10]})",
                                    f"store one array per input, named {names}")
            x = np.asarray(arrays.member(loaded, key))
            if x.ndim == 0 or tuple(x.shape[1:]) != tuple(spec.shape):
                raise PackagerError(f"{what} {path}: array {key!r} has shape {list(x.shape)} but input {_short(spec.name)!r} takes "
                                    f"[N, {', '.join(map(str, spec.shape))}]", "save one sample per row, in the input's shape")
            if x.dtype.kind == "f" and not np.isfinite(x).all():
                raise PackagerError(f"{what} {path}: array {key!r} holds NaN or infinite values", "save finite samples only")
            if x.dtype.kind not in "fiub":
                raise PackagerError(f"{what} {path}: array {key!r} has dtype {x.dtype}", "use float or integer arrays")
            out.append(x.astype(np.float64) if x.dtype.kind == "f" or np.dtype(spec.dtype).kind == "f" else x)
        if len({len(x) for x in out}) != 1:
            raise PackagerError(f"{what} {path}: the input arrays hold {sorted({len(x) for x in out})} samples",
                                "save the same number of samples for every input")
        label_key = next((k for k in _LABEL_KEYS if k in loaded.files), None) if labelled else None
        if label_key is not None:
            labels = np.asarray(arrays.member(loaded, label_key)).astype(np.int64).reshape(-1)
            if len(labels) != len(out[0]):
                raise PackagerError(f"{what} {path} has {len(out[0])} samples but {len(labels)} labels", "save one label per sample")
    if len(out[0]) == 0:
        raise PackagerError(f"{what} {path} is empty", "save a non-empty array per input")
    data = Dataset(str(path), MultiInputs(tuple(i.name for i in inputs), tuple(out)), labels, None, (), False)
    return data.take(limit)
