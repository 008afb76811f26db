"""Quantization recipes as data, and the engines that apply them.

A `Recipe` says what a variant is (fp32, fp16, dynamic, int8, int16x8, or mixed int8 with some
operators kept in float) and which I/O types it has. An engine turns the float model (plus
calibration data) into the variant's bytes:

- `ai-edge-quantizer` works on the float .tflite that was converted once; it derives fp16,
  dynamic-range, int8, int16x8 and mixed variants in well under a second each and reuses one
  calibration pass for every static variant.
- `tf-converter` re-runs TFLiteConverter on the source model for each variant (the tutorials'
  way); it is the only engine for the float model itself and is kept for comparison and as a
  fallback (`--engine tf-converter`).

The default engine per variant was chosen by measurement (benchmarks/engine_choice.py; see
docs/DECISIONS.md): same accuracy within noise, ai-edge-quantizer several times faster.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final, Literal, cast

import numpy as np

from packager import progress, quiet
from packager.data.dataset import Samples
from packager.errors import PackagerError
from packager.manifest import Calibration, RecipeRecord
from packager.quant import calibration as calib_ranges
from packager.quant import registry
from packager.quant.bias_correction import bias_correct
from packager.quant.calibration import METHODS as CALIBRATION_METHODS
from packager.quant.equalization import equalize
from packager.quant.int16_bias import narrow_int16_biases
from packager.quant.keep_float import control_flow_body, kept_float
from packager.quant.registry import Way
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import parse_graph, with_builtin_codes

# ai-edge-quantizer is not thread-safe: two Quantizers quantizing at once (packager.quant.sensitivity measures
# operators on two threads) failed about one run in three with KeyError '' or AttributeError inside its
# transformation_instruction_generator, and that operator was then measured as harmless. Every use of it
# holds this lock; running the models it makes stays parallel.
_AEQ_LOCK = threading.Lock()

QuantKind = Literal["fp32", "fp16", "dynamic", "int8", "int16x8", "mixed"]
Engine = Literal["tf-converter", "ai-edge-quantizer", "none"]
IoDtype = Literal["float32", "int8", "uint8", "int16"]

FLOAT: Final = "fp32"  # the float model and its variant
QUANT_KINDS: tuple[str, ...] = ("fp32", "fp16", "dynamic", "int8", "int16x8")
ENGINES: tuple[str, ...] = ("tf-converter", "ai-edge-quantizer")
DEFAULT_ENGINE: dict[str, Engine] = {
    "fp32": "tf-converter",
    "fp16": "ai-edge-quantizer",
    "dynamic": "ai-edge-quantizer",
    "int8": "ai-edge-quantizer",
    "int16x8": "ai-edge-quantizer",
    "mixed": "ai-edge-quantizer",
}
IO_DTYPES: dict[str, tuple[str, ...]] = {
    "fp32": ("float32",),
    "fp16": ("float32",),
    "dynamic": ("float32",),
    "int8": ("int8", "uint8", "float32"),
    "mixed": ("int8", "uint8", "float32"),
    "int16x8": ("float32", "int16"),
}


@dataclass(frozen=True)
class Recipe:
    """What one variant is. Data, not code: the engines read it."""

    quant: QuantKind
    io_dtype: IoDtype = "float32"
    float_ops: tuple[str, ...] = ()  # output tensor names of ops kept in float (mixed only)
    engine: Engine | None = None  # None: DEFAULT_ENGINE[quant]
    calibration: str = "minmax"  # activation ranges (packager.quant.calibration.METHODS); ai-edge-quantizer only
    equalize: bool = False  # cross-layer equalization of depthwise -> 1x1 pairs first (packager.quant.equalization); ai-edge-quantizer only
    bias_correction: bool = False  # integer biases corrected by their mean error on the calibration data (packager.quant.bias_correction)

    def __post_init__(self) -> None:
        if self.quant not in DEFAULT_ENGINE:
            raise PackagerError(f"unknown quantization {self.quant!r}", f"use one of {', '.join(QUANT_KINDS)}, or auto")
        if self.io_dtype not in IO_DTYPES[self.quant]:
            raise PackagerError(
                f"{self.quant} variants cannot have {self.io_dtype} inputs/outputs",
                f"use one of {', '.join(IO_DTYPES[self.quant])}",
            )
        if self.calibration not in CALIBRATION_METHODS:
            raise PackagerError(f"unknown calibration method {self.calibration!r}", f"use one of {', '.join(CALIBRATION_METHODS)}")
        if self.quant == "fp32" and self.engine == "ai-edge-quantizer":
            raise PackagerError("fp32 is the converted float model itself", "drop --engine for fp32")
        if self.resolved_engine != "none" and not registry.makes(self.resolved_engine, self.quant):
            able = [n for n in registry.names() if registry.makes(n, self.quant)]
            raise PackagerError(f"the {self.resolved_engine} engine does not make {self.quant} variants", f"use --engine {' or '.join(able)}, or drop --engine")

    @property
    def resolved_engine(self) -> Engine:
        return self.engine or DEFAULT_ENGINE[self.quant]

    @property
    def name(self) -> str:
        if self.quant == "mixed":
            return f"mixed-int8-f{len(self.float_ops)}"
        return self.quant

    @property
    def needs_calibration(self) -> bool:
        return self.quant in ("int8", "int16x8", "mixed")

    def record(self, calibration_samples: int | None, options: dict[str, Any] | None = None) -> RecipeRecord:
        """The manifest's account of this recipe once carried out."""
        calibration: Calibration | None = None
        if self.needs_calibration:
            # __post_init__ checked self.calibration against CALIBRATION_METHODS; the engine that calibrates itself is the TF converter
            calibration = cast(Calibration, self.calibration if registry.packager_calibration(self.resolved_engine) else self.resolved_engine)
        return RecipeRecord(name=self.name, quant=self.quant, engine=self.resolved_engine, io_dtype=self.io_dtype,
                            calibration_samples=calibration_samples if self.needs_calibration else None, calibration=calibration,
                            float_ops=list(self.float_ops), options=dict(options or {}))


@dataclass
class Variant:
    """A derived model and how it was made."""

    recipe: Recipe
    model: bytes
    engine: Engine
    seconds: float
    calibration_samples: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # how it was finished, for the manifest

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def size_bytes(self) -> int:
        return len(self.model)

    def record(self) -> RecipeRecord:
        return self.recipe.record(self.calibration_samples, self.options)


# --- ai-edge-quantizer --------------------------------------------------------------------------
_NO_QUANT = "no_quantize"


def _aeq_recipe(recipe: Recipe, keep_float: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """ai-edge-quantizer's recipe for `recipe`; `keep_float`: more operators (output tensor names) left in float."""
    from ai_edge_quantizer import recipe as aeq_recipes  # noqa: PLC0415

    if recipe.quant == "fp16":
        return [{
            "regex": ".*", "operation": "*", "algorithm_key": "float_casting",
            "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                          "compute_precision": "FLOAT", "explicit_dequantize": True},
        }]
    if recipe.quant == "dynamic":
        return list(aeq_recipes.dynamic_wi8_afp32())
    if recipe.quant == "int16x8":
        entries = list(aeq_recipes.static_wi8_ai16())
    else:  # int8, mixed
        entries = list(aeq_recipes.static_wi8_ai8())
    if recipe.io_dtype in ("float32", "uint8"):  # keep float I/O (uint8 is made from it afterwards)
        entries += [{"regex": ".*", "operation": op, "algorithm_key": _NO_QUANT} for op in ("INPUT", "OUTPUT")]
    for tensor in dict.fromkeys((*recipe.float_ops, *keep_float)):
        # an op's scope is its output tensor names, each followed by ';'
        entries.append({"regex": f"(^|;){re.escape(tensor)};", "operation": "*", "algorithm_key": _NO_QUANT})
    return entries


def _sample(values: np.ndarray) -> np.ndarray:
    """A calibration sample as the float model takes it: floats as float32, integer features as they are."""
    return values.astype(np.float32) if values.dtype.kind == "f" else values


@registry.register()
class AeqEngine:
    """ai-edge-quantizer over one float model; calibrates once for all static variants.

    ai-edge-quantizer's calibration pass gives the tensors to calibrate (and the shapes of their
    ranges); the ranges themselves come from packager.quant.calibration, over the whole calibration set.
    """

    name: ClassVar[registry.EngineName] = "ai-edge-quantizer"
    kinds: ClassVar[tuple[str, ...]] = ("fp16", "dynamic", "int8", "int16x8", "mixed")
    needs_source: ClassVar[bool] = False
    releases_gil: ClassVar[bool] = False  # mostly Python
    packager_calibration: ClassVar[bool] = True

    def __init__(self, float_model: bytes, converter: Any = None):

        self.float_model = with_builtin_codes(float_model)  # old files: ai-edge-quantizer reads builtin_code only
        self._template: dict[str, Any] | None = None
        self._stats: dict[str, calib_ranges.TensorStats] = {}
        self._qsvs: dict[tuple[str, int], dict[str, Any]] = {}
        self._ranges: dict[tuple[str, int], dict[str, calib_ranges.Range]] = {}
        self._calibration_samples: int | None = None
        self._equalized: AeqEngine | None = None
        self.equalized_pairs: int | None = None
        self._kept_float: tuple | None = None

    def kept_float(self) -> tuple:
        """Operators every static variant keeps in float (packager.quant.keep_float), found once."""
        if self._kept_float is None:

            self._kept_float = kept_float(self.float_model)
        return self._kept_float

    @property
    def control_flow(self) -> bool:
        """The model runs subgraphs (WHILE, IF): kept in float, the main graph calibrated by packager alone."""
        return any(k.op_type in ("WHILE", "IF", "CALL_ONCE") for k in self.kept_float())

    def _float_scopes(self) -> tuple[str, ...]:
        """Output tensor names of the operators static variants leave in float (keep_float's, and a loop's body)."""
        body = control_flow_body(self.float_model) if self.control_flow else ()
        return tuple(k.op for k in self.kept_float()) + body

    def _check_integer_inputs(self, recipe: Recipe, keep: tuple) -> None:
        """Integer inputs need a quantized first operator: an input read only by operators kept in float (a
        spectral front end's RFFT2D) cannot be one (ai-edge-quantizer: 'INPUT not found in tensor_name_to_qsv')."""
        tree = flatbuffer.read(self.float_model)
        main = tree.subgraphs[0]
        kept = {k.op: k.op_type for k in keep}
        for index in (int(i) for i in main.inputs):
            readers = [op for op in main.operators or [] if op.inputs is not None and index in {int(i) for i in op.inputs}]
            names = [flatbuffer.tensor_name(main.tensors[int(op.outputs[0])]) for op in readers if op.outputs is not None and len(op.outputs)]
            if names and all(n in kept for n in names):
                raise PackagerError(f"{recipe.name} cannot take {recipe.io_dtype} inputs: input {flatbuffer.tensor_name(main.tensors[index])!r} "
                                    f"is read only by {', '.join(sorted({kept[n] for n in names}))}, kept in float",
                                    f"use --{'int16' if recipe.quant == 'int16x8' else 'int8'}-io float32")

    def _main_graph_template(self) -> dict[str, Any]:
        """What ai-edge-quantizer's calibration would return, for a model it cannot calibrate (control flow:
        LiteRT frees the loop's tensors): every computed float tensor of the main graph, one range each."""
        tree = flatbuffer.read(self.float_model)
        main = tree.subgraphs[0]
        computed = {int(i) for op in main.operators or [] for i in (op.outputs if op.outputs is not None else ()) if int(i) >= 0}
        computed |= {int(i) for i in main.inputs}
        template = {}
        for i in sorted(computed):
            tensor = main.tensors[i]
            if tensor.type == 0:  # FLOAT32
                rank = len(tensor.shape) if tensor.shape is not None else 0
                template[flatbuffer.tensor_name(tensor)] = {"min": np.zeros((1,) * rank, np.float32), "max": np.zeros((1,) * rank, np.float32)}
        return template

    def equalized(self, samples: Samples | None) -> AeqEngine | None:
        """The same model with cross-layer equalization (packager.quant.equalization), or None when no pair qualifies."""
        if self.equalized_pairs is None:
            if samples is None or not len(samples):
                return None

            result = equalize(self.float_model, samples)
            self.equalized_pairs = result.pairs
            self._equalized = AeqEngine(result.model) if result.pairs else None
        return self._equalized

    def ways(self, recipe: Recipe, calibration: Samples | None) -> list[Way]:
        """Static kinds: one way per activation-range method, on the equalized model too where cross-layer
        equalization applies (`+cle`); other kinds: one."""
        base = replace(recipe, engine=self.name, calibration="minmax", equalize=False, bias_correction=False)
        if not recipe.needs_calibration:
            return [Way(self.name, None, base)]
        ways = [Way(self.name, m, replace(base, calibration=m)) for m in CALIBRATION_METHODS]
        if self.equalized(calibration) is not None:  # depthwise-separable
            ways += [Way(self.name, f"{m}+cle", replace(base, calibration=m, equalize=True)) for m in CALIBRATION_METHODS]
        return ways

    def signature_inputs(self) -> tuple[str, dict[str, int]]:
        """The signature key and, per signature input name, the position of that input among the
        model's inputs (the order data.MultiInputs holds the arrays in)."""

        graph = parse_graph(self.float_model, "the float model")
        if not graph.signature_defs:
            raise PackagerError("the float model has no signature, which ai-edge-quantizer needs", "convert from Keras/SavedModel, or use --engine tf-converter")
        signature = graph.signature_defs[0]
        order = [t.index for t in graph.inputs]
        return signature.key, {name: order.index(index) for name, index in signature.inputs}

    @property
    def calibrated(self) -> bool:
        return self._template is not None

    def calibrate(self, samples: Samples | None, method: str = "minmax", bits: int = 8) -> dict[str, Any]:
        """ai-edge-quantizer calibration results holding packager's ranges (`method`, for `bits`-bit activations)."""
        if self._template is None:
            if samples is None or not len(samples):
                raise PackagerError("static quantization needs calibration data", "pass --calib-data")
            from ai_edge_quantizer import quantizer  # noqa: PLC0415


            key, positions = self.signature_inputs()
            arrays = [samples] if isinstance(samples, np.ndarray) else list(samples.arrays)  # several inputs: data.MultiInputs
            if len(arrays) != len(positions):
                raise PackagerError(f"{len(arrays)} calibration arrays for a model with {len(positions)} inputs", "give one array per input")
            data = {key: [{name: _sample(arrays[p][i : i + 1]) for name, p in positions.items()} for i in range(min(len(samples), 2))]}
            with _AEQ_LOCK, progress.task(f"Calibrating on {len(samples)} samples", None), quiet.captured_output():
                if self.control_flow:
                    self._template = self._main_graph_template()
                else:
                    q = quantizer.Quantizer(self.float_model, list(_aeq_recipe(Recipe("int8"))))
                    self._template = q.calibrate(data)  # which tensors, and the shapes of their ranges
                self._stats = calib_ranges.collect(self.float_model, samples, set(self._template))
            self._calibration_samples = len(samples)
        ranges_key = (method, bits)
        if ranges_key not in self._qsvs:
            symmetric = bits == 16  # int16 activations are symmetric in LiteRT
            self._ranges[ranges_key] = {n: calib_ranges.tensor_range(s, method, bits, symmetric) for n, s in self._stats.items()}
            self._qsvs[ranges_key] = calib_ranges.as_qsvs(self._template, self._ranges[ranges_key])
        return self._qsvs[ranges_key]

    def ranges(self, method: str = "minmax", bits: int = 8) -> dict[str, calib_ranges.Range]:
        self.calibrate(None, method, bits)
        return self._ranges[(method, bits)]

    def only(self, op_output: str) -> bytes:
        """The float model with just one operator (by output tensor name) in static int8."""
        from ai_edge_quantizer import quantizer  # noqa: PLC0415

        config = _aeq_recipe(Recipe("int8"))[0]
        entry = {**config, "regex": f"(^|;){re.escape(op_output)};"}
        qsv = self.calibrate(None)
        with _AEQ_LOCK, quiet.captured_output():
            q = quantizer.Quantizer(self.float_model, [entry])
            return bytes(q.quantize(qsv, enable_progress_report=False).quantized_model)

    def derive(self, recipe: Recipe, calibration: Samples | None) -> Variant:
        from ai_edge_quantizer import quantizer  # noqa: PLC0415

        if recipe.equalize:
            other = self.equalized(calibration)
            if other is None:
                raise PackagerError(f"{recipe.name}: no depthwise -> 1x1 pair to equalize", "quantize without equalization")
            variant = other.derive(replace(recipe, equalize=False), calibration)
            return replace(variant, recipe=recipe, options={**variant.options, "equalized_pairs": self.equalized_pairs})

        started = time.perf_counter()
        qsv = None
        keep = self.kept_float() if recipe.needs_calibration else ()
        if keep and recipe.io_dtype != "float32" and not self.control_flow:
            self._check_integer_inputs(recipe, keep)
        if recipe.needs_calibration:
            if calibration is None or len(calibration) == 0:
                raise PackagerError(f"{recipe.name} needs calibration data", "pass --calib-data (images or arrays)")
            qsv = self.calibrate(calibration, recipe.calibration, 16 if recipe.quant == "int16x8" else 8)
        try:
            with _AEQ_LOCK, quiet.captured_output() as log:
                # with control flow, ai-edge-quantizer's INPUT/OUTPUT rules would quantize the loop's own
                # inputs too: float I/O first, integer I/O after (as for uint8)
                made = replace(recipe, io_dtype="float32") if self.control_flow and recipe.needs_calibration else recipe
                q = quantizer.Quantizer(self.float_model, _aeq_recipe(made, self._float_scopes() if keep else ()))
                model = bytes(q.quantize(qsv, enable_progress_report=False).quantized_model)
        except PackagerError:
            raise
        except Exception as exc:  # noqa: BLE001 - ai-edge-quantizer raises many types; the message says which
            detail = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
            if self.control_flow:
                raise PackagerError(f"ai-edge-quantizer could not make {recipe.name} of a model with control flow (WHILE/IF): {detail}",
                                    "fp16 and dynamic quantize its weights (--quant fp16,dynamic); or give the Keras/SavedModel source") from None
            raise PackagerError(f"ai-edge-quantizer could not make {recipe.name}: {detail}", "try --engine tf-converter for this variant") from None
        corrected = None
        if recipe.bias_correction and recipe.needs_calibration:

            corrected = bias_correct(self.float_model, model, calibration)
            model = corrected.model
        if recipe.io_dtype == "uint8" or (made.io_dtype != recipe.io_dtype):
            model = _with_io_type(model, recipe.io_dtype)
        model, options = _finish(recipe, model)
        if corrected is not None:
            options = {**options, "bias_corrected_ops": corrected.corrected}
        if keep:
            options = {**options, "kept_float": [k.to_dict() for k in keep]}
        del log
        return Variant(recipe, model, "ai-edge-quantizer", time.perf_counter() - started,
                       self._calibration_samples if recipe.needs_calibration else None, options)


def _finish(recipe: Recipe, model: bytes) -> tuple[bytes, dict[str, Any]]:
    """Last touches that depend on the kind, whichever engine made the model."""
    if recipe.quant != "int16x8":
        return model, {}
    model, narrowing = narrow_int16_biases(model)
    return model, {"int32_bias_ops": narrowing.narrowed, "int64_bias_ops": narrowing.kept_int64}


def _with_io_type(model: bytes, io_dtype: str) -> bytes:
    """Swap float I/O (with QUANTIZE/DEQUANTIZE at the edges) for integer I/O, with TFLite's own
    rewrite (the one TFLiteConverter applies for inference_input_type). It reads the flatbuffer
    with TF's schema, which does not resolve buffers stored by offset: the weights go inside first."""
    tf = quiet.import_tensorflow()
    from tensorflow.lite.python import util as tflite_util  # noqa: PLC0415


    dtype = {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}[io_dtype]
    try:
        with quiet.captured_output():
            return bytes(tflite_util.modify_model_io_type(bytearray(flatbuffer.with_inline_buffers(model)), dtype, dtype))
    except (ValueError, RuntimeError):
        raise PackagerError(f"could not give the model {io_dtype} inputs/outputs", "use --int8-io int8 or float32") from None


# --- TF converter -------------------------------------------------------------------------------
@registry.register(lambda float_model, converter: None if converter is None or converter.keras_batch1 else TfConverterEngine(float_model, converter))
class TfConverterEngine:
    """TFLiteConverter re-run on the Keras/SavedModel source for each variant. Not offered for a Keras model
    whose frozen graph did not convert (sources.Converter.keras_batch1: a recurrent model): TF's int8 of
    such a model crashed the process (a segfault in its calibration), and every variant comes from the float
    .tflite by ai-edge-quantizer instead."""

    name: ClassVar[registry.EngineName] = "tf-converter"
    kinds: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "dynamic", "int8", "int16x8")
    needs_source: ClassVar[bool] = True
    releases_gil: ClassVar[bool] = True  # MLIR conversion and calibration run in C++ that releases the GIL
    packager_calibration: ClassVar[bool] = False

    def __init__(self, float_model: bytes, converter: Any):
        self.converter = converter

    def ways(self, recipe: Recipe, calibration: Samples | None) -> list[Way]:
        r = replace(recipe, engine=self.name, calibration="minmax", equalize=False, bias_correction=False)
        return [Way(self.name, "tf-converter" if recipe.needs_calibration else None, r)]

    def derive(self, recipe: Recipe, calibration: Samples | None) -> Variant:
        return tf_converter_variant(self.converter, recipe, calibration)


def tf_converter_variant(converter, recipe: Recipe, calibration: Samples | None) -> Variant:
    """Re-run TFLiteConverter with the variant's options (`converter` is a sources.Converter)."""
    tf = quiet.import_tensorflow()
    if recipe.needs_calibration and (calibration is None or len(calibration) == 0):
        raise PackagerError(f"{recipe.name} needs calibration data", "pass --calib-data (images or arrays)")
    io = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}[recipe.io_dtype]

    def representative():
        arrays = [calibration] if isinstance(calibration, np.ndarray) else list(calibration.arrays)  # several inputs: model order
        for i in range(len(calibration)):
            yield [_sample(a[i : i + 1]) for a in arrays]

    def configure(c) -> None:
        if recipe.quant == "fp32":
            return
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        if recipe.quant == "fp16":
            c.target_spec.supported_types = [tf.float16]
        elif recipe.quant == "int8":
            c.representative_dataset = representative
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            c.inference_input_type = io
            c.inference_output_type = io
        elif recipe.quant == "int16x8":
            c.representative_dataset = representative
            c.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            c.inference_input_type = io
            c.inference_output_type = io

    started = time.perf_counter()
    model = converter.convert(configure, what=f"converting the {recipe.name} variant")
    model, options = _finish(recipe, model)
    return Variant(recipe, model, "tf-converter", time.perf_counter() - started,
                   len(calibration) if recipe.needs_calibration and calibration is not None else None, options)  # not None: checked above


# --- every engine for one float model ----------------------------------------------------------
class Engines:
    """Every registered engine set up for one float model (and the converter of its source, if any)."""

    def __init__(self, float_model: bytes, converter: Any = None):
        self.float_model = float_model
        self.converter = converter
        self._engines: dict[str, registry.QuantEngine | None] = {}

    def get(self, name: str) -> registry.QuantEngine | None:
        """The engine, or None when it cannot work on this source (the TF converter without a Keras/SavedModel source)."""
        if name not in self._engines:
            self._engines[name] = registry.factory(name)(self.float_model, self.converter)
        return self._engines[name]

    def __getitem__(self, name: str) -> registry.QuantEngine:
        engine = self.get(name)
        if engine is None:
            raise PackagerError(f"the {name} engine needs the Keras/SavedModel source", "drop --engine, or give the Keras/SavedModel source")
        return engine

    def derive(self, recipe: Recipe, calibration: Samples | None) -> Variant:
        """`recipe` made by its engine (the one it names, else the default for its kind)."""
        return self[recipe.resolved_engine].derive(recipe, calibration)

    def ways(self, recipe: Recipe, calibration: Samples | None) -> list[Way]:
        """Every way the available engines can make `recipe` (its engine not fixed), in registry order."""
        found: list[Way] = []
        for name in registry.names():
            engine = self.get(name)
            if engine is not None and recipe.quant in engine.kinds:
                found += engine.ways(recipe, calibration)
        return found
