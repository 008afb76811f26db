"""Detections measured against the float model's and against ground-truth boxes.

Two detections match when their IoU is at least 0.5 and their class is the same (greedy, highest
score first, each reference box used once). Against the float model's detections:
precision = matched / variant detections, recall = matched / float detections, agreement = F1
of the two, score error = |score - float score| over the matched pairs. Against ground truth,
mAP@0.5 (the mean over classes of the all-point interpolated average precision, classes with
no ground-truth box left out).

Ground-truth boxes: `boxes.csv` in the evaluation image folder, one box per line after the header

    image,label,ymin,xmin,ymax,xmax

`image` is the file's path relative to the folder, `label` a name from the labels file (or a
class index), coordinates normalized to 0..1 (ymin < ymax, xmin < xmax). An image with no line
has no object. Every image in the folder is evaluated.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager.detection.anchors import iou
from packager.detection.decode import Detections
from packager.errors import PackagerError
from packager.fileio import DocumentError, read_text_bounded
from packager.manifest import DetectionMetrics

IOU_THRESHOLD = 0.5
BOXES_FILE = "boxes.csv"
HEADER = ["image", "label", "ymin", "xmin", "ymax", "xmax"]
MAX_BOXES_FILE_BYTES = 64 << 20


@dataclass(frozen=True)
class GroundTruth:
    boxes: np.ndarray  # [k, 4]
    classes: np.ndarray  # [k]


def match(pred: Detections, ref: Detections, threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """(pred index, ref index) pairs: same class, IoU >= threshold, greedy by pred score."""
    if not len(pred) or not len(ref):
        return []
    overlap = iou(pred.boxes, ref.boxes)
    overlap[pred.classes[:, None] != ref.classes[None, :]] = -1.0
    used = np.zeros(len(ref), bool)
    pairs = []
    for i in np.argsort(-pred.scores, kind="stable"):
        candidates = np.where(used, -1.0, overlap[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= threshold:
            used[j] = True
            pairs.append((int(i), j))
    return pairs


def average_precision(detections: list[Detections], truth: list[GroundTruth], cls: int, threshold: float = IOU_THRESHOLD) -> float | None:
    total = sum(int((t.classes == cls).sum()) for t in truth)
    if total == 0:
        return None
    scored = []  # (score, is true positive)
    for det, gt in zip(detections, truth):
        mine = det.classes == cls
        boxes, scores = det.boxes[mine], det.scores[mine]
        gt_boxes = gt.boxes[gt.classes == cls]
        used = np.zeros(len(gt_boxes), bool)
        overlap = iou(boxes, gt_boxes) if len(boxes) and len(gt_boxes) else np.zeros((len(boxes), 0))
        for i in np.argsort(-scores, kind="stable"):
            hit = False
            if overlap.shape[1]:
                candidates = np.where(used, -1.0, overlap[i])
                j = int(np.argmax(candidates))
                if candidates[j] >= threshold:
                    used[j] = hit = True
            scored.append((float(scores[i]), hit))
    if not scored:
        return 0.0
    scored.sort(key=lambda s: -s[0])
    hits = np.array([h for _, h in scored], np.float64)
    tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
    recall, precision = tp / total, tp / np.maximum(tp + fp, 1e-12)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def mean_average_precision(detections: list[Detections], truth: list[GroundTruth], classes: int) -> float | None:
    aps = [ap for c in range(classes) if (ap := average_precision(detections, truth, c)) is not None]
    return float(np.mean(aps)) if aps else None


def measure(detections: list[Detections], reference: list[Detections], truth: list[GroundTruth] | None, classes: int) -> DetectionMetrics:
    matched = found = expected = 0
    errors: list[float] = []
    for det, ref in zip(detections, reference):
        pairs = match(det, ref)
        matched += len(pairs)
        found, expected = found + len(det), expected + len(ref)
        errors.extend(abs(float(det.scores[i]) - float(ref.scores[j])) for i, j in pairs)
    precision = matched / found if found else None
    recall = matched / expected if expected else None
    agreement = 1.0 if found == expected == 0 else (2 * matched / (found + expected))
    return DetectionMetrics(precision=precision, recall=recall, agreement=agreement,
                            score_error_mean=float(np.mean(errors)) if errors else 0.0, score_error_max=float(max(errors, default=0.0)),
                            matched=matched, detections=found, reference_detections=expected,
                            map50=mean_average_precision(detections, truth, classes) if truth is not None else None,
                            ground_truth_boxes=sum(len(t.classes) for t in truth) if truth is not None else 0)


def write_boxes_csv(path: Path, names: list[str], boxes: list[np.ndarray], classes: list[np.ndarray], labels: tuple[str, ...] | list[str]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for name, bs, cs in zip(names, boxes, classes):
        for b, c in zip(bs, cs):
            writer.writerow([name, labels[int(c)], *(f"{float(v):.6f}" for v in b)])
    Path(path).write_text(out.getvalue(), encoding="utf-8")


def read_boxes_csv(path: Path, files: tuple[str, ...], labels: list[str] | None) -> list[GroundTruth]:
    """Ground truth per file of `files` (the evaluation images, relative paths) from boxes.csv."""

    try:
        text = read_text_bounded(path, MAX_BOXES_FILE_BYTES)
    except (DocumentError, OSError) as exc:
        raise PackagerError(f"cannot read ground-truth boxes {path} ({exc})", f"write it as UTF-8 CSV with the header {','.join(HEADER)}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [h.strip() for h in rows[0]] != HEADER:
        raise PackagerError(f"ground-truth boxes {path} do not start with the header {','.join(HEADER)}", "see the format in docs/BUILD.md (object detection)")
    index = {name: i for i, name in enumerate(files)}
    per_file: list[tuple[list, list]] = [([], []) for _ in files]
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        where = f"ground-truth boxes {path} line {line}"
        if len(row) != 6:
            raise PackagerError(f"{where} has {len(row)} fields, not 6", f"one box per line: {','.join(HEADER)}")
        name, label = row[0].strip(), row[1].strip()
        if name not in index:
            raise PackagerError(f"{where} names {name[:80]!r}, which is not an image of the evaluation data", "give paths relative to the image folder")
        if labels and label in labels:
            cls = labels.index(label)
        elif label.isdigit():
            cls = int(label)
        else:
            raise PackagerError(f"{where} has label {label[:60]!r}, which is not in the labels file", "use the labels' names or class indices")
        try:
            box = [float(v) for v in row[2:]]
        except ValueError:
            raise PackagerError(f"{where} has a coordinate that is not a number", "normalized coordinates, 0..1") from None
        if not all(np.isfinite(box)) or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
            raise PackagerError(f"{where} box {box} is not inside 0..1 with ymin < ymax and xmin < xmax", "normalized coordinates (ymin,xmin,ymax,xmax)")
        per_file[index[name]][0].append(box)
        per_file[index[name]][1].append(cls)
    return [GroundTruth(np.asarray(b, np.float64).reshape(-1, 4), np.asarray(c, np.int64)) for b, c in per_file]
