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
