"""BuildSpec: everything `packager build` needs, from flags or a TOML config file.

The config file is validated against packager/schemas/build-spec.schema.json; flags override it. Paths
in a config file are relative to the file.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeGuard

from packager import schemas
from packager.data.preprocess import ColorSpace, ResizeMethod
from packager.errors import PackagerError
from packager.manifest import Task
from packager.quant.engines import IoDtype
from packager.quant.registry import EngineName
from packager.runtime.targets import declared

# config section -> keys that live in it (flattened into BuildSpec field names)
_SECTIONS = {
    "data": {"calib": "calib_data", "eval": "eval_data", "calib_samples": "calib_samples", "eval_samples": "eval_samples", "resize": "resize"},
    "preprocessing": {"size": "size", "input_sizes": "input_sizes", "color_space": "color_space", "mean": "mean", "std": "std", "resize_method": "resize_method"},
    "metadata": {"labels": "labels", "replace": "replace_metadata", "labels_output": "labels_output", "description": "description", "author": "author", "license": "license"},
    "quantization": {"int8_io": "int8_io", "int16_io": "int16_io", "engine": "engine"},
    "detection": {"anchors": "anchors", "anchor_grid": "anchor_grid", "box_scales": "box_scales", "score_threshold": "score_threshold",
                  "iou_threshold": "iou_threshold", "max_detections": "max_detections", "boxes_output": "boxes_output",
                  "scores_output": "scores_output", "background_class": "background_class", "box_coder": "box_coder"},
}
_METADATA_KEYS = {"name": "name", "version": "version", "description": "description", "author": "author", "license": "license",
                  "labels": "labels", "mean": "preprocessing", "std": "preprocessing", "color_space": "preprocessing"}
_PATH_FIELDS = ("model", "output", "calib_data", "eval_data", "labels", "anchors")


@dataclass(frozen=True)
class BuildSpec:
    model: Path
    name: str | None = None
    version: str = "1.0.0"
    task: Task | Literal["auto"] = "auto"
    output: Path = Path("dist")
    quant: tuple[QuantChoice, ...] = ("int8",)
    select: str | None = None
    max_accuracy_drop: float | None = None
    golden_samples: int = 8
    calib_data: Path | None = None
    eval_data: Path | None = None
    calib_samples: int = 200
    eval_samples: int | None = None
    resize: bool = False
    size: tuple[int, int] | None = None
    input_sizes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # --size NAME=AxB...: one input's dynamic dimensions
    color_space: ColorSpace | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize_method: ResizeMethod = "bilinear"
    labels: Path | None = None
    labels_output: str | None = None  # --labels-output NAME / --labels NAME=PATH: the output the labels belong to
    primary_output: str | None = None  # --primary-output NAME: the output the headline metrics are about
    output_kind: str | None = None  # --output-kind: how the primary output is measured (packager.runtime.kinds), else decided
    description: str = ""
    author: str = ""
    license: str = ""
    int8_io: IoDtype = "int8"
    int16_io: IoDtype = "float32"
    engine: EngineName | Literal["auto"] | dict[str, EngineName] = "auto"  # the CLI's choice and the config schema's enum
    measure_latency: bool = True
    quant_given: bool = False  # --quant (or quant in the config) was given: a .tflite source is then quantized
    replace_metadata: bool = False  # a .tflite's own metadata is replaced, not merged into
    metadata_given: tuple[str, ...] = ()  # what the user gave for the metadata (metadata.MERGEABLE names)
    custom_objects: tuple[str, ...] = ()  # "module:attr" / "file.py:attr" for subclassed Keras models
    # --task object_detection (packager/detection): a raw detector's anchors and post-processing
    anchors: Path | None = None  # .npy [N, 4] or .csv (y_center, x_center, height, width)
    anchor_grid: tuple[dict[str, Any], ...] = ()  # [[detection.anchor_grid]]: height, width, sizes, aspect_ratios
    box_scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w
    score_threshold: float = 0.3
    iou_threshold: float = 0.5
    max_detections: int = 10
    boxes_output: str | None = None
    scores_output: str | None = None
    background_class: bool = True  # column 0 of the class scores is the background
    box_coder: str = "tflite"  # "mediapipe": x,y,w,h first in each anchor's values, linear sizes, logit scores (postprocess.py)
    runtimes: tuple[str, ...] = ()  # --runtime / [runtime]: the app's runtimes ("tflite 2.16.1"); none: the demo app's (packager/runtime)
    skip_runtime_check: bool = False  # --skip-runtime-check: the variants are not run in those runtimes (said loudly)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auto(self) -> bool:
        return "auto" in self.quant

    @property
    def bundle_name(self) -> str:
        return self.name or safe_name(self.model.stem if self.model.suffix else self.model.name)

    def engine_for(self, quant: str) -> EngineName | None:
        if isinstance(self.engine, dict):
            return self.engine.get(quant)
        return None if self.engine == "auto" else self.engine


def safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"
    return re.sub(r"\.{2,}", ".", name)[:64]


QuantChoice = Literal["fp32", "fp16", "dynamic", "int8", "int16x8", "auto"]  # what --quant takes
_QUANT_CHOICES: tuple[QuantChoice, ...] = typing.get_args(QuantChoice)


def _is_quant_choice(text: str) -> TypeGuard[QuantChoice]:
    return text in _QUANT_CHOICES


def parse_quant(text: str) -> tuple[QuantChoice, ...]:
    items = tuple(dict.fromkeys(p.strip().lower() for p in re.split(r"[,\s]+", text) if p.strip()))
    allowed = _QUANT_CHOICES
    bad = [q for q in items if not _is_quant_choice(q)]
    if bad or not items:
        raise PackagerError(f"unknown --quant value {', '.join(bad) or repr(text)}", f"use one or several of {', '.join(allowed)}")
    if "auto" in items and len(items) > 1:
        raise PackagerError("--quant auto searches the variants itself", "pass auto alone")
    return tuple(q for q in items if _is_quant_choice(q))  # all of them


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a build.toml; returns flattened BuildSpec keyword arguments."""
    path = Path(path)
    document = schemas.load_toml("build-spec", path, "config file", "check the path")
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key == "runtime":  # [runtime] tflite = "2.16.1", litert = "2.2.0", skip_check = true
            flat["runtimes"] = tuple(f"{kind} {value[kind]}" for kind in ("tflite", "litert") if kind in value)
            if "skip_check" in value:
                flat["skip_runtime_check"] = value["skip_check"]
        elif key in _SECTIONS:
            for sub, sub_value in value.items():
                flat[_SECTIONS[key][sub]] = sub_value
        else:
            flat[key] = value
    base = path.resolve().parent
    for key in _PATH_FIELDS:
        if key in flat:
            flat[key] = (base / flat[key]) if not Path(flat[key]).is_absolute() else Path(flat[key])
    return flat


# A std below this divides pixels into numbers no quantization scale can hold (1e-300 gives
# Infinity in float32); real normalizations use std between ~0.2 and 255.
MIN_STD = 1e-6


def _check_numbers(spec: BuildSpec) -> None:
    """Numbers are refused where they enter: NaN/Infinity would reach the quantizer and LiteRT."""
    for flag, values in (("--mean", spec.mean), ("--std", spec.std)):
        for v in values or ():
            if not math.isfinite(v):
                raise PackagerError(f"{flag} {v} is not a finite number", "give pixel units, e.g. --mean 127.5 --std 127.5")
    for v in spec.std or ():
        if v < MIN_STD:
            raise PackagerError(f"--std {v} is not above {MIN_STD}", "give the std in 0-255 pixel units, e.g. 127.5 or 255")
    drop = spec.max_accuracy_drop
    if drop is not None and not (math.isfinite(drop) and 0 <= drop <= 100):
        raise PackagerError(f"--max-accuracy-drop {drop} is not a number of points between 0 and 100", "give percentage points, e.g. 1.0")
    if spec.size is not None and not all(0 < d <= 16384 for d in spec.size):
        raise PackagerError(f"--size {spec.size[0]}x{spec.size[1]} is out of range", "give a height and width between 1 and 16384")
    for name, dims in spec.input_sizes:
        if not dims or not all(0 < d <= 16384 for d in dims):
            raise PackagerError(f"--size {name}={'x'.join(map(str, dims))} is out of range", "give dimensions between 1 and 16384")


def make_spec(config: dict[str, Any] | None, flags: dict[str, Any]) -> BuildSpec:
    """Merge a config (already flattened) with flags (None = not given) into a BuildSpec."""
    merged = dict(config or {})
    merged.update({k: v for k, v in flags.items() if v is not None})
    if "model" not in merged:
        raise PackagerError("no model given", "pass MODEL or set model in the config file")
    names = {f.name for f in fields(BuildSpec)}
    unknown = set(merged) - names
    if unknown:
        raise PackagerError(f"unknown settings: {', '.join(sorted(unknown))}", "check the config file")
    converters: dict[str, Callable[[Any], Any]] = {
        "model": Path, "output": Path, "calib_data": Path, "eval_data": Path, "labels": Path,
        "quant": lambda v: parse_quant(v) if isinstance(v, str) else parse_quant(",".join(v)),
        "size": lambda v: (int(v[0]), int(v[1])),
        "input_sizes": lambda v: tuple((str(k), tuple(int(d) for d in dims)) for k, dims in (v.items() if isinstance(v, dict) else v)),
        "mean": lambda v: tuple(float(x) for x in v), "std": lambda v: tuple(float(x) for x in v),
        "max_accuracy_drop": float, "anchors": Path,
        "box_scales": lambda v: tuple(float(x) for x in v), "score_threshold": float, "iou_threshold": float, "max_detections": int,
        "anchor_grid": lambda v: tuple(dict(m) for m in v),
        "custom_objects": lambda v: (v,) if isinstance(v, str) else tuple(v),
        "runtimes": lambda v: (v,) if isinstance(v, str) else tuple(v),
    }
    for key, convert in converters.items():
        if merged.get(key) is not None:
            merged[key] = convert(merged[key])
    merged["quant_given"] = merged.get("quant") is not None
    merged["metadata_given"] = tuple(sorted({_METADATA_KEYS[k] for k in merged if k in _METADATA_KEYS and merged[k] not in (None, "")}))
    spec = BuildSpec(**merged)
    if spec.name is not None:
        schemas.validate("build-spec", {"name": spec.name}, what="--name")
    _check_numbers(spec)
    if spec.runtimes:  # an unknown runtime or a malformed version fails here, before any work
        declared(spec.runtimes)
    if spec.auto and spec.max_accuracy_drop is None:
        spec = replace(spec, max_accuracy_drop=1.0)
    return spec
