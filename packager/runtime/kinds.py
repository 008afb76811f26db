"""What an output is, for measuring it against the float model: one argmax over a whole flattened
tensor says nothing of a segmentation map or a sequence (issue 27: 30 % "agreement" for an int8
segmenter that agrees on 98 % of its pixels).

- "classes": [N, C] scores (argmax over C; one score: same side of 0.5);
- "segmentation": [N, H, W, C] class scores at every pixel: per-pixel class agreement and mean IoU
  of the two class maps;
- "probability_map": [N, H, W, 1] values in [0, 1]: the share of pixels on the same side of 0.5,
  with error and correlation;
- "sequence": [N, T, C] a class distribution per step: per-step class agreement;
- "values": anything else (regression): error and correlation; its "agreement" stays the argmax of
  the flattened output, as it always was.

Decided from the float outputs and the graph (a SOFTMAX/LOGISTIC producer, rows that sum to 1, values
in [0, 1]), the labels (the output they belong to) and the model's own metadata (an ImageSegmenter's
output is an image), or given (`--output-kind`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("classes", "segmentation", "probability_map", "sequence", "values")
FIGURES = {
    "classes": "top-1 agreement with float",
    "segmentation": "per-pixel class agreement with float",
    "probability_map": "share of pixels on the same side of 0.5 as float",
    "sequence": "per-step class agreement with float",
    "values": "top-1 agreement with float (argmax over the flattened output)",
}
THRESHOLD = 0.5


def _in_unit_range(values: np.ndarray) -> bool:
    return bool(values.size) and float(values.min()) >= -1e-6 and float(values.max()) <= 1 + 1e-6


def _sums_to_one(values: np.ndarray) -> bool:
    return bool(values.size and values.shape[-1] >= 2 and (values >= -1e-6).all() and np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def output_kind(reference: np.ndarray, probability_op: bool = False, labelled: bool = False, image: bool = False) -> str:
    """The kind of one output from the float model's values on the measuring data (N first) and what
    the graph and metadata say: `probability_op` (produced by SOFTMAX/LOGISTIC), `labelled` (the labels
    belong to it, one per class), `image` (its metadata calls it an image: a segmentation mask)."""
    dims = tuple(reference.shape[1:])
    classy = probability_op or labelled or _sums_to_one(reference)
    if len(dims) <= 1:
        return "classes" if (dims and dims[0] >= 2) or _in_unit_range(reference) else "values"
    if len(dims) == 2:
        return "sequence" if dims[1] >= 2 and classy else "values"
    if len(dims) == 3 and dims[2] >= 2:
        return "segmentation" if classy or image else "values"
    if len(dims) == 3 and dims[2] == 1:
        return "probability_map" if probability_op or _in_unit_range(reference) else "values"
    return "values"


def check_kind(kind: str, shape: tuple[int, ...]) -> str | None:
    """Why `kind` cannot measure an output of `shape` (N first), or None."""
    dims = tuple(shape[1:])
    need = {"segmentation": "[N, H, W, C] with C >= 2", "probability_map": "[N, H, W, 1]", "sequence": "[N, T, C] with C >= 2",
            "classes": "[N, C]"}
    fits = {"segmentation": len(dims) == 3 and dims[2] >= 2, "probability_map": len(dims) == 3 and dims[2] == 1,
            "sequence": len(dims) == 2 and dims[1] >= 2, "classes": len(dims) == 1, "values": True}
    return None if fits[kind] else f"--output-kind {kind} measures outputs shaped {need[kind]}, not {list(shape)}"


@dataclass(frozen=True)
class KindFigures:
    """One output's figures against float, for its kind."""

    agreement: float
    mean_iou: float | None = None  # segmentation: mean over the classes either map has of the class maps' IoU
    correlation: float | None = None  # probability maps (and values): Pearson over every value


def class_maps(output: np.ndarray) -> np.ndarray:
    """The class at every position (argmax over the last axis)."""
    return np.asarray(output).argmax(axis=-1)


def mean_iou(predicted: np.ndarray, expected: np.ndarray, classes: int) -> float:
    """Mean IoU of two class maps, over the classes present in either (a class neither has is not counted)."""
    p, e = predicted.ravel(), expected.ravel()
    both = np.bincount(p[p == e], minlength=classes)[:classes]
    either = np.bincount(p, minlength=classes)[:classes] + np.bincount(e, minlength=classes)[:classes] - both
    present = either > 0
    return float((both[present] / either[present]).mean()) if present.any() else 1.0


def correlation(output: np.ndarray, reference: np.ndarray) -> float | None:
    a, b = output.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return None
    r = float(np.corrcoef(a, b)[0, 1])
    return float(np.clip(r, -1.0, 1.0)) if np.isfinite(r) else None


def figures(kind: str, output: np.ndarray, reference: np.ndarray) -> KindFigures:
    """The figures of `output` against float's `reference` (both N first) for an output of `kind`."""
    out, ref = np.asarray(output), np.asarray(reference)
    if kind in ("segmentation", "sequence"):
        predicted, expected = class_maps(out), class_maps(ref)
        agreement = float((predicted == expected).mean())
        iou = mean_iou(predicted, expected, int(ref.shape[-1])) if kind == "segmentation" else None
        return KindFigures(agreement, mean_iou=iou)
    if kind == "probability_map":
        return KindFigures(float(((out >= THRESHOLD) == (ref >= THRESHOLD)).mean()), correlation=correlation(out, ref))
    if kind == "classes" and out.ndim == 2 and out.shape[1] == 1:  # one score: same side of 0.5
        return KindFigures(float(((out[:, 0] >= THRESHOLD) == (ref[:, 0] >= THRESHOLD)).mean()))
    flat_out, flat_ref = out.reshape(len(out), -1), ref.reshape(len(ref), -1)
    agreement = float((flat_out.argmax(axis=1) == flat_ref.argmax(axis=1)).mean()) if len(out) else 1.0
    return KindFigures(agreement, correlation=correlation(out, ref) if kind == "values" else None)
