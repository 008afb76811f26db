"""Schema-valid manifests for the cross-language tests, before/besides a real `packager build`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from packager import schemas

SHA = "ab" * 32


def make_manifest(name: str, preprocessing: dict[str, Any] | None, input_dtype: str, input_quant: dict | None,
                  output_dtype: str = "float32", output_quant: dict | None = None, classes: int = 5) -> dict[str, Any]:
    h, w = preprocessing["size"] if preprocessing else (4, 4)
    c = 1 if preprocessing and preprocessing["color_space"] == "GRAYSCALE" else 3
    metrics = {"name": "fp32", "size_bytes": 100, "accuracy": 0.9, "per_class_accuracy": None, "top1_agreement": 1.0,
               "max_abs_error": 0.0, "mean_abs_error": 0.0}
    manifest = {
        "schema_version": 1, "name": name, "version": "1.0.0", "task": "image_classification",
        "created": "2025-01-01T00:00:00Z",
        "source": {"path": "model.keras", "format": "keras", "sha256": SHA, "size_bytes": 100},
        "model": {"file": f"{name}.tflite", "sha256": SHA, "size_bytes": 100},
        "recipe": {"name": "int8", "quant": "int8", "engine": "ai-edge-quantizer"},
        "inputs": [{"name": "image", "index": 0, "shape": [1, h, w, c], "dtype": input_dtype, "quantization": input_quant, "semantics": "image"}],
        "outputs": [{"name": "scores", "index": 3, "shape": [1, classes], "dtype": output_dtype, "quantization": output_quant, "semantics": "probabilities"}],
        "preprocessing": preprocessing,
        "labels": {"file": "labels.txt", "values": [f"class-{i}" for i in range(classes)]},
        "metrics": {"float": metrics, "chosen": metrics, "variants": [metrics]},
        "selection": {"mode": "explicit", "chosen": "fp32", "max_accuracy_drop": None, "candidates": []},
        "sizes": {"source_bytes": 100, "float_bytes": 100, "chosen_bytes": 100},
        "golden": {"count": 1, "inputs": [{"file": "golden/input_0.npy", "tensor": "image", "dtype": input_dtype, "shape": [1, h, w, c]}],
                   "outputs": [{"file": "golden/output_0.npy", "tensor": "scores", "dtype": output_dtype, "shape": [1, classes]}]},
        "tools": {"packager": "0.1.0", "python": "3.11", "tensorflow": "2.21", "ai_edge_litert": "2.3"},
    }
    schemas.validate("manifest", manifest)
    return manifest


def write(manifest: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{manifest['name']}.manifest.json"
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path
