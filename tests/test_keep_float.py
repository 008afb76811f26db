"""Operators every static variant keeps in float (packager.quant.keep_float), on small models built here
that reproduce what broke on basic-pitch (a trained audio model from its PyPI wheel):

- its front end normalizes the log spectrum as (x - min) / (max - min) with div_no_nan; quantized,
  LiteRT's DIV refuses a divisor equal to its zero point, and max - min is 0 on silence: every
  int8 and int16x8 candidate failed packager's zero-input run and the variants were refused;
- it takes the log of a power spectrum: quantized linearly, the quiet bins round to zero and the
  log makes that unbounded (int16x8 lost 9.5 points of F1 more than dynamic range).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from packager import quiet


@functools.cache
def _normalizing_model() -> bytes:
    """Dense -> (h - min) / (max - min) (div_no_nan) / 3 -> dense softmax."""
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(0)

    class NormalizeByRange(keras.layers.Layer):  # basic-pitch's normalized_log, without the log
        def call(self, h):
            low = tf.reduce_min(h, axis=1, keepdims=True)
            spread = tf.reduce_max(h, axis=1, keepdims=True) - low  # 0 for a zero input
            return tf.math.divide_no_nan(h - low, spread) / 3.0  # and a DIV by a constant: quantized as before

    inputs = keras.Input((16,), name="x")
    hidden = NormalizeByRange()(keras.layers.Dense(24, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(hidden))
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


@functools.cache
def _log_power_model() -> bytes:
    """Dense -> log(h^2 + 1e-8) -> dense softmax: a log power spectrum in miniature."""
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(1)

    class LogPower(keras.layers.Layer):
        def call(self, h):
            return tf.math.log(tf.square(h) + 1e-8)

    inputs = keras.Input((16,), name="x")
    hidden = LogPower()(keras.layers.Dense(24)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(hidden))
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _inputs(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 16)).astype(np.float32)


def _quiet_and_loud(count: int, seed: int) -> np.ndarray:
    """Inputs whose loudness spans three decades, as audio frames do."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count, 16)) * 10.0 ** rng.uniform(-3, 0, (count, 1))).astype(np.float32)


def _agreement(model: bytes, reference: bytes, x: np.ndarray) -> float:
    from packager.runtime.evaluate import ModelRunner

    ours = ModelRunner(model, threads=1).predict(x)[0].argmax(1)
    ref = ModelRunner(reference, threads=1).predict(x)[0].argmax(1)
    return float((ours == ref).mean())


def test_a_div_by_a_computed_tensor_is_kept_in_float_and_a_div_by_a_constant_is_not():
    from packager.quant.keep_float import kept_float

    found = kept_float(_normalizing_model())
    assert [f.op_type for f in found] == ["DIV"]
    assert "zero point" in found[0].reason


@pytest.mark.parametrize("quant", ["int8", "int16x8"])
def test_static_variants_of_a_model_dividing_by_its_range_run_on_zero_input_and_agree(quant):
    from packager.runtime.isolation import check_tflite
    from packager.runtime.evaluate import ModelRunner
    from packager.quant.engines import AeqEngine, Recipe

    float_model = _normalizing_model()
    variant = AeqEngine(float_model).derive(Recipe(quant), _inputs(64, 0))
    check_tflite(variant.model, f"the {quant} variant")  # the zero-input run that failed before
    assert np.isfinite(ModelRunner(variant.model, threads=1).predict(np.zeros((1, 16), np.float32))[0]).all()
    kept = variant.options["kept_float"]
    assert [k["op_type"] for k in kept] == ["DIV"]
    assert variant.record().options["kept_float"] == kept  # in the manifest's recipe record
    assert _agreement(variant.model, float_model, _inputs(200, 1)) >= 0.9


def test_a_log_and_the_chain_computing_its_input_are_kept_in_float_and_int16x8_agrees_like_dynamic():
    from packager.quant.keep_float import kept_float
    from packager.quant.engines import AeqEngine, Recipe

    float_model = _log_power_model()
    found = kept_float(float_model)
    assert {"LOG", "ADD", "SQUARE"} <= {f.op_type for f in found}
    assert "FULLY_CONNECTED" not in {f.op_type for f in found}  # the chain stops at the layer that makes the tensor
    engine = AeqEngine(float_model)
    x = _quiet_and_loud(300, 1)
    int16x8 = engine.derive(Recipe("int16x8"), _quiet_and_loud(200, 0))
    dynamic = engine.derive(Recipe("dynamic"), None)
    assert "kept_float" not in dynamic.options  # only static variants
    assert _agreement(int16x8.model, float_model, x) >= _agreement(dynamic.model, float_model, x) - 0.02


@functools.cache
def _spectral_model() -> bytes:
    """A spectral CNN in miniature: RFFT2D -> COMPLEX_ABS -> filterbank (FULLY_CONNECTED) -> LOG -> conv -> dense,
    as TF converts an audio model's front end."""
    tf = quiet.import_tensorflow()
    tf.keras.utils.set_random_seed(0)
    filterbank = np.zeros((9, 6), np.float32)
    for j in range(6):
        filterbank[j : j + 3, j] = [0.5, 1.0, 0.5]

    class Spectral(tf.Module):
        def __init__(self):
            self.bank = tf.constant(filterbank)
            self.kernel = tf.Variable(tf.random.normal((3, 3, 1, 4), stddev=0.5))
            self.dense = tf.Variable(tf.random.normal((56, 3), stddev=0.2))

        @tf.function(input_signature=[tf.TensorSpec((1, 16, 16), tf.float32)])
        def __call__(self, x):
            magnitude = tf.abs(tf.signal.rfft2d(x))  # (1, 16, 9)
            bands = tf.reshape(tf.matmul(tf.reshape(magnitude, (16, 9)), self.bank), (1, 16, 6, 1))
            features = tf.nn.relu(tf.nn.conv2d(tf.math.log(bands), self.kernel, 2, "VALID"))
            return {"scores": tf.matmul(tf.reshape(features, (1, -1)), self.dense)}

    module = Spectral()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    with quiet.captured_output():
        return bytes(converter.convert())


def _quiet_and_loud_frames(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((count, 16, 16)) * 10.0 ** rng.uniform(-4, 0, (count, 1, 1))).astype(np.float32)


def test_a_spectral_front_end_is_kept_in_float_as_one_unit_and_int8_agrees():
    """Before: the filterbank between COMPLEX_ABS and LOG was quantized; quiet bands rounded to zero, LOG made
    -inf of them and the QUANTIZE after it saturated: int8 agreed with float on 92.5 % of these inputs."""
    from packager.quant.engines import AeqEngine, Recipe
    from packager.quant.keep_float import kept_float

    float_model = _spectral_model()
    found = {f.op_type: f.reason for f in kept_float(float_model)}
    assert {"RFFT2D", "COMPLEX_ABS", "FULLY_CONNECTED", "LOG"} <= set(found)
    assert "one unit" in found["FULLY_CONNECTED"]
    assert "CONV_2D" not in found  # what follows the LOG is quantized as before
    variant = AeqEngine(float_model).derive(Recipe("int8", io_dtype="float32"), _quiet_and_loud_frames(120, 0))
    assert "FULLY_CONNECTED" in {k["op_type"] for k in variant.options["kept_float"]}
    assert _agreement(variant.model, float_model, _quiet_and_loud_frames(120, 1)) >= 0.98


@functools.cache
def _log_sigmoid_model() -> bytes:
    """Dense -> sigmoid -> LOG as the output: int8's sigmoid (scale 1/256) rounds small probabilities to 0."""
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(2)
    inputs = keras.Input((16,), name="x")
    probabilities = keras.layers.Dense(4, activation="sigmoid")(inputs)
    log = keras.layers.Lambda(lambda p: tf.math.log(p), name="log")(probabilities)
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, log)).convert())


def test_a_variant_with_non_finite_outputs_is_reported_as_such_and_the_build_completes(tmp_path):
    """The int8 variant's LOG meets sigmoid outputs rounded to 0 on loud inputs: -inf where float is finite.
    The build used to end in a traceback (the error plot's axis limits, then the manifest schema)."""
    import json

    from packager import schemas
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    model = tmp_path / "logsig.tflite"
    model.write_bytes(_log_sigmoid_model())
    x = (np.random.default_rng(3).standard_normal((120, 16)) * 10.0 ** np.random.default_rng(4).uniform(-1, 1.3, (120, 1))).astype(np.float32)
    np.save(tmp_path / "data.npy", x)
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "quant": "int8,fp16", "int8_io": "float32",
                                    "engine": "ai-edge-quantizer", "calib_data": tmp_path / "data.npy",
                                    "eval_data": tmp_path / "data.npy", "measure_latency": False}))
    int8 = next(v for v in result.manifest.metrics.variants if v.name == "int8")
    assert int8.non_finite is not None and int8.non_finite.startswith("-inf on ") and int8.non_finite.endswith(" of 120 inputs")
    assert int(int8.non_finite.split()[2]) > 0
    assert np.isfinite(int8.max_abs_error)
    assert next(v for v in result.manifest.metrics.variants if v.name == "fp16").non_finite is None
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert schemas.errors("manifest", manifest) == []
    assert int8.non_finite in (result.bundle / "report.md").read_text()
    debug = manifest["quantization_debug"]  # the chosen int8, tensor by tensor: the LOG's -inf counted apart, errors finite
    log = [t for t in debug["worst"] if t["op_type"] == "LOG"]
    assert log and 0 < log[0]["non_finite"] < 1 and np.isfinite(log[0]["accumulated"])


def test_integer_inputs_read_only_by_a_float_front_end_are_refused_in_one_line():
    """Before: ai-edge-quantizer's 'TFLOperationName.INPUT(index: -1) not found in tensor_name_to_qsv'."""
    from packager.errors import PackagerError
    from packager.quant.engines import AeqEngine, Recipe

    with pytest.raises(PackagerError) as refused:
        AeqEngine(_spectral_model()).derive(Recipe("int8", io_dtype="int8"), _quiet_and_loud_frames(32, 0))
    assert "is read only by RFFT2D, kept in float; use --int8-io float32" in refused.value.one_line()
