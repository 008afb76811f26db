"""int16x8 models: 32-bit biases where they provably cannot overflow, so LiteRT runs fast kernels.

Quantizers store int16x8 biases as int64 because the accumulator of an int16 x int8 dot product
can, in the worst case, outgrow int32. LiteRT then runs CONV_2D on its reference kernel
(single-threaded loops, ~30x slower than the optimized one). The optimized kernel accumulates in
int32 and is used when the op says its bias is int32 (`quantized_bias_type`) and zero points are 0,
which int16x8 guarantees.

Whether int32 is enough is a property of the weights, not of the data: for every output channel,
|acc| <= 32768 * sum(|w_q|) + |b_q|. Only ops whose bound stays below 2^31 are narrowed, so each
accumulator holds exactly the same sum, computed 3-30x faster (here and on the phone's CPU); the
optimized kernel's requantization may round that sum to the neighbouring int16 value (one LSB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import schema as _schema

INT32_LIMIT = 2**31 - 1
INT16_MAGNITUDE = 2**15  # the largest |int16 activation|


@dataclass(frozen=True)
class BiasNarrowing:
    """What narrow_int16_biases did to a model."""

    narrowed: int  # ops now on 32-bit biases
    kept_int64: int  # ops whose worst-case accumulator needs 64 bits
    worst_fraction: float  # largest bound / 2^31 among the narrowed ops


def narrow_int16_biases(model: bytes) -> tuple[bytes, BiasNarrowing]:
    """The model with int64 biases of int16 CONV_2D / FULLY_CONNECTED ops made int32 where safe."""

    schema = _schema()

    # DEPTHWISE_CONV_2D has no int32-bias int16 kernel in LiteRT: it refuses such models.
    narrowable = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.FULLY_CONNECTED}
    graph = flatbuffer.read(model)
    bias_users: dict[int, int] = {}
    for subgraph in graph.subgraphs:
        for op in subgraph.operators:
            for index in op.inputs[2:3]:
                if index >= 0:
                    buffer = subgraph.tensors[index].buffer
                    bias_users[buffer] = bias_users.get(buffer, 0) + 1
    narrowed = kept = 0
    worst = 0.0
    for subgraph in graph.subgraphs:
        for op in subgraph.operators:
            code = flatbuffer.builtin_code(graph, op)
            if code not in narrowable or len(op.inputs) < 3 or op.inputs[2] < 0 or op.builtinOptions is None:
                continue
            activation, weights, bias = (subgraph.tensors[i] for i in op.inputs[:3])
            if activation.type != schema.TensorType.INT16 or bias.type != schema.TensorType.INT64:
                continue
            weight_data = graph.buffers[weights.buffer].data
            bias_data = graph.buffers[bias.buffer].data
            if weights.type != schema.TensorType.INT8 or weight_data is None or bias_data is None or bias_users[bias.buffer] > 1:
                kept += 1  # weights computed at run time, or a bias shared with another op: leave alone
                continue
            w = weight_data.view(np.int8).astype(np.int64).reshape(weights.shape[0], -1)  # [out, ...]
            b = bias_data.view(np.int64)
            bound = int((np.abs(w).sum(axis=1) * INT16_MAGNITUDE + np.abs(b)).max())
            if bound > INT32_LIMIT:
                kept += 1
                continue
            graph.buffers[bias.buffer].data = b.astype(np.int32).view(np.uint8)
            bias.type = schema.TensorType.INT32
            op.builtinOptions.quantizedBiasType = schema.TensorType.INT32
            narrowed += 1
            worst = max(worst, bound / 2**31)
    if not narrowed:
        return model, BiasNarrowing(0, kept, 0.0)
    return flatbuffer.write(graph), BiasNarrowing(narrowed, kept, worst)
