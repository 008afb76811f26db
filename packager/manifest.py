"""The data model: the bundle manifest (docs/CONTRACTS.md, contract 1) and device results, typed.

Every document the project writes or reads between its parts is one of three values here:

- `Manifest`, dist/<name>/manifest.json: built once by `packager.build.pipeline`, written by
  `packager.bundle.writer`, read back by `bundle_io.load_bundle` and used as attributes by the report,
  the device kit, `packager bundle` and the pytest plugin.
- `DeviceResults`, a session of device runs (`DeviceRun` per device x bundle x accelerator, an
  `ApkInfo` per installed app), written by `packager device bench` and the plugin, read by the
  report.
- `BenchResult`, one benchmark request's result as the runner on the handset writes it (contract 2:
  the Kotlin app, the virtual handset's app process, benchmark_model's log parsed), read by the
  device kit into a `DeviceRun`.

All three are checked against their JSON Schema (packager/schemas/) when they are turned into JSON
(`to_json`, `write`) and when they are read (`from_dict`, `from_json`, `load`): what passes
the schema is what the types say.

One type per concept: `Latency` is host and device latency (two JSON forms), `TensorInfo` (in
packager.tflite.flatbuffer) is a tensor as the model file has it and `Tensor` the manifest's entry for it.

Adding a field: give the dataclass one more line. `optional()` makes it a key that is left out
of the JSON while it holds its default (None or empty), so documents written before it still
validate and read; add the key to the schema beside it. The generic `Record.to_dict` /
`Record.from_dict` follow the type hints (nested records, lists, dicts, Optional), so nothing
else needs changing unless the JSON form differs from the fields (then `field(metadata=...)`
takes `key`, `encode`, `decode`).

This module imports no numpy, jsonschema or TensorFlow at import time (the pytest plugin and
`packager --help` stay light); validation loads packager.schemas when it runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import types
import typing
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # pragma: no cover
    from packager.data.preprocess import Preprocessing

MANIFEST_VERSION = 1
RESULTS_VERSION = 1


# --- the generic part: dataclass <-> JSON-ready dict, by the type hints -------------------------------------
def optional(default: Any = None, *, key: str | None = None):
    """A field that is left out of the JSON while it holds `default` (None, or [] / {} when given
    as `list` / `dict`)."""
    meta: dict[str, Any] = {"omit": True}
    if key:
        meta["key"] = key
    if default in (list, dict):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise TypeError(f"cannot write a {type(value).__name__} into JSON")


# names the hints may use that are only imported for type checking (decoded through metadata)
_LAZY_NAMES = {"Preprocessing": object}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, localns=_LAZY_NAMES)


def decode(hint: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return decode(options[0], data) if len(options) == 1 else data
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return [decode(item, v) for v in data]
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data)
        return tuple(data)
    if origin is dict:
        _, item = typing.get_args(hint) or (str, Any)
        return {k: decode(item, v) for k, v in data.items()}
    if hint is Path:
        return Path(data)
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(data)
    return data


class Record:
    """Mixin of the model's dataclasses: `to_dict` / `from_dict` over the fields' type hints."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get("skip") or (f.metadata.get("omit") and value == _default_of(f)):
                continue
            writer = f.metadata.get("encode")
            out[f.metadata.get("key", f.name)] = writer(value) if writer else encode(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        # a class is hashable; mypy checks a class object against Hashable by its instances' __hash__
        hints = _hints(cls)  # type: ignore[arg-type]
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key = f.metadata.get("key", f.name)
            if not f.init or f.metadata.get("skip") or key not in data:
                continue
            reader = f.metadata.get("decode")
            kwargs[f.name] = reader(data[key]) if reader else decode(hints[f.name], data[key])
        return cls(**kwargs)


def _validate(kind: str, data: object, what: str) -> dict[str, Any]:
    """`data`, checked against schema `kind` (PackagerError when it is not valid): a JSON object."""
    from packager import schemas  # noqa: PLC0415 - jsonschema only when a document is checked

    schemas.validate(kind, data, what=what)
    assert isinstance(data, dict)  # every schema's top level is "type": "object"
    return data


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- shared by both documents ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Latency(Record):
    """Milliseconds per inference at batch 1. Percentiles: numpy's default (linear); std:
    population. On a device, percentiles are None when the runner reports no single runs
    (benchmark_model prints mean, std, min and max only). On the host (the manifest's form:
    mean_ms, p50_ms, p90_ms, runs, threads) std, p99, min and max are not kept."""

    count: int
    mean: float
    std: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    threads: int | None = None  # host only: the interpreter's threads

    @classmethod
    def of(cls, latencies_ms: list[float], threads: int | None = None) -> Latency | None:
        if not latencies_ms:
            return None
        import numpy as np  # noqa: PLC0415

        a = np.asarray(latencies_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        return cls(count=len(a), mean=float(a.mean()), std=float(a.std()), p50=float(p50), p90=float(p90), p99=float(p99),
                   min=float(a.min()), max=float(a.max()), threads=threads)

    @classmethod
    def of_summary(cls, summary: dict[str, Any]) -> Latency:
        """benchmark_model prints no single runs: mean/std/min/max only; percentiles stay unknown."""
        mean = float(summary["mean_ms"])
        return cls(count=int(summary["count"]), mean=mean, std=float(summary.get("std_ms", 0.0)),
                   min=float(summary.get("min_ms", mean)), max=float(summary.get("max_ms", mean)))

    def to_dict(self) -> dict[str, Any]:
        """The device-results form."""
        return {"count": self.count, "mean": self.mean, "std": self.std, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "min": self.min, "max": self.max}

    def to_host_dict(self) -> dict[str, Any]:
        """The manifest's form (variant metrics)."""
        return {"mean_ms": self.mean, "p50_ms": self.p50, "p90_ms": self.p90, "runs": self.count, "threads": self.threads}

    @classmethod
    def from_host_dict(cls, data: dict[str, Any] | None) -> Latency | None:
        if data is None:
            return None
        return cls(count=int(data.get("runs", 1)), mean=float(data["mean_ms"]), p50=float(data["p50_ms"]), p90=float(data["p90_ms"]),
                   threads=data.get("threads"))


def _host_latency(latency: Latency | None) -> dict[str, Any] | None:
    return None if latency is None else latency.to_host_dict()


# --- the manifest ---------------------------------------------------------------------------------------------
SourceFormat = Literal["keras", "h5", "saved_model", "tflite"]
Semantics = Literal["image", "features", "probabilities", "logits", "scores", "embedding", "other",
                    "detection_boxes", "detection_classes", "detection_scores", "detection_count"]


@dataclass(frozen=True, kw_only=True)
class SourceModel(Record):
    """The model the build started from, fingerprinted (packager.build.sources.detect)."""

    path: Path
    format: SourceFormat
    sha256: str
    size_bytes: int


@dataclass(frozen=True, kw_only=True)
class ModelFile(Record):
    """The app-ready model file inside the bundle (metadata embedded)."""

    file: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, kw_only=True)
class RecipeRecord(Record):
    """How the chosen model was made: a quantize.Recipe as carried out (engine resolved,
    calibration samples counted, finishing options)."""

    name: str
    quant: str
    engine: str
    io_dtype: str | None = optional()
    calibration_samples: int | None = optional()  # how many samples calibrated it (absent: not calibrated)
    calibration: Calibration | None = optional()  # how activation ranges were calibrated
    float_ops: list[str] = optional(list)
    options: dict[str, Any] = optional(dict)


@dataclass(frozen=True, kw_only=True)
class Quantization(Record):
    """Per-tensor affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True, kw_only=True)
class Tensor(Record):
    """A model input or output as the manifest describes it to the app."""

    name: str
    index: int
    shape: list[int]
    dtype: str
    quantization: Quantization | None
    semantics: Semantics
    description: str | None = optional()

    @classmethod
    def of(cls, info: Any, semantics: Semantics) -> Tensor:
        """The entry for a packager.tflite.flatbuffer.TensorInfo (per-tensor quantization or none)."""
        quantization = None if not info.scale else Quantization(scale=float(info.scale), zero_point=int(info.zero_point))
        return cls(name=info.name, index=int(info.index), shape=[int(d) for d in info.shape], dtype=info.dtype,
                   quantization=quantization, semantics=semantics)


@dataclass(frozen=True, kw_only=True)
class Labels(Record):
    file: str | None
    values: list[str]
    output: str | None = None  # the output the labels belong to: the name of its entry in outputs (its tensor name)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if not self.values:
            out.pop("output")  # present when there are labels (null when the output has no name)
        return out


Calibration = Literal["minmax", "percentile", "mse", "tf-converter"]  # a method of packager.quant.calibration, or the TF converter's own
Task = Literal["image_classification", "object_detection", "segmentation", "generic"]  # as tflite.metadata.Task
OutputKind = Literal["probabilities", "classes", "values"]  # what an output is (evaluate.OutputRoles)


@dataclass(kw_only=True)
class OutputMetrics(Record):
    """One output of a variant against the same output of the float model (several outputs)."""

    name: str
    kind: OutputKind  # evaluate.OutputRoles.kinds
    top1_agreement: float | None  # probabilities/classes: same top class (one score: same side of 0.5)
    max_abs_error: float
    mean_abs_error: float
    correlation: float | None  # Pearson over every value; None when either side is constant


@dataclass(frozen=True, kw_only=True)
class DetectionMetrics(Record):
    """A detector's detections against the float model's, matched at IoU >= 0.5 with the same class
    (packager/detection/metrics.py), and against ground-truth boxes when given."""

    precision: float | None  # matched / the variant's detections
    recall: float | None  # matched / the float model's detections
    agreement: float  # F1 of the two (1.0 when neither detects anything)
    score_error_mean: float  # |score - float score| over the matched pairs
    score_error_max: float
    matched: int
    detections: int
    reference_detections: int
    map50: float | None  # mAP@0.5 against the ground truth (boxes.csv), None without it
    ground_truth_boxes: int


@dataclass(frozen=True, kw_only=True)
class PostProcessSettings(Record):
    """TFLite_Detection_PostProcess as packager appended it."""

    anchors: int
    box_scales: list[float]  # y, x, h, w
    score_threshold: float
    iou_threshold: float
    max_detections: int
    background_class: bool
    box_coder: Literal["tflite", "mediapipe"] = optional("tflite")  # packager/detection/postprocess.py


@dataclass(frozen=True, kw_only=True)
class Detection(Record):
    box: list[float]  # ymin, xmin, ymax, xmax, normalized
    class_index: int = field(metadata={"key": "class"})
    label: str | None = None
    score: float


@dataclass(frozen=True, kw_only=True)
class DetectionSample(Record):
    """One golden sample's detections: the float model's and the bundled model's (its golden outputs)."""

    golden_index: int
    float: list[Detection]
    chosen: list[Detection]


@dataclass(frozen=True, kw_only=True)
class DetectionInfo(Record):
    """task object_detection: where the four outputs come from."""

    postprocess: Literal["added by packager", "in the source model"]
    classes: int
    outputs: list[str]
    iou_match_threshold: float
    settings: PostProcessSettings | None = optional()
    samples: list[DetectionSample] = optional(list)  # the golden samples' detections, for the report


@dataclass(frozen=True, kw_only=True)
class MaskFigures(Record):
    """One model's class masks on the evaluation data: against float's and, with labelled masks, the truth's."""

    pixel_agreement: float  # share of pixels whose class is float's
    mean_iou: float  # of its masks and float's, over the classes either has
    pixel_accuracy: float | None = optional()  # against the labelled masks (void pixels not counted)
    truth_mean_iou: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class SegmentationInfo(Record):
    """task segmentation: the class masks (argmax over the output's class axis) of float and the bundled
    model on the evaluation data (packager/segmentation/masks.py)."""

    classes: int
    samples: int  # evaluation samples measured
    labelled_masks: int | None = optional()  # how many had a ground-truth mask (masks/<stem>.png or an .npz's y)
    reference: MaskFigures  # the float model (or a .tflite as given)
    chosen: MaskFigures


SLOWER_MARGIN = 1.05  # a variant whose host p50 exceeds float's by more than this factor is called slower (build, report)


@dataclass(kw_only=True)
class VariantMetrics(Record):
    """One model (the float reference or a variant) evaluated against the float model on the host."""

    name: str
    quant: str
    engine: str
    size_bytes: int
    accuracy: float | None
    per_class_accuracy: list[float | None] | None
    top1_agreement: float | None
    max_abs_error: float
    mean_abs_error: float
    latency: Latency | None = field(default=None, metadata={"encode": _host_latency, "decode": Latency.from_host_dict})
    samples: int = 0
    primary_output: str | None = optional()  # several outputs: the one the numbers above are about
    outputs: list[OutputMetrics] = optional(list)  # several outputs: each one against the float model's
    detection: DetectionMetrics | None = optional()  # a detector: its detections against the float model's (packager/detection)
    non_finite: str | None = optional()  # '-inf on 140 of 240 inputs': values float does not make (errors above are over finite values)
    output_kind: str | None = optional()  # what the primary output is (packager.runtime.kinds): the figures above are per kind
    figure: str | None = optional()  # what top1_agreement measures for that kind (e.g. per-pixel class agreement with float)
    mean_iou: float | None = optional()  # segmentation: mean IoU of the class maps against float's
    correlation: float | None = optional()  # probability map: Pearson correlation with float's values

    def accuracy_drop(self, reference: VariantMetrics) -> float | None:
        """Percentage points lost against `reference` (positive = worse)."""
        if self.accuracy is None or reference.accuracy is None:
            return None
        return (reference.accuracy - self.accuracy) * 100.0


@dataclass(frozen=True, kw_only=True)
class Metrics(Record):
    reference: VariantMetrics = field(metadata={"key": "float"})
    chosen: VariantMetrics
    variants: list[VariantMetrics]
    eval_samples: int = 0
    eval_data: str | None = None
    measured_on: str | None = optional()  # "evaluation data", "calibration data" (none given) or "seeded random inputs"


@dataclass(frozen=True, kw_only=True)
class Candidate(Record):
    """A variant considered for the bundle, and the verdict on it."""

    name: str
    accepted: bool
    size_bytes: int | None = optional()
    accuracy: float | None = None
    accuracy_drop: float | None = None
    top1_agreement: float | None = None
    reason: str | None = optional()
    float_ops: list[str] = optional(list)
    engine: str | None = optional()  # auto candidates: which engine made it
    calibration: str | None = optional()  # auto candidates with static ranges: how they were calibrated


@dataclass(frozen=True, kw_only=True)
class OperatorError(Record):
    """One operator quantized to int8 alone (packager.quant.sensitivity): the model's output error (RMS,
    relative to float's) and the share of samples whose top-1 changes."""

    op: str  # the operator's output tensor name (ai-edge-quantizer selects operators by it)
    op_type: str | None = optional()
    error: float
    top1_disagreement: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class EngineCandidate(Record):
    """One way a variant was made (engine, calibration) and measured against float (packager.quant.engine_choice)."""

    variant: str
    engine: Literal["tf-converter", "ai-edge-quantizer"]
    calibration: str | None
    chosen: bool
    size_bytes: int | None
    loss_points: float | None
    top1_agreement: float | None
    accuracy: float | None
    max_abs_error: float | None
    mean_abs_error: float | None
    error: str | None = optional()  # why this engine could not make the variant


@dataclass(frozen=True, kw_only=True)
class Selection(Record):
    """How the chosen variant was picked: 'explicit' (the user's recipe) or 'auto'."""

    mode: Literal["explicit", "auto"]
    chosen: str
    max_accuracy_drop: float | None
    reason: str | None = optional()
    candidates: list[Candidate] = field(default_factory=list)
    operator_sensitivity: list[OperatorError] | None = optional()
    engine_choice: list[EngineCandidate] = optional(list)  # every way each variant was made, the chosen one marked
    engine_choice_data: str | None = optional()  # what the engine choice was judged on (evaluation data, or held-out calibration samples)


def _r6(value: float) -> float:
    return round(value, 6)


_ROUNDED = {"encode": _r6}  # the debugger's errors are written to 6 decimals


@dataclass(frozen=True, kw_only=True)
class ModelState(Record):
    """A model that keeps state between invocations (resource variables): its outputs depend on what ran before."""

    variables: int  # VAR_HANDLE operators
    operators: list[str]  # the state operators found (VAR_HANDLE, ASSIGN_VARIABLE, READ_VARIABLE, CALL_ONCE)
    subgraphs: int
    note: str  # what that means for the golden outputs, evaluation and device parity


@dataclass(frozen=True, kw_only=True)
class TensorDebug(Record):
    """One tensor of the bundled variant against float (packager.quant.debugger computes them); errors are
    RMS, relative."""

    tensor: str
    op_type: str
    position: int  # order of the producing operator in the graph
    accumulated: float = field(metadata=_ROUNDED)  # error reaching this tensor
    added: float = field(metadata=_ROUNDED)  # accumulated here minus the largest accumulated error of the operator's inputs
    range_error: float = field(metadata=_ROUNDED)  # quantizing the float tensor alone into its range
    clipped: float = field(metadata=_ROUNDED)  # share of float values outside the range
    range: list[float] | None  # the real range the scale and zero point cover; None when it stayed float
    dtype: str
    calibration: str
    non_finite: float | None = optional()  # share of values that are -inf/+inf/NaN where float's are finite (left out of the errors)


@dataclass(frozen=True, kw_only=True)
class GraphError(Record):
    """A compared tensor in graph order: its accumulated and added error (as in TensorDebug)."""

    tensor: str
    accumulated: float = field(metadata=_ROUNDED)
    added: float = field(metadata=_ROUNDED)

    @classmethod
    def of(cls, t: TensorDebug) -> GraphError:
        return cls(tensor=t.tensor, accumulated=t.accumulated, added=t.added)


@dataclass(frozen=True, kw_only=True)
class QuantizationDebug(Record):
    """The quantization debugger's findings for the bundled variant (static variants only):
    `qdebug.debug` returns it with every compared tensor (`tensors`, not written); the manifest
    keeps the worst and each one's error through the graph."""

    variant: str
    samples: int
    tensors_compared: int
    worst: list[TensorDebug]  # the tensors whose operator adds the most error, worst first
    through_graph: list[GraphError]  # every compared tensor in graph order
    tensors: list[TensorDebug] = field(default_factory=list, repr=False, compare=False, metadata={"skip": True})

    @classmethod
    def of(cls, variant: str, samples: int, tensors: list[TensorDebug], count: int) -> QuantizationDebug:
        """The findings on `tensors` (graph order), the `count` that add the most error kept as the worst."""
        worst = sorted(tensors, key=lambda t: t.added, reverse=True)[:count]
        return cls(variant=variant, samples=samples, tensors_compared=len(tensors), worst=worst,
                   through_graph=[GraphError.of(t) for t in tensors], tensors=list(tensors))


@dataclass(frozen=True, kw_only=True)
class Sizes(Record):
    source_bytes: int
    float_bytes: int
    chosen_bytes: int


@dataclass(frozen=True, kw_only=True)
class GoldenFile(Record):
    """A batch-first .npy of golden inputs or outputs; `tensor`/`index` name the model's tensor."""

    file: str
    tensor: str
    index: int | None = optional()
    dtype: str
    shape: list[int]


@dataclass(frozen=True, kw_only=True)
class GoldenBudget(Record):
    """The golden files' budget on the bundle (packager.build.golden) and what was stored within it."""

    max_share: float  # of model + golden bytes
    budget_bytes: int
    bytes: int  # the golden inputs, outputs and images as stored
    requested: int  # samples asked for (--golden-samples)
    kept: int  # samples that fit (at least one)
    # per output: "scores" (the raw output as the model gives it) or "class_mask" (a segmenter's argmax
    # over the class axis as uint8 [N, H, W]: the device's scores are compared by their masks)
    outputs_stored: list[str]
    within_budget: bool  # false only when one sample alone is over it


@dataclass(frozen=True, kw_only=True)
class Golden(Record):
    count: int
    inputs: list[GoldenFile]
    outputs: list[GoldenFile]
    images: list[str] = optional(list)
    budget: GoldenBudget | None = optional()
    float_masks: str | None = optional()  # a segmenter: the float model's class masks of the golden samples, uint8 [N, H, W]


@dataclass(frozen=True, kw_only=True)
class RefusedOps(Record):
    """Operators of one kind an accelerator refuses for one reason (packager/runtime/coverage.py)."""

    op: str
    reason: str
    nodes: list[int]  # operator indices in the main subgraph


@dataclass(frozen=True, kw_only=True)
class DelegateCoverage(Record):
    """What a delegate's rules say it would take of one model: the operators it accepts, how they
    partition the graph, and how many it delegates (the largest `max_partitions` partitions)."""

    accepted: int
    delegated: int
    partitions: int
    max_partitions: int
    refused: list[RefusedOps] = optional(list)
    api_levels: list[int] = optional(list)  # NNAPI: the Android API levels this entry is for
    feature_level: str | None = optional()  # NNAPI: their feature level ("1.2", "FL5", "none")

    def summary(self, operators: int) -> str:
        """'full delegation: 12 of 12 ops, 1 partition', 'partial delegation: 9 of 12 ops, 2 partitions', 'no delegation: 0 of 12 ops'."""
        n = self.delegated
        text = f"{'full' if n == operators and operators else 'partial' if n else 'no'} delegation: {n} of {operators} ops"
        if n:
            text += f", {self.partitions} partition{'s' if self.partitions != 1 else ''}"
            if self.partitions > self.max_partitions:
                text += f" (the largest {self.max_partitions} delegated)"
        return text

    def reasons(self, limit: int = 4) -> str:
        """The refusals in one line: 'CUMSUM x1: not supported op; ...'."""
        parts = [r.reason if r.op == "*" else f"{r.op}{f' x{len(r.nodes)}' if len(r.nodes) > 1 else ''}: {r.reason}"
                 for r in self.refused[:limit]]
        if len(self.refused) > limit:
            parts.append(f"{len(self.refused) - limit} more")
        return "; ".join(parts)

    @property
    def api_text(self) -> str:
        apis = self.api_levels
        return "" if not apis else f"API {apis[0]}" if len(apis) == 1 else f"API {apis[0]}-{apis[-1]}"


@dataclass(frozen=True, kw_only=True)
class VariantCoverage(Record):
    variant: str
    operators: int
    gpu: DelegateCoverage
    nnapi: list[DelegateCoverage]  # one per run of API levels with the same feature level, oldest first
    hints: list[str] = optional(list)  # what would let the delegates take more

    def nnapi_rows(self) -> list[tuple[str, str, DelegateCoverage]]:
        """NNAPI's entries, consecutive ones with the same outcome as one: ("29-36", "1.2-FL8", entry)."""
        merged: list[tuple[list[int], list[str], DelegateCoverage]] = []
        for e in self.nnapi:
            last = merged[-1][2] if merged else None
            if last is not None and (last.delegated, last.partitions, last.refused) == (e.delegated, e.partitions, e.refused):
                merged[-1][0].extend(e.api_levels)
                merged[-1][1].append(e.feature_level or "")
            else:
                merged.append((list(e.api_levels), [e.feature_level or ""], e))

        def span(values: list) -> str:
            return f"{values[0]}" if len(values) == 1 or values[0] == values[-1] else f"{values[0]}-{values[-1]}"

        return [(span(apis), span(levels), e) for apis, levels, e in merged]


@dataclass(frozen=True, kw_only=True)
class AcceleratorCoverage(Record):
    """Per variant, which operators the GPU delegate and NNAPI (at each API level the app supports)
    would take: a static prediction from the delegates' own rules, not a run on a device."""

    basis: str
    rules: dict[str, str]  # accelerator -> the upstream file and tag its rules were taken from
    api_levels: list[int]  # [minSdk, targetSdk] of the app
    variants: list[VariantCoverage]

    def of(self, variant: str) -> VariantCoverage | None:
        return next((v for v in self.variants if v.variant == variant), None)


def _preprocessing_from(data: dict[str, Any] | None) -> Preprocessing | None:
    if data is None:
        return None
    from packager.data.preprocess import Preprocessing  # noqa: PLC0415 - numpy, only when a manifest has one

    return Preprocessing.from_dict(data)


@dataclass(frozen=True, kw_only=True)
class RuntimeTargetRecord(Record):
    """One runtime the app runs models with (packager/runtime/targets.py)."""

    kind: Literal["tflite", "litert"]
    version: str
    wheel: str  # the Python wheel the check ran it from, e.g. tensorflow-cpu==2.16.1
    accelerators: list[str]  # the app's paths it serves
    kernels: Literal["builtin", "xnnpack"]  # the CPU kernels the check ran (the app's, or its fallback on a host)
    source: str  # where the target was declared
    numpy: str | None = optional()  # the numpy of its environment


@dataclass(frozen=True, kw_only=True)
class RuntimeCheck(Record):
    """One variant in one target runtime: loaded, allocated, invoked on the golden inputs, against the host."""

    variant: str
    runtime: str  # "tflite 2.16.1"
    status: Literal["runs", "fails"]
    reason: str | None = optional()  # fails: the operator, its version or type, the runtime's words
    stage: Literal["load", "allocate", "invoke", "crash"] | None = optional()
    operator: str | None = optional()
    operator_version: int | None = optional()
    tensor_type: str | None = optional()
    samples: int | None = optional()  # runs: golden inputs compared with the host's outputs
    max_abs_diff: float | None = optional()  # dequantized, against the host's LiteRT
    mean_abs_diff: float | None = optional()
    top1_agreement: float | None = optional()  # of the first output, against the host's
    identical: bool | None = optional()  # every output bit-for-bit the host's
    seconds: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class RuntimeCompat(Record):
    """The runtime target and what the build proved there (absent in bundles built before it)."""

    targets: list[RuntimeTargetRecord]
    checks: list[RuntimeCheck] = optional(list)
    skipped: str | None = optional()  # --skip-runtime-check: the loud note, and no checks

    def for_variant(self, variant: str) -> list[RuntimeCheck]:
        return [c for c in self.checks if c.variant == variant]


@dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """dist/<name>/manifest.json (packager/schemas/manifest.schema.json)."""

    KIND: ClassVar[str] = "manifest"

    schema_version: int = MANIFEST_VERSION
    name: str
    version: str
    task: Task
    description: str | None = optional()
    author: str | None = optional()
    license: str | None = optional()
    created: str = field(default_factory=now_utc)
    source: SourceModel
    model: ModelFile
    recipe: RecipeRecord
    quantization_debug: QuantizationDebug | None = optional()
    custom_ops: list[str] = optional(list)  # not LiteRT builtins: the app's LiteRT build must register them
    inputs: list[Tensor]
    outputs: list[Tensor]
    preprocessing: Preprocessing | None = field(default=None, metadata={"decode": _preprocessing_from})
    labels: Labels
    metrics: Metrics
    selection: Selection
    sizes: Sizes
    golden: Golden
    tools: dict[str, str | None]
    reports: dict[str, str] | None = optional()  # kind (md, html) -> file
    detection: DetectionInfo | None = optional()  # task object_detection
    segmentation: SegmentationInfo | None = optional()  # task segmentation
    accelerator_coverage: AcceleratorCoverage | None = optional()  # GPU / NNAPI operator coverage per variant (packager/runtime/coverage.py)
    runtimes: RuntimeCompat | None = optional()  # the app's runtimes and each variant there (packager/runtime)
    state: ModelState | None = optional()  # the bundled model keeps state between invocations (packager/tflite/state.py)

    # --- the JSON document, checked both ways -----------------------------------------------
    def validate(self, what: str = "the bundle manifest") -> dict[str, Any]:
        data = self.to_dict()
        _validate(self.KIND, data, what)
        return data

    def to_json(self, what: str = "the bundle manifest") -> str:
        return _dumps(self.validate(what))

    @classmethod
    def from_dict(cls, data: object, what: str = "the bundle manifest") -> Manifest:
        return super().from_dict(_validate(cls.KIND, data, what))

    @classmethod
    def from_json(cls, text: str, what: str = "the bundle manifest") -> Manifest:
        return cls.from_dict(json.loads(text), what)

    # --- what consumers ask ------------------------------------------------------------------------
    @property
    def chosen_metrics(self) -> VariantMetrics:
        return self.metrics.chosen


def _packager_version() -> str:
    from packager import __version__  # noqa: PLC0415

    return __version__


# --- device results -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DeviceProps(Record):
    """A handset as `Handset.props()` reads it (getprop) and as the report shows it; sdk and
    android_version are None only when a results file written elsewhere leaves them out."""

    serial: str
    manufacturer: str
    model: str
    soc: str | None = None
    abi: str
    sdk: int | None = optional()
    android_version: str | None = optional()
    virtual: bool = False

    @property
    def label(self) -> str:
        return f"{self.manufacturer} {self.model} ({self.serial})"

    @property
    def title(self) -> str:
        name = f"{self.manufacturer} {self.model}".strip()
        return f"{name} (virtual handset)" if self.virtual and "virtual" not in name.lower() else name

    @property
    def details(self) -> str:
        parts = [f"serial {self.serial}"]
        if self.soc:
            parts.append(f"SoC {self.soc}")
        parts.append(f"ABI {self.abi}")
        if self.android_version or self.sdk:
            parts.append(f"Android {self.android_version or '?'} (SDK {self.sdk if self.sdk is not None else '?'})")
        if self.virtual:
            parts.append("runs the benchmark contract with the app's runtime versions (their Python wheels)")
        return ", ".join(parts)


@dataclass(frozen=True, kw_only=True)
class SegmentationParity(Record):
    """A segmenter's device masks against the host's golden masks (argmax over the class axis)."""

    pixel_agreement: float
    mean_iou: float
    compact_golden: bool  # the golden file holds the host's masks, not its scores (no score error then)


@dataclass(frozen=True, kw_only=True)
class Parity(Record):
    """The device's outputs against the bundle's golden host outputs (both dequantized)."""

    samples: int
    max_abs_error: float
    mean_abs_error: float
    top1_agreement: float
    # a detector: raw tensor error means nothing after NMS, so detections are matched (IoU >= 0.5, same
    # class); top1_agreement is then their F1 and the errors are the matched boxes' score errors
    detection: DetectionMetrics | None = optional()
    # a segmenter: top1_agreement is the share of pixels whose class equals the golden mask's
    segmentation: SegmentationParity | None = optional()


@dataclass(kw_only=True)
class DeviceRun(Record):
    """One device x bundle x accelerator."""

    device: DeviceProps
    bundle: str
    bundle_sha256: str
    recipe: str
    runner: Literal["app", "benchmark_model"]
    virtual: bool
    status: Literal["ok", "fallback", "error"]  # fallback: every measured run ran, on another accelerator
    accelerator_requested: str
    accelerator_applied: str | None
    fallback_reason: str | None
    threads: int
    init_ms: float | None
    first_inference_ms: float | None
    latency: Latency | None
    peak_memory_kb: int | None
    parity: Parity | None
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    # contract 2's accelerator.delegated_ops/total_ops/ops_source and peak_memory_measure
    # (results written before these fields: unknown)
    delegated_ops: int | None = None
    total_ops: int | None = None
    ops_source: Literal["delegate_log", "delegate_graph", "no_delegate", "unknown"] = "unknown"
    peak_memory_measure: Literal["rise_over_preload_baseline", "fresh_process_peak"] | None = None
    runtime: str | None = optional()  # "tflite 2.16.1": the runtime and version that produced the figures (contract 2's runtime)

    def __post_init__(self) -> None:
        if self.virtual and not self.device.virtual:  # a file written elsewhere may say it once
            self.device = dataclasses.replace(self.device, virtual=True)

    @property
    def fell_back(self) -> bool:
        return self.accelerator_applied != self.accelerator_requested

    @property
    def operators(self) -> str:
        """'9 of 12 (delegate_log)', '0 (no delegate)' or 'unknown': how much of the model the accelerator took."""
        if self.ops_source == "unknown" or self.delegated_ops is None:
            return "unknown"
        if self.ops_source == "no_delegate":
            return "0 (no delegate)"
        total = f" of {self.total_ops}" if self.total_ops is not None else ""
        return f"{self.delegated_ops}{total} ({self.ops_source})"

    @property
    def ran(self) -> bool:
        """Every measured run ran (on the accelerator requested, or on a fallback)."""
        return self.status in ("ok", "fallback")

    def fallback_line(self) -> str:
        """'digits on Pixel 8 (gpu): gpu fell back to xnnpack (reason)'."""
        why = f" ({self.fallback_reason})" if self.fallback_reason else ""
        return (f"{self.bundle} on {self.device.model} ({self.device.serial}): "
                f"{self.accelerator_requested} fell back to {self.accelerator_applied or 'nothing'}{why}")

    @property
    def accelerator(self) -> str:
        """'gpu', or 'gpu → xnnpack' / 'gpu → none' when it did not apply."""
        return self.accelerator_requested if not self.fell_back else f"{self.accelerator_requested} → {self.accelerator_applied or 'none'}"


# --- contract 2: one benchmark result as the app writes it --------------------------------------------------
BENCH_RESULT_VERSION = 1
AcceleratorName = Literal["cpu", "xnnpack", "gpu", "nnapi", "npu"]


@dataclass(kw_only=True)
class BenchDevice(Record):
    """The handset as the runner on it describes itself (the app reads android.os.Build)."""

    manufacturer: str
    model: str
    abi: str
    sdk: int
    soc: str | None = None  # written as null when the device does not say (the app writes it so)
    serial: str | None = optional()
    android_version: str | None = optional()
    virtual: bool | None = optional()  # the harness's own runners say it here too


@dataclass(kw_only=True)
class BenchAccelerator(Record):
    """What was asked for and what ran: a fallback is `applied != requested`, never success."""

    requested: AcceleratorName
    applied: AcceleratorName | None
    fallback_reason: str | None = None
    delegated_ops: int | None = None
    total_ops: int | None = None
    ops_source: Literal["delegate_log", "delegate_graph", "no_delegate", "unknown"] = "unknown"  # absent in old results: unknown
    ops_note: str | None = None


@dataclass(kw_only=True)
class BenchSummary(Record):
    """A runner that prints no single runs (benchmark_model): its summary instead of latencies_ms."""

    count: int
    mean_ms: float
    std_ms: float | None = optional()
    min_ms: float | None = optional()
    max_ms: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class BenchRuntime(Record):
    """The runtime, at its version, that produced a result's figures (contract 2's `runtime`)."""

    name: Literal["tflite", "litert"]
    version: str
    package: str | None = optional()  # what it was run from: tensorflow-cpu==2.16.1 on the virtual handset
    kernels: Literal["builtin", "xnnpack", "delegate"] | None = optional()

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(kw_only=True)
class BenchResult(Record):
    """One request's result (docs/CONTRACTS.md contract 2, packager/schemas/bench-result.schema.json):
    written by the app on the handset, the virtual handset's app process, or the harness parsing
    benchmark_model; checked against the schema when written (`to_json`) and read (`from_dict`)."""

    KIND: ClassVar[str] = "bench-result"

    schema_version: int = BENCH_RESULT_VERSION
    request_id: str
    status: Literal["ok", "error"]  # ok: every measured run ran (accelerator.applied says on what)
    runner: Literal["app", "benchmark_model"]
    virtual: bool
    device: BenchDevice
    model_path: str
    model_sha256: str | None = None
    accelerator: BenchAccelerator
    threads: int
    init_ms: float | None = None
    first_inference_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    peak_memory_kb: int | None = None
    peak_memory_measure: Literal["rise_over_preload_baseline", "fresh_process_peak"] | None = None
    output_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: str | None = optional()
    finished: str | None = optional()
    runner_version: str | None = optional()
    summary: BenchSummary | None = optional()
    runtime: BenchRuntime | None = optional()  # which runtime and version produced the figures (absent: not said)

    def validate(self, what: str = "benchmark result") -> dict[str, Any]:
        data = self.to_dict()
        _validate(self.KIND, data, what)
        return data

    def to_json(self, what: str = "benchmark result") -> str:
        return _dumps(self.validate(what))

    @classmethod
    def from_dict(cls, data: object, what: str = "benchmark result") -> BenchResult:
        return super().from_dict(_validate(cls.KIND, data, what))

    @classmethod
    def from_json(cls, text: str, what: str = "benchmark result") -> BenchResult:
        return cls.from_dict(json.loads(text), what)

    @property
    def session_status(self) -> Literal["ok", "fallback", "error"]:
        """The run's status in a session: 'ok' only when it ran on the accelerator asked for;
        'fallback' when every measured run ran but on another one (the app reports that as 'ok'
        with the applied accelerator); 'error' otherwise. Falling back is not success."""
        if self.status == "ok" and self.accelerator.applied != self.accelerator.requested:
            return "fallback"
        return self.status

    @property
    def latency(self) -> Latency | None:
        if self.latencies_ms:
            return Latency.of(self.latencies_ms)
        return Latency.of_summary(self.summary.to_dict()) if self.summary else None


APK_CATEGORIES = ("dex", "native", "models", "assets", "resources", "other")


@dataclass(kw_only=True)
class ApkBreakdown(Record):
    """What an APK is made of (packager.device.apk): bytes by category, the models' share."""

    file: str
    total_bytes: int
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(APK_CATEGORIES, 0))
    native_by_abi: dict[str, int] = field(default_factory=dict)
    model_bytes: int = 0
    model_share: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ApkInfo(Record):
    """The app as installed on one handset."""

    serial: str
    package: str
    installed_bytes: int | None
    breakdown: ApkBreakdown | None = None


# A results file is read whole and every number checked against the schema: bounded first. A real
# session is a few hundred runs of at most a few thousand latencies each (device bench --runs).
MAX_RESULT_RUNS = 10_000
MAX_RUN_LATENCIES = 100_000


def _check_results_size(data: Any, what: str) -> None:
    from packager.errors import PackagerError  # noqa: PLC0415

    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list):
        return  # the schema says what is wrong
    if len(runs) > MAX_RESULT_RUNS:
        raise PackagerError(f"{what} holds {len(runs):,} runs, more than the {MAX_RESULT_RUNS:,} one file may (manifest.MAX_RESULT_RUNS)",
                            "split the results into several files")
    for i, run in enumerate(runs):
        latencies = run.get("latencies_ms") if isinstance(run, dict) else None
        if isinstance(latencies, list) and len(latencies) > MAX_RUN_LATENCIES:
            raise PackagerError(f"{what}: run {i} holds {len(latencies):,} latencies, more than {MAX_RUN_LATENCIES:,} (manifest.MAX_RUN_LATENCIES)",
                                "measure fewer runs (device bench --runs)")


@dataclass(kw_only=True)
class DeviceResults(Record):
    """One session of device runs (packager/schemas/device-results.schema.json)."""

    KIND: ClassVar[str] = "device-results"

    runs: list[DeviceRun] = field(default_factory=list)
    apks: list[ApkInfo] = field(default_factory=list)
    bytes_pushed: int = 0
    bytes_skipped: int = 0
    created: str = field(default_factory=now_utc)
    packager: str = field(default_factory=_packager_version)  # the version that wrote it

    def extend(self, other: DeviceResults) -> None:
        self.runs += other.runs
        known = {(a.serial, a.package) for a in self.apks}
        self.apks += [a for a in other.apks if (a.serial, a.package) not in known]
        self.bytes_pushed += other.bytes_pushed
        self.bytes_skipped += other.bytes_skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RESULTS_VERSION,
            "kind": "packager-device-results",
            "created": self.created,
            "packager": self.packager,
            "transfers": {"bytes_pushed": self.bytes_pushed, "bytes_skipped": self.bytes_skipped},
            "apks": [a.to_dict() for a in self.apks],
            "runs": [r.to_dict() for r in self.runs],
        }

    def to_json(self, what: str = "device results") -> str:
        data = self.to_dict()
        _validate(self.KIND, data, what)
        return _dumps(data)

    def write(self, path: Path) -> Path:
        from packager.errors import PackagerError  # noqa: PLC0415
        from packager.fileio import write_atomic  # noqa: PLC0415

        text = self.to_json()
        path = Path(path)
        try:
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise PackagerError(f"cannot write the device results to {path} ({exc.strerror or exc})",
                                "free space on that disk" if full else "pass a writable file path (not a folder)") from None
        return path

    @classmethod
    def from_dict(cls, data: object, what: str = "device results") -> DeviceResults:
        _check_results_size(data, what)  # before the schema walks every number
        data = _validate(cls.KIND, data, what)
        return cls(runs=[DeviceRun.from_dict(r) for r in data["runs"]], apks=[ApkInfo.from_dict(a) for a in data["apks"]],
                   bytes_pushed=data["transfers"]["bytes_pushed"], bytes_skipped=data["transfers"]["bytes_skipped"],
                   created=data["created"], packager=data["packager"])

    @classmethod
    def load(cls, path: Path) -> DeviceResults:
        from packager.errors import PackagerError  # noqa: PLC0415
        from packager.fileio import DocumentError, read_json  # noqa: PLC0415

        try:
            data = read_json(path)
        except (OSError, DocumentError) as exc:
            raise PackagerError(f"cannot read device results {path} ({exc})", "pass a file written by `packager device bench --out`") from None
        return cls.from_dict(data, what=f"device results {path}")
