"""Which operators the TFLite GPU delegate takes: its compatibility rules as data.

Taken from google-ai-edge/LiteRT at tag v2.2.0:
- tflite/tools/versioning/gpu_compatibility.cc, `CheckGpuDelegateCompatibility` (lines 534-1275):
  the per-operator check `tf.lite.experimental.Analyzer(gpu_compatibility=True)` is meant to run.
  The public TensorFlow wheels (2.19 here) build the Analyzer without it: model_analyzer.cc
  (tflite/python/analyzer_wrapper, lines 449-476) never fills its list of incompatible nodes, so
  the Analyzer calls every model compatible (tests/test_coverage.py shows it on a model it
  should flag). packager therefore applies the rules itself.
- tflite/delegates/gpu/common/model_builder.cc, `GetOpsToReplace` and `IsAllAllowedTensors`
  (lines 3055-3077, 3290-3385): every computed tensor of an operator must be float32/float16 or
  (quantized models) int8/uint8, a few operators also bool/int32, and no tensor above rank 4.

Simplified (docs/ACCELERATORS.md): ADD/MUL broadcasting, SELECT, ONE_HOT, EMBEDDING_LOOKUP, LSTM,
BITCAST and the custom operators the delegate knows are checked by their operand counts only;
STABLEHLO_BROADCAST_IN_DIM, STABLEHLO_CBRT and STABLEHLO_CLAMP are not modelled (reported as not supported).
"""

from __future__ import annotations

from collections.abc import Callable

from packager.tflite.flatbuffer import Operand, OpSignature

Check = Callable[[OpSignature], "str | None"]
SIGN_BIT = 5  # ActivationFunctionType.SIGN_BIT: the one fused activation the GPU delegate refuses
_FLOAT = ("float32", "float16")


def _runtime_inputs(sig: OpSignature) -> int:
    return sum(1 for o in sig.inputs if not o.const and o.dtype != "none")


def _const_inputs(sig: OpSignature) -> int:
    return sum(1 for o in sig.inputs if o.const)


def inputs_outputs(runtime: int, outputs: int = 1, const: int | None = None) -> Check:
    """CheckInputsOutputs / CheckInputsConstsOutputs."""

    def check(sig: OpSignature) -> str | None:
        if const is not None and _const_inputs(sig) != const:
            return f"expected {const} const input tensor(s), but node has {_const_inputs(sig)}"
        if _runtime_inputs(sig) != runtime:
            return f"expected {runtime} runtime input tensor(s), but node has {_runtime_inputs(sig)}"
        if len(sig.outputs) != outputs:
            return f"expected {outputs} output tensor(s), but node has {len(sig.outputs)}"
        return None

    return check


def one_or_two_operands(sig: OpSignature) -> str | None:
    pair = (_runtime_inputs(sig), _const_inputs(sig))
    return None if pair in ((2, 0), (1, 1)) and len(sig.outputs) == 1 else "op can only handle 1 or 2 operand(s)"


def activation(sig: OpSignature) -> str | None:
    return "fused activation SIGN_BIT not supported" if sig.options.get("fusedActivationFunction", 0) == SIGN_BIT else None


def convolution_io(sig: OpSignature) -> str | None:
    runtime = _runtime_inputs(sig)
    if not 1 <= runtime <= 2:
        return f"expected 1 or 2 input tensor(s), but node has {runtime} runtime inputs"
    return None if len(sig.outputs) == 1 else "expected 1 output tensor"


def positive(*names: str) -> Check:
    def check(sig: OpSignature) -> str | None:
        bad = [n for n in names if sig.options.get(n, 1) <= 0]
        return f"incorrect {', '.join(bad)}" if bad else None

    return check


def depthwise_shapes(sig: OpSignature) -> str | None:
    x, w, y = sig.inputs[0], sig.inputs[1], sig.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        return "input, filter and output must be 4D"
    if w.shape[3] != y.shape[3] or y.shape[3] != x.shape[3] * sig.options.get("depthMultiplier", 1):
        return "output channels != input channels * depth_multiplier"
    return None


def axes_int32_const(index: int) -> Check:
    def check(sig: OpSignature) -> str | None:
        axes = sig.inputs[index] if index < len(sig.inputs) else Operand(-1, "none")
        if not axes.const:
            return f"{sig.kind} is only supported with constant axes"
        return None if axes.dtype == "int32" else f"{sig.kind} supports int32 axes, node has {axes.dtype}"

    return check


def input_count(n: int, at_least: bool = False) -> Check:
    def check(sig: OpSignature) -> str | None:
        ok = len(sig.inputs) >= n if at_least else len(sig.inputs) == n
        return None if ok else f"{sig.kind} requires {'at least ' if at_least else ''}{n} input tensors"

    return check


def rank_3_or_4(sig: OpSignature) -> str | None:
    return None if len(sig.inputs[0].shape) in (3, 4) else f"{sig.kind} supports 3 or 4 dimensional tensors only"


def cast_types(sig: OpSignature) -> str | None:
    t, out = sig.inputs[0].dtype, sig.outputs[0].dtype
    if (t == "bool" and out in _FLOAT) or (t in _FLOAT and out == "bool") or (t in ("float32", "int32") and out in ("float32", "int32")):
        return None
    return f"not supported Cast case: {t} -> {out}"


def fully_connected(sig: OpSignature) -> str | None:
    if sig.options.get("weightsFormat", 0) != 0:
        return "unsupported FullyConnected weights format"
    if _runtime_inputs(sig) > 2:
        return "more than 2 runtime inputs"
    if sig.inputs[0].const:
        return "constant input not supported"
    if sig.options.get("keepNumDims") and len(sig.inputs[0].shape) != len(sig.outputs[0].shape):
        return "keep_num_dims with input and output of different ranks"
    return None


def gather(sig: OpSignature) -> str | None:
    if one_or_two_operands(sig):
        return "op can only handle 1 or 2 operand(s)"
    indices = sig.inputs[1]
    if len(indices.shape) != 1:
        return "only 1D indices"
    return None if indices.dtype == "int32" else "only int32 indices"


def dequantize(sig: OpSignature) -> str | None:
    return "int16 dequantization not supported" if sig.inputs and sig.inputs[0].dtype == "int16" else None


def block_size(sig: OpSignature) -> str | None:
    return None if sig.options.get("blockSize", 0) > 1 else f"{sig.kind} block_size must be > 1"


def softmax_beta(sig: OpSignature) -> str | None:
    return None if sig.options.get("beta", 1.0) == 1.0 else "Softmax.beta != 1 is not supported"


def strided_slice(sig: OpSignature) -> str | None:
    for mask in ("ellipsisMask", "newAxisMask", "shrinkAxisMask"):
        if sig.options.get(mask):
            return f"StridedSlice does not support {mask}"
    return input_count(4, at_least=True)(sig) or rank_3_or_4(sig)


def resize_bilinear(sig: OpSignature) -> str | None:
    return "align_corners with half_pixel_centers" if sig.options.get("alignCorners") and sig.options.get("halfPixelCenters") else None


def pad(sig: OpSignature) -> str | None:
    if sig.kind == "MIRROR_PAD" and sig.options.get("mode", 0) != 0:  # MirrorPadMode.REFLECT
        return "only reflective mirror padding"
    if len(sig.inputs) < 2:
        return "paddings tensor missing"
    shape = sig.inputs[1].shape
    return None if len(shape) == 2 and shape[0] in (3, 4) and shape[1] == 2 else f"paddings of shape {list(shape)} (expects 4x2 or 3x2)"


def cumsum(sig: OpSignature) -> str | None:
    x, axis = sig.inputs[0], sig.inputs[1] if len(sig.inputs) > 1 else Operand(-1, "none")
    ok = x.dtype in _FLOAT and sig.outputs and sig.outputs[0].dtype == x.dtype and axis.dtype == "int32" and axis.const
    return None if ok else "input/output must be float and the axis a constant int32"


_KNOWN_CUSTOM = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler")

_UNARY = (inputs_outputs(1, 1, const=0),)
_BINARY = (one_or_two_operands, activation)
_POOL = (inputs_outputs(1, 1), positive("filterHeight", "filterWidth", "strideH", "strideW"), activation)
_REDUCE = (inputs_outputs(1, 1, const=1), axes_int32_const(1))

RULES: dict[str, tuple[Check, ...]] = {
    "ADD": (input_count(2),), "ADD_N": (input_count(2),), "AVERAGE_POOL_2D": _POOL, "MAX_POOL_2D": _POOL,
    "BATCH_MATMUL": (input_count(2),), "BITCAST": (inputs_outputs(1, 1),), "CAST": (inputs_outputs(1, 1), cast_types),
    "CONCATENATION": (), "CONV_2D": (convolution_io, positive("strideH", "strideW", "dilationHFactor", "dilationWFactor"), activation),
    "CUMSUM": (cumsum,), "DENSIFY": (inputs_outputs(0, 1),),
    "DEPTHWISE_CONV_2D": (convolution_io, positive("strideH", "strideW", "dilationHFactor", "dilationWFactor"), activation, depthwise_shapes),
    "DEPTH_TO_SPACE": (inputs_outputs(1, 1), block_size), "DEQUANTIZE": (input_count(1), dequantize),
    "EMBEDDING_LOOKUP": (input_count(2),), "DYNAMIC_UPDATE_SLICE": (input_count(3),), "FULLY_CONNECTED": (fully_connected,),
    "GATHER": (gather,), "HARD_SWISH": (inputs_outputs(1, 1),), "LSTM": (), "MEAN": _REDUCE, "MUL": (input_count(2), activation),
    "PACK": (), "ONE_HOT": (input_count(4),), "QUANTIZE": (inputs_outputs(1, 1),), "RELU_N1_TO_1": (), "PRELU": (),
    "RESHAPE": (inputs_outputs(1, 1),), "SELECT": (input_count(3),), "SELECT_V2": (input_count(3),),
    "SLICE": (input_count(3, at_least=True), rank_3_or_4), "SOFTMAX": (softmax_beta,), "SPACE_TO_DEPTH": (inputs_outputs(1, 1), block_size),
    "SPLIT": (), "SPLIT_V": (), "STRIDED_SLICE": (strided_slice,), "TILE": (inputs_outputs(1, 1),), "TOPK_V2": (inputs_outputs(1, 2),),
    "TRANSPOSE": (inputs_outputs(1, 1),), "TRANSPOSE_CONV": (convolution_io, positive("strideH", "strideW")),
    "RESIZE_BILINEAR": (inputs_outputs(1, 1), resize_bilinear), "RESIZE_NEAREST_NEIGHBOR": (inputs_outputs(1, 1),),
    "RELU": (), "RELU6": (), "LEAKY_RELU": (),
    **dict.fromkeys(("REDUCE_ALL", "REDUCE_ANY", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SUM"), _REDUCE),
    **dict.fromkeys(("PAD", "PADV2", "MIRROR_PAD"), (inputs_outputs(1, 1), pad)),
    "REVERSE_V2": _REDUCE,
    **dict.fromkeys(("ABS", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "LOG", "LOGICAL_NOT", "LOGISTIC", "NEG", "ROUND", "RSQRT",
                     "SIGN", "SIN", "SQRT", "SQUARE", "TANH"), _UNARY),
    **dict.fromkeys(("ATAN2", "DIV", "EQUAL", "FLOOR_DIV", "FLOOR_MOD", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LOGICAL_OR", "LESS",
                     "LESS_EQUAL", "MAXIMUM", "MINIMUM", "NOT_EQUAL", "POW", "RIGHT_SHIFT", "STABLEHLO_REMAINDER", "STABLEHLO_SHIFT_LEFT",
                     "SQUARED_DIFFERENCE", "SUB"), _BINARY),
}

_COMPARISONS = {"GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL"}  # model_builder's IsLogicalCode


def _allowed_types(kind: str) -> tuple[set[str], set[str]]:
    """model_builder.cc GetOpsToReplace: the types a computed input / output tensor may have (quantized ops allowed, the default)."""
    inputs, outputs = {"float32", "float16", "int8", "uint8"}, {"float32", "float16", "int8", "uint8"}
    if kind in _COMPARISONS:
        outputs.add("bool")
    if kind == "CAST":
        inputs |= {"bool", "int32"}
        outputs |= {"int32", "bool"}
    if kind in ("ONE_HOT", "GATHER"):
        inputs.add("int32")
    if kind in ("SELECT", "SELECT_V2"):
        inputs.add("bool")
    if kind == "LOGICAL_AND":
        inputs.add("bool")
        outputs.add("bool")
    return inputs, outputs


def _tensors(sig: OpSignature) -> str | None:
    allowed_in, allowed_out = _allowed_types(sig.kind)
    for operands, allowed in ((sig.inputs, allowed_in), (sig.outputs, allowed_out)):
        for o in operands:
            if o.dtype == "none":
                continue
            if len(o.shape) >= 5:
                return f"tensor of rank {len(o.shape)} (at most 4)"
            if not o.const and o.dtype not in allowed:
                return f"op is supported, but its {o.dtype} tensors are not"
    return None


def validate(sig: OpSignature) -> str | None:
    """Why the GPU delegate refuses `sig`, or None when it takes it."""
    if sig.custom:
        return None if sig.kind in _KNOWN_CUSTOM else "custom operator: not supported"
    checks = RULES.get(sig.kind)
    if checks is None:
        return "not supported"
    try:
        for check in checks:
            reason = check(sig)
            if reason:
                return reason
    except IndexError:  # an operator without the operands its kind has: the delegate would not take it either
        return f"{sig.kind} without its expected operands"
    return _tensors(sig)
