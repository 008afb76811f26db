"""A .tflite model as an editable object tree (LiteRT's schema), and back to bytes.

Every place that rewrites a model goes through here, because models come in two layouts:
buffers inside the flatbuffer, or (ai-edge-quantizer above 256 KiB of weights, and converters for
large models) appended after it and referenced by offset. `read` resolves the second kind, so
edits see the weights and `write` puts them back inside: a tree read here never loses data.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def read(model: bytes) -> Any:
    """The model's `ModelT`, every buffer's data in it as a uint8 numpy array."""
    from ai_edge_litert.tools import flatbuffer_utils  # noqa: PLC0415

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))  # resolves offset buffers
    for buffer in tree.buffers or []:
        if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
            buffer.data = np.frombuffer(bytes(buffer.data), np.uint8)  # numpy packs in one copy, lists byte by byte
    return tree


def write(tree: Any) -> bytes:
    """The tree as a .tflite flatbuffer, all buffers inside (files appended to a model are not kept)."""
    from ai_edge_litert.tools import flatbuffer_utils  # noqa: PLC0415

    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def has_external_buffers(model: bytes) -> bool:
    from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415

    root = schema.Model.GetRootAs(model, 0)
    return any(root.Buffers(i).Offset() > 1 for i in range(root.BuffersLength()))


def with_inline_buffers(model: bytes) -> bytes:
    """The model with all weights inside the flatbuffer (tools such as tflite-support expect that)."""
    return write(read(model)) if has_external_buffers(model) else model
