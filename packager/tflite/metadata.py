"""TFLite metadata: write it with tflite-support's writers, read it back, verify it.

What goes in (metadata_schema.fbs of tflite-support 0.4.4):
- model: name, version, description, author, license;
- image input (image classifiers, and any model built with a preprocessing spec): ImageProperties
  with the color space, a NormalizationOptions process unit with the per-channel mean/std of
  packager.data.preprocess (both broadcast to the channel count, so readers need not broadcast), and
  Stats min/max = the range of the values the tensor receives: normalized floats for float inputs,
  quantized integers for integer inputs (derived from the tensor's own scale/zero point);
- classification output: labels.txt packed as a TENSOR_AXIS_LABELS associated file, Stats [0, 1]
  (quantized for integer outputs) only when the output really is a probability (a SOFTMAX or
  LOGISTIC result), otherwise no range is claimed;
- generic models: a description per tensor (name, shape, dtype).

Quantization: the schema has no field for it, because the tensors already carry scale and zero
point and the Task library / Android Studio read them from there. So it is recorded only as text
in each quantized tensor's description ("int8: real = 0.0039 * (q + 128)") and through the Stats
above; `packager inspect` and manifest.json show the tensors' own values.

tflite-support's ImageClassifier writer accepts float32, uint8 and int8 tensors, but leaves the
Stats empty for anything but float32/uint8; we fill them in for every type the same way.

tflite-support is imported lazily (its native module needs libusb, loaded here from the
libusb-package wheel) and without TensorFlow, so `packager inspect` stays fast.
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import struct
import sys
import tempfile
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from packager import fileio
from packager.data.preprocess import INTEGER_RANGES, Preprocessing
from packager.detection import meta
from packager.errors import PackagerError
from packager.segmentation import meta as segmentation_meta
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import METADATA_NAME, parse_graph
from packager.tflite.flatbuffer import schema as _schema

LABELS_FILE = "labels.txt"
Task = Literal["image_classification", "object_detection", "segmentation", "generic"]
TASKS = ("image_classification", "object_detection", "segmentation", "generic")


@dataclass(frozen=True)
class MetadataSpec:
    """What to embed in a model."""

    name: str
    version: str
    task: Task
    description: str = ""
    author: str = ""
    license: str = ""
    labels: list[str] | None = None  # index = output class index
    preprocessing: Preprocessing | None = None
    input_descriptions: list[str] | None = None  # one per input tensor (default: generated)
    output_descriptions: list[str] | None = None  # one per output tensor (default: generated)
    labels_output: int = 0  # the output the labels belong to (its TENSOR_AXIS_LABELS file)
    output_names: list[str] | None = None  # what the outputs are called (signature names), for generic models
    classes: int | None = None  # object_detection: the number of object classes the category output indexes


@dataclass(frozen=True)
class TensorMetadata:
    """One input or output tensor's metadata, as read back."""

    name: str | None
    description: str | None
    content: str | None = None  # "image", "feature", "bounding_box", "audio"
    color_space: str | None = None  # "RGB", "GRAYSCALE" for image content
    mean: tuple[float, ...] | None = None  # NormalizationOptions
    std: tuple[float, ...] | None = None
    min: tuple[float, ...] | None = None  # Stats
    max: tuple[float, ...] | None = None
    associated_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssociatedFile:
    """A file packed into the model (the zip appended to the flatbuffer)."""

    name: str
    size_bytes: int
    type: str | None = None  # as recorded in the metadata, e.g. TENSOR_AXIS_LABELS; None if unrecorded
    description: str | None = None


@dataclass(frozen=True)
class EmbeddedMetadata:
    """The metadata found in a model."""

    name: str | None
    version: str | None
    description: str | None
    author: str | None
    license: str | None
    min_parser_version: str | None
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    associated_files: tuple[AssociatedFile, ...] = ()
    labels: tuple[str, ...] | None = None  # from the first output's TENSOR_AXIS_LABELS file
    recorded_files: tuple[str, ...] = field(default=(), repr=False)  # every file the metadata names

    @property
    def image_input(self) -> TensorMetadata | None:
        return next((t for t in self.inputs if t.content == "image"), None)

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(mean, std) of the first normalized input."""
        tensor = next((t for t in self.inputs if t.mean is not None), None)
        if tensor is None or tensor.mean is None or tensor.std is None:  # a mean without a std (damaged metadata): none
            return None
        return tensor.mean, tensor.std

    @property
    def color_space(self) -> str | None:
        image = self.image_input
        return image.color_space if image else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("recorded_files")
        data["labels_count"] = len(self.labels) if self.labels is not None else None
        norm = self.normalization
        data["normalization"] = {"mean": list(norm[0]), "std": list(norm[1])} if norm else None
        data["color_space"] = self.color_space
        return data


# --- tflite-support, loaded lazily -----------------------------------------------------------------
@functools.cache
def _tflite_support() -> SimpleNamespace:
    """Import tflite-support's metadata writers (native module needs libusb; no TensorFlow)."""
    try:
        import libusb_package  # noqa: PLC0415

        library = libusb_package.get_library_path()
        if library:
            ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)  # satisfies the link to libusb-1.0.so.0
    except (ImportError, OSError):
        pass  # a system libusb-1.0-0 may still be there; the import below says if not
    # metadata.py imports TensorFlow (10 s) only to open files through tf.io.gfile; plain open()
    # is all we need, so hide TensorFlow during that import unless it is loaded already.
    hide_tf = "tensorflow" not in sys.modules
    if hide_tf:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb  # noqa: PLC0415
        from tensorflow_lite_support.metadata.python import metadata as md  # noqa: PLC0415
        from tensorflow_lite_support.metadata.python.metadata_writers import (  # noqa: PLC0415
            image_classifier,
            image_segmenter,
            metadata_info,
            metadata_writer,
            object_detector,
        )
    except ImportError as exc:
        raise PackagerError(
            f"tflite-support's metadata module cannot be loaded ({exc})",
            "run scripts/setup.sh (it installs libusb-package), or install the libusb-1.0-0 system package",
        ) from None
    finally:
        if hide_tf:
            del sys.modules["tensorflow"]
    return SimpleNamespace(fb=metadata_fb, md=md, image_classifier=image_classifier, info=metadata_info, writer=metadata_writer,
                           object_detector=object_detector, image_segmenter=image_segmenter)


# --- write -----------------------------------------------------------------------------------------
def embed_metadata(model: bytes, spec: MetadataSpec) -> bytes:
    """Return `model` with `spec` embedded as TFLite metadata (labels packed as labels.txt).

    Metadata and associated files already in the model are replaced. Refuses (PackagerError),
    before writing anything, labels that do not match the output size and specs that do not fit
    the model.
    """

    model = bytes(model)
    graph = parse_graph(model, "the model")
    _validate_spec(spec, graph)
    base = flatbuffer.with_inline_buffers(_without_metadata(model, graph))  # tflite-support reads only inline weights
    tfs = _tflite_support()
    info = tfs.info
    general = info.GeneralMd(name=spec.name, version=spec.version, description=spec.description or None,
                             author=spec.author or None, licenses=spec.license or None)
    with tempfile.TemporaryDirectory(prefix="packager-metadata-") as tmp:
        label_files = []
        if spec.labels:
            labels_path = Path(tmp) / LABELS_FILE
            labels_path.write_text("".join(f"{label}\n" for label in spec.labels), encoding="utf-8")
            label_files = [info.LabelFileMd(file_path=str(labels_path))]
        inputs = [_input_md(tfs, spec, graph, i) for i in range(len(graph.inputs))]
        outputs = [_output_md(tfs, spec, graph, i, label_files if i == spec.labels_output else []) for i in range(len(graph.outputs))]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if spec.task == "object_detection":

                    writer = meta.writer(tfs, base, general, inputs[0], label_files)
                elif spec.task == "segmentation":
                    writer = segmentation_meta.writer(tfs, base, general, inputs[0], label_files, _segmentation_text(spec, graph))
                elif spec.task == "image_classification":
                    writer = tfs.image_classifier.MetadataWriter.create_from_metadata_info(
                        bytearray(base), general_md=general, input_md=inputs[0], output_md=outputs[0])
                else:
                    writer = tfs.writer.MetadataWriter.create_from_metadata_info(
                        bytearray(base), general_md=general, input_md=inputs, output_md=outputs,
                        associated_files=[f.file_path for f in label_files])
                result = bytes(writer.populate())
        except ValueError as exc:
            raise PackagerError(f"tflite-support refused the metadata: {exc}", "check the model's inputs and outputs") from None
    result = _graft_metadata(base, result)
    _check_graph_preserved(base, result)
    return result


def _graft_metadata(base: bytes, populated: bytes) -> bytes:
    """`base` with the metadata and packed files tflite-support wrote into `populated`.

    tflite-support re-packs the whole model with the TFLite schema it was built with (2022), which
    silently drops newer fields (e.g. the 32-bit bias type of int16x8 convolutions). So only its
    product is taken, the TFLITE_METADATA buffer and the zip of associated files, and attached
    to the untouched graph, the way tflite-support attaches them.
    """

    schema = _schema()

    written = schema.Model.GetRootAs(populated, 0)  # read in place: only one buffer is wanted
    entry = next(written.Metadata(i) for i in range(written.MetadataLength()) if _text(written.Metadata(i).Name()) == METADATA_NAME)
    obj = flatbuffer.read(base)
    buffer = schema.BufferT()
    buffer.data = written.Buffers(entry.Buffer()).DataAsNumpy()
    obj.buffers = [*(obj.buffers or []), buffer]
    grafted = schema.MetadataT()
    grafted.name, grafted.buffer = METADATA_NAME, len(obj.buffers) - 1
    obj.metadata = [*(obj.metadata or []), grafted]
    out = io.BytesIO(flatbuffer.write(obj))
    if _packed_file_names(populated):
        with zipfile.ZipFile(io.BytesIO(populated)) as source, zipfile.ZipFile(out, "a") as archive:
            for info in source.infolist():
                archive.writestr(info, source.read(info))
    return out.getvalue()


def _validate_spec(spec: MetadataSpec, graph) -> None:
    if spec.task not in TASKS:
        raise PackagerError(f"unknown task {spec.task!r}", "use image_classification, object_detection, segmentation or generic")
    if not spec.name or not spec.version:
        raise PackagerError("metadata needs a model name and a version", "give --name and --version")
    for what, descriptions, tensors in (("input", spec.input_descriptions, graph.inputs),
                                        ("output", spec.output_descriptions, graph.outputs)):
        if descriptions is not None and len(descriptions) != len(tensors):
            raise PackagerError(f"{len(descriptions)} {what} descriptions for {len(tensors)} {what} tensors",
                                f"give one description per {what} tensor")
    if spec.task == "image_classification":
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise PackagerError(
                f"an image classifier has one input and one output, this model has {len(graph.inputs)} and {len(graph.outputs)}",
                "use --task generic")
        if spec.preprocessing is None:
            raise PackagerError("an image classifier needs a preprocessing spec (size, color space, mean, std)",
                                "give --mean/--std/--color-space")
    if spec.task == "segmentation":
        shape: tuple[int, ...] = graph.outputs[0].shape if len(graph.outputs) == 1 else ()
        if len(graph.inputs) != 1 or len(shape) != 4 or shape[-1] < 2 or spec.preprocessing is None:
            raise PackagerError(f"a segmenter's metadata needs one image input and one [1, H, W, classes] output, this model has "
                                f"{len(graph.inputs)} input(s) and output(s) {[list(t.shape) for t in graph.outputs]}",
                                "use --task generic")
    if spec.preprocessing is not None:
        _check_image_input(spec.preprocessing, graph.inputs[0])
    if not 0 <= spec.labels_output < len(graph.outputs):
        raise PackagerError(f"labels for output {spec.labels_output} but the model has {len(graph.outputs)} outputs", "name an existing output")
    if spec.task == "object_detection" and (len(graph.outputs) != 4 or spec.preprocessing is None):
        raise PackagerError(f"a detector's metadata needs the four detection outputs and image preprocessing, this model has {len(graph.outputs)} "
                            "output(s)", "build it with --task object_detection")
    if spec.labels:  # an empty list means no labels
        classes = output_classes(graph, spec.labels_output) if spec.task != "object_detection" else spec.classes
        if len(spec.labels) != classes:
            raise PackagerError(
                f"{len(spec.labels)} labels but the model's output has {classes} classes",
                f"give a labels file with exactly {classes} lines, one label per output class in output order")
        for i, label in enumerate(spec.labels):
            if not label.strip() or "\n" in label or "\r" in label:
                raise PackagerError(f"label {i} ({label!r}) is empty or spans lines", "give one non-empty label per line")


def _check_image_input(pre: Preprocessing, tensor) -> None:
    shape = tensor.shape
    if len(shape) != 4 or shape[-1] != pre.channels:
        raise PackagerError(
            f"input {tensor.name!r} has shape {list(shape)}, not an NHWC image with {pre.channels} channel(s) ({pre.color_space})",
            "fix --color-space, or use --task generic without image preprocessing")
    if tensor.dtype not in ("float32", "uint8", "int8", "int16"):
        raise PackagerError(f"image input {tensor.name!r} is {tensor.dtype}", "image inputs must be float32, uint8, int8 or int16")


def output_classes(graph, index: int = 0) -> int:
    """Number of classes of an output (the first by default): its last dimension."""
    shape = graph.outputs[index].shape
    return int(shape[-1]) if len(shape) else 1


def _segmentation_text(spec: MetadataSpec, graph) -> str:
    tensor = graph.outputs[0]
    given = spec.output_descriptions[0] if spec.output_descriptions else None
    _, height, width, classes = tensor.shape
    text = given or (f"Class scores at every pixel, [1, {height}, {width}, {classes}]: the category mask is the argmax over the "
                     f"last axis" + (f" ({LABELS_FILE}, one label per class index)." if spec.labels else "."))
    return text + _quant_note(tensor)


def _quant_note(tensor) -> str:
    if not tensor.scales:
        return ""
    if len(tensor.scales) == 1:
        zero_point = tensor.zero_points[0]
        shifted = f"q - {zero_point}" if zero_point >= 0 else f"q + {-zero_point}"
        return f" Quantized {tensor.dtype}: real = {tensor.scales[0]:.9g} * ({shifted})."
    return f" Quantized {tensor.dtype} per axis {tensor.quantized_dimension} ({len(tensor.scales)} scales)."


def _quantized_range(tensor, lo: np.ndarray, hi: np.ndarray) -> tuple[list[float], list[float]] | tuple[None, None]:
    """Real-valued [lo, hi] as the integers the tensor holds; None where we cannot say."""
    dtype = np.dtype(tensor.dtype)
    if dtype.kind == "f":
        return [float(v) for v in lo], [float(v) for v in hi]
    if dtype not in INTEGER_RANGES or len(tensor.scales) != 1 or not tensor.scales[0]:
        return None, None
    qmin, qmax = INTEGER_RANGES[dtype]
    scale, zero_point = tensor.scales[0], tensor.zero_points[0]
    quantize = lambda v: [float(np.clip(np.rint(x / scale) + zero_point, qmin, qmax)) for x in v]  # noqa: E731
    return quantize(lo), quantize(hi)


def _input_md(tfs, spec: MetadataSpec, graph, index: int):
    tensor = graph.inputs[index]
    given = spec.input_descriptions[index] if spec.input_descriptions else None
    pre = spec.preprocessing if index == 0 else None
    if pre is None:
        text = given or f"Input tensor {tensor.name!r}, shape {list(tensor.shape)}, {tensor.dtype}."
        return tfs.info.TensorMd(name=None, description=text + _quant_note(tensor))
    mean, std = pre.channel_mean(), pre.channel_std()
    color = {"RGB": tfs.fb.ColorSpaceType.RGB, "GRAYSCALE": tfs.fb.ColorSpaceType.GRAYSCALE}[pre.color_space]
    text = given or (f"{pre.size[0]}x{pre.size[1]} {pre.color_space} image, {pre.resize_method} resize, "
                     f"normalized per channel as (pixel - mean) / std.")
    md = tfs.info.InputImageTensorMd(name="image", description=text + _quant_note(tensor), norm_mean=[float(m) for m in mean],
                                     norm_std=[float(s) for s in std], color_space_type=color, tensor_type=tensor.type_code)
    md.min_values, md.max_values = _quantized_range(tensor, (0.0 - mean) / std, (255.0 - mean) / std)
    return md


def _output_md(tfs, spec: MetadataSpec, graph, index: int, label_files: list):
    tensor = graph.outputs[index]
    given = spec.output_descriptions[index] if spec.output_descriptions else None
    probability = tensor.producer in ("SOFTMAX", "LOGISTIC")
    if spec.task == "image_classification":
        kind = "Probabilities" if probability else "Scores"
        text = given or f"{kind} of the {output_classes(graph)} classes" + (f" ({LABELS_FILE}, one label per line)." if label_files else ".")
        md = tfs.info.ClassificationTensorMd(name="probability" if probability else "scores", description=text + _quant_note(tensor),
                                             label_files=label_files, tensor_type=tensor.type_code)
    else:
        name = spec.output_names[index] if spec.output_names and index < len(spec.output_names) else None
        text = given or f"Output {name or tensor.name!r}, shape {list(tensor.shape)}, {tensor.dtype}."
        md = tfs.info.TensorMd(name=name, description=text + _quant_note(tensor), associated_files=label_files or None)
    # claim a [0, 1] range only for what really is a probability
    md.min_values, md.max_values = _quantized_range(tensor, np.zeros(1), np.ones(1)) if probability else (None, None)
    return md


def _without_metadata(model: bytes, graph) -> bytes:
    """The model without TFLite metadata and packed files (so embedding replaces, not appends)."""
    packed = _packed_file_names(model)
    if not graph.has_metadata and not packed:
        return model

    schema = _schema()

    obj = flatbuffer.read(model)
    keep = []
    for entry in obj.metadata or []:
        if _text(entry.name) != METADATA_NAME:
            keep.append(entry)
        elif entry.buffer == len(obj.buffers) - 1:
            obj.buffers.pop()  # the usual case: its buffer is the last one
        else:
            obj.buffers[entry.buffer] = schema.BufferT()  # keep indices of the others intact
    obj.metadata = keep
    return flatbuffer.write(obj)


def _check_graph_preserved(before: bytes, after: bytes) -> None:
    """tflite-support re-packs the model with the TFLite schema it was built with (2022): refuse
    a result where anything but the metadata changed (fields of newer schemas would be lost)."""
    old, new = _canonical(before), _canonical(after)
    if old != new:
        where = _first_difference(old, new, "model")
        raise PackagerError(
            f"embedding metadata with tflite-support would change the model itself ({where} differs): "
            "the model uses TFLite schema features newer than tflite-support 0.4.4 knows",
            "ship the model without metadata (packager inspect still reads it), or re-convert it with standard ops")


def _canonical(model: bytes) -> Any:
    obj = flatbuffer.read(model)
    metadata_buffers = {e.buffer for e in obj.metadata or [] if _text(e.name) == METADATA_NAME}
    obj.metadata = [e for e in obj.metadata or [] if _text(e.name) != METADATA_NAME]
    buffers = obj.buffers or []
    while buffers and len(buffers) - 1 in metadata_buffers:
        buffers = buffers[:-1]
    obj.buffers = [None if i in metadata_buffers else b for i, b in enumerate(buffers)]
    return _plain(obj)


def _plain(value: Any) -> Any:
    """A flatbuffers object tree as comparable plain data (buffer contents as bytes)."""
    if isinstance(value, np.ndarray):
        return value.tobytes() if value.dtype == np.uint8 else value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, str):
        return value.encode()
    return value


def _first_difference(a: Any, b: Any, path: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return path


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


# --- read ------------------------------------------------------------------------------------------
def _packed_file_names(model: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def read_metadata(model: bytes) -> EmbeddedMetadata | None:
    """The TFLite metadata embedded in `model`, or None when it has none."""

    model = bytes(model)
    if not parse_graph(model, "the model").has_metadata:
        return None
    tfs = _tflite_support()
    try:
        displayer = tfs.md.MetadataDisplayer.with_model_buffer(model)
        root = tfs.fb.ModelMetadataT.InitFromObj(tfs.fb.ModelMetadata.GetRootAs(displayer.get_metadata_buffer(), 0))
        packed = displayer.get_packed_associated_file_list()
    except (ValueError, IndexError, TypeError, struct.error, zipfile.BadZipFile) as exc:
        raise PackagerError(f"the model's TFLite metadata is corrupt ({exc})", "re-embed it with packager build") from None
    everything = associated_files(model)  # bounded reads, not tflite-support's unbounded ones
    files = {name: everything[name] for name in packed if name in everything}
    names = _enum_names(tfs.fb.AssociatedFileType)
    recorded: dict[str, Any] = {}
    for entry in _recorded_files(root):
        recorded.setdefault(_text(entry.name), entry)
    subgraph = root.subgraphMetadata[0] if root.subgraphMetadata else None
    inputs = tuple(_tensor(tfs, t) for t in (subgraph.inputTensorMetadata or [])) if subgraph else ()
    outputs = tuple(_tensor(tfs, t) for t in (subgraph.outputTensorMetadata or [])) if subgraph else ()
    labels = None
    for tensor in (subgraph.outputTensorMetadata or []) if subgraph else []:
        label_file = next((f for f in tensor.associatedFiles or [] if f.type in (  # a detector's category output: value labels
            tfs.fb.AssociatedFileType.TENSOR_AXIS_LABELS, tfs.fb.AssociatedFileType.TENSOR_VALUE_LABELS)), None)
        if label_file is not None:
            data = files.get(_text(label_file.name))
            labels = tuple(data.decode("utf-8").splitlines()) if data is not None else None
            break
    associated = tuple(
        AssociatedFile(name, len(files[name]), names.get(recorded[name].type) if name in recorded else None,
                       _text(recorded[name].description) or None if name in recorded else None)
        for name in packed)
    return EmbeddedMetadata(
        name=_text(root.name) or None, version=_text(root.version) or None, description=_text(root.description) or None,
        author=_text(root.author) or None, license=_text(root.license) or None,
        min_parser_version=_text(root.minParserVersion) or None, inputs=inputs, outputs=outputs,
        associated_files=associated, labels=labels, recorded_files=tuple(recorded))


def _recorded_files(root) -> list:
    entries = list(root.associatedFiles or [])
    for subgraph in root.subgraphMetadata or []:
        entries += subgraph.associatedFiles or []
        for tensor in (subgraph.inputTensorMetadata or []) + (subgraph.outputTensorMetadata or []):
            entries += tensor.associatedFiles or []
    return entries


def _enum_names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def _floats(values) -> tuple[float, ...] | None:
    return None if values is None or len(values) == 0 else tuple(float(v) for v in values)


def _tensor(tfs, tensor) -> TensorMetadata:
    fb = tfs.fb
    content = color = None
    if tensor.content is not None and tensor.content.contentPropertiesType:
        kinds = {fb.ContentProperties.ImageProperties: "image", fb.ContentProperties.FeatureProperties: "feature",
                 fb.ContentProperties.BoundingBoxProperties: "bounding_box", fb.ContentProperties.AudioProperties: "audio"}
        content = kinds.get(tensor.content.contentPropertiesType)
        if content == "image":
            color = _enum_names(fb.ColorSpaceType).get(tensor.content.contentProperties.colorSpace)
    mean = std = None
    for unit in tensor.processUnits or []:
        if unit.optionsType == fb.ProcessUnitOptions.NormalizationOptions:
            mean, std = _floats(unit.options.mean), _floats(unit.options.std)
    stats = tensor.stats
    return TensorMetadata(
        name=_text(tensor.name) or None, description=_text(tensor.description) or None, content=content, color_space=color,
        mean=mean, std=std, min=_floats(stats.min) if stats else None, max=_floats(stats.max) if stats else None,
        associated_files=tuple(_text(f.name) for f in tensor.associatedFiles or []))


# Packed files are labels and vocabularies: kilobytes to a few MB. A hostile model can pack a
# member that decompresses to GiBs (a 3 MB .tflite holding 3 GiB of zeros), so every member is
# read as a stream and refused past this size instead of growing the process until MemoryError.
MAX_PACKED_FILE_BYTES = 64 << 20


def associated_files(model: bytes) -> dict[str, bytes]:
    """Every file packed into the model (e.g. labels.txt), by name, each at most MAX_PACKED_FILE_BYTES."""
    model = bytes(model)
    names = _packed_file_names(model)
    if not names:
        return {}
    out = {}
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            for info in archive.infolist():
                if info.file_size > MAX_PACKED_FILE_BYTES:
                    raise _too_big(info.filename, info.file_size)
                chunks, size = [], 0
                with archive.open(info) as fh:
                    while chunk := fh.read(1 << 20):
                        size += len(chunk)
                        if size > MAX_PACKED_FILE_BYTES:
                            raise _too_big(info.filename, size)
                        chunks.append(chunk)
                out[info.filename] = b"".join(chunks)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise PackagerError(f"the files packed into the model are corrupt ({exc})", "re-embed the metadata with packager build") from None
    return out


def _too_big(name: str, size: int) -> PackagerError:
    return PackagerError(f"the model packs a file {name!r} of {'at least ' if size > MAX_PACKED_FILE_BYTES else ''}{size:,} bytes, "
                         f"more than the {MAX_PACKED_FILE_BYTES >> 20} MiB a label or vocabulary file can need",
                         "this model file is damaged or hostile; re-export it or re-embed the metadata with packager build")


# --- verify ----------------------------------------------------------------------------------------
def verify_metadata(model: bytes, spec: MetadataSpec) -> EmbeddedMetadata:
    """Read the metadata back and check it says what `spec` says; PackagerError on any mismatch."""

    model = bytes(model)
    graph = parse_graph(model, "the model")
    found = read_metadata(model)
    if found is None:
        raise PackagerError("the model has no TFLite metadata", "embed it with packager build")

    def mismatch(what: str, got: Any, want: Any) -> PackagerError:
        return PackagerError(f"embedded metadata does not match: {what} is {got!r} but should be {want!r}",
                             "rebuild the model with packager build")

    for what, got, want in (("name", found.name, spec.name), ("version", found.version, spec.version),
                            ("description", found.description, spec.description), ("author", found.author, spec.author),
                            ("license", found.license, spec.license)):
        if (got or "") != (want or ""):
            raise mismatch(what, got, want)
    if (len(found.inputs), len(found.outputs)) != (len(graph.inputs), len(graph.outputs)):
        raise mismatch("the number of input/output tensor entries", (len(found.inputs), len(found.outputs)),
                       (len(graph.inputs), len(graph.outputs)))
    missing = [name for name in found.recorded_files if name not in {f.name for f in found.associated_files}]
    if missing:
        raise PackagerError(f"the metadata names {missing[0]} but the file is not packed in the model", "rebuild the model with packager build")
    pre = spec.preprocessing
    if pre is not None:
        image = found.inputs[0]
        if image.content != "image":
            raise mismatch("the first input's content", image.content, "image")
        if image.color_space != pre.color_space:
            raise mismatch("the color space", image.color_space, pre.color_space)
        if image.mean is None or image.std is None:
            raise mismatch("the normalization", None, {"mean": list(pre.mean), "std": list(pre.std)})
        for name, stored, wanted in (("normalization mean", image.mean, pre.channel_mean()), ("normalization std", image.std, pre.channel_std())):
            stored_channels = np.broadcast_to(np.asarray(stored, np.float64), wanted.shape) if len(stored) in (1, len(wanted)) else None
            # values are stored as float32: compare at float32 precision
            if stored_channels is None or not np.allclose(stored_channels, wanted, rtol=1e-6, atol=1e-6):
                raise mismatch(name, list(stored), [float(v) for v in wanted])
    elif spec.task in ("image_classification", "object_detection", "segmentation"):
        raise PackagerError("an image model needs a preprocessing spec to verify against", "give --mean/--std/--color-space")
    classes = output_classes(graph, spec.labels_output) if spec.task != "object_detection" else spec.classes
    if spec.task == "object_detection":

        meta.verify(model, _tflite_support(), spec.labels)
    if spec.task == "segmentation":
        segmentation_meta.verify(model, _tflite_support(), spec.labels)
    if spec.labels:
        if found.labels is None:
            raise mismatch("the label file", None, LABELS_FILE)
        if LABELS_FILE not in found.outputs[spec.labels_output].associated_files:
            raise mismatch(f"the output the labels belong to (output {spec.labels_output} names)",
                           list(found.outputs[spec.labels_output].associated_files), [LABELS_FILE])
        if len(found.labels) != classes:
            raise PackagerError(f"the embedded labels have {len(found.labels)} entries but the model's output has {classes} classes",
                                "rebuild with a labels file of one label per output class")
        if list(found.labels) != list(spec.labels):
            first = next(i for i, (a, b) in enumerate(zip(found.labels, spec.labels)) if a != b) if len(found.labels) == len(spec.labels) else 0
            raise mismatch(f"label {first}", found.labels[first] if first < len(found.labels) else None,
                           spec.labels[first] if first < len(spec.labels) else None)
    elif found.labels is not None:
        raise mismatch("the labels", f"{len(found.labels)} labels", "none")
    return found



def extract_associated_files(model: bytes, folder: Path | str) -> list[Path]:
    """Write the files packed in the model into `folder` (each written to a temporary name, then
    renamed, so no half-written file is left behind); returns the paths written."""
    folder = Path(folder)
    files = associated_files(model)
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            safe = Path(name).name  # never write outside `folder`, whatever the archive says
            if safe in ("", ".", ".."):
                continue
            target = folder / safe
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{safe}.", delete=False) as tmp:
                try:
                    tmp.write(content)
                    # NamedTemporaryFile makes 0600; an extracted labels file is an ordinary file
                    os.fchmod(tmp.fileno(), 0o666 & ~fileio.current_umask())
                except BaseException:
                    Path(tmp.name).unlink(missing_ok=True)
                    raise
            Path(tmp.name).replace(target)
            written.append(target)
    except OSError as exc:
        raise PackagerError(f"cannot write the associated files into {folder}: {exc.strerror}",
                            "choose a folder you can write to") from None
    return written


# --- keep a model's own metadata -----------------------------------------------------------------------
# A .tflite made by another tool (MediaPipe, Model Maker, the Task Library's writers) carries metadata
# its readers depend on: tensor names and descriptions, labels files attached to one of several
# outputs, process units. Replacing it with packager's generic description would break those readers,
# so by default it is kept whole and only what the user gives on the command line is merged in.
MERGEABLE = ("name", "version", "description", "author", "license", "labels", "preprocessing")


@dataclass(frozen=True)
class Merged:
    """What merge_metadata kept and what it changed (for the build's note and the verification)."""

    kept_files: tuple[str, ...]
    changed: tuple[str, ...]  # e.g. "name", "labels (labels.txt on output 2)", "normalization of input 0"
    labels_file: str | None = None  # the packed file holding the user's labels, when given


def metadata_buffer(model: bytes) -> bytes | None:
    """The raw TFLITE_METADATA buffer of `model`, or None."""

    schema = _schema()

    model = bytes(model)
    if not parse_graph(model, "the model").has_metadata:
        return None
    root = schema.Model.GetRootAs(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if _text(entry.Name()) == METADATA_NAME:
            buffer = root.Buffers(entry.Buffer())
            if buffer.Offset() > 1:  # stored after the flatbuffer
                return model[buffer.Offset(): buffer.Offset() + buffer.Size()]
            return buffer.DataAsNumpy().tobytes() if buffer.DataLength() else None
    return None


def merge_metadata(model: bytes, original: bytes, spec: MetadataSpec, given: frozenset[str] | set[str]) -> tuple[bytes, Merged]:
    """`model` (the chosen variant of `original`) with `original`'s metadata and packed files, and
    what the user gave (`given`, names from MERGEABLE) merged in from `spec`."""
    tfs = _tflite_support()
    fb = tfs.fb
    buffer = metadata_buffer(original)
    if buffer is None:
        raise ValueError("the original model has no metadata to keep")
    try:
        root = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))
    except (ValueError, IndexError, TypeError, struct.error) as exc:
        raise PackagerError(f"the model's own TFLite metadata is corrupt ({exc})", "pass --replace-metadata to write new metadata") from None
    files = associated_files(original)
    graph = parse_graph(model, "the model")
    changed: list[str] = []
    for key in ("name", "version", "description", "author", "license"):
        value = getattr(spec, key)
        if key in given and value and _text(getattr(root, key)) != value:
            setattr(root, key, value)
            changed.append(key)
    if not root.subgraphMetadata:
        root.subgraphMetadata = [fb.SubGraphMetadataT()]
    subgraph = root.subgraphMetadata[0]
    for attr, count in (("inputTensorMetadata", len(graph.inputs)), ("outputTensorMetadata", len(graph.outputs))):
        tensors = list(getattr(subgraph, attr) or [])
        if len(tensors) > count:
            raise PackagerError(f"the model's own metadata describes {len(tensors)} {attr[:-14]}s but the model has {count}",
                                "pass --replace-metadata to write new metadata")
        setattr(subgraph, attr, tensors + [fb.TensorMetadataT() for _ in range(count - len(tensors))])
    labels_file = None
    if "labels" in given and spec.labels:
        classes = output_classes(graph, spec.labels_output)
        if len(spec.labels) != classes:
            raise PackagerError(f"{len(spec.labels)} labels but output {spec.labels_output} has {classes} classes",
                                f"give a labels file with exactly {classes} lines, one label per class")
        tensor = subgraph.outputTensorMetadata[spec.labels_output]
        current = next((f for f in tensor.associatedFiles or [] if f.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS), None)
        if current is not None:  # the output's own labels file gets the user's labels, under its own name
            labels_file = _text(current.name)
        else:
            labels_file = LABELS_FILE
            stem, n = LABELS_FILE.removesuffix(".txt"), 1
            while labels_file in files or labels_file in {_text(f.name) for f in _recorded_files(root)}:
                labels_file, n = f"{stem}_{n}.txt", n + 1
            entry = fb.AssociatedFileT()
            entry.name, entry.type = labels_file, fb.AssociatedFileType.TENSOR_AXIS_LABELS
            entry.description = "Labels of this output's classes, one per line (added by packager)."
            tensor.associatedFiles = [*(tensor.associatedFiles or []), entry]
        files[labels_file] = "".join(f"{label}\n" for label in spec.labels).encode("utf-8")
        changed.append(f"labels ({labels_file} on output {spec.labels_output})")
    if "preprocessing" in given and spec.preprocessing is not None:
        changed += _merge_normalization(fb, subgraph.inputTensorMetadata[0], spec.preprocessing)
    missing = [name for name in {_text(f.name) for f in _recorded_files(root)} if name not in files]
    if missing:
        raise PackagerError(f"the model's own metadata names {missing[0]} but the file is not packed in the model",
                            "pass --replace-metadata to write new metadata")
    builder = fb.flatbuffers.Builder(0)  # the flatbuffers tflite-support's generated code is built on
    builder.Finish(root.Pack(builder), tfs.md.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    base = flatbuffer.with_inline_buffers(_without_metadata(bytes(model), graph))
    result = _attach(base, bytes(builder.Output()), files, original)
    _check_graph_preserved(base, result)
    kept = tuple(name for name in associated_files(original) if name != labels_file)
    return result, Merged(kept, tuple(changed), labels_file)


def _merge_normalization(fb, tensor, pre: Preprocessing) -> list[str]:
    """The user's normalization on the image input: kept when the model's own says the same,
    added when it has none, refused when it says something else."""
    mean, std = pre.channel_mean(), pre.channel_std()
    unit = next((u for u in tensor.processUnits or [] if u.optionsType == fb.ProcessUnitOptions.NormalizationOptions), None)
    if unit is not None:
        have_mean, have_std = np.asarray(unit.options.mean, np.float64), np.asarray(unit.options.std, np.float64)
        same = all(len(h) in (1, len(w)) and np.allclose(np.broadcast_to(h, w.shape), w, rtol=1e-6, atol=1e-6)
                   for h, w in ((have_mean, mean), (have_std, std)))
        if not same:
            raise PackagerError(
                f"--mean/--std ({list(pre.mean)}/{list(pre.std)}) differ from the model's own metadata "
                f"(mean {have_mean.tolist()}, std {have_std.tolist()})",
                "drop --mean/--std to keep the model's, or pass --replace-metadata to replace its metadata")
        return []
    options = fb.NormalizationOptionsT()
    options.mean, options.std = [float(m) for m in mean], [float(s) for s in std]
    unit = fb.ProcessUnitT()
    unit.optionsType, unit.options = fb.ProcessUnitOptions.NormalizationOptions, options
    tensor.processUnits = [*(tensor.processUnits or []), unit]
    if tensor.content is None:
        properties = fb.ImagePropertiesT()
        properties.colorSpace = {"RGB": fb.ColorSpaceType.RGB, "GRAYSCALE": fb.ColorSpaceType.GRAYSCALE}[pre.color_space]
        content = fb.ContentT()
        content.contentPropertiesType, content.contentProperties = fb.ContentProperties.ImageProperties, properties
        tensor.content = content
    return ["normalization of input 0"]


def _attach(base: bytes, metadata: bytes, files: dict[str, bytes], original: bytes | None = None) -> bytes:
    """`base` with a TFLITE_METADATA buffer and the files packed as a zip after it (members of
    `original`'s zip keep their entries, new ones are stored uncompressed, as tflite-support does)."""

    schema = _schema()

    obj = flatbuffer.read(base)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    obj.buffers = [*(obj.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(obj.buffers) - 1
    obj.metadata = [*(obj.metadata or []), entry]
    out = io.BytesIO(flatbuffer.write(obj))
    if files:
        infos = {}
        if original is not None and _packed_file_names(original):
            with zipfile.ZipFile(io.BytesIO(original)) as source:
                infos = {info.filename: info for info in source.infolist()}
        out.seek(0, io.SEEK_END)
        with zipfile.ZipFile(out, "a") as archive:
            for name, data in files.items():
                archive.writestr(infos.get(name) or zipfile.ZipInfo(name), data)
    return out.getvalue()


def verify_merged(model: bytes, original: bytes, spec: MetadataSpec, given: frozenset[str] | set[str], merged: Merged) -> EmbeddedMetadata:
    """Read the merged metadata back: the model's own tensors' metadata and packed files are all
    there, unchanged, and what the user gave is there too; PackagerError otherwise."""
    found, before = read_metadata(model), read_metadata(original)
    if found is None or before is None:
        raise PackagerError("the model lost its TFLite metadata while merging", "pass --replace-metadata to write new metadata")
    now, then = associated_files(model), associated_files(original)

    def mismatch(what: str, got: Any, want: Any) -> PackagerError:
        return PackagerError(f"merged metadata does not match: {what} is {got!r} but should be {want!r}",
                             "pass --replace-metadata to write new metadata instead")

    for name, data in then.items():
        if name != merged.labels_file and now.get(name) != data:
            raise mismatch(f"packed file {name}", None if name not in now else f"{len(now[name])} other bytes", f"{len(data)} bytes as before")
    for key in ("name", "version", "description", "author", "license"):
        want = getattr(spec, key) if key in given and getattr(spec, key) else getattr(before, key)
        if getattr(found, key) != want:
            raise mismatch(key, getattr(found, key), want)
    for kind, old, new in (("input", before.inputs, found.inputs), ("output", before.outputs, found.outputs)):
        for i, (a, b) in enumerate(zip(old, new)):
            for attr in ("name", "description", "content", "color_space", "min", "max"):
                if getattr(a, attr) != getattr(b, attr) and not (kind == "input" and i == 0 and attr == "content" and a.content is None):
                    raise mismatch(f"{kind} {i}'s {attr}", getattr(b, attr), getattr(a, attr))
            if a.mean is not None and (a.mean, a.std) != (b.mean, b.std):
                raise mismatch(f"{kind} {i}'s normalization", (b.mean, b.std), (a.mean, a.std))
            if not set(a.associated_files) <= set(b.associated_files):
                raise mismatch(f"{kind} {i}'s associated files", list(b.associated_files), list(a.associated_files))
    if merged.labels_file is not None:
        if merged.labels_file not in found.outputs[spec.labels_output].associated_files:
            raise mismatch(f"output {spec.labels_output}'s associated files", list(found.outputs[spec.labels_output].associated_files),
                           [merged.labels_file])
        if now.get(merged.labels_file, b"").decode("utf-8").splitlines() != list(spec.labels or []):
            raise mismatch(f"the labels in {merged.labels_file}", "other labels", f"{len(spec.labels or [])} labels given")
    return found
