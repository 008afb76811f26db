"""Class masks of a segmenter and their figures: against the float model and against labelled masks.

A segmenter's output is [N, H, W, C] class scores; its mask is the argmax over C at every pixel. An
integer output need not be dequantized for that: real = scale * (q - zero_point) with scale > 0 keeps
the order of the C values at a pixel, so the argmax of the raw integers is the argmax of the reals.

Ground truth: a folder of PNGs beside the evaluation images, masks/<image stem>.png, one class index per
pixel (8-bit grayscale or palette PNGs, as Pascal VOC stores them; 255 is "void", not counted), or an
.npz's `y` of shape [N, H, W]. Masks of another size than the output are resized nearest-neighbour,
as the images are resized to the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from packager.data import arrays
from packager.data.dataset import take_order
from packager.errors import PackagerError
from packager.fileio import open_regular
from packager.manifest import MaskFigures, SegmentationInfo

MASKS_FOLDER = "masks"
VOID = 255  # Pascal VOC's "not labelled" pixels (object borders): counted nowhere


def class_masks(output: np.ndarray) -> np.ndarray:
    """[N, H, W, C] scores (raw integers or floats) -> [N, H, W] class indices."""
    output = np.asarray(output)
    if output.ndim != 4 or output.shape[-1] < 2:
        raise ValueError(f"a segmenter's output is [N, H, W, classes], not {list(output.shape)}")
    return output.argmax(axis=-1)


def compact(masks: np.ndarray, classes: int) -> np.ndarray:
    """The smallest unsigned type that holds every class index (uint8 up to 256 classes)."""
    return masks.astype(np.uint8 if classes <= 256 else np.uint16)


def mean_iou(predicted: np.ndarray, expected: np.ndarray, classes: int) -> float:
    """Mean over the classes present in either mask of |P and E| / |P or E|; VOID pixels of `expected` are left out."""
    p, e = np.asarray(predicted).ravel().astype(np.int64), np.asarray(expected).ravel().astype(np.int64)
    keep = e != VOID
    p, e = p[keep], e[keep]
    both = np.bincount(e[p == e], minlength=classes)[:classes]
    either = np.bincount(p, minlength=classes)[:classes] + np.bincount(e, minlength=classes)[:classes] - both
    present = either > 0
    return float((both[present] / either[present]).mean()) if present.any() else 1.0


def pixel_agreement(predicted: np.ndarray, expected: np.ndarray) -> float:
    """Share of the pixels (VOID left out) whose classes are equal."""
    p, e = np.asarray(predicted).ravel(), np.asarray(expected).ravel()
    keep = e != VOID
    return float((p[keep] == e[keep]).mean()) if keep.any() else 1.0


def figures(masks: np.ndarray, float_masks: np.ndarray, classes: int, truth: np.ndarray | None = None) -> MaskFigures:
    """One model's masks against float's and, with labelled masks, against the truth."""
    agree, iou = pixel_agreement(masks, float_masks), mean_iou(masks, float_masks, classes)
    if truth is None:
        return MaskFigures(pixel_agreement=agree, mean_iou=iou)
    return MaskFigures(pixel_agreement=agree, mean_iou=iou, pixel_accuracy=pixel_agreement(masks, truth), truth_mean_iou=mean_iou(masks, truth, classes))


def summary(float_scores: np.ndarray, chosen_scores: np.ndarray, truth: np.ndarray | None) -> SegmentationInfo:
    """The manifest's segmentation entry from float's and the bundled model's outputs on the evaluation data."""
    classes = int(float_scores.shape[-1])
    float_masks, chosen = class_masks(float_scores), class_masks(chosen_scores)
    return SegmentationInfo(classes=classes, samples=len(float_masks), labelled_masks=None if truth is None else len(truth),
                            reference=figures(float_masks, float_masks, classes, truth), chosen=figures(chosen, float_masks, classes, truth))


def _fit(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(size):
        return mask
    from PIL import Image  # noqa: PLC0415 - Pillow only when masks need resizing

    return np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((size[1], size[0]), Image.Resampling.NEAREST))


def _check(mask: np.ndarray, classes: int, where: str) -> np.ndarray:
    bad = (mask >= classes) & (mask != VOID)
    if bad.any():
        raise PackagerError(f"{where} has class {int(mask[bad].max())} but the model has {classes} classes (0-{classes - 1}, {VOID} = void)",
                            "store one class index per pixel, in the model's class order")
    return mask


def read_png(path: Path, size: tuple[int, int], classes: int) -> np.ndarray:
    """One mask PNG as [H, W] class indices at the output's size."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - Pillow only for masks

    try:
        with open_regular(path) as fh, Image.open(fh) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise PackagerError(f"mask {path} is a {image.mode} image, not class indices",
                                    "save masks as 8-bit grayscale or palette PNGs whose values are class indices")
            mask = np.asarray(image).astype(np.int64)
    except (UnidentifiedImageError, OSError) as exc:
        raise PackagerError(f"mask {path} cannot be read ({exc})", "save masks as PNGs") from None
    return _check(_fit(mask, size), classes, f"mask {path}")


def read_truth(eval_data: Path | None, files: tuple[str, ...], count: int, size: tuple[int, int], classes: int) -> np.ndarray | None:
    """The labelled masks of the evaluation samples ([N, H, W] int64), or None when there are none:
    masks/<stem>.png beside an image folder's images (every image needs one), or an .npz's `y`."""
    if eval_data is None:
        return None
    eval_data = Path(eval_data)
    if eval_data.is_dir():
        folder = eval_data / MASKS_FOLDER
        if not folder.is_dir():
            return None
        masks = []
        for name in files:
            path = folder / (Path(name).stem + ".png")
            if not path.is_file():
                raise PackagerError(f"{folder} has no mask for {name} ({path.name})", f"give every evaluation image a mask in {folder}, or remove the folder")
            masks.append(read_png(path, size, classes))
        return np.stack(masks) if masks else None
    if eval_data.suffix.lower() != ".npz":
        return None
    loaded = arrays.load(eval_data, "evaluation data")
    if not isinstance(loaded, arrays.NpzArrays):  # one array, named .npz: inputs only, as for an .npy (was an AttributeError)
        return None
    with loaded:
        key = next((k for k in ("y", "masks", "labels") if k in loaded.files), None)
        if key is None:
            return None
        y = np.asarray(arrays.member(loaded, key))
    if y.ndim == 3 and len(y) > count:  # the evaluation samples were limited (--eval-samples): the same rows
        y = y[take_order(len(y), count)]
    if y.ndim != 3 or len(y) != count or y.dtype.kind not in "iub":
        raise PackagerError(f"evaluation data {eval_data}: {key} is {y.dtype} {list(y.shape)}, not {count} masks [N, H, W] of class indices",
                            "store the masks as integers shaped [N, height, width]")
    return _check(np.stack([_fit(m, size) for m in y.astype(np.int64)]), classes, f"evaluation data {eval_data} ({key})")
