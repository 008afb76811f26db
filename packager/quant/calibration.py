"""Activation ranges for static quantization, from statistics packager collects itself.

ai-edge-quantizer's own calibration keeps a moving average (smoothing 0.95) of every tensor's
per-sample min and max. Fed one sample at a time, a range is then the average range of the last
twenty or so samples, not the range of the calibration data: on a real emotion CNN its input range
came out as [-0.86, 0.72] for inputs in [-1, 1] and its softmax range as [0, 0.55], so every
confident answer was clipped (67-86 % top-1 agreement at int8, against 93 % for the TF converter,
which takes the global min/max). packager therefore runs the float model itself over the whole
calibration set (all intermediate tensors kept) and derives each tensor's range by one of:

- `minmax`: the global min and max over all samples (what the TF converter does);
- `percentile`: the 0.01 and 99.99 percentiles (outliers clipped);
- `mse`: the clipping range that minimizes the mean squared quantization error of the tensor's
  values at the target bit width (searched over 60 ranges shrinking geometrically to 2 %).

Every range holds zero (it must be exactly representable) and is at least +-MIN_ACTIVATION_RANGE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from packager import quiet
from packager.data.dataset import Samples

METHODS: tuple[str, ...] = ("minmax", "percentile", "mse")
MIN_ACTIVATION_RANGE = 1e-3
PERCENTILE = 99.99
MAX_KEPT_VALUES = 65536  # per tensor, a uniform subsample of its values for percentile/MSE
BATCH = 16


@dataclass
class TensorStats:
    """What the calibration data made of one float tensor."""

    name: str
    minimum: float
    maximum: float
    values: np.ndarray  # a uniform random subsample of the tensor's values over all samples
    samples: int


@dataclass(frozen=True)
class Range:
    name: str
    low: float
    high: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.name, "min": float(self.low), "max": float(self.high), "method": self.method}


def _interpreter(model: bytes, preserve: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    with quiet.captured_output():
        return Interpreter(model_content=model, experimental_preserve_all_tensors=preserve,
                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def run_keeping_tensors(model: bytes, samples: Samples, names: set[str] | None, visit) -> None:
    """Run `model` over `samples` (already in its input dtype or float) with every intermediate tensor
    kept, calling visit(name, array) for each float/int tensor named in `names` (None: all), batch by batch."""
    interpreter = _interpreter(model)
    details = interpreter.get_input_details()
    arrays = [samples] if isinstance(samples, np.ndarray) else list(samples.arrays)  # several inputs: data.MultiInputs
    batchable = all(list(d.get("shape_signature", d["shape"]))[:1] == [-1] for d in details)
    step = BATCH if batchable else 1
    tensors = [d for d in interpreter.get_tensor_details() if names is None or d["name"] in names]
    current = None
    for start in range(0, len(samples), step):
        parts = [a[start : start + step] for a in arrays]
        if parts[0].shape[0] != current:
            for detail in details:
                interpreter.resize_tensor_input(detail["index"], [parts[0].shape[0], *detail["shape"][1:]], strict=False)
            interpreter.allocate_tensors()
            current = parts[0].shape[0]
        for detail, part in zip(details, parts):
            interpreter.set_tensor(detail["index"], part.astype(detail["dtype"]))
        interpreter.invoke()
        for d in tensors:
            try:
                value = interpreter.get_tensor(d["index"])
            except ValueError:  # a tensor LiteRT did not keep (e.g. optional, or a constant without data)
                continue
            visit(d, value)


def collect(float_model: bytes, samples: Samples, names: set[str], seed: int = 0) -> dict[str, TensorStats]:
    """Global min/max and a value subsample of every tensor in `names`, over all `samples`."""
    rng = np.random.default_rng(seed)
    batches = -(-len(samples) // BATCH)
    per_batch = max(64, MAX_KEPT_VALUES // max(1, batches))
    acc: dict[str, dict[str, Any]] = {}

    def visit(detail: dict, value: np.ndarray) -> None:
        if value.dtype != np.float32:
            return
        flat = value.reshape(-1)
        slot = acc.setdefault(detail["name"], {"min": np.inf, "max": -np.inf, "values": []})
        slot["min"] = min(slot["min"], float(flat.min()))
        slot["max"] = max(slot["max"], float(flat.max()))
        slot["values"].append(flat if flat.size <= per_batch else rng.choice(flat, per_batch, replace=False))

    run_keeping_tensors(float_model, samples.astype(np.float32) if isinstance(samples, np.ndarray) else samples, names, visit)
    return {name: TensorStats(name, s["min"], s["max"], np.concatenate(s["values"]), len(samples)) for name, s in acc.items()}


def _fake_quant(values: np.ndarray, low: float, high: float, bits: int, symmetric: bool, out: np.ndarray | None = None) -> np.ndarray:
    """`values` quantized into [low, high] with `bits` bits and back (into `out` when given: the same
    operations, in place, so that a search over ranges allocates nothing)."""
    if symmetric:
        bound = max(abs(low), abs(high))
        scale = bound / (2 ** (bits - 1) - 1)
        q = np.divide(values, scale, out=out)
        np.round(q, out=q)
        np.clip(q, -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1, out=q)
        q *= scale
        return q
    levels = 2**bits - 1
    scale = (high - low) / levels
    zero = np.round(-low / scale)
    q = np.divide(values, scale, out=out)
    np.round(q, out=q)
    q += zero
    np.clip(q, 0, levels, out=q)
    q -= zero
    q *= scale
    return q


def quantization_error(values: np.ndarray, low: float, high: float, bits: int, symmetric: bool, out: np.ndarray | None = None) -> float:
    """Mean squared error of quantizing `values` into [low, high] with `bits` bits (`out`: scratch
    space of values' shape and dtype)."""
    q = _fake_quant(values, low, high, bits, symmetric, out)
    q -= values
    np.square(q, out=q)
    return float(q.mean())


def tensor_range(stats: TensorStats, method: str, bits: int = 8, symmetric: bool = False) -> Range:
    low, high = stats.minimum, stats.maximum
    if method == "percentile" and stats.values.size:
        low = min(low, 0.0) if low >= 0 else float(np.percentile(stats.values, 100.0 - PERCENTILE))
        high = max(high, 0.0) if high <= 0 else float(np.percentile(stats.values, PERCENTILE))
    elif method == "mse" and stats.values.size:
        values = stats.values.astype(np.float64)
        scratch = np.empty_like(values)
        best, best_err = (low, high), np.inf
        for fraction in np.geomspace(1.0, 0.02, 60):
            lo, hi = min(low * fraction, 0.0), max(high * fraction, MIN_ACTIVATION_RANGE)
            err = quantization_error(values, lo, hi, bits, symmetric, scratch)
            if err < best_err:
                best, best_err = (lo, hi), err
        low, high = best
    elif method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}")
    return Range(stats.name, min(low, 0.0), max(high, MIN_ACTIVATION_RANGE), method)


def as_qsvs(template: dict[str, Any], ranges: dict[str, Range]) -> dict[str, Any]:
    """ai-edge-quantizer calibration results with packager's ranges in place of its own (same keys
    and shapes). Tensors packager has no statistics for keep ai-edge-quantizer's values, floored."""
    out = {}
    for name, qsv in template.items():
        if qsv and "min" in qsv and "max" in qsv:
            low, high = np.asarray(qsv["min"]), np.asarray(qsv["max"])
            if name in ranges:
                low, high = np.full_like(low, ranges[name].low), np.full_like(high, ranges[name].high)
            qsv = {**qsv, "min": np.minimum(low, 0.0).astype(np.float32), "max": np.maximum(high, MIN_ACTIVATION_RANGE).astype(np.float32)}
        out[name] = qsv
    return out
