"""The one preprocessing spec shared by calibration, evaluation, golden files, metadata, the
manifest and the Kotlin app.

The arithmetic is a contract (android_app/core implements it line for line), so it is spelled out
and done in float64 with plain element-wise numpy operations, in this order:

1. pixels: uint8 HxWxC in the spec's color space (C=3 for RGB, 1 for GRAYSCALE);
2. resize to (height, width), half-pixel centers, no antialiasing:
   src = (dst + 0.5) * in / out - 0.5, clamped to [0, in - 1]; i0 = floor(src), i1 = min(i0 + 1, in - 1),
   f = src - i0.  bilinear: top = p[y0,x0] * (1 - fx) + p[y0,x1] * fx, likewise bottom with y1,
   value = top * (1 - fy) + bottom * fy.  nearest: p[min(floor((dst + 0.5) * in / out), in - 1)].
   Same size: no resampling at all;
3. normalize per channel: x = (value - mean[c]) / std[c]  (mean/std in 0..255 pixel units, as TFLite
   metadata's NormalizationOptions);
4. float inputs: float32(x).  Integer inputs: q = clip(round_half_even(x / scale) + zero_point, min, max).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from packager.errors import PackagerError

ColorSpace = Literal["RGB", "GRAYSCALE"]
ResizeMethod = Literal["bilinear", "nearest"]

INTEGER_RANGES = {
    np.dtype(np.int8): (-128, 127),
    np.dtype(np.uint8): (0, 255),
    np.dtype(np.int16): (-32768, 32767),
}


@dataclass(frozen=True)
class Preprocessing:
    """How raw pixels become the model's input tensor."""

    size: tuple[int, int]  # (height, width)
    color_space: ColorSpace = "RGB"
    mean: tuple[float, ...] = (127.5,)
    std: tuple[float, ...] = (127.5,)
    resize_method: ResizeMethod = "bilinear"
    layout: str = field(default="NHWC")

    def __post_init__(self) -> None:
        if self.color_space not in ("RGB", "GRAYSCALE"):
            raise PackagerError(f"unknown color space {self.color_space!r}", "use RGB or GRAYSCALE")
        if self.resize_method not in ("bilinear", "nearest"):
            raise PackagerError(f"unknown resize method {self.resize_method!r}", "use bilinear or nearest")
        h, w = self.size
        if h < 1 or w < 1:
            raise PackagerError(f"input size {h}x{w} is not positive", "give a size like 224x224")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.channels):
                raise PackagerError(
                    f"{name} has {len(values)} values but {self.color_space} has {self.channels} channels",
                    f"give 1 or {self.channels} values",
                )
        if any(s <= 0 for s in self.std):
            raise PackagerError("std must be positive", "check --std")

    @property
    def channels(self) -> int:
        return 3 if self.color_space == "RGB" else 1

    def channel_mean(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.mean, np.float64), (self.channels,))

    def channel_std(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.std, np.float64), (self.channels,))

    # --- the arithmetic -------------------------------------------------------------------------
    def resize(self, pixels: np.ndarray, out: np.ndarray | None = None, scratch: Scratch | None = None) -> np.ndarray:
        """Resize a batch (N, H, W, C) of pixels to self.size; returns float64 (`out` when given).

        Computed separably (each row interpolated along x once, then rows blended along y),
        which is the contract's formula term for term: top = row[y0], bottom = row[y1].
        `scratch` keeps the temporaries between calls (Scratch): on this kind of machine a fresh
        300 KB temporary costs more in page faults than the arithmetic done in it.
        """
        pixels = np.asarray(pixels)
        if pixels.ndim != 4:
            raise ValueError(f"expected a batch NHWC, got shape {pixels.shape}")
        n, in_h, in_w, channels = pixels.shape
        out_h, out_w = self.size
        if out is None:
            out = np.empty((n, out_h, out_w, channels), np.float64)
        if (in_h, in_w) == (out_h, out_w):
            np.copyto(out, pixels)  # exact: uint8 -> float64
            return out
        if self.resize_method == "nearest":
            np.copyto(out, pixels[:, _nearest_index(in_h, out_h)][:, :, _nearest_index(in_w, out_w)])
            return out
        scratch = scratch or Scratch()
        plan = _bilinear_plan(in_h, in_w, out_h, out_w, channels)
        source = scratch.array("source", pixels.shape)
        np.copyto(source, pixels)  # exact: uint8 -> float64
        rows = np.take(source, plan.x0, axis=2, mode="clip", out=scratch.array("rows", (n, in_h, out_w, channels)))
        rows *= plan.left
        right = np.take(source, plan.x1, axis=2, mode="clip", out=scratch.array("right", rows.shape))
        right *= plan.right
        rows += right
        np.take(rows, plan.y0, axis=1, mode="clip", out=out)  # taps are in range: "clip" is not buffered as "raise" is
        out *= plan.top
        bottom = np.take(rows, plan.y1, axis=1, mode="clip", out=scratch.array("bottom", out.shape))
        bottom *= plan.bottom
        out += bottom
        return out

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """(value - mean) / std per channel, float64."""
        return (values - self.channel_mean()) / self.channel_std()

    def apply(self, pixels: np.ndarray, out: np.ndarray | None = None, scratch: Scratch | None = None) -> np.ndarray:
        """Pixels (N, H, W, C) uint8 in this color space -> normalized float64 (N, h, w, C), into
        `out` when given (e.g. rows of a dataset), with `scratch` kept between calls (see resize)."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 3 and self.channels == 1:
            pixels = pixels[..., None]
        if pixels.shape[-1] != self.channels:
            raise PackagerError(
                f"pixels have {pixels.shape[-1]} channels but the preprocessing is {self.color_space}",
                "convert the images to the model's color space",
            )
        values = self.resize(pixels, out, scratch)  # float64, ours: normalized in place
        mean, std = _per_pixel(self.channel_mean(), self.channel_std(), values.shape[1:])
        values -= mean
        values /= std
        return values

    # --- manifest form --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "size": [int(self.size[0]), int(self.size[1])],
            "color_space": self.color_space,
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "resize_method": self.resize_method,
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            size=(int(data["size"][0]), int(data["size"][1])),
            color_space=data.get("color_space", "RGB"),
            mean=tuple(float(v) for v in data.get("mean", (127.5,))),
            std=tuple(float(v) for v in data.get("std", (127.5,))),
            resize_method=data.get("resize_method", "bilinear"),
            layout=data.get("layout", "NHWC"),
        )


class Scratch:
    """Temporaries of Preprocessing.resize kept between calls, one per thread (not shared)."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def array(self, role: str, shape: tuple[int, ...]) -> np.ndarray:
        key = (role, tuple(int(d) for d in shape))
        if key not in self._arrays:
            if len(self._arrays) > 32:  # images of many sizes: keep memory bounded
                self._arrays.clear()
            self._arrays[key] = np.empty(key[1], np.float64)
        return self._arrays[key]


@dataclass(frozen=True)
class _BilinearPlan:
    """The taps and weights of one bilinear resize, the weights spread over whole (rows, columns,
    channels) planes: numpy multiplies those in one contiguous loop, where a (1, w, 1) weight
    broadcast over RGB runs an inner loop of 3 elements (about 3x slower). Same values, same order
    of operations: the result is the contract's, bit for bit."""

    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    left: np.ndarray  # (in_h, out_w, C): 1 - fx
    right: np.ndarray  # (in_h, out_w, C): fx
    top: np.ndarray  # (out_h, out_w, C): 1 - fy (as a (out_h, 1, 1) broadcast it took twice as long)
    bottom: np.ndarray  # (out_h, out_w, C): fy


@lru_cache(maxsize=64)
def _bilinear_plan(in_h: int, in_w: int, out_h: int, out_w: int, channels: int) -> _BilinearPlan:
    y0, y1, fy = _bilinear_taps(in_h, out_h)
    x0, x1, fx = _bilinear_taps(in_w, out_w)

    def columns(weights: np.ndarray) -> np.ndarray:
        return _frozen(np.broadcast_to(weights[None, :, None], (in_h, out_w, channels)).copy())

    def rows(weights: np.ndarray) -> np.ndarray:
        return _frozen(np.broadcast_to(weights[:, None, None], (out_h, out_w, channels)).copy())

    return _BilinearPlan(x0, x1, y0, y1, columns(1.0 - fx), columns(fx), rows(1.0 - fy), rows(fy))


@lru_cache(maxsize=64)
def _per_pixel_cached(mean: tuple[float, ...], std: tuple[float, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return (_frozen(np.broadcast_to(np.asarray(mean, np.float64), shape).copy()),
            _frozen(np.broadcast_to(np.asarray(std, np.float64), shape).copy()))


def _per_pixel(mean: np.ndarray, std: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std as whole (h, w, C) planes (contiguous loops, as _BilinearPlan's)."""
    return _per_pixel_cached(tuple(float(m) for m in mean), tuple(float(s) for s in std), tuple(int(d) for d in shape))


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # cached and shared: never changed in place
    return array


@lru_cache(maxsize=64)
def _bilinear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dst = np.arange(size_out, dtype=np.float64)
    src = (dst + 0.5) * (size_in / size_out) - 0.5
    src = np.clip(src, 0.0, size_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, size_in - 1)
    return i0, i1, src - i0


@lru_cache(maxsize=64)
def _nearest_index(size_in: int, size_out: int) -> np.ndarray:
    dst = np.arange(size_out, dtype=np.float64)
    return np.minimum(np.floor((dst + 0.5) * (size_in / size_out)).astype(np.int64), size_in - 1)


def to_input_dtype(
    normalized: np.ndarray, dtype: np.dtype | type, scale: float | None = None, zero_point: int | None = None
) -> np.ndarray:
    """Normalized float64 values -> the model's input tensor dtype (step 4 of the contract)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return normalized.astype(dtype)
    if dtype not in INTEGER_RANGES:
        raise PackagerError(f"input dtype {dtype} is not supported for image inputs", "use float32, int8, uint8 or int16 inputs")
    if not scale:
        raise PackagerError(f"integer input ({dtype}) has no quantization scale", "re-convert the model with quantized inputs")
    lo, hi = INTEGER_RANGES[dtype]
    q = normalized / float(scale)
    np.rint(q, out=q)  # rounds half to even; in place: these arrays are large
    q += int(zero_point or 0)
    np.clip(q, lo, hi, out=q)
    return q.astype(dtype)


def dequantize(values: np.ndarray, scale: float | None, zero_point: int | None) -> np.ndarray:
    """Integer tensor -> float32 real values (identity for float tensors)."""
    values = np.asarray(values)
    if values.dtype.kind == "f" or not scale:
        return values.astype(np.float32)
    return ((values.astype(np.float64) - int(zero_point or 0)) * float(scale)).astype(np.float32)
