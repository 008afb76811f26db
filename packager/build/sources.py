"""Load a source model and convert it, once, to float TFLite bytes.

Formats: Keras v3 `.keras`, legacy Keras `.h5`, SavedModel folders, and existing `.tflite`
files (those are used as they are: only metadata, evaluation and bundling apply).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from packager import quiet
from packager.build import legacy_saved_model
from packager.data.dataset import MultiInputs
from packager.errors import PackagerError
from packager.fileio import NotRegularFile, open_regular, sha256_file
from packager.manifest import SourceFormat, SourceModel
from packager.runtime.evaluate import ModelRunner
from packager.runtime.isolation import check_tflite
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import schema as _schema
from packager.tflite.input_sizes import InputSizes, fixed_shape

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"
SUPPORTED = ".keras, .h5, a SavedModel folder or .tflite"


def _sha256_tree(folder: Path) -> tuple[str, int]:
    digest, total = hashlib.sha256(), 0
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(sha256_file(file).encode())
        total += file.stat().st_size
    return digest.hexdigest(), total


def detect(path: str | Path) -> SourceModel:
    """Identify the source's format by its content (not only its name) and fingerprint it."""
    path = Path(path)
    if not path.exists():
        raise PackagerError(f"model {path} does not exist", "check the path")
    if path.is_dir():
        if not any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
            raise PackagerError(f"{path} is a folder but not a SavedModel (no saved_model.pb)", f"pass {SUPPORTED}")
        sha, size = _sha256_tree(path)
        return SourceModel(path=path, format="saved_model", sha256=sha, size_bytes=size)
    try:
        with open_regular(path) as fh:
            head = fh.read(16)
    except NotRegularFile as exc:
        raise PackagerError(f"model {exc}", f"pass {SUPPORTED}") from None
    except OSError as exc:
        raise PackagerError(f"cannot read model {path}: {exc.strerror}", "check its permissions") from None
    size = path.stat().st_size
    if size == 0:
        raise PackagerError(f"model {path} is empty (0 bytes)", "re-export the model")
    suffix = path.suffix.lower()
    if head[4:8] == TFLITE_IDENTIFIER:
        fmt: SourceFormat = "tflite"
    elif head.startswith(HDF5_SIGNATURE):
        fmt = "h5"
    elif suffix == ".keras" and zipfile.is_zipfile(path):
        fmt = "keras"
    elif suffix in (".tflite", ".keras", ".h5", ".hdf5"):
        raise PackagerError(
            f"{path} is not a valid {suffix} file (its content is corrupt, truncated or another format)",
            "re-export the model",
        )
    else:
        raise PackagerError(f"{path} is not a model packager can read", f"pass {SUPPORTED}")
    return SourceModel(path=path, format=fmt, sha256=sha256_file(path), size_bytes=size)


# --- custom Keras objects -----------------------------------------------------------------------
def load_custom_objects(entries: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """--custom-objects: 'package.module:attr', 'path/to/file.py:attr', or a module/file (all the
    classes it defines), imported into {name: object} for keras.models.load_model."""
    import importlib  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    import sys  # noqa: PLC0415

    found: dict[str, Any] = {}
    for entry in entries:
        target, _, attr = entry.rpartition(":") if re.search(r":[A-Za-z_][\w.]*$", entry) else (entry, "", "")
        try:
            if target.endswith(".py") or "/" in target or "\\" in target:
                file = Path(target)
                if not file.is_file():
                    raise PackagerError(f"--custom-objects {entry}: {file} does not exist", "give an existing .py file or an importable module")
                stem = re.sub(r"\W", "_", file.stem)
                name = f"_packager_custom_{hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]}_{stem}"
                spec = importlib.util.spec_from_file_location(name, file)
                if spec is None or spec.loader is None:  # not a Python file: reported below as an import failure
                    raise ImportError(f"{file} is not a Python source file")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                with quiet.captured_output():
                    spec.loader.exec_module(module)
            else:
                with quiet.captured_output():
                    module = importlib.import_module(target)
        except PackagerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any error while importing user code
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise PackagerError(f"--custom-objects {entry}: cannot import {target} ({type(exc).__name__}: {detail})",
                                "check the module path and that it imports on its own") from None
        if attr:
            obj = module
            for part in attr.split("."):
                if not hasattr(obj, part):
                    raise PackagerError(f"--custom-objects {entry}: {target} has no attribute {attr}",
                                        f"name one of: {', '.join(n for n in dir(module) if not n.startswith('_'))[:400]}")
                obj = getattr(obj, part)
            objects: dict[str, Any] = {attr.rsplit(".", 1)[-1]: obj}
        else:
            objects = {n: o for n, o in vars(module).items() if inspect.isclass(o) and o.__module__ == module.__name__}
            if not objects:
                raise PackagerError(f"--custom-objects {entry}: {target} defines no classes", "name the object with MODULE:ATTR")
        found.update(objects)  # keyed by class name: what Keras looks up for classes it has no registration for
    return found


# --- input sizes ---------------------------------------------------------------------------------
def fix_tflite_inputs(model: bytes, sizes: InputSizes | None, what: str) -> bytes:
    """A .tflite whose inputs have dynamic dimensions (shape_signature -1) with them set from
    --size (the graph's other shapes follow when LiteRT prepares it); the model unchanged when
    it has none. Packed files (metadata's zip) are kept."""
    import numpy as np  # noqa: PLC0415


    graph = flatbuffer.parse_graph(model, what)
    dynamic = [t for t in graph.inputs if t.shape_signature is not None and any(d < 0 for d in t.shape_signature[1:])]
    if not dynamic:
        return model
    tree = flatbuffer.read(model)
    main = tree.subgraphs[0]
    for info in dynamic:
        dims = fixed_shape(info.name, info.shape_signature, sizes, what)
        tensor = main.tensors[info.index]
        tensor.shape = np.asarray([1 if dims[0] is None else dims[0], *dims[1:]], dtype=np.int32)
        tensor.shapeSignature = np.asarray([-1 if dims[0] is None else dims[0], *dims[1:]], dtype=np.int32)
    return _with_packed_files(flatbuffer.write(tree), model)


def _with_packed_files(model: bytes, original: bytes) -> bytes:
    """`model` with the zip of packed files `original` carries appended (a rewrite drops it)."""
    import io  # noqa: PLC0415

    try:
        with zipfile.ZipFile(io.BytesIO(original)) as source:
            out = io.BytesIO(model)
            out.seek(0, io.SEEK_END)
            with zipfile.ZipFile(out, "a") as archive:
                for info in source.infolist():
                    archive.writestr(info, source.read(info))
            return out.getvalue()
    except zipfile.BadZipFile:
        return model


# --- conversion ---------------------------------------------------------------------------------
_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_FLEX_OPS = re.compile(r"Flex ops: ([\w., ]+)")


def unsupported_ops_in(message: str) -> list[str]:
    ops = set(_UNSUPPORTED_OP.findall(message))
    for group in _FLEX_OPS.findall(message):
        ops.update(op.strip().removeprefix("tf.") for op in group.split(",") if op.strip())
    return sorted(ops)


def conversion_error(exc: Exception, what: str) -> PackagerError:
    text = str(exc)
    ops = unsupported_ops_in(text)
    if ops:
        return PackagerError(
            f"{what}: the model uses operators LiteRT has no builtin kernel for: {', '.join(ops)}",
            "replace them with supported ops (see the LiteRT op compatibility list) and export again",
        )
    first = re.search(r'error_message: "([^"\\]*)', text)
    detail = first.group(1) if first else (text.strip().splitlines() or ["unknown error"])[0]
    return PackagerError(f"{what} failed: {detail[:300]}", "run with --verbose to see the converter's log")


@dataclass(frozen=True)
class _Frozen:
    """The source's inference function with its variables frozen into constants, and its GraphDef."""

    function: Any  # tf ConcreteFunction
    graph_def: Any  # its GraphDef, as convert_variables_to_constants_v2_as_graph returned it
    input_names: list[str]
    output_names: list[str]


def _prefrozen_converter(frozen: _Frozen):
    """tf.lite.TFLiteConverter.from_concrete_functions([frozen.function]), told that the function is
    frozen already. The stock converter freezes it again, which with the pure-Python protobuf that
    tflite-support's protobuf<4 leaves on Python 3.11 re-parses the whole GraphDef (weights
    included) and rebuilds the function: about 1.5 s of CPU on MobileNetV2 for nothing."""
    from tensorflow.lite.python.lite import TFLiteFrozenGraphConverterV2  # noqa: PLC0415

    class PrefrozenConverter(TFLiteFrozenGraphConverterV2):
        def _freeze_concrete_function(self):
            inputs = [t for t in frozen.function.inputs if t.dtype.name != "resource"]  # as the stock method picks them
            return frozen.graph_def, inputs, frozen.function.outputs, frozen.function

    return PrefrozenConverter([frozen.function])


class Converter:
    """Converts one source to TFLite; the loaded model and its frozen graph are kept for reuse.

    TFLiteConverter.from_keras_model exports a whole SavedModel to a temporary folder before
    converting (about 6 of its 8-10 s on MobileNetV2). Freezing the model's inference function
    into constants and converting that concrete function gives the same model in well under 2 s;
    the serving signature that from_keras_model would have written is added back afterwards
    (ai-edge-quantizer and the LiteRT signature runner need it). Should freezing fail (unusual
    control flow), the standard path is used.
    """

    def __init__(self, source: SourceModel, custom_objects: dict[str, Any] | None = None, sizes: InputSizes | None = None):
        if source.format == "tflite":
            raise ValueError("a .tflite source needs no converter")
        self.source = source
        self.custom_objects = dict(custom_objects or {})
        self.sizes = sizes
        self._tf = quiet.import_tensorflow()
        self._keras_model = None
        self._frozen: _Frozen | Literal[False] | None = None  # a _Frozen, or False when freezing failed
        self.legacy_v1 = False  # converted by tf.compat.v1's converter (TF 2's object loader rejected the folder)
        self.keras_batch1 = False  # converted by TF's from_keras_model path on a batch-1 copy (the frozen graph did not convert)
        if source.format in ("keras", "h5"):
            self._keras_model = self._load_keras()

    def _load_keras(self):
        import keras  # noqa: PLC0415

        try:
            with quiet.captured_output():
                return keras.models.load_model(self.source.path, compile=False, custom_objects=self.custom_objects or None)
        except Exception as exc:  # noqa: BLE001 - keras raises many types for bad files
            reason = " ".join(str(exc).split()) or type(exc).__name__  # whole: the class names are in it
            missing = re.findall(r"Could not (?:locate|deserialize) class '([^']+)'|Unknown (?:layer|object)[^']*'([^']+)'", reason)
            if missing:
                names = sorted({a or b for a, b in missing})
                hint = f"pass --custom-objects MODULE:ATTR (or path/to/file.py:ATTR) for {', '.join(names)}, repeatable"
            else:
                hint = "check that the file is complete and was saved with model.save()"
            raise PackagerError(f"cannot load Keras model {self.source.path}: {reason}", hint) from None

    def _freeze(self) -> _Frozen | None:
        """The frozen inference function, or None if it cannot be frozen."""
        if self._frozen is None:
            try:
                with quiet.captured_output():
                    self._frozen = self._freeze_keras() if self._keras_model is not None else self._freeze_saved_model()
            except PackagerError:
                raise
            except Exception:  # noqa: BLE001 - anything odd: fall back to the converter's own path
                self._frozen = False
        return self._frozen or None

    def _freeze_keras(self):
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph  # noqa: PLC0415

        tf, model = self._tf, self._keras_model
        try:
            tensors = model.inputs
        except (AttributeError, ValueError):  # a subclassed model has no symbolic inputs
            tensors = None
        if tensors:
            names = [getattr(t, "name", f"input_{i}").split(":")[0] for i, t in enumerate(tensors)]
            specs = [tf.TensorSpec([None, *fixed_shape(n, t.shape, self.sizes, self.source.path.name)[1:]], t.dtype, name=n)
                     for t, n in zip(tensors, names)]
        else:  # its build config holds the input shape it was built with (saved with the weights)
            shape = (model.get_build_config() or {}).get("input_shape")
            if not shape or not isinstance(shape[0], (int, type(None))):
                raise ValueError("subclassed model without a single recorded input shape")
            shape = fixed_shape("input_0", shape, self.sizes, self.source.path.name)
            names, specs = ["input_0"], [tf.TensorSpec([None, *shape[1:]], tf.float32, name="input_0")]
        single = len(specs) == 1

        def serve(*xs):
            return model(xs[0] if single else list(xs), training=False)

        concrete = tf.function(serve).get_concrete_function(*specs)
        function, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
        outputs = [f"output_{i}" for i in range(len(function.outputs))]
        keras_names = list(getattr(model, "output_names", None) or [])
        if len(keras_names) == len(outputs) and len(set(keras_names)) == len(keras_names) and isinstance(model.outputs, (list, tuple)):
            outputs = [str(n) for n in keras_names]  # the signature names the outputs as the Keras model does
        return _Frozen(function, graph_def, names, outputs)

    def _freeze_saved_model(self):
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph  # noqa: PLC0415

        tf = self._tf
        loaded = tf.saved_model.load(str(self.source.path))
        signature = loaded.signatures.get("serving_default") or next(iter(loaded.signatures.values()))
        _, kwargs = signature.structured_input_signature
        fixed = {k: fixed_shape(k, s.shape, self.sizes, self.source.path.name) for k, s in kwargs.items()}
        if any(list(s.shape)[1:] != dims[1:] for s, dims in zip(kwargs.values(), fixed.values())):
            # dynamic dimensions set by --size: trace the signature again at the fixed shape
            specs = {k: tf.TensorSpec([None, *fixed[k][1:]], s.dtype, name=k) for k, s in kwargs.items()}
            dynamic = signature
            signature = tf.function(lambda **xs: dynamic(**xs)).get_concrete_function(**specs)
        function, graph_def = convert_variables_to_constants_v2_as_graph(signature)
        inputs = sorted(kwargs)  # the concrete function takes its keyword inputs in sorted order
        outputs = sorted(signature.structured_outputs)
        self._keepalive = loaded
        return _Frozen(function, graph_def, inputs, outputs)

    def _keras_batch1(self):
        """The Keras model behind inputs of batch 1 at their fixed sizes (--size for dynamic dimensions)."""
        import keras  # noqa: PLC0415 - TensorFlow's Keras, loaded with TensorFlow

        model = self._keras_model
        inputs = [keras.Input(batch_shape=(1, *fixed_shape(n, t.shape, self.sizes, self.source.path.name)[1:]), dtype=t.dtype, name=n)
                  for n, t in ((getattr(t, "name", f"input_{i}").split(":")[0], t) for i, t in enumerate(model.inputs))]
        return keras.Model(inputs, model(inputs[0] if len(inputs) == 1 else inputs, training=False))

    def _convert_keras_batch1(self, configure: Callable[[Any], None] | None, what: str) -> bytes:
        """TFLiteConverter.from_keras_model on `_keras_batch1`; the float model is checked output for output
        against Keras on random inputs."""
        try:
            with quiet.captured_output():
                wrapper = self._keras_batch1()
                converter = self._tf.lite.TFLiteConverter.from_keras_model(wrapper)
                if configure:
                    configure(converter)
                model = bytes(converter.convert())
        except PackagerError:
            raise
        except Exception as exc:  # noqa: BLE001 - the converter raises many types; conversion_error names them
            raise conversion_error(exc, what) from None
        if configure is None:
            rng = np.random.default_rng(0)
            samples = [rng.standard_normal((2, *[int(d) for d in t.shape[1:]])).astype(np.float32) for t in wrapper.inputs]
            runner = ModelRunner(model, threads=1)
            for i in range(2):
                xs = [s[i : i + 1] for s in samples]
                ref = wrapper(xs[0] if len(xs) == 1 else xs, training=False)
                ref = [np.asarray(r) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
                got = runner.predict(xs[0] if len(xs) == 1 else MultiInputs(tuple(t.name for t in wrapper.inputs), tuple(xs)))
                error = max(float(np.abs(np.asarray(g, np.float64) - r).max()) for g, r in zip(got, ref))
                if len(got) != len(ref) or not error <= 1e-4 * (1.0 + max(float(np.abs(r).max()) for r in ref)):
                    raise PackagerError(f"TF's from_keras_model path converted {self.source.path.name} but its outputs differ from Keras "
                                        f"(max error {error:.3g})", "report this model; --verbose shows the converter's log")
        return model

    def new(self):
        """A fresh tf.lite.TFLiteConverter for this source."""
        tf = self._tf
        frozen = self._freeze()
        try:
            with quiet.captured_output():
                if frozen is not None:
                    return _prefrozen_converter(frozen)
                if self._keras_model is not None:
                    return tf.lite.TFLiteConverter.from_keras_model(self._keras_model)
                return tf.lite.TFLiteConverter.from_saved_model(str(self.source.path))
        except Exception as exc:  # noqa: BLE001 - TensorFlow's loader raises many types for bad folders
            if self.source.format == "saved_model":  # TF 2's object loader may reject what its v1 loader reads
                try:
                    converter = legacy_saved_model.v1_converter(tf, self.source.path, self.sizes)
                    self.legacy_v1 = True
                    return converter
                except Exception:  # noqa: BLE001 - not a v1 SavedModel either: the first error is the one to show
                    pass
            raise PackagerError(
                f"cannot load SavedModel {self.source.path}: {str(exc).strip().splitlines()[0][:200]}",
                "check the folder is a complete SavedModel with a serving signature",
            ) from None

    def convert(self, configure: Callable[[Any], None] | None = None, what: str = "conversion") -> bytes:
        if self.keras_batch1:
            return self._convert_keras_batch1(configure, what)
        converter = self.new()
        if configure:
            configure(converter)
        try:
            with quiet.captured_output():
                model = bytes(converter.convert())
        except PackagerError:
            raise
        except Exception as exc:  # noqa: BLE001 - the converter raises many types; conversion_error names them
            failed = conversion_error(exc, what)
            if self._keras_model is None or self._freeze() is None or configure is not None:
                raise failed from None
            # the frozen graph could not be converted (a recurrent layer's TensorList ops with a dynamic
            # element shape): TF's own from_keras_model path on a batch-1 copy at the fixed sizes, checked
            try:
                model = self._convert_keras_batch1(None, what)
            except PackagerError as also:
                raise PackagerError(f"{failed.message}; TF's from_keras_model path on a batch-1 copy failed too: {also.message}",
                                    failed.hint) from None
            self.keras_batch1 = True
            return model
        if self.legacy_v1:
            graph = flatbuffer.read(model).subgraphs[0]
            model = with_signature(model, [_text(graph.tensors[i].name) for i in graph.inputs], [_text(graph.tensors[i].name) for i in graph.outputs])
            if configure is None:  # the float model, against the SavedModel's own outputs
                legacy_saved_model.check_against_saved_model(self._tf, self.source.path, model, self.sizes)
            return model
        frozen = self._freeze()
        if frozen is not None:
            model = with_signature(model, frozen.input_names, frozen.output_names, [t.name.split(":")[0] for t in frozen.function.outputs])
        return model


def with_signature(model: bytes, input_names: list[str], output_names: list[str], output_tensors: list[str] | None = None,
                   key: str = "serving_default") -> bytes:
    """Add a serving signature naming the main subgraph's inputs and outputs (in their order, or,
    given the frozen function's output tensor names, by name: the converter may reorder them)."""

    schema = _schema()


    tree = flatbuffer.read(model)
    if tree.signatureDefs:
        return model
    graph = tree.subgraphs[0]
    if len(graph.inputs) != len(input_names) or len(graph.outputs) != len(output_names):
        return model  # cannot name them reliably: leave the model as the converter made it

    def tensor_map(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, int(index)
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = key
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(n, i) for n, i in zip(input_names, graph.inputs)]
    outputs = list(graph.outputs)
    by_name = {_text(graph.tensors[i].name): i for i in graph.outputs}
    if output_tensors and sorted(output_tensors) == sorted(by_name) and len(set(output_tensors)) == len(output_tensors):
        outputs = [by_name[name] for name in output_tensors]
    signature.outputs = [tensor_map(n, i) for n, i in zip(output_names, outputs)]
    tree.signatureDefs = [signature]
    return flatbuffer.write(tree)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


def to_float_tflite(source: SourceModel, converter: Converter | None = None, sizes: InputSizes | None = None) -> bytes:
    """The float32 TFLite model: converted once from Keras/SavedModel, or read from .tflite."""
    if source.format == "tflite":

        data = fix_tflite_inputs(flatbuffer.read_model_file(source.path), sizes, source.path.name)
        check_tflite(data, str(source.path))
        return data
    converter = converter or Converter(source)
    return converter.convert(what=f"converting {source.path.name} to TFLite")

