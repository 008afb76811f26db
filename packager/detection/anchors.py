"""Anchor boxes for SSD-style detectors, in the form TFLite_Detection_PostProcess takes them.

An anchor is (y_center, x_center, height, width), normalized to the image (0..1). A box is
encoded against its anchor as TensorFlow's FasterRcnnBoxCoder does and the op decodes it:
    ty = (y - ya) / ha * y_scale      tx = (x - xa) / wa * x_scale
    th = log(h / ha) * h_scale        tw = log(w / wa) * w_scale
so `encode` and `decode` here are exactly the op's arithmetic (tests check it against LiteRT).

Anchors come from a file (.npy of shape [N, 4] in that form, or a CSV of four columns with the
header y_center,x_center,height,width) or from a grid: for each feature map of size HxW one
anchor per cell center and per (size, aspect ratio), in row-major cell order then anchor order,
which is the order a conv head's [H, W, A*4] output reshaped to [H*W*A, 4] has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager.data import arrays
from packager.errors import PackagerError
from packager.fileio import read_text_bounded

MAX_ANCHORS = 1 << 20


@dataclass(frozen=True)
class FeatureMap:
    """One feature map's anchors: `sizes` (fractions of the image side) x `aspect_ratios` (w/h)."""

    height: int
    width: int
    sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...] = (1.0,)

    @property
    def per_cell(self) -> int:
        return len(self.sizes) * len(self.aspect_ratios)


def grid_anchors(maps: tuple[FeatureMap, ...] | list[FeatureMap]) -> np.ndarray:
    """[N, 4] float32 anchors (y_center, x_center, height, width), row-major cells, then anchors."""
    out: list[tuple[float, float, float, float]] = []
    for fm in maps:
        if fm.height <= 0 or fm.width <= 0 or not fm.sizes or not fm.aspect_ratios:
            raise PackagerError(f"anchor feature map {fm.height}x{fm.width} with sizes {list(fm.sizes)} is empty",
                                "give positive feature map sizes and at least one anchor size")
        boxes = [(s / np.sqrt(a), s * np.sqrt(a)) for s in fm.sizes for a in fm.aspect_ratios]
        for row in range(fm.height):
            for col in range(fm.width):
                yc, xc = (row + 0.5) / fm.height, (col + 0.5) / fm.width
                out.extend((yc, xc, h, w) for h, w in boxes)
    return np.asarray(out, np.float32).reshape(-1, 4)


def read_anchors(path: Path) -> np.ndarray:
    """Anchors from a .npy ([N, 4]) or a .csv (header y_center,x_center,height,width)."""

    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":

            lines = [line for line in read_text_bounded(path).splitlines() if line.strip()]
            header = [h.strip() for h in lines[0].split(",")] if lines else []
            if header != ["y_center", "x_center", "height", "width"]:
                raise PackagerError(f"anchors file {path} does not start with the header y_center,x_center,height,width",
                                    "write one anchor per line after that header, normalized to 0..1")
            values = np.asarray([[float(v) for v in line.split(",")] for line in lines[1:]], np.float32)
        elif path.suffix.lower() == ".npy":
            values = np.asarray(arrays.load_array(path, "anchors file"), np.float32)
        else:
            raise PackagerError(f"anchors file {path} is neither .npy nor .csv", "give a .npy of shape [N, 4] or a .csv")
    except FileNotFoundError:
        raise PackagerError(f"anchors file {path} does not exist", "check --anchors") from None
    except OSError as exc:
        raise PackagerError(f"cannot read anchors file {path}: {exc.strerror}", "check --anchors") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackagerError(f"cannot read anchors file {path} ({exc})", "four numbers per anchor: y_center,x_center,height,width") from None
    return check_anchors(values, str(path))


def check_anchors(values: np.ndarray, what: str) -> np.ndarray:
    if values.ndim != 2 or values.shape[1] != 4 or not 0 < len(values) <= MAX_ANCHORS:
        raise PackagerError(f"{what} has shape {list(values.shape)}, not [N, 4] anchors", "one row (y_center, x_center, height, width) per anchor")
    if not np.isfinite(values).all() or (values[:, 2:] <= 0).any():
        raise PackagerError(f"{what} has anchors with a non-finite value or a height/width not above 0", "normalized anchors, 0..1")
    return values.astype(np.float32)


def encode(boxes: np.ndarray, anchors: np.ndarray, scales: tuple[float, float, float, float]) -> np.ndarray:
    """Corner boxes [.., 4] (ymin, xmin, ymax, xmax) -> encodings (ty, tx, th, tw) against anchors."""
    ys, xs, hs, ws = scales
    h = np.maximum(boxes[..., 2] - boxes[..., 0], 1e-6)
    w = np.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)
    yc, xc = boxes[..., 0] + h / 2, boxes[..., 1] + w / 2
    ya, xa, ha, wa = (anchors[..., i] for i in range(4))
    return np.stack([(yc - ya) / ha * ys, (xc - xa) / wa * xs, np.log(h / ha) * hs, np.log(w / wa) * ws], axis=-1)


def decode(encodings: np.ndarray, anchors: np.ndarray, scales: tuple[float, float, float, float]) -> np.ndarray:
    """Encodings (ty, tx, th, tw) -> corner boxes (ymin, xmin, ymax, xmax), as the op decodes them."""
    ys, xs, hs, ws = scales
    ya, xa, ha, wa = (anchors[..., i] for i in range(4))
    yc = encodings[..., 0] / ys * ha + ya
    xc = encodings[..., 1] / xs * wa + xa
    h = np.exp(encodings[..., 2] / hs) * ha
    w = np.exp(encodings[..., 3] / ws) * wa
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of corner boxes a [M, 4] and b [K, 4] -> [M, K]."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
