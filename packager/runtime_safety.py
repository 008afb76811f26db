"""Operators that stay in float in every static variant because their quantized LiteRT kernel
aborts on values the calibration cannot rule out.

- DIV by a tensor computed at run time: LiteRT's int8/int16 DIV refuses a divisor equal to its
  zero point (div.cc: `data[i] != zero_point`), and every activation range holds zero, so a
  divisor that comes close to zero on some input (below half a quantization step) stops the
  model. basic-pitch's front end divides by max - min of its log spectrum (`div_no_nan`), which
  is 0 on silence: quantized, the model fails on a silent clip (and on packager's zero-input check)
  although it ran on every calibration clip. In float the kernel divides and the graph's own
  guard (SELECT_V2 for div_no_nan) handles zero. A DIV by a constant is quantized as before.

What this returns is kept in float by the ai-edge-quantizer recipe (QUANTIZE/DEQUANTIZE around
it) and recorded in the variant's options (`float_for_runtime`), so the manifest says why a
static variant has float operators the user did not ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from packager import quiet

REASONS = {
    "DIV": "divisor computed at run time; LiteRT's quantized DIV aborts when it rounds to the zero point",
}


@dataclass(frozen=True)
class FloatOp:
    op: str  # output tensor name (how recipes name an operator)
    op_type: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"op": self.op, "op_type": self.op_type, "reason": self.reason}


def float_for_runtime(float_model: bytes) -> tuple[FloatOp, ...]:
    """The operators of `float_model` whose quantized kernel can abort at run time (see module doc)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    with quiet.captured_output():
        interpreter = Interpreter(model_content=float_model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - op types with tensor indices
    computed = {i for op in ops for i in op["outputs"] if i >= 0} | {int(d["index"]) for d in interpreter.get_input_details()}
    found = []
    for op in ops:
        if op["op_name"] == "DIV" and len(op["inputs"]) == 2 and op["inputs"][1] in computed and op["outputs"]:
            found.append(FloatOp(tensors[op["outputs"][0]]["name"], "DIV", REASONS["DIV"]))
    return tuple(found)
