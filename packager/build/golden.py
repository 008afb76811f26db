"""A bundle's golden files: evaluation inputs in the model's dtype and the model's raw outputs
(the parity the phone is checked against), with the sample images they came from."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np

from packager.data.readers import Dataset
from packager.runtime.evaluate import ModelRunner, golden_picks

__all__ = ["golden_io", "golden_picks"]


def golden_io(model: bytes, inputs: np.ndarray, dataset: Dataset | None, count: int):
    """The first `count` evaluation inputs in the model's input dtype and the model's raw outputs.

    Run one sample at a time, as the phone does, so parity compares like with like.
    """
    runner = ModelRunner(model)
    picks = golden_picks(len(inputs), count)
    tensor = runner.quantize_input(inputs[picks])
    tensors = [tensor] if isinstance(tensor, np.ndarray) else tensor  # one per input, in the model's order
    outs = [runner.run_raw([t[i : i + 1] for t in tensors]) for i in range(len(picks))]
    golden_out = [np.concatenate([o[k] for o in outs]) for k in range(len(runner.outputs))]
    images: list[tuple[str, bytes]] = []
    if dataset is not None and dataset.files:
        root = Path(dataset.source)
        for i, pick in enumerate(picks):
            rel = dataset.files[pick]
            images.append((golden_image_name(i, Path(rel)), (root / rel).read_bytes()))
    return tensors, golden_out, images


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
