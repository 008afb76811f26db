"""What is inside a .tflite file: tensors, operators, subgraphs, metadata, packed files, size.

Works on any TFLite model, not only ours (no metadata, custom or Flex ops, several subgraphs).
The flatbuffer is read with the TFLite schema classes that ship with ai-edge-litert (pure Python,
current schema, no TensorFlow import); LiteRT's Interpreter verifies the flatbuffer first, so a
truncated or corrupt file is refused before anything reads it, and is then asked to prepare the
model to tell whether it runs as is (custom ops need their kernels, Flex ops the Flex delegate).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packager.errors import PackagerError

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8
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

    @property
    def has_metadata(self) -> bool:
        from packager.metadata import METADATA_NAME  # noqa: PLC0415

        return METADATA_NAME in self.metadata_entries


@dataclass(frozen=True)
class ModelReport:
    path: str
    size_bytes: int
    graph: Graph
    runs_on_litert: bool  # LiteRT prepared it as is (False: e.g. custom ops without kernels)
    litert_error: str | None
    metadata: Any  # packager.metadata.EmbeddedMetadata | None
    associated_files: tuple[Any, ...]  # packager.metadata.AssociatedFile

    def to_dict(self) -> dict[str, Any]:
        g = self.graph
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "schema_version": g.schema_version,
            "description": g.description,
            "inputs": [t.to_dict() for t in g.inputs],
            "outputs": [t.to_dict() for t in g.outputs],
            "subgraphs": [asdict(s) for s in g.subgraphs],
            "operators": dict(g.operators),
            "operator_total": sum(g.operators.values()),
            "custom_ops": list(g.custom_ops),
            "signatures": list(g.signatures),
            "runs_on_litert": self.runs_on_litert,
            "litert_error": self.litert_error,
            "metadata": self.metadata.to_dict() if self.metadata is not None else None,
            "associated_files": [asdict(f) for f in self.associated_files],
        }


# --- reading -----------------------------------------------------------------------------------
def read_model_file(path: Path | str) -> bytes:
    """The bytes of a .tflite file; PackagerError when missing, unreadable or not TFLite."""
    path = Path(path)
    if not path.exists():
        raise PackagerError(f"{path} does not exist", "check the path to the .tflite model")
    if path.is_dir():
        raise PackagerError(f"{path} is a folder, not a .tflite file", "pass the .tflite model file itself")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackagerError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    check_identifier(data, str(path))
    return data


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
    from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415

    model = schema.Model.GetRootAs(data, 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    op_names = []
    custom = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # the schema's rule for old and new files
        if builtin == schema.BuiltinOperator.CUSTOM:
            name = (code.CustomCode() or b"?").decode("utf-8", "replace")
            op_names.append(name)
            custom.append(name)
        else:
            op_names.append(builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    counts: Counter[str] = Counter()
    subgraphs = []
    main_io: tuple[list[TensorInfo], list[TensorInfo]] = ([], [])
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
    signatures = tuple((model.SignatureDefs(i).SignatureKey() or b"").decode("utf-8", "replace") for i in range(model.SignatureDefsLength()))
    entries = tuple((model.Metadata(i).Name() or b"").decode("utf-8", "replace") for i in range(model.MetadataLength()))
    return Graph(
        schema_version=model.Version(), description=(model.Description() or b"").decode("utf-8", "replace"),
        inputs=tuple(main_io[0]), outputs=tuple(main_io[1]), subgraphs=tuple(subgraphs),
        operators=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), custom_ops=tuple(sorted(set(custom))),
        signatures=signatures, metadata_entries=entries)


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


def litert_check(data: bytes, what: str) -> tuple[bool, str | None]:
    """Load with LiteRT (verifies the flatbuffer: PackagerError if it cannot be loaded), then
    prepare it: (True, None) when it runs as is, (False, reason) otherwise."""
    from packager import quiet  # noqa: PLC0415

    quiet.quiet_environment()
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    with quiet.captured_output():
        try:
            interpreter = Interpreter(model_content=data)
        except (ValueError, RuntimeError) as exc:
            error: Exception | None = exc
        else:
            error = None
    if error is not None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PackagerError(f"{what} is corrupt or truncated: LiteRT cannot load it ({reason.rstrip('.')})",
                            "re-export or re-download the model")
    with quiet.captured_output():
        try:
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            return False, " ".join(str(exc).split())[:300] or type(exc).__name__
    return True, None


def inspect_model(path: Path | str) -> ModelReport:
    """Everything `packager inspect` shows, as data."""
    data = read_model_file(path)
    runs, error = litert_check(data, str(path))
    graph = parse_graph(data, str(path))
    metadata = files = None
    from packager import metadata as tflite_metadata  # noqa: PLC0415 - cheap; loads tflite-support only when needed

    if graph.has_metadata:
        metadata = tflite_metadata.read_metadata(data)
        files = metadata.associated_files
    else:
        files = tuple(tflite_metadata.AssociatedFile(name, len(content)) for name, content in tflite_metadata.associated_files(data).items())
    return ModelReport(path=str(path), size_bytes=len(data), graph=graph, runs_on_litert=runs, litert_error=error,
                       metadata=metadata, associated_files=tuple(files))
