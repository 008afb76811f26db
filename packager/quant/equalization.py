"""Cross-layer equalization for depthwise-separable networks (Nagel et al., ICCV 2019), data-aware.

A depthwise convolution's output is one int8 tensor with one scale for all its channels; when a
few channels span a far wider range than the rest, the narrow ones round to a handful of levels
(the quantization debugger shows such DEPTHWISE_CONV_2D outputs among the worst). Where that
output feeds a single 1x1 CONV_2D and nothing else, with no activation or a ReLU in between (both
commute with a positive per-channel scale), channel c of the depthwise weights and bias is divided
by s_c and input channel c of the 1x1 weights multiplied by s_c: the float model computes exactly
the same function. s_c = sqrt(a_c / w_c) with a_c the channel's calibrated absolute range and
w_c the 1x1 weights' absolute range on that input channel, so both end at sqrt(a_c * w_c): the
activation channels even out while the per-channel 1x1 weights take up the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packager.data.dataset import Samples
from packager.quant.calibration import run_keeping_tensors
from packager.tflite import flatbuffer

SCALE_LIMITS = (1e-2, 1e2)


@dataclass(frozen=True)
class Equalization:
    pairs: int  # depthwise -> 1x1 pairs rescaled
    model: bytes


def _pairs(tree, schema, code) -> list[tuple[int, int]]:
    """(depthwise op index, 1x1 conv op index) of the main subgraph that can be rescaled."""
    sub = tree.subgraphs[0]
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(sub.operators):
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(i)
    outputs = set(sub.outputs)
    ok_act = {schema.ActivationFunctionType.NONE, schema.ActivationFunctionType.RELU}
    found = []
    for i, op in enumerate(sub.operators):
        if code(op) != schema.BuiltinOperator.DEPTHWISE_CONV_2D or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        opts = op.builtinOptions
        if opts is None or opts.fusedActivationFunction not in ok_act or getattr(opts, "depthMultiplier", 1) not in (0, 1):
            continue
        out = op.outputs[0]
        users = consumers.get(out, [])
        if out in outputs or len(users) != 1:
            continue
        nxt = sub.operators[users[0]]
        if code(nxt) != schema.BuiltinOperator.CONV_2D or nxt.inputs[0] != out:
            continue
        w2 = sub.tensors[nxt.inputs[1]]
        if len(w2.shape) != 4 or tuple(w2.shape[1:3]) != (1, 1):
            continue
        tensors = [sub.tensors[op.inputs[1]], sub.tensors[op.inputs[2]], w2]
        if any(t.type != schema.TensorType.FLOAT32 or tree.buffers[t.buffer].data is None for t in tensors):
            continue
        found.append((i, users[0]))
    return found


def equalize(float_model: bytes, samples: Samples) -> Equalization:
    """The float model with every eligible depthwise -> 1x1 pair rescaled (see module doc), ranges from `samples`."""

    tree = flatbuffer.read(float_model)
    pairs = _pairs(tree, flatbuffer.schema(), lambda op: flatbuffer.builtin_code(tree, op))
    if not pairs:
        return Equalization(0, float_model)
    sub = tree.subgraphs[0]
    buffer_users: dict[int, int] = {}
    for t in sub.tensors:
        buffer_users[t.buffer] = buffer_users.get(t.buffer, 0) + 1
    def name_of(op_index: int) -> str:
        name = sub.tensors[sub.operators[op_index].outputs[0]].name
        return name.decode() if isinstance(name, bytes) else name

    names = [name_of(d) for d, _ in pairs]
    ranges: dict[str, np.ndarray] = {}

    def visit(detail: dict, value: np.ndarray) -> None:
        if value.dtype == np.float32:
            r = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            ranges[detail["name"]] = np.maximum(ranges.get(detail["name"], r), r)

    # several inputs (data.MultiInputs) go as they are, as calibration.collect sends them (was an AttributeError)
    run_keeping_tensors(float_model, samples.astype(np.float32) if isinstance(samples, np.ndarray) else samples, set(names), visit)
    done = 0
    for (dw_index, pw_index), name in zip(pairs, names):
        dw, pw = sub.operators[dw_index], sub.operators[pw_index]
        w1t, b1t, w2t = sub.tensors[dw.inputs[1]], sub.tensors[dw.inputs[2]], sub.tensors[pw.inputs[1]]
        if name not in ranges or any(buffer_users[t.buffer] > 1 for t in (w1t, b1t, w2t)):
            continue
        w1 = tree.buffers[w1t.buffer].data.view(np.float32).reshape(w1t.shape).copy()  # [1, kh, kw, C]
        b1 = tree.buffers[b1t.buffer].data.view(np.float32).copy()  # [C]
        w2 = tree.buffers[w2t.buffer].data.view(np.float32).reshape(w2t.shape).copy()  # [O, 1, 1, C]
        a = ranges[name]
        w = np.abs(w2).reshape(-1, w2.shape[-1]).max(axis=0)
        if a.shape != w.shape or a.shape[0] != w1.shape[-1]:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.sqrt(a / w)
        s = np.where(np.isfinite(s) & (s > 0), np.clip(s, *SCALE_LIMITS), 1.0).astype(np.float32)
        tree.buffers[w1t.buffer].data = (w1 / s).astype(np.float32).reshape(-1).view(np.uint8)
        tree.buffers[b1t.buffer].data = (b1 / s).astype(np.float32).view(np.uint8)
        tree.buffers[w2t.buffer].data = (w2 * s).astype(np.float32).reshape(-1).view(np.uint8)
        done += 1
    return Equalization(done, flatbuffer.write(tree) if done else float_model)
