"""A bundle's golden files: evaluation inputs in the model's dtype and the model's raw outputs
(the parity the phone is checked against), with the sample images they came from.

Sized for a phone: the golden files ship inside the app, so their share of the bundle has a budget
(GOLDEN_SHARE of model + golden files, never under GOLDEN_FLOOR bytes). A dense output is stored
compactly: a segmenter's [N, H, W, C] scores as its class mask [N, H, W] uint8 (the argmax over the
class axis, what parity compares: packager.device.results.segmentation_parity), 1/C of the scores
even before their dtype. Then as many of the requested samples are kept as fit the budget, at least
one; the manifest's golden.budget says the budget, what was stored and whether it was met.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager.data.dataset import Samples
from packager.data.readers import Dataset
from packager.manifest import GoldenBudget
from packager.runtime.evaluate import ModelRunner, golden_picks
from packager.segmentation.masks import class_masks, compact

GOLDEN_SHARE = 0.2  # golden files at most this share of the bundle's model + golden bytes
GOLDEN_FLOOR = 256 << 10  # a small model's golden files may take this much whatever its size

__all__ = ["golden_io", "golden_picks"]


def golden_budget_bytes(model_bytes: int) -> int:
    """Golden bytes g with g <= GOLDEN_SHARE * (model + g), or GOLDEN_FLOOR when that is more."""
    return max(GOLDEN_FLOOR, int(model_bytes * GOLDEN_SHARE / (1 - GOLDEN_SHARE)))


def _sample_bytes(runner: ModelRunner, inputs: Samples, dataset: Dataset | None, picks: np.ndarray, segmentation: bool) -> int:
    """Bytes one golden sample takes (inputs, outputs as stored, its image: the largest of the candidates')."""
    size = sum(int(np.prod(t.shape[1:], dtype=np.int64)) * np.dtype(t.dtype).itemsize for t in runner.inputs)
    for k, t in enumerate(runner.outputs):
        values = int(np.prod(t.shape[1:], dtype=np.int64))
        mask = values // int(t.shape[-1]) * (1 if t.shape[-1] <= 256 else 2)
        size += 2 * mask if segmentation and k == 0 else values * np.dtype(t.dtype).itemsize  # a segmenter: its mask and float's
    if dataset is not None and dataset.files:
        root = Path(dataset.source)
        size += max((root / dataset.files[p]).stat().st_size for p in picks)
    return size


@dataclass(frozen=True)
class GoldenSet:
    inputs: list[np.ndarray]  # one per model input, in its dtype
    outputs: list[np.ndarray]  # one per output, as stored (a segmenter's: its class masks)
    images: list[tuple[str, bytes]]  # (file name, bytes) of the sample images they came from
    budget: GoldenBudget
    float_masks: np.ndarray | None = None  # a segmenter: the float model's masks of the same samples (the report draws them)


def golden_io(model: bytes, inputs: Samples, dataset: Dataset | None, count: int, segmentation: bool = False,
              float_model: bytes | None = None) -> GoldenSet:
    """Up to `count` evaluation inputs in the model's input dtype and the model's outputs (a segmenter's
    as class masks, and the float model's masks when given), as many as fit the golden budget (at least
    one), and what was kept (GoldenBudget).

    Run one sample at a time, as the phone does, so parity compares like with like.
    """
    runner = ModelRunner(model)
    budget = golden_budget_bytes(len(model))
    per_sample = _sample_bytes(runner, inputs, dataset, golden_picks(len(inputs), count), segmentation)
    kept = max(1, min(count, len(inputs), budget // max(per_sample, 1)))
    picks = golden_picks(len(inputs), kept)
    tensor = runner.quantize_input(inputs[picks])
    tensors = [tensor] if isinstance(tensor, np.ndarray) else tensor  # one per input, in the model's order
    outs = [runner.run_raw([t[i : i + 1] for t in tensors]) for i in range(len(picks))]
    golden_out = [np.concatenate([o[k] for o in outs]) for k in range(len(runner.outputs))]
    stored = ["scores"] * len(golden_out)
    float_masks = None
    if segmentation:
        classes = int(golden_out[0].shape[-1])
        golden_out[0], stored[0] = compact(class_masks(golden_out[0]), classes), "class_mask"
        if float_model is not None:
            float_masks = compact(class_masks(ModelRunner(float_model).predict(inputs[picks])[0]), classes)
    images: list[tuple[str, bytes]] = []
    if dataset is not None and dataset.files:
        root = Path(dataset.source)
        for i, pick in enumerate(picks):
            rel = dataset.files[pick]
            images.append((golden_image_name(i, Path(rel)), (root / rel).read_bytes()))
    total = sum(a.nbytes for a in [*tensors, *golden_out, *([float_masks] if float_masks is not None else [])]) + sum(len(data) for _, data in images)
    record = GoldenBudget(max_share=GOLDEN_SHARE, budget_bytes=budget, bytes=total, requested=count, kept=len(picks),
                          outputs_stored=stored, within_budget=total <= budget)
    return GoldenSet(tensors, golden_out, images, record, float_masks)


def _slug(text: str) -> str:
    """ASCII letters, digits, '_', '.', '-' only (the manifest's file-name pattern): accents dropped
    ('café' -> 'cafe'), anything else a '-' ('hot dog' -> 'hot-dog'); never empty or a dot name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_text).strip("-.")
    return slug[:40] or "x"


def golden_image_name(index: int, rel: Path) -> str:
    """golden/images/ file name for evaluation image `rel` (class folder/file): index first, so two
    names that slug alike stay apart; the class and file name after it, as far as they are safe."""
    suffix = rel.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", rel.suffix.lower()) else ""
    return f"{index:02d}_{_slug(rel.parent.name)}_{_slug(rel.stem)}{suffix}"
