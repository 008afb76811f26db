"""The four detection outputs read as detections, as the app's core (DetectionDecoder.kt) reads them.

Outputs in the standard order: location [1, M, 4] (ymin, xmin, ymax, xmax), category [1, M],
score [1, M], number of detections [1]; each is dequantized with its own scale and zero point
when it is an integer tensor (TFLite_Detection_PostProcess writes float32, but a model made
elsewhere may not). The first `count` rows are the detections; those under `min_score` are
dropped; boxes are clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # [k, 4] (ymin, xmin, ymax, xmax), normalized, clipped to [0, 1]
    classes: np.ndarray  # [k] int64
    scores: np.ndarray  # [k] float64

    def __len__(self) -> int:
        return int(len(self.scores))

    def to_list(self, labels: list[str] | None = None) -> list[dict]:
        return [{"box": [round(float(v), 6) for v in b], "class": int(c), "label": labels[c] if labels and 0 <= c < len(labels) else None,
                 "score": round(float(s), 6)} for b, c, s in zip(self.boxes, self.classes, self.scores)]


def dequantize(values: np.ndarray, scale: float | None, zero_point: int | None) -> np.ndarray:
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float64) - (zero_point or 0)) * scale
    return values.astype(np.float64)


def decode(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, count: np.ndarray, sample: int = 0, min_score: float = 0.0) -> Detections:
    """Detections of one sample from already dequantized outputs (batch first)."""
    boxes, classes, scores = np.asarray(boxes)[sample], np.asarray(classes)[sample], np.asarray(scores)[sample]
    n = int(np.clip(np.rint(float(np.asarray(count).reshape(-1)[sample])), 0, len(scores)))
    keep = np.asarray(scores[:n], np.float64) >= min_score
    return Detections(np.clip(np.asarray(boxes[:n], np.float64)[keep], 0.0, 1.0), np.rint(classes[:n][keep]).astype(np.int64),
                      np.asarray(scores[:n], np.float64)[keep])


def decode_all(outputs: list[np.ndarray], min_score: float = 0.0) -> list[Detections]:
    """Every sample's detections from the four (dequantized) outputs."""
    boxes, classes, scores, count = outputs[:4]
    return [decode(boxes, classes, scores, count, sample=i, min_score=min_score) for i in range(len(scores))]
