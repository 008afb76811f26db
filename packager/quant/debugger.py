"""Quantization debugger: float and quantized model side by side, tensor by tensor.

Both models run on the same calibration samples with every intermediate tensor kept (LiteRT's
experimental_preserve_all_tensors). For each activation tensor the quantized model computes (an
operator's output, matched to the float model's tensor of the same name) it reports:

- `accumulated`: RMS of (quantized tensor, dequantized - float tensor) over the float tensor's RMS:
  all the error that reaches this point of the network;
- `added`: how much of it this operator adds: accumulated here minus the largest accumulated error
  of the operator's inputs (never below zero);
- `range_error`: the error of quantizing the float tensor alone into its range (rounding and
  clipping, relative as above), and `clipped`: the share of float values outside the range: a
  bad calibration range shows here whatever happened upstream;
- the range itself (from the tensor's scale and zero point) and how it was calibrated.

The result is the manifest's own record, `manifest.QuantizationDebug` (a `TensorDebug` per tensor); the worst
tensors (largest added error) go into the manifest (`quantization_debug`) and the report.
"""

from __future__ import annotations

import numpy as np

from packager import quiet
from packager.data.preprocess import to_input_dtype
from packager.manifest import QuantizationDebug, TensorDebug

DEBUG_SAMPLES = 64
REPORTED = 10  # tensors kept in the manifest
BATCH = 16


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    with quiet.captured_output():
        return Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


class _Side:
    """One model's interpreter over batches of normalized inputs."""

    def __init__(self, model: bytes):
        self.interpreter = _interpreter(model)
        self.input = self.interpreter.get_input_details()[0]
        signature = list(self.input.get("shape_signature", self.input["shape"]))
        self.step = BATCH if signature[:1] == [-1] else 1
        self.details = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self.ops = self.interpreter._get_ops_details()  # noqa: SLF001 - the only way LiteRT lists operators
        self._batch = None

    def run(self, normalized: np.ndarray) -> None:
        if normalized.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [normalized.shape[0], *self.input["shape"][1:]], strict=False)
            self.interpreter.allocate_tensors()
            self._batch = normalized.shape[0]
        scale, zero = self.input.get("quantization", (0.0, 0))
        self.interpreter.set_tensor(self.input["index"], to_input_dtype(normalized, self.input["dtype"], scale or None, zero))
        self.interpreter.invoke()

    def value(self, index: int) -> np.ndarray | None:
        try:
            return self.interpreter.get_tensor(index)
        except ValueError:
            return None


def _real(value: np.ndarray, detail: dict) -> np.ndarray:
    if value.dtype.kind == "f":
        return value.astype(np.float64)
    scale, zero = detail.get("quantization", (0.0, 0))
    return (value.astype(np.float64) - zero) * scale


def _range_of(detail: dict) -> tuple[float, float] | None:
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        return None
    info = np.iinfo(detail["dtype"])
    return float((info.min - zero) * scale), float((info.max - zero) * scale)


def debug(float_model: bytes, quantized: bytes, samples: np.ndarray, variant: str = "", calibration: str = "",
          reported: int = REPORTED) -> QuantizationDebug:
    """Compare every activation tensor of `quantized` with the float model's (see module doc)."""
    samples = samples[:DEBUG_SAMPLES]
    fl, qu = _Side(float_model), _Side(quantized)
    float_by_name = {d["name"]: i for i, d in fl.details.items() if np.dtype(d["dtype"]) == np.float32}
    # the quantized model's operator outputs that the float model also has, in graph order
    pairs: list[tuple[int, int, str, int, list[int]]] = []  # (q index, f index, op type, position, q input indices)
    for position, op in enumerate(qu.ops):
        if op["op_name"] == "DEQUANTIZE":
            continue
        if op["op_name"] == "QUANTIZE":  # float -> integer: compare the integer tensor with the float one it came from
            source = qu.details[op["inputs"][0]]
            if np.dtype(source["dtype"]) == np.float32 and source["name"] in float_by_name:
                pairs.append((op["outputs"][0], float_by_name[source["name"]], "QUANTIZE", position, []))
            continue
        for out in op["outputs"]:
            name = qu.details[out]["name"]
            if out >= 0 and name in float_by_name:
                pairs.append((out, float_by_name[name], op["op_name"], position, [i for i in op["inputs"] if i >= 0]))
    # a DEQUANTIZE output carries its input's value (and error): follow it back to a compared tensor
    alias: dict[int, int] = {}
    for op in qu.ops:
        if op["op_name"] == "DEQUANTIZE" and op["inputs"] and op["outputs"]:
            alias[op["outputs"][0]] = op["inputs"][0]
    input_name = qu.input["name"]
    if input_name in float_by_name and np.dtype(qu.input["dtype"]) != np.float32:  # integer input: its quantization is the first error
        pairs.insert(0, (qu.input["index"], float_by_name[input_name], "INPUT", -1, []))
    sums = {q: np.zeros(6) for q, *_ in pairs}  # err^2, float^2, range err^2, clipped, count, non-finite values float has not
    for start in range(0, len(samples), min(fl.step, qu.step)):
        part = samples[start : start + min(fl.step, qu.step)]
        fl.run(part)
        qu.run(part)
        for q, f, _, _, _ in pairs:
            fv, qv = fl.value(f), qu.value(q)
            if fv is None or qv is None or fv.shape != qv.shape:
                continue
            ref = fv.astype(np.float64)
            real = _real(qv, qu.details[q])
            acc = sums[q]
            # -inf/NaN (a LOG of a value rounded to zero) counted apart: errors are over finite values
            finite = np.isfinite(ref)
            acc[5] += float(np.sum(finite & ~np.isfinite(real)))
            keep = finite & np.isfinite(real)
            ref, real = ref[keep], real[keep]
            acc[0] += float(np.sum((real - ref) ** 2))
            acc[1] += float(np.sum(ref**2))
            bounds = _range_of(qu.details[q])
            if bounds is not None:
                scale = qu.details[q]["quantization"][0]
                fq = np.clip(np.round(ref / scale) * scale, bounds[0], bounds[1])
                acc[2] += float(np.sum((fq - ref) ** 2))
                acc[3] += float(np.sum((ref < bounds[0] - scale / 2) | (ref > bounds[1] + scale / 2)))
            acc[4] += ref.size
    accumulated: dict[int, float] = {}
    tensors: list[TensorDebug] = []
    for q, _, op_type, position, inputs in pairs:
        err2, ref2, range2, clipped, count, non_finite = sums[q]
        if not count:
            continue
        norm = np.sqrt(ref2) or 1.0
        accumulated[q] = float(np.sqrt(err2) / norm)
        upstream = [accumulated.get(alias.get(i, i), 0.0) for i in inputs]
        bounds = _range_of(qu.details[q])
        tensors.append(TensorDebug(
            tensor=qu.details[q]["name"], op_type=op_type, position=position, accumulated=accumulated[q],
            added=max(0.0, accumulated[q] - max(upstream, default=0.0)), range_error=float(np.sqrt(range2) / norm),
            clipped=float(clipped / count), range=None if bounds is None else [float(bounds[0]), float(bounds[1])],
            dtype=np.dtype(qu.details[q]["dtype"]).name, calibration="float" if bounds is None else calibration,
            non_finite=float(non_finite / (count + non_finite)) if non_finite else None))
    return QuantizationDebug.of(variant, len(samples), tensors, reported)
