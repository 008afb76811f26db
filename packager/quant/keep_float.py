"""Operators every static variant keeps in float, found in the float model's graph.

- DIV by a tensor computed at run time: LiteRT's int8/int16 DIV refuses a divisor equal to its
  zero point (div.cc: `data[i] != zero_point`), and every activation range holds zero, so a
  divisor that comes close to zero on some input (below half a quantization step) stops the
  model. basic-pitch's front end divides by max - min of its log spectrum (`div_no_nan`), which
  is 0 on silence: quantized, the model failed on a silent clip (and on packager's zero-input
  check) although it ran on every calibration clip. In float the kernel divides and the graph's
  own guard (SELECT_V2 for div_no_nan) handles zero. A DIV by a constant is quantized as before.
- LOG, with the elementwise chain that computes its input (squares, sums, square roots, adds,
  reshapes: a power or magnitude spectrum): such a tensor spans many decades, linear
  quantization rounds its quiet values to zero (or to one step), and LOG turns that rounding
  into errors without bound (the quantization debugger on basic-pitch int16x8: accumulated error
  of the LOG output 1.08 of its RMS, F1 of the note activations 88 % against 97.5 % for dynamic
  range; with the chain in float, 99.0 %).
- A spectral front end: every operator between a spectral transform (RFFT2D, COMPLEX_ABS, REAL,
  IMAG) and a LOG it feeds, of any type (a mel filterbank is a FULLY_CONNECTED or BATCH_MATMUL), is
  kept in float as one unit with the LOG. Quantized, the filterbank's output rounds quiet bands to
  zero, the float LOG makes -inf of them, and the QUANTIZE after it saturates that to the bottom of
  its range: on a small spectral CNN made in tests/test_keep_float.py, int8 agreed with float on
  far fewer inputs than with the front end in float.

- Control flow (WHILE, IF and the subgraphs they run: a recurrent layer converted by TF):
  ai-edge-quantizer's calibration cannot read the tensors of the loop's subgraphs (LiteRT frees
  them: 'Tensor data is null'), so the loop is kept in float with everything it runs and the main
  graph around it is calibrated and quantized (packager.quant.engines reads the main graph's
  ranges itself). `control_flow_body` names the subgraphs' operators for the recipe.

What this returns is kept in float by the ai-edge-quantizer recipe (QUANTIZE/DEQUANTIZE around
it) and recorded in the variant's options (`kept_float`: operator, type, reason), so the
manifest says why a static variant has float operators the user did not ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from packager.tflite import flatbuffer

REASONS = {
    "DIV": "divisor computed at run time; LiteRT's quantized DIV aborts when it rounds to the zero point",
    "LOG": "log of a linearly quantized tensor: values rounded to zero become unbounded errors",
    "LOG_INPUT": "computes the input of a LOG (a magnitude spanning decades): kept in float with it",
    "SPECTRAL": "between a spectral transform and the LOG it feeds: the front end is kept in float as one unit",
    "CONTROL_FLOW": "control flow: the {kind} and the {ops} operators of its {subgraphs} subgraph(s) stay in float "
                    "(ai-edge-quantizer cannot calibrate tensors inside a loop); the main graph around it is quantized",
}
_CONTROL_FLOW = {"WHILE", "IF", "CALL_ONCE"}
# spectral transforms: their outputs (and anything computed from them before a LOG) span decades
_SPECTRAL = {"RFFT2D", "COMPLEX_ABS", "REAL", "IMAG"}
# elementwise ops (and reductions, reshapes) through which a LOG's input is traced back
_LOG_CHAIN = {"ADD", "SUB", "MUL", "SQUARE", "SQRT", "SUM", "POW", "ABS", "MAXIMUM", "MINIMUM", "RESHAPE", "TRANSPOSE",
              "SQUEEZE", "EXPAND_DIMS"}


@dataclass(frozen=True)
class FloatOp:
    op: str  # output tensor name (how recipes name an operator)
    op_type: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"op": self.op, "op_type": self.op_type, "reason": self.reason}


def kept_float(float_model: bytes) -> tuple[FloatOp, ...]:
    """The operators of `float_model` that static variants keep in float (see module doc), in graph order."""

    tree = flatbuffer.read(float_model)
    sub = tree.subgraphs[0]
    ops = [op for op in flatbuffer.op_nodes(tree) if op.outputs and op.outputs[0] >= 0]
    producer = {i: op for op in ops for i in op.outputs if i >= 0}
    computed = set(producer) | {int(i) for i in sub.inputs}
    reasons: dict[int, tuple[str, str]] = {}  # op index -> (type, reason)
    body = control_flow_body(float_model)
    for op in ops:
        if op.kind in _CONTROL_FLOW:
            reasons[op.position] = (op.kind, REASONS["CONTROL_FLOW"].format(kind=op.kind, ops=len(body), subgraphs=len(tree.subgraphs) - 1))
        elif op.kind == "DIV" and len(op.inputs) == 2 and op.inputs[1] in computed:
            reasons[op.position] = ("DIV", REASONS["DIV"])
        elif op.kind == "LOG":
            reasons[op.position] = ("LOG", REASONS["LOG"])
            for up in _spectral_front_end(op, producer):
                reasons.setdefault(up.position, (up.kind, REASONS["SPECTRAL"]))
            stack = [i for i in op.inputs if i in producer]
            while stack:
                up = producer[stack.pop()]
                if up.kind not in _LOG_CHAIN or up.position in reasons:
                    continue
                reasons[up.position] = (up.kind, REASONS["LOG_INPUT"])
                stack += [i for i in up.inputs if i in producer]
    return tuple(FloatOp(flatbuffer.tensor_name(sub.tensors[op.outputs[0]]), *reasons[op.position]) for op in ops if op.position in reasons)


def _spectral_front_end(log, producer: dict) -> list:
    """The operators on a path from a spectral transform to `log` (the transforms included), or none when
    no spectral transform feeds it."""
    ancestors: dict[int, object] = {}
    stack = [i for i in log.inputs if i in producer]
    while stack:
        up = producer[stack.pop()]
        if up.position not in ancestors:
            ancestors[up.position] = up
            stack += [i for i in up.inputs if i in producer]
    on_path: dict[int, bool] = {}

    def reaches_spectral(op) -> bool:  # some path from `op` upward meets a spectral transform
        if op.position not in on_path:
            on_path[op.position] = False  # no cycles in a subgraph; guards the recursion anyway
            on_path[op.position] = op.kind in _SPECTRAL or any(
                reaches_spectral(producer[i]) for i in op.inputs if i in producer and producer[i].position in ancestors)
        return on_path[op.position]

    return [op for position, op in sorted(ancestors.items()) if reaches_spectral(op)]


def control_flow_body(float_model: bytes) -> tuple[str, ...]:
    """Output tensor names of the operators in subgraphs other than the main one (loop bodies and
    conditions), which static variants keep in float with the control-flow operator that runs them."""
    tree = flatbuffer.read(float_model)
    names: list[str] = []
    for sub in tree.subgraphs[1:]:
        for op in sub.operators or []:
            outputs = [int(i) for i in (op.outputs if op.outputs is not None else ()) if int(i) >= 0]
            names += [flatbuffer.tensor_name(sub.tensors[outputs[0]])] if outputs else []
    return tuple(dict.fromkeys(names))
