"""Bias correction (Nagel et al., ICCV 2019; NNCF's "fast bias correction"), measured on the calibration data.

A quantized convolution or fully-connected layer computes, before its activation, W_q . Q(x) + b_q
where the float model computes W . x + b: its weights are rounded and its input x is rounded and
clipped into the input tensor's range. Averaged over the calibration data this differs from float by
a per-output-channel offset; the offset is what the layer adds to the network's error on average,
and it can be taken out by the layer's own bias.

Which input: the float model's (as NNCF's fast bias correction does). The float model runs once over
the calibration samples with its tensors kept; for each layer its float input x gives
- the float pre-activation mean  W . mean_taps(x) + b,
- the quantized layer's          W_q . mean_taps(Q(x)) + b_q, Q being the quantized model's
  rounding and clipping of that input tensor (its scale, zero point and integer range),
where mean_taps is the mean, over samples and output positions, of the input value each kernel tap
reads (zero in the padding: a quantized kernel pads with the zero point). A convolution is linear
before its activation, so both means are exact, without running the quantized layer. The
difference, over the bias tensor's scale (input scale x weight scale of the channel), is subtracted
from the integer bias: b_q -= round(mean_error / (s_input * s_weight)).

Only layers with integer activations, constant per-channel int8 weights and an integer bias of their
own (int32 at int8, int32/int64 at int16x8) are corrected, and only when the float model has the
same layer (same output tensor name) with float weights. The function of the float model is the
reference: on the equalized model for +cle candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packager.data.dataset import Samples
from packager.quant.calibration import run_keeping_tensors
from packager.tflite import flatbuffer

MAX_SAMPLES = 256  # calibration samples the means are taken over


@dataclass(frozen=True)
class BiasCorrection:
    """What bias correction did to a model."""

    corrected: int  # layers whose bias changed
    layers: int  # layers considered (integer conv / depthwise / fully connected with an own bias)
    mean_shift: float  # mean |change| of the corrected layers' integer biases, in bias steps
    model: bytes


def corrected_bias(bias_q: np.ndarray, mean_error: np.ndarray, bias_scale: np.ndarray) -> np.ndarray:
    """The integer bias with the mean error (real units, per output channel) taken out, in the bias's own dtype."""
    info = np.iinfo(bias_q.dtype)
    steps = np.round(np.asarray(mean_error, np.float64) / np.asarray(bias_scale, np.float64))
    return np.clip(bias_q.astype(np.float64) - steps, info.min, info.max).astype(bias_q.dtype)


def tap_means(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
              same_padding: bool) -> tuple[np.ndarray, int]:
    """Sum over samples and output positions of the input value each kernel tap reads ([kh, kw, C]),
    and the number of (sample, position) terms: the sum over it is mean_taps (see module doc)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if same_padding:
        oh, ow = -(-h // sh), -(-w // sw)
        pad_h, pad_w = max((oh - 1) * sh + span_h - h, 0), max((ow - 1) * sw + span_w - w, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    else:
        oh, ow = (h - span_h) // sh + 1, (w - span_w) // sw + 1
    sums = np.empty((kh, kw, c), np.float64)
    for i in range(kh):
        for j in range(kw):
            window = x[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :]
            sums[i, j] = window.sum(axis=(0, 1, 2), dtype=np.float64)
    return sums, n * oh * ow


def pre_activation_mean(op_kind: str, weights: np.ndarray, bias: np.ndarray | None, means: np.ndarray) -> np.ndarray:
    """Per output channel mean of W . x + b, from mean_taps (convolutions, [kh, kw, C]) or the mean input row (FC, [I])."""
    w = weights.astype(np.float64)
    if op_kind == "FULLY_CONNECTED":
        out = w.reshape(w.shape[0], -1) @ means
    elif op_kind == "CONV_2D":  # weights [O, kh, kw, I]
        out = np.einsum("oijc,ijc->o", w, means)
    else:  # DEPTHWISE_CONV_2D, weights [1, kh, kw, C * multiplier]; output channel k reads input channel k // multiplier
        multiplier = w.shape[-1] // means.shape[-1]
        out = np.einsum("ijk,ijk->k", w[0], np.repeat(means, multiplier, axis=-1))
    return out if bias is None else out + bias.astype(np.float64)


@dataclass
class _Layer:
    op: flatbuffer.LinearOp  # in the quantized tree
    float_weights: np.ndarray
    float_bias: np.ndarray | None
    weights: np.ndarray  # dequantized quantized weights
    bias_q: np.ndarray
    bias_scale: np.ndarray
    input_scale: float
    input_zero: int
    input_bounds: tuple[int, int]
    kernel: tuple[int, int] = (1, 1)
    float_sum: np.ndarray | None = None
    quant_sum: np.ndarray | None = None
    count: int = 0

    def add(self, x: np.ndarray) -> None:
        x = x.astype(np.float64)
        levels = np.clip(np.round(x / self.input_scale) + self.input_zero, *self.input_bounds)
        xq = (levels - self.input_zero) * self.input_scale
        if self.op.kind == "FULLY_CONNECTED":
            rows = x.reshape(-1, self.float_weights.shape[-1])
            f, q, count = rows.sum(axis=0), xq.reshape(rows.shape).sum(axis=0), rows.shape[0]
        else:
            args = (self.kernel, self.op.stride, self.op.dilation, self.op.same_padding)
            (f, count), (q, _) = tap_means(x, *args), tap_means(xq, *args)
        self.float_sum = f if self.float_sum is None else self.float_sum + f
        self.quant_sum = q if self.quant_sum is None else self.quant_sum + q
        self.count += count

    def mean_error(self) -> np.ndarray:
        assert self.float_sum is not None and self.quant_sum is not None, "no samples were added"
        float_mean = pre_activation_mean(self.op.kind, self.float_weights, self.float_bias, self.float_sum / self.count)
        quant_mean = pre_activation_mean(self.op.kind, self.weights, self.bias_q * self.bias_scale, self.quant_sum / self.count)
        return quant_mean - float_mean


def _dequantized(values: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * values.ndim
    if len(scales) > 1:
        shape[axis] = len(scales)
    return values.astype(np.float64) * scales.reshape(shape)


def _layers(tree, float_tree) -> tuple[list[_Layer], dict[str, list[_Layer]]]:
    fb = flatbuffer.schema()
    sub, fsub = tree.subgraphs[0], float_tree.subgraphs[0]
    float_ops = {op.output_name: op for op in flatbuffer.linear_ops(float_tree)}
    bias_users: dict[int, int] = {}
    for op in sub.operators:
        if op.inputs is not None and len(op.inputs) > 2 and op.inputs[2] >= 0:
            bias_users[sub.tensors[op.inputs[2]].buffer] = bias_users.get(sub.tensors[op.inputs[2]].buffer, 0) + 1
    integer = {fb.TensorType.INT8: (-128, 127), fb.TensorType.INT16: (-32767, 32767)}
    layers: list[_Layer] = []
    by_input: dict[str, list[_Layer]] = {}
    for op in flatbuffer.linear_ops(tree):
        f = float_ops.get(op.output_name)
        if f is None or f.kind != op.kind or op.bias < 0:
            continue
        x, w, b = sub.tensors[op.input], sub.tensors[op.weights], sub.tensors[op.bias]
        if x.type not in integer or w.type != fb.TensorType.INT8 or b.type not in (fb.TensorType.INT32, fb.TensorType.INT64):
            continue
        wq, bq = flatbuffer.constant(tree, w), flatbuffer.constant(tree, b)
        xq, wqp, bqp = flatbuffer.quantization(x), flatbuffer.quantization(w), flatbuffer.quantization(b)
        fw = flatbuffer.constant(float_tree, fsub.tensors[f.weights])
        fbias = flatbuffer.constant(float_tree, fsub.tensors[f.bias]) if f.bias >= 0 else None
        if (wq is None or bq is None or xq is None or wqp is None or bqp is None or fw is None or bias_users[b.buffer] > 1
                or fw.dtype != np.float32 or fw.shape != wq.shape or len(xq[0]) != 1 or (fbias is not None and fbias.shape != bq.shape)):
            continue
        bias_scale = bqp[0] if len(bqp[0]) == len(bq) else np.full(len(bq), bqp[0][0])
        layer = _Layer(op, fw, fbias, _dequantized(wq, *wqp[::2]), bq, bias_scale, float(xq[0][0]), int(xq[1][0]), integer[x.type],
                       kernel=(1, 1) if op.kind == "FULLY_CONNECTED" else (int(wq.shape[1]), int(wq.shape[2])))
        layers.append(layer)
        by_input.setdefault(flatbuffer.tensor_name(fsub.tensors[f.input]), []).append(layer)
    return layers, by_input


def bias_correct(float_model: bytes, quantized: bytes, samples: Samples | None) -> BiasCorrection:
    """`quantized` with each eligible layer's integer bias corrected by its mean error on `samples` (see module doc)."""

    if not isinstance(samples, np.ndarray) or not len(samples):  # several inputs (data.MultiInputs): not corrected
        return BiasCorrection(0, 0, 0.0, quantized)
    tree, float_tree = flatbuffer.read(quantized), flatbuffer.read(float_model)
    layers, by_input = _layers(tree, float_tree)
    if not layers:
        return BiasCorrection(0, 0, 0.0, quantized)

    def visit(detail: dict, value: np.ndarray) -> None:
        if value.dtype == np.float32:
            for layer in by_input.get(detail["name"], []):
                if layer.op.kind == "FULLY_CONNECTED" or value.ndim == 4:
                    layer.add(value)

    run_keeping_tensors(float_model, samples[:MAX_SAMPLES].astype(np.float32), set(by_input), visit)
    sub = tree.subgraphs[0]
    corrected, shifts = 0, []
    for layer in layers:
        if not layer.count:
            continue
        error = layer.mean_error()
        new = corrected_bias(layer.bias_q, error, layer.bias_scale)
        if np.array_equal(new, layer.bias_q):
            continue
        flatbuffer.set_constant(tree, sub.tensors[layer.op.bias], new)
        corrected += 1
        shifts.append(float(np.mean(np.abs(new.astype(np.int64) - layer.bias_q.astype(np.int64)))))
    return BiasCorrection(corrected, len(layers), float(np.mean(shifts)) if shifts else 0.0,
                          flatbuffer.write(tree) if corrected else quantized)
