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
}
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
    for op in ops:
        if op.kind == "DIV" and len(op.inputs) == 2 and op.inputs[1] in computed:
            reasons[op.position] = ("DIV", REASONS["DIV"])
        elif op.kind == "LOG":
            reasons[op.position] = ("LOG", REASONS["LOG"])
            stack = [i for i in op.inputs if i in producer]
            while stack:
                up = producer[stack.pop()]
                if up.kind not in _LOG_CHAIN or up.position in reasons:
                    continue
                reasons[up.position] = (up.kind, REASONS["LOG_INPUT"])
                stack += [i for i in up.inputs if i in producer]
    return tuple(FloatOp(flatbuffer.tensor_name(sub.tensors[op.outputs[0]]), *reasons[op.position]) for op in ops if op.position in reasons)
