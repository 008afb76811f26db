"""Which operators TFLite's NNAPI delegate takes, per NNAPI feature level: its validation rules as data.

Taken from `NNAPIDelegateKernel::Validate` in tflite/delegates/nnapi/nnapi_delegate.cc of
google-ai-edge/LiteRT at tag v2.2.0 (lines 2358-3660; feature-level constants in
nnapi_delegate_kernel.h lines 41-48), the delegate the app's `nnapi` path runs (TFLite 2.16.1's
NnApiDelegate; docs/ACCELERATORS.md says what differs and what is simplified). Each operator has a
`Rule`: the highest operator version mapped, the first feature level that has it, the input types
it takes from which level, the rank limit, the inputs that must be constant, whether a fused
activation is refused, and a few operator-specific checks as small functions. An operator with no
rule is one the delegate does not map ("Unsupported operation type.").

Feature levels are 1..8: NNAPI 1.0 (Android 8.1, API 27), 1.1 (API 28), 1.2 (API 29), 1.3 (API 30),
then the runtime feature levels 5 (API 31-32), 6 (API 33), 7 (API 34), 8 (API 35 and later).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from packager.tflite.flatbuffer import Operand, OpSignature

NAMES = {0: "none", 1: "1.0", 2: "1.1", 3: "1.2", 4: "1.3", 5: "FL5", 6: "FL6", 7: "FL7", 8: "FL8"}
FIRST_API = {1: 27, 2: 28, 3: 29, 4: 30, 5: 31, 6: 33, 7: 34, 8: 35}  # the Android API level each feature level came with
_API_LEVEL = {27: 1, 28: 2, 29: 3, 30: 4, 31: 5, 32: 5, 33: 6, 34: 7}


def feature_level(api: int) -> int:
    """The NNAPI feature level of an Android API level (0: no NNAPI before API 27)."""
    if api < 27:
        return 0
    return _API_LEVEL.get(api, 8)


def level_text(level: int) -> str:
    return f"NNAPI {NAMES[level]} (API {FIRST_API[level]})"


# input types (upstream's IsFloat, IsFloatOrUInt8, IsFloatOrQuantized, IsFloatQuantizedOrInt32), as first levels
FLOAT = {"float32": 1}
FLOAT_UINT8 = {"float32": 1, "uint8": 1}
QUANT8 = {"float32": 1, "uint8": 1, "int8": 1}
QUANT8_INT32 = {"float32": 1, "uint8": 1, "int8": 1, "int32": 1}

Check = Callable[[OpSignature, int], "str | None"]  # (operator, feature level) -> why it is refused, or None

_ACTIVATION = "fusedActivationFunction"


def _rank(op: Operand) -> int:
    return len(op.shape)


def _input(sig: OpSignature, i: int) -> Operand:
    return sig.inputs[i] if i < len(sig.inputs) else Operand(-1, "none")


# --- operator-specific checks (each the upstream Expect it stands for) -------------------------------------------------------------------
def _hybrid(sig: OpSignature) -> bool:  # IsHybridOperator: float input, quantized weights
    return _input(sig, 0).dtype == "float32" and _input(sig, 1).dtype in ("int8", "uint8")


def no_hybrid_before_1_2(sig: OpSignature, level: int) -> str | None:
    return "hybrid (float input, quantized weights) needs NNAPI 1.2 (API 29)" if level < 3 and _hybrid(sig) else None


def no_hybrid(sig: OpSignature, level: int) -> str | None:
    return "hybrid version (float input, quantized weights) is not supported by NNAPI" if _hybrid(sig) else None


def per_tensor_weights_before_1_2(sig: OpSignature, level: int) -> str | None:
    if level < 3 and len(_input(sig, 1).scales) > 1:
        return "per-channel quantized weights need NNAPI 1.2 (API 29)"
    return None


def restricted_scales_before_1_2(sig: OpSignature, level: int) -> str | None:
    """NNAPI 1.0/1.1, uint8: input_scale * filter_scale < output_scale."""
    x, w, y = _input(sig, 0), _input(sig, 1), sig.outputs[0] if sig.outputs else Operand(-1, "none")
    if level < 3 and x.dtype == "uint8" and x.scales and w.scales and y.scales and not x.scales[0] * w.scales[0] < y.scales[0]:
        return "uint8 before NNAPI 1.2 needs input_scale * filter_scale < output_scale"
    return None


def conv_bias_required(sig: OpSignature, level: int) -> str | None:
    return "Conv2D with omitted bias not supported" if len(sig.inputs) != 3 or _input(sig, 2).index < 0 else None


def dilation_since_1_2(sig: OpSignature, level: int) -> str | None:
    if level < 3 and (sig.options.get("dilationWFactor", 1) != 1 or sig.options.get("dilationHFactor", 1) != 1):
        return "dilated convolution needs NNAPI 1.2 (API 29)"
    return None


def grouped_conv_since_1_2(sig: OpSignature, level: int) -> str | None:
    x, w = _input(sig, 0), _input(sig, 1)
    if level < 3 and _rank(x) == 4 and _rank(w) == 4 and x.shape[3] != w.shape[3]:
        return "grouped convolution needs NNAPI 1.2 (API 29)"
    return None


def output_not_int16(sig: OpSignature, level: int) -> str | None:
    return "int16 output not supported" if sig.outputs and sig.outputs[0].dtype == "int16" else None


def keep_num_dims_since_1_3(sig: OpSignature, level: int) -> str | None:
    return "keep_num_dims needs NNAPI 1.3 (API 30)" if level < 4 and sig.options.get("keepNumDims") else None


def int32_no_activation(sig: OpSignature, level: int) -> str | None:
    if _input(sig, 0).dtype == "int32" and sig.options.get(_ACTIVATION, 0) != 0:
        return "no fused activation on int32 inputs"
    return None


def softmax_output_and_rank(sig: OpSignature, level: int) -> str | None:
    if sig.outputs and sig.outputs[0].dtype not in ("float32", "uint8", "int8"):
        return f"{sig.outputs[0].dtype} output (float32, uint8 or int8 only)"
    rank = _rank(_input(sig, 0))
    if level < 3 and rank not in (2, 4):
        return "before API 29 only 2D and 4D inputs"
    return None


def output_rank_at_most_4(sig: OpSignature, level: int) -> str | None:
    return "output rank above 4" if sig.outputs and _rank(sig.outputs[0]) > 4 else None


def reshape_new_shape(sig: OpSignature, level: int) -> str | None:
    if len(sig.inputs) >= 2 and not _input(sig, 1).const:
        return "the shape input must be constant"
    if len(sig.inputs) == 1:
        shape = sig.options.get("newShape") or ()
        if len(shape) == 0 or tuple(shape) == (0,):
            return "new shape rank must be > 0"
    return None


def resize_rules(sig: OpSignature, level: int) -> str | None:
    if len(sig.inputs) < 2:
        return "expected at least 2 inputs"
    if sig.kind == "RESIZE_BILINEAR":
        if _rank(_input(sig, 0)) != 4:
            return "input must have rank 4"
        out = sig.outputs[0].shape if sig.outputs else ()
        if level < 3 and len(out) == 4 and out[1] != out[2]:
            return "before NNAPI 1.2 output width must equal height"
    if level <= 3 and (sig.options.get("alignCorners") or sig.options.get("halfPixelCenters")):
        return "align_corners / half_pixel_centers need NNAPI 1.3 (API 30)"
    return None


def squeeze_dims_at_1_1(sig: OpSignature, level: int) -> str | None:
    return "NNAPI 1.1 does not support empty squeeze_dims" if level == 2 and not sig.options.get("squeezeDims") else None


def l2_pool_activation(sig: OpSignature, level: int) -> str | None:
    return "fused activation needs NNAPI 1.2 (API 29)" if level < 3 and sig.options.get(_ACTIVATION, 0) != 0 else None


def l2norm_before_1_2(sig: OpSignature, level: int) -> str | None:
    if level < 3 and (_input(sig, 0).dtype != "float32" or _rank(_input(sig, 0)) != 4):
        return "before NNAPI 1.2 only float32 4D input"
    return None


def concat_same_quantization(sig: OpSignature, level: int) -> str | None:
    first = _input(sig, 0)
    if level < 3 and first.dtype == "uint8" and any((o.scales, o.zero_points) != (first.scales, first.zero_points) for o in sig.inputs[1:]):
        return "before NNAPI 1.2 quantized inputs must share scale and zero point"
    return None


def dequantize_rules(sig: OpSignature, level: int) -> str | None:
    x = _input(sig, 0)
    if x.dtype == "float16" and not x.const and level >= 4:
        return None  # fp16 -> fp32 of a computed tensor: taken from NNAPI 1.3
    if sig.version > 2:
        return f"operator version {sig.version} (versions 1 and 2 only)"
    allowed = ("uint8",) if level < 3 else ("uint8", "int8")
    if x.dtype not in allowed:
        return f"{x.dtype} input (expects {' or '.join(allowed)})"
    if level == 3 and x.dtype == "int8" and any(z != 0 for z in x.zero_points):
        return "int8 at NNAPI 1.2 only with symmetric quantization (zero point 0)"
    return None


def pad_rules(sig: OpSignature, level: int) -> str | None:
    if any(d == 0 for d in _input(sig, 0).shape):
        return "input with no elements"
    if len(sig.inputs) < 2:
        return "expecting at least 2 inputs"
    if len(sig.inputs) == 3 and level < 3:
        return "a padding value needs NNAPI 1.2 (API 29)"
    if len(sig.inputs) != 3 and level < 3 and _input(sig, 0).dtype != "float32":
        return "only float32 before NNAPI 1.2"
    return None


def zero_crops(sig: OpSignature, level: int) -> str | None:
    crops = _input(sig, 2)
    return None if crops.values is not None and len(crops.values) == 4 and not any(crops.values) else "all crops must be constant zeros"


def tanh_types(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    return None if t == "float32" or (t in ("uint8", "int8") and level >= 3) else f"{t} input (float32; quantized from NNAPI 1.2)"


def sub_types(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    if (level >= 2 and t == "float32") or (level >= 3 and t in ("uint8", "int8")) or (level >= 4 and t == "int32"):
        return None
    return f"{t} input (float32 from NNAPI 1.1, quantized from 1.2, int32 from 1.3)"


def rsqrt_types(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    allowed = ("float32",) if level < 7 else ("float32", "uint8", "int8")
    return None if t in allowed else f"{t} input (takes {', '.join(allowed)})"


def int32_begin_size(sig: OpSignature, level: int) -> str | None:
    return None if _input(sig, 1).dtype == "int32" and _input(sig, 2).dtype == "int32" else "begin and size must be int32"


def float32_weights(sig: OpSignature, level: int) -> str | None:
    return None if _input(sig, 1).dtype == "float32" else "only float32 weights"


def five_inputs(sig: OpSignature, level: int) -> str | None:
    return None if len(sig.inputs) == 5 else "expected 5 inputs"


def lstm_rules(sig: OpSignature, level: int) -> str | None:
    if len(sig.inputs) in (20, 24):  # full kernel: input-to-output weights at input 4
        if len(sig.inputs) == 24 and level < 3:
            return "24-input LSTM needs NNAPI 1.2 (API 29)"
        w = _input(sig, 4).dtype
        allowed = ("float32", "uint8") + (("int8",) if level >= 4 else ())
        return None if w in allowed else f"{w} weights (takes {', '.join(allowed)})"
    return None  # the basic (quantized) kernel's checks are not modelled


def mean_rules(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    if not (t == "float32" or (level >= 3 and t in ("uint8", "int8"))):
        return f"{t} input (float32; quantized from NNAPI 1.2)"
    if sig.outputs and _rank(sig.outputs[0]) == 0:
        return "scalar output"
    return None


def scalar_operands_constant(sig: OpSignature, level: int) -> str | None:
    if any(_rank(o) == 0 and not o.const for o in sig.inputs[:2]):
        return "a scalar operand must be constant"
    return None


def cast_types(sig: OpSignature, level: int) -> str | None:
    allowed = ("float32", "int32", "uint8") + (("int8",) if level >= 4 else ())
    t, out = _input(sig, 0).dtype, sig.outputs[0].dtype if sig.outputs else "none"
    return None if t in allowed and out in allowed else f"{t} -> {out} ({', '.join(allowed)})"


def int32_second_input(sig: OpSignature, level: int) -> str | None:
    return None if _input(sig, 1).dtype == "int32" else "second input (multipliers / k / axis) must be int32"


def constant_int32_k(sig: OpSignature, level: int) -> str | None:
    k = _input(sig, 1)
    return None if k.dtype == "int32" and k.const else "k must be a constant int32"


def select_same_shape(sig: OpSignature, level: int) -> str | None:
    return None if _input(sig, 0).shape == _input(sig, 1).shape else "condition and inputs must have the same shape"


def gather_positions(sig: OpSignature, level: int) -> str | None:
    p = _input(sig, 1)
    if p.dtype != "int32":
        return "positions must be int32"
    return "0-dimension positions not supported" if _rank(p) == 0 else None


def constant_int32_axis(index: int) -> Check:
    def check(sig: OpSignature, level: int) -> str | None:
        axis = _input(sig, index)
        return None if axis.dtype == "int32" and axis.const else "only a constant int32 axis"

    return check


def split_types(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 1).dtype
    allowed = ("float32", "uint8", "int32") + (("int8",) if level >= 4 else ())
    return None if t in allowed else f"{t} input (takes {', '.join(allowed)})"


def split_v_rules(sig: OpSignature, level: int) -> str | None:
    sizes, axis = _input(sig, 1), _input(sig, 2)
    if not (sizes.dtype == "int32" and _rank(sizes) == 1 and sizes.const):
        return "only a constant int32 size_splits vector"
    if not (axis.dtype == "int32" and axis.const):
        return "only a constant int32 axis"
    return "only non-zero split sizes" if sizes.values is not None and 0 in sizes.values else None


def quantize_rules(sig: OpSignature, level: int) -> str | None:
    x, out = _input(sig, 0), sig.outputs[0] if sig.outputs else Operand(-1, "none")
    if x.dtype not in ("float32", "uint8", "int8"):
        return f"{x.dtype} input (float32 or quantized)"
    allowed = ("uint8",) if level < 4 else ("uint8", "int8")
    return None if out.dtype in allowed else f"{out.dtype} output ({' or '.join(allowed)})"


def output_not_scalar(sig: OpSignature, level: int) -> str | None:
    return "scalar output" if sig.outputs and _rank(sig.outputs[0]) == 0 else None


def input_not_scalar(sig: OpSignature, level: int) -> str | None:
    return "scalar input" if _rank(_input(sig, 0)) == 0 else None


def fill_rules(sig: OpSignature, level: int) -> str | None:
    dims, value = _input(sig, 0), _input(sig, 1)
    if not dims.const or dims.dtype not in ("int32", "int64"):
        return "only constant int32/int64 dimensions"
    if dims.shape and dims.shape[0] == 0:
        return "cannot fill a scalar"
    return None if value.dtype in ("float32", "int32", "int64") else f"{value.dtype} value"


def pack_rules(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    allowed = ("int32", "float32", "int8", "uint8") if level >= 6 else ("float32", "int8")
    if t not in allowed:
        return f"{t} input (takes {', '.join(allowed)})"
    axis = sig.options.get("axis", 0)
    if level < 6 and (axis == -1 or axis == _rank(_input(sig, 0))):
        return "the last dimension as axis needs NNAPI FL6 (API 33)"
    return None


def unpack_rules(sig: OpSignature, level: int) -> str | None:
    rank, axis = _rank(_input(sig, 0)), sig.options.get("axis", 0)
    if not 1 < rank <= 4:
        return f"rank {rank} input (2 to 4)"
    return "the last dimension as axis is not supported" if axis in (-1, rank - 1) else None


def squared_difference_types(sig: OpSignature, level: int) -> str | None:
    t = _input(sig, 0).dtype
    allowed = ("float32",) + (("uint8",) if level >= 3 else ()) + (("int8", "int32") if level >= 4 else ())
    return None if t in allowed else f"{t} input (takes {', '.join(allowed)})"


def batch_matmul_rules(sig: OpSignature, level: int) -> str | None:
    a, b = _input(sig, 0), _input(sig, 1)
    if a.dtype != b.dtype:
        return "hybrid batch matmul not supported"
    if not 2 <= _rank(a) <= 4:
        return f"rank {_rank(a)} input (2 to 4)"
    if _rank(a) != _rank(b) or a.shape[:-2] != b.shape[:-2]:
        return "broadcast batch matmul not supported"
    return None


def two_inputs(sig: OpSignature, level: int) -> str | None:
    return None if len(sig.inputs) == 2 else "expecting 2 inputs"


def argmax_rules(sig: OpSignature, level: int) -> str | None:
    axis = _input(sig, 1)
    if not (axis.dtype == "int32" or (axis.dtype == "int64" and axis.const)):
        return "axis must be int32 (or a constant int64)"
    return None if sig.outputs and sig.outputs[0].dtype == "int32" else "only int32 output"


def avg_pool_window(sig: OpSignature, level: int) -> str | None:
    # without an accelerator named (the delegate before API 29), a large quantized window overflows the reference CPU path
    if level < 3 and _input(sig, 0).dtype in ("uint8", "int8") and sig.options.get("filterWidth", 1) * sig.options.get("filterHeight", 1) > 256:
        return "quantized filter window over 256 elements"
    return None


def mul_version(sig: OpSignature, level: int) -> str | None:
    # version 3 only with an accelerator named: the app turns NNAPI's CPU off, which names the devices from API 29
    highest = 3 if level >= 3 else 2
    return f"operator version {sig.version} (at most {highest})" if sig.version > highest else None


def transpose_conv_constants(sig: OpSignature, level: int) -> str | None:
    return None if len(sig.inputs) > 1 and _input(sig, 0).const and _input(sig, 1).const else "output shape and weights must be constant"


def densify_rules(sig: OpSignature, level: int) -> str | None:
    return None if level >= 4 and _input(sig, 0).const else "only constant sparse weights, from NNAPI 1.3 (API 30)"


def logical_bool(sig: OpSignature, level: int) -> str | None:
    return None if _input(sig, 0).dtype == "bool" else "input must be bool"


@dataclass(frozen=True)
class Rule:
    max_version: int
    since: int = 1  # first feature level with the operator (ExpectMinAndroidSdkVersion)
    types: Mapping[str, int] | None = None  # type of input `type_input` -> first feature level that takes it; None: not checked
    types_before: int | None = None  # the type check applies only below this level (e.g. CONV_2D: none from NNAPI 1.2)
    type_input: int = 0
    max_rank: int | None = None  # inputs 0 and 1 of at most this rank
    const_inputs: tuple[int, ...] = ()  # these inputs must be constant (allocated read-only)
    no_activation: bool = False
    checks: tuple[Check, ...] = ()


_CONV_TYPES = {"float32": 1, "uint8": 1}  # before 1.2 (IsFloatOrUint8); none checked from 1.2
_COMPARE = Rule(2, since=3, types={"float32": 3, "uint8": 3, "int8": 3, "bool": 3, "int32": 3})

RULES: dict[str, Rule] = {
    "ADD": Rule(2, types={**QUANT8, "int32": 4}, max_rank=4, checks=(int32_no_activation,)),
    "ARG_MAX": Rule(2, since=3, types={"float16": 3, "float32": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(argmax_rules,)),
    "ARG_MIN": Rule(2, since=3, types={"float16": 3, "float32": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(argmax_rules,)),
    "MUL": Rule(3, types={**QUANT8, "int32": 4}, max_rank=4, checks=(mul_version, int32_no_activation)),
    "AVERAGE_POOL_2D": Rule(2, types=QUANT8, checks=(avg_pool_window,)),
    "MAX_POOL_2D": Rule(2, types=QUANT8),
    "L2_POOL_2D": Rule(1, types=FLOAT, checks=(l2_pool_activation,)),
    "CONV_2D": Rule(5, types=_CONV_TYPES, types_before=3, checks=(
        no_hybrid_before_1_2, per_tensor_weights_before_1_2, restricted_scales_before_1_2, conv_bias_required, dilation_since_1_2,
        grouped_conv_since_1_2)),
    "DEPTHWISE_CONV_2D": Rule(3, types=_CONV_TYPES, types_before=3, checks=(restricted_scales_before_1_2, dilation_since_1_2)),
    "FULLY_CONNECTED": Rule(5, types=_CONV_TYPES, types_before=3, checks=(
        output_not_int16, no_hybrid_before_1_2, restricted_scales_before_1_2, keep_num_dims_since_1_3)),
    "HARD_SWISH": Rule(99, types=QUANT8),
    "SOFTMAX": Rule(2, types=QUANT8, max_rank=4, checks=(softmax_output_and_rank,)),
    "RESHAPE": Rule(1, types={**QUANT8, "int32": 6}, max_rank=4, checks=(output_rank_at_most_4, reshape_new_shape)),
    "RESIZE_BILINEAR": Rule(3, types={"float32": 1, "uint8": 3, "int8": 3}, const_inputs=(1,), checks=(resize_rules,)),
    "RESIZE_NEAREST_NEIGHBOR": Rule(3, since=3, types=QUANT8, const_inputs=(1,), checks=(resize_rules,)),
    "SQUEEZE": Rule(1, since=2, checks=(squeeze_dims_at_1_1,)),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": Rule(2, since=3, checks=(no_hybrid,)),
    "L2_NORMALIZATION": Rule(2, no_activation=True, checks=(l2norm_before_1_2,)),
    "LOCAL_RESPONSE_NORMALIZATION": Rule(1),
    "LSH_PROJECTION": Rule(1),
    "CONCATENATION": Rule(2, types={"float16": 1, **QUANT8}, max_rank=4, no_activation=True, checks=(concat_same_quantization,)),
    "DEQUANTIZE": Rule(99, checks=(dequantize_rules,)),
    "DENSIFY": Rule(99, checks=(densify_rules,)),
    "FLOOR": Rule(1),
    "RELU": Rule(2, types=QUANT8),
    "RELU_N1_TO_1": Rule(2, types=QUANT8),
    "RELU6": Rule(2, types=QUANT8),
    "LOGISTIC": Rule(2, types=QUANT8),
    "TANH": Rule(2, checks=(tanh_types,)),
    "SUB": Rule(3, max_rank=4, checks=(sub_types, int32_no_activation)),
    "DIV": Rule(1, since=2, types=FLOAT, max_rank=4),
    "PAD": Rule(2, since=2, types=QUANT8, checks=(pad_rules,)),
    "PADV2": Rule(2, since=2, types=QUANT8, checks=(pad_rules,)),
    "UNIDIRECTIONAL_SEQUENCE_RNN": Rule(1, since=3, checks=(no_hybrid,)),
    "SPACE_TO_BATCH_ND": Rule(2, since=2),
    "BATCH_TO_SPACE_ND": Rule(2, since=2, checks=(zero_crops,)),
    "STRIDED_SLICE": Rule(2, since=2, types=QUANT8),
    "TRANSPOSE": Rule(2, since=2, const_inputs=(1,)),
    "ABS": Rule(1, since=3, types=FLOAT),
    "EXP": Rule(1, since=3, types=FLOAT),
    "LOG": Rule(1, since=3, types=FLOAT),
    "POW": Rule(1, since=3, types=FLOAT),
    "RSQRT": Rule(2, since=3, checks=(rsqrt_types,)),
    "SLICE": Rule(2, since=3, types={"float32": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(int32_begin_size,)),
    "COS": Rule(1, since=3, types=FLOAT),
    "SIN": Rule(1, since=3, types=FLOAT),
    "TRANSPOSE_CONV": Rule(4, since=3, checks=(transpose_conv_constants,)),
    "SQRT": Rule(1, since=3, types=FLOAT),
    "RNN": Rule(1, checks=(five_inputs, float32_weights)),
    "SPACE_TO_DEPTH": Rule(2, types=QUANT8),
    "SVDF": Rule(1, since=2, checks=(five_inputs, float32_weights)),
    "LSTM": Rule(3, since=2, checks=(no_hybrid_before_1_2, lstm_rules)),
    "MEAN": Rule(2, since=2, max_rank=4, checks=(mean_rules,)),
    "EMBEDDING_LOOKUP": Rule(1, types=FLOAT, type_input=1),
    "HASHTABLE_LOOKUP": Rule(1),
    "MAXIMUM": Rule(3, since=3, types={"float32": 3, "uint8": 3, "int8": 3, "int32": 3}, checks=(scalar_operands_constant,)),
    "MINIMUM": Rule(3, since=3, types={"float32": 3, "uint8": 3, "int8": 3, "int32": 3}, checks=(scalar_operands_constant,)),
    "CAST": Rule(1, since=3, checks=(cast_types,)),
    "LEAKY_RELU": Rule(1, since=3, types={"float32": 3, "uint8": 3, "int8": 3}),
    "PRELU": Rule(1, since=3, types={"float32": 3, "uint8": 3, "int8": 3}),
    "TILE": Rule(1, since=3, types={"float32": 3, "int8": 3, "uint8": 3, "int32": 3}, checks=(int32_second_input,)),
    "LOGICAL_OR": Rule(1, since=3, checks=(logical_bool,)),
    "LOGICAL_AND": Rule(1, since=3, checks=(logical_bool,)),
    "LOGICAL_NOT": Rule(1, since=3, checks=(logical_bool,)),
    "LESS": _COMPARE, "LESS_EQUAL": _COMPARE, "GREATER": _COMPARE, "GREATER_EQUAL": _COMPARE, "EQUAL": _COMPARE, "NOT_EQUAL": _COMPARE,
    "NEG": Rule(2, since=3, types={"float32": 3, "int32": 3}),
    "TOPK_V2": Rule(2, since=3, types={"float32": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(constant_int32_k,)),
    "SELECT": Rule(2, since=3, types={"float32": 3, "int32": 3, "uint8": 3, "int8": 3}, type_input=1, checks=(select_same_shape,)),
    "GATHER": Rule(2, since=3, types={"float32": 3, "float16": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(gather_positions,)),
    "BIDIRECTIONAL_SEQUENCE_LSTM": Rule(1, since=3, checks=(no_hybrid,)),
    "EXPAND_DIMS": Rule(1, since=3, types={"float32": 3, "float16": 3, "int32": 3, "uint8": 3, "int8": 3}, checks=(constant_int32_axis(1),)),
    "SPLIT": Rule(3, since=3, checks=(split_types, constant_int32_axis(0))),
    "SPLIT_V": Rule(2, since=4, types={"float32": 4, "uint8": 4, "int8": 4, "int32": 4}, checks=(split_v_rules,)),
    "LOG_SOFTMAX": Rule(1, since=3, types=FLOAT),
    "QUANTIZE": Rule(2, since=3, checks=(quantize_rules,)),
    "REDUCE_ANY": Rule(2, since=3, checks=(output_not_scalar,)),
    "REDUCE_MIN": Rule(2, since=3, types={"float32": 3, "uint8": 3, "int8": 3}, checks=(input_not_scalar,)),
    "REDUCE_MAX": Rule(2, since=3, types={"float32": 3, "uint8": 3, "int8": 3}, checks=(input_not_scalar,)),
    "DEPTH_TO_SPACE": Rule(99, types=QUANT8),
    "REDUCE_PROD": Rule(1, since=3, types=FLOAT, checks=(output_not_scalar,)),
    "SUM": Rule(1, since=3, types=FLOAT, checks=(output_not_scalar,)),
    "ELU": Rule(1, since=4, types=FLOAT),
    "FILL": Rule(1, since=4, checks=(fill_rules,)),
    "PACK": Rule(2, since=4, checks=(pack_rules,)),
    "UNPACK": Rule(2, since=4, types={"float32": 4, "uint8": 4, "int8": 4}, checks=(unpack_rules,)),
    "SQUARED_DIFFERENCE": Rule(2, since=2, max_rank=4, checks=(squared_difference_types,)),
    "BATCH_MATMUL": Rule(2, since=6, types={"float32": 6, "int32": 6, "int8": 6}, checks=(batch_matmul_rules,)),
    "MIRROR_PAD": Rule(2, since=7, types=QUANT8_INT32, checks=(two_inputs,)),
    "REVERSE_V2": Rule(3, since=7, types=QUANT8_INT32, checks=(two_inputs,)),
}


def validate(sig: OpSignature, level: int) -> str | None:
    """Why the NNAPI delegate refuses `sig` at feature `level` (1..8), or None when it takes it."""
    if level <= 0:
        return "no NNAPI before Android 8.1 (API 27)"
    rule = RULES.get(sig.kind) if not sig.custom else None
    if rule is None:
        return "custom operator: not supported" if sig.custom else "not supported"
    if level < rule.since:
        return f"needs {level_text(rule.since)}"
    if sig.version > rule.max_version:
        return f"operator version {sig.version} (the delegate maps up to {rule.max_version})"
    if rule.types is not None and (rule.types_before is None or level < rule.types_before):
        dtype = _input(sig, rule.type_input).dtype
        first = rule.types.get(dtype)
        if first is None and rule.types_before is not None:
            return f"{dtype} input needs {level_text(rule.types_before)}"  # no type check from there on
        if first is None:
            return f"{dtype} input (takes {', '.join(rule.types)})"
        if level < first:
            return f"{dtype} input needs {level_text(first)}"
    if rule.max_rank is not None and any(_rank(_input(sig, i)) > rule.max_rank for i in range(min(2, len(sig.inputs)))):
        return f"input rank above {rule.max_rank}"
    for i in rule.const_inputs:
        if not _input(sig, i).const:
            return f"input {i} must be constant"
    if rule.no_activation and sig.options.get(_ACTIVATION, 0) != 0:
        return "no fused activation supported"
    for check in rule.checks:
        reason = check(sig, level)
        if reason:
            return reason
    return None
