"""Per-operator quantization error: which operators hurt most when quantized to int8.

For each operator, a model is made with only that operator quantized (ai-edge-quantizer, the
same calibration) and everything else left in float; the error it causes at the model's output,
relative to the float output, is that operator's quantization error. Measured this way, an
operator is judged by what its quantization does to the result, not by a tensor statistic: a
few outlier channels that stretch an int8 scale until every other channel rounds to zero show
up at once on the operators that produce and consume that tensor.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from packager import progress, quiet
from packager.data.dataset import Samples
from packager.manifest import OperatorError
from packager.runtime import isolation
from packager.runtime.evaluate import ModelRunner

_SKIP = {"SHAPE", "STRIDED_SLICE", "PACK", "QUANTIZE", "DEQUANTIZE", "CAST", "GATHER_ND", "RANGE"}


def quantizable_ops(float_model: bytes) -> list[tuple[str, str]]:
    """(output tensor name, op type) of every operator with a float activation output."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    with quiet.captured_output():
        interpreter = Interpreter(model_content=float_model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = []
    for op in interpreter._get_ops_details():  # noqa: SLF001 - LiteRT's Python API has no public operator list
        outputs = [tensors[i] for i in op["outputs"] if i >= 0]
        if op["op_name"] in _SKIP or not outputs or np.dtype(outputs[0]["dtype"]) != np.float32:
            continue
        ops.append((outputs[0]["name"], op["op_name"]))
    return ops


def operator_errors(engine, samples: Samples) -> list[OperatorError]:
    """Each operator's quantization error (see module doc), worst first. `engine` is an AeqEngine."""
    reference = ModelRunner(engine.float_model, threads=1).predict(samples)[0]
    ref_rms = float(np.sqrt(np.mean(reference.astype(np.float64) ** 2))) or 1.0
    ref_top1 = reference.reshape(len(reference), -1).argmax(1)
    ops = quantizable_ops(engine.float_model)
    engine.calibrate(None if engine.calibrated else samples)  # reuse one calibration

    def measure(item: tuple[str, str]) -> OperatorError:
        name, op_type = item
        try:
            model = engine.only(name)
            # first loaded and run in the worker (isolation.py): a one-operator model that crashes
            # LiteRT (LiteRTCrash) or does not run is an operator with no error to measure
            if not isolation.probe(model, f"the model with only {name} in int8").runs:
                return OperatorError(op=name, op_type=op_type, error=0.0, top1_disagreement=0.0)
            out = ModelRunner(model, threads=1).predict(samples)[0]
        except Exception:  # noqa: BLE001 - an op ai-edge-quantizer cannot quantize alone: no error to blame on it
            return OperatorError(op=name, op_type=op_type, error=0.0, top1_disagreement=0.0)
        error = float(np.sqrt(np.mean((out.astype(np.float64) - reference) ** 2))) / ref_rms
        disagreement = float((out.reshape(len(out), -1).argmax(1) != ref_top1).mean())
        return OperatorError(op=name, op_type=op_type, error=error, top1_disagreement=disagreement)

    with progress.task(f"Measuring per-operator quantization error ({len(ops)} operators)", len(ops)) as advance:
        results = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for result in pool.map(measure, ops):
                results.append(result)
                advance(1)
    return sorted(results, key=lambda e: (e.top1_disagreement, e.error), reverse=True)
