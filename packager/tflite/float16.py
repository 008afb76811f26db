"""Float16-weight models (float16 constants each behind a DEQUANTIZE, as MediaPipe ships its models and
as TFLiteConverter's fp16 option writes them) recognised and turned back into float32 models.

The expansion is exact (every float16 value is a float32 value) and is what LiteRT computes at run
time anyway (the DEQUANTIZE turns the constant into float32), so the float32 model gives the same
outputs and can be quantized like any float source.
"""

from __future__ import annotations

import numpy as np

from packager.tflite import flatbuffer

_DEQUANTIZE = 6
_FLOAT32, _FLOAT16 = 0, 1


def _consumers(sub) -> dict[int, list]:
    found: dict[int, list] = {}
    for op in sub.operators or []:
        for i in op.inputs if op.inputs is not None else ():
            found.setdefault(int(i), []).append(op)
    return found


def float16_weights_only(model: bytes) -> bool:
    """Whether the model's only float16 tensors are constants read by DEQUANTIZE operators alone (its
    computation is float32): a float model with its weights stored in half precision."""
    tree = flatbuffer.read(model)
    seen = False
    for sub in tree.subgraphs:
        consumers = _consumers(sub)
        graph_io = {int(i) for i in sub.inputs} | {int(i) for i in sub.outputs}
        for index, tensor in enumerate(sub.tensors):
            if tensor.type != _FLOAT16:
                continue
            users = consumers.get(index, [])
            if (index in graph_io or flatbuffer.constant(tree, tensor) is None or not users
                    or any(flatbuffer.builtin_code(tree, op) != _DEQUANTIZE for op in users)):
                return False
            seen = True
    return seen


def expand_float16_weights(model: bytes) -> bytes:
    """The model with its float16 constants stored as float32 and their DEQUANTIZEs removed (see module doc)."""
    tree = flatbuffer.read(model)
    expanded: set[int] = set()  # buffers already widened (two tensors may share one)
    for sub in tree.subgraphs:
        kept, rewired = [], {}
        for op in sub.operators or []:
            source = sub.tensors[int(op.inputs[0])] if op.inputs is not None and len(op.inputs) else None
            if flatbuffer.builtin_code(tree, op) == _DEQUANTIZE and source is not None and source.type == _FLOAT16:
                values = flatbuffer.constant(tree, source)
                if values is not None or source.buffer in expanded:
                    if values is not None and source.buffer not in expanded:
                        tree.buffers[source.buffer].data = np.ascontiguousarray(values.astype(np.float32)).reshape(-1).view(np.uint8)
                        expanded.add(source.buffer)
                    source.type = _FLOAT32
                    rewired[int(op.outputs[0])] = int(op.inputs[0])
                    continue
            kept.append(op)
        for op in kept:
            if op.inputs is not None:
                op.inputs = np.asarray([rewired.get(int(t), int(t)) for t in op.inputs], np.int32)
        sub.operators = kept
        sub.outputs = np.asarray([rewired.get(int(t), int(t)) for t in sub.outputs], np.int32)
    flatbuffer.drop_unused_tensors(tree)  # the DEQUANTIZEs' outputs (main subgraph)
    return flatbuffer.write(tree)
