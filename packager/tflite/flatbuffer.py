"""A .tflite model read as facts (`parse_graph`: tensors, operators, subgraphs, signatures,
metadata entries) and as an editable object tree (LiteRT's schema), and written back to bytes.

`parse_graph` reads the flatbuffer with the schema classes that ship with ai-edge-litert (pure
Python, no TensorFlow, no interpreter) and refuses files that are not TFLite or are damaged.

Every place that rewrites a model goes through here, because models come in two layouts:
buffers inside the flatbuffer, or (ai-edge-quantizer above 256 KiB of weights, and converters for
large models) appended after it and referenced by offset. `read` resolves the second kind, so
edits see the weights and `write` puts them back inside: a tree read here never loses data.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from packager.errors import PackagerError
from packager.fileio import open_regular
from packager.tflite import extent

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8
METADATA_NAME = "TFLITE_METADATA"  # the model.metadata entry tflite-support reads
_PASS_THROUGH = {"QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE"}  # ops that do not change what a tensor means

# leading bytes of files people pass by mistake, for a helpful error
_SIGNATURES = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"PK\x03\x04": "a zip archive (a .keras model?)",
    b"\x89HDF": "an HDF5 file (a Keras .h5 model?)", b"%PDF": "a PDF document",
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    index: int  # tensor index in the main subgraph (as LiteRT's get_input_details reports it)
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None  # with -1 for dynamic dimensions; None when static
    dtype: str  # numpy-style name: float32, int8, uint8, ...
    type_code: int  # TFLite TensorType enum value
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    producer: str | None = None  # op computing it (through quantize/dequantize/reshape); None for inputs

    @property
    def scale(self) -> float | None:
        return self.scales[0] if len(self.scales) == 1 else None

    @property
    def zero_point(self) -> int | None:
        return self.zero_points[0] if len(self.zero_points) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "index": self.index, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point}
        if self.shape_signature is not None:
            data["shape_signature"] = list(self.shape_signature)
        if len(self.scales) > 1:
            data.update(scales=list(self.scales), zero_points=list(self.zero_points), quantized_dimension=self.quantized_dimension)
        return data


@dataclass(frozen=True)
class SubgraphInfo:
    index: int
    name: str
    operators: int
    tensors: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class SignatureDef:
    """A signature: its key, its subgraph, and per input and output the name it gives a tensor (index in that subgraph)."""

    key: str
    subgraph: int
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Graph:
    """The model's structure, straight from the flatbuffer."""

    schema_version: int
    description: str
    inputs: tuple[TensorInfo, ...]  # of the main subgraph (0)
    outputs: tuple[TensorInfo, ...]
    subgraphs: tuple[SubgraphInfo, ...]
    operators: dict[str, int]  # op name -> count over every subgraph, most used first
    custom_ops: tuple[str, ...]
    signatures: tuple[str, ...]
    metadata_entries: tuple[str, ...]  # names in model.metadata (TFLITE_METADATA, min_runtime_version, ...)
    signature_defs: tuple[SignatureDef, ...] = ()  # the signatures (keys in `signatures`) with their tensor names
    tensor_dtypes: frozenset[str] = frozenset()  # the types of every tensor of the main subgraph (0)

    @property
    def has_metadata(self) -> bool:
        return METADATA_NAME in self.metadata_entries


# --- LiteRT's flatbuffer schema: imported here only -----------------------------------------------------------------------------------------
def schema() -> Any:
    """LiteRT's generated schema module (ai_edge_litert.schema_py_generated: enums and object classes).
    Every other module reaches the flatbuffer through this one (tests/test_architecture.py checks)."""
    from ai_edge_litert import schema_py_generated  # noqa: PLC0415

    return schema_py_generated


def builtin_code(tree: Any, op: Any) -> int:
    """The BuiltinOperator code of an operator of a tree from `read` (old and new files alike)."""
    from ai_edge_litert.tools import flatbuffer_utils  # noqa: PLC0415

    return flatbuffer_utils.get_builtin_code_from_operator_code(tree.operatorCodes[op.opcodeIndex])


# --- the graph, read-only (no TensorFlow, no interpreter) -----------------------------------------------------------------------------------
# A flatbuffer addresses its contents with 32-bit offsets: a .tflite cannot be larger than 2 GiB
# (larger models keep their weights outside the file). Reading stops there, so a device file or a
# FIFO named as a model is refused instead of read for ever.
MAX_MODEL_BYTES = 2 << 30


def read_model_file(path: Path | str) -> bytes:
    """The bytes of a .tflite file (at most MAX_MODEL_BYTES); PackagerError when missing, unreadable or not TFLite."""
    path = Path(path)
    if not path.exists():
        raise PackagerError(f"{path} does not exist", "check the path to the .tflite model")
    if path.is_dir():
        raise PackagerError(f"{path} is a folder, not a .tflite file", "pass the .tflite model file itself")
    if not path.is_file():
        raise PackagerError(f"{path} is not a regular file", "pass the .tflite model file itself")
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_MODEL_BYTES:
                raise PackagerError(f"{path} is larger than {MAX_MODEL_BYTES >> 30} GiB, more than a .tflite flatbuffer can be",
                                    "pass a .tflite model file")
            head = fh.read(512)
            check_identifier(head, str(path))  # before the rest is read: a 2 GiB file that is no model costs 512 bytes
            check_extent(fh, size, str(path))  # and a model followed by junk is refused before the junk is read
            fh.seek(0)
            data = fh.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise PackagerError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    if len(data) > MAX_MODEL_BYTES:
        raise PackagerError(f"{path} is larger than {MAX_MODEL_BYTES >> 30} GiB, more than a .tflite flatbuffer can be",
                            "pass a .tflite model file")
    return data


def check_extent(fh: BinaryIO, size: int, what: str) -> None:
    """Refuse a file longer or shorter than the model its flatbuffer describes (plus the zip of
    associated files metadata may append), reading only the flatbuffer's objects through an mmap."""
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
        try:
            end = extent.model_end(view, schema())
        except (IndexError, ValueError, TypeError, KeyError, AttributeError, OverflowError, struct.error):
            raise PackagerError(f"{what} is corrupt or truncated (its flatbuffer points outside the file)",
                                "re-export or re-download the model") from None
        extra = extent.trailing_bytes(view, end) if end <= size else 0
    if end > size:
        raise PackagerError(f"{what} is truncated: its flatbuffer reaches byte {end:,} but the file has {size:,} bytes",
                            "re-export or re-download the model")
    if extra:
        raise PackagerError(f"{what} has {extra:,} bytes after the model's end (a truncated copy or junk appended)",
                            "re-export or strip the file")


def check_identifier(data: bytes, what: str) -> None:
    if len(data) == 0:
        raise PackagerError(f"{what} is empty", "pass a .tflite model file")
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        kind = next((desc for magic, desc in _SIGNATURES.items() if data.startswith(magic)), None)
        if kind is None and _looks_like_text(data):
            kind = "a text file"
        raise PackagerError(
            f"{what} is not a TFLite model (no TFL3 flatbuffer identifier{'; it looks like ' + kind if kind else ''})",
            "pass a .tflite file; `packager build` converts Keras and SavedModel models")


def _looks_like_text(data: bytes) -> bool:
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_graph(data: bytes, what: str = "the model") -> Graph:
    """Read the flatbuffer's structure (no TensorFlow, no interpreter)."""
    check_identifier(data, what)
    try:
        return _parse(data)
    except (IndexError, ValueError, TypeError, KeyError, UnicodeDecodeError, AttributeError, struct.error) as exc:
        # what a damaged flatbuffer raises when an offset points outside the data
        raise PackagerError(f"{what} is corrupt or truncated ({type(exc).__name__} while reading its flatbuffer)",
                            "re-export or re-download the model") from None


def _parse(data: bytes) -> Graph:
    fb = schema()
    model = fb.Model.GetRootAs(data, 0)
    builtin_names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    op_names = []
    custom = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # the schema's rule for old and new files
        if builtin == fb.BuiltinOperator.CUSTOM:
            name = (code.CustomCode() or b"?").decode("utf-8", "replace")
            op_names.append(name)
            custom.append(name)
        else:
            op_names.append(builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    counts: Counter[str] = Counter()
    subgraphs = []
    main_io: tuple[list[TensorInfo], list[TensorInfo]] = ([], [])
    dtypes: frozenset[str] = frozenset()
    for s in range(model.SubgraphsLength()):
        sub = model.Subgraphs(s)
        producers = {}
        for o in range(sub.OperatorsLength()):
            op = sub.Operators(o)
            name = op_names[op.OpcodeIndex()]
            counts[name] += 1
            for t in range(op.OutputsLength()):
                producers[op.Outputs(t)] = (name, op.Inputs(0) if op.InputsLength() else -1)
        inputs = tuple(int(sub.Inputs(i)) for i in range(sub.InputsLength()))
        outputs = tuple(int(sub.Outputs(i)) for i in range(sub.OutputsLength()))
        subgraphs.append(SubgraphInfo(s, (sub.Name() or b"").decode("utf-8", "replace"), sub.OperatorsLength(),
                                      sub.TensorsLength(), inputs, outputs))
        if s == 0:
            main_io = ([_tensor(sub, i, type_names, producers) for i in inputs],
                       [_tensor(sub, i, type_names, producers) for i in outputs])
            dtypes = frozenset(type_names.get(sub.Tensors(i).Type(), f"type_{sub.Tensors(i).Type()}") for i in range(sub.TensorsLength()))
    signature_defs = tuple(_signature(model.SignatureDefs(i)) for i in range(model.SignatureDefsLength()))
    entries = tuple((model.Metadata(i).Name() or b"").decode("utf-8", "replace") for i in range(model.MetadataLength()))
    return Graph(
        schema_version=model.Version(), description=(model.Description() or b"").decode("utf-8", "replace"),
        inputs=tuple(main_io[0]), outputs=tuple(main_io[1]), subgraphs=tuple(subgraphs),
        operators=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), custom_ops=tuple(sorted(set(custom))),
        signatures=tuple(s.key for s in signature_defs), metadata_entries=entries, signature_defs=signature_defs, tensor_dtypes=dtypes)


def _signature(sig) -> SignatureDef:
    def names(count: int, item) -> tuple[tuple[str, int], ...]:
        return tuple(((item(i).Name() or b"").decode("utf-8", "replace"), int(item(i).TensorIndex())) for i in range(count))

    return SignatureDef(key=(sig.SignatureKey() or b"").decode("utf-8", "replace"), subgraph=int(sig.SubgraphIndex()),
                        inputs=names(sig.InputsLength(), sig.Inputs), outputs=names(sig.OutputsLength(), sig.Outputs))


def _tensor(sub, index: int, type_names: dict[int, str], producers: dict[int, tuple[str, int]]) -> TensorInfo:
    tensor = sub.Tensors(index)
    shape = tuple(int(v) for v in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(v) for v in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else None
    quant = tensor.Quantization()
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis = 0
    if quant is not None and quant.ScaleLength():
        scales = tuple(float(v) for v in quant.ScaleAsNumpy())
        zero_points = tuple(int(v) for v in quant.ZeroPointAsNumpy()) if quant.ZeroPointLength() else (0,) * len(scales)
        axis = int(quant.QuantizedDimension())
    producer, source, seen = None, index, set()
    while source in producers and source not in seen:  # look through quantize/dequantize/reshape
        seen.add(source)
        producer, source = producers[source]
        if producer not in _PASS_THROUGH:
            break
    return TensorInfo(
        name=(tensor.Name() or b"").decode("utf-8", "replace"), index=index, shape=shape,
        shape_signature=signature if signature is not None and signature != shape else None,
        dtype=type_names.get(tensor.Type(), f"type_{tensor.Type()}"), type_code=int(tensor.Type()),
        scales=scales, zero_points=zero_points, quantized_dimension=axis, producer=producer)


# --- the editable tree ---


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



def with_builtin_codes(model: bytes) -> bytes:
    """`model` with every operator code's `builtin_code` set from `deprecated_builtin_code` where
    only the latter is (files written before schema 3a, e.g. MediaPipe's models): tools that read
    `builtin_code` alone, as ai-edge-quantizer does, take every such operator for ADD (code 0)."""
    tree = read(model)
    changed = False
    for code in tree.operatorCodes or []:
        if code.deprecatedBuiltinCode is not None and code.builtinCode < code.deprecatedBuiltinCode < 127:
            code.builtinCode, changed = code.deprecatedBuiltinCode, True
    return write(tree) if changed else model

def drop_unused_tensors(tree: Any) -> None:
    """Tensors of subgraph 0 that no operator, graph input/output or signature uses are removed
    (indices renumbered): an interpreter leaves a tensor nothing writes null, which calibrators trip on."""
    graph = tree.subgraphs[0]
    used = {int(t) for t in graph.inputs} | {int(t) for t in graph.outputs}
    for op in graph.operators:
        used |= {int(t) for t in (op.inputs if op.inputs is not None else []) if t >= 0}
        used |= {int(t) for t in (op.outputs if op.outputs is not None else []) if t >= 0}
    keep = sorted(used)
    new_index = {old: new for new, old in enumerate(keep)}

    def remap(indices):
        return None if indices is None else np.asarray([new_index[int(t)] if t >= 0 else int(t) for t in indices], np.int32)

    graph.tensors = [graph.tensors[i] for i in keep]
    graph.inputs, graph.outputs = remap(graph.inputs), remap(graph.outputs)
    for op in graph.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = remap(op.intermediates)
    for signature in tree.signatureDefs or []:
        if signature.subgraphIndex == 0:
            for entry in list(signature.inputs or []) + list(signature.outputs or []):
                entry.tensorIndex = new_index[int(entry.tensorIndex)]


def has_external_buffers(model: bytes) -> bool:
    root = schema().Model.GetRootAs(model, 0)
    return any(root.Buffers(i).Offset() > 1 for i in range(root.BuffersLength()))


def with_inline_buffers(model: bytes) -> bytes:
    """The model with all weights inside the flatbuffer (tools such as tflite-support expect that)."""
    return write(read(model)) if has_external_buffers(model) else model


# --- constants and linear operators of an editable tree ---
_NUMPY_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16,
                "INT32": np.int32, "INT64": np.int64}


def tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else (name or "")


def constant(tree: Any, tensor: Any) -> np.ndarray | None:
    """A tensor's constant data (shaped, in its own dtype), or None when it has none or an unhandled type."""
    data = tree.buffers[tensor.buffer].data if tensor.buffer < len(tree.buffers) else None
    names = {v: k for k, v in vars(schema().TensorType).items() if not k.startswith("_")}
    dtype = _NUMPY_TYPES.get(names.get(tensor.type, ""))
    if data is None or dtype is None or len(data) == 0:
        return None
    values = np.asarray(data, np.uint8).view(dtype)
    shape = [int(s) for s in tensor.shape] if tensor.shape is not None else [values.size]
    return values.reshape(shape) if int(np.prod(shape)) == values.size else None


def set_constant(tree: Any, tensor: Any, values: np.ndarray) -> None:
    """Replace a tensor's constant data (same dtype and size as before)."""
    tree.buffers[tensor.buffer].data = np.ascontiguousarray(values).reshape(-1).view(np.uint8)


def quantization(tensor: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(scales, zero points, quantized dimension) of a quantized tensor, None for a float one."""
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scales = np.asarray(q.scale, np.float64)
    zeros = np.asarray(q.zeroPoint, np.int64) if q.zeroPoint is not None and len(q.zeroPoint) else np.zeros(len(scales), np.int64)
    return scales, zeros, int(q.quantizedDimension or 0)


@dataclass(frozen=True)
class LinearOp:
    """A CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED operator of subgraph 0, as tensor indices and options."""

    position: int  # operator index
    kind: str  # "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"
    input: int
    weights: int
    bias: int  # -1 when the operator has none
    output: int
    output_name: str
    stride: tuple[int, int] = (1, 1)  # (h, w); convolutions only
    dilation: tuple[int, int] = (1, 1)
    same_padding: bool = False
    depth_multiplier: int = 1


@dataclass(frozen=True)
class OpNode:
    """One operator of the main subgraph: its builtin name and tensor indices (-1: an omitted optional input)."""

    position: int  # operator index, in execution order
    kind: str  # BuiltinOperator name: "DIV", "LOG", "CUSTOM", ...
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def op_nodes(tree: Any) -> list[OpNode]:
    """Every operator of the main subgraph of a tree from `read`, in graph order."""
    names = {code: name for name, code in vars(schema().BuiltinOperator).items() if not name.startswith("_")}
    return [OpNode(position, names.get(builtin_code(tree, op), "UNKNOWN"),
                   tuple(int(i) for i in (op.inputs if op.inputs is not None else ())),
                   tuple(int(i) for i in (op.outputs if op.outputs is not None else ())))
            for position, op in enumerate(tree.subgraphs[0].operators or [])]


def linear_ops(tree: Any) -> list[LinearOp]:
    """The convolutions and fully-connected operators of the main subgraph, in graph order."""
    fb = schema()
    kinds = {fb.BuiltinOperator.CONV_2D: "CONV_2D", fb.BuiltinOperator.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
             fb.BuiltinOperator.FULLY_CONNECTED: "FULLY_CONNECTED"}
    sub = tree.subgraphs[0]
    found = []
    for position, op in enumerate(sub.operators):
        kind = kinds.get(builtin_code(tree, op))
        if kind is None or op.inputs is None or len(op.inputs) < 2 or op.outputs is None or len(op.outputs) != 1:
            continue
        inputs = [int(i) for i in op.inputs]
        extra: dict[str, Any] = {}
        opts = op.builtinOptions
        if kind != "FULLY_CONNECTED":
            if opts is None:
                continue
            extra = {"stride": (int(opts.strideH), int(opts.strideW)),
                     "dilation": (int(opts.dilationHFactor or 1), int(opts.dilationWFactor or 1)),
                     "same_padding": opts.padding == fb.Padding.SAME}
            if kind == "DEPTHWISE_CONV_2D":
                extra["depth_multiplier"] = int(getattr(opts, "depthMultiplier", 1) or 1)
        output = int(op.outputs[0])
        found.append(LinearOp(position, kind, inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else -1, output,
                              tensor_name(sub.tensors[output]), **extra))
    return found


@dataclass(frozen=True)
class Operand:
    """One input or output of an operator, as a delegate's rules look at it."""

    index: int  # tensor index in the subgraph; -1 for an omitted optional input
    dtype: str  # numpy-style name (float32, int8, ...); "none" for an omitted input
    shape: tuple[int, ...] = ()
    const: bool = False  # has data in the file (the runtime's read-only, kTfLiteMmapRo, tensors)
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    values: tuple[int, ...] | None = None  # a small constant integer tensor's values (axes, crops, sizes)


@dataclass(frozen=True)
class OpSignature:
    """One operator of the main subgraph with what delegates decide on: its version, its operands'
    types, shapes and constness, and its builtin options (the schema's field names)."""

    position: int
    kind: str  # BuiltinOperator name, or the custom code of a CUSTOM operator
    custom: bool
    version: int
    inputs: tuple[Operand, ...]
    outputs: tuple[Operand, ...]
    options: dict[str, Any]


def op_signatures(tree: Any) -> list[OpSignature]:
    """Every operator of the main subgraph of a tree from `read`, in graph order, as an OpSignature."""
    fb = schema()
    names = {code: name for name, code in vars(fb.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    sub = tree.subgraphs[0]

    def operand(index: int) -> Operand:
        if index < 0:
            return Operand(-1, "none")
        tensor = sub.tensors[index]
        data = tree.buffers[tensor.buffer].data if 0 < tensor.buffer < len(tree.buffers) else None
        const = data is not None and len(data) > 0
        q = quantization(tensor)
        values = None
        if data is not None and const and tensor.type in (fb.TensorType.INT32, fb.TensorType.INT64) and len(data) <= 512:
            values = tuple(int(v) for v in np.asarray(data, np.uint8).view(np.int32 if tensor.type == fb.TensorType.INT32 else np.int64))
        return Operand(index, type_names.get(tensor.type, f"type_{tensor.type}"),
                       tuple(int(s) for s in tensor.shape) if tensor.shape is not None else (), const,
                       tuple(float(s) for s in q[0]) if q else (), tuple(int(z) for z in q[1]) if q else (), values)

    found = []
    for position, op in enumerate(sub.operators or []):
        code = tree.operatorCodes[op.opcodeIndex]
        builtin = builtin_code(tree, op)
        custom = builtin == fb.BuiltinOperator.CUSTOM
        kind = (code.customCode.decode("utf-8", "replace") if isinstance(code.customCode, bytes) else code.customCode or "?") if custom \
            else names.get(builtin, f"BUILTIN_{builtin}")
        options = {k: (tuple(np.asarray(v).tolist()) if isinstance(v, (np.ndarray, list)) else v)
                   for k, v in getattr(op.builtinOptions, "__dict__", {}).items() if isinstance(v, (bool, int, float, np.ndarray, list, type(None)))}
        found.append(OpSignature(position, kind, custom, int(code.version or 1),
                                 tuple(operand(int(i)) for i in (op.inputs if op.inputs is not None else ())),
                                 tuple(operand(int(i)) for i in (op.outputs if op.outputs is not None else ())), options))
    return found
