"""Operators kept in float because their quantized kernel aborts at run time (packager.runtime_safety).

The case that broke: basic-pitch (a trained audio model from its PyPI wheel) normalizes its log
spectrum as (x - min) / (max - min) with div_no_nan. Quantized, LiteRT's DIV refuses a divisor
equal to its zero point, and max - min is 0 on silence: every int8 and int16x8 candidate failed
packager's zero-input run and the variants were refused. The model here is that normalization
between two small dense layers, built in the test.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from packager import quiet


@functools.cache
def _normalizing_model() -> bytes:
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


def _inputs(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 16)).astype(np.float32)


def test_only_a_div_by_a_computed_tensor_is_kept_in_float():
    from packager.runtime_safety import float_for_runtime

    found = float_for_runtime(_normalizing_model())
    assert [f.op_type for f in found] == ["DIV"]
    assert "div_no_nan" in found[0].op.lower() or "truediv" in found[0].op.lower()


@pytest.mark.parametrize("quant", ["int8", "int16x8"])
def test_static_variants_of_a_model_dividing_by_its_range_run_on_zero_input_and_agree(quant):
    from packager import sources
    from packager.evaluate import ModelRunner
    from packager.quantize import AeqEngine, Recipe

    float_model = _normalizing_model()
    variant = AeqEngine(float_model).derive(Recipe(quant), _inputs(64, 0))
    sources.check_tflite(variant.model, f"the {quant} variant")  # the zero-input run that failed before
    zero = ModelRunner(variant.model, threads=1).predict(np.zeros((1, 16), np.float32))[0]
    assert np.isfinite(zero).all()
    kept = variant.options["float_for_runtime"]
    assert [k["op_type"] for k in kept] == ["DIV"] and "zero point" in kept[0]["reason"]
    assert variant.record().options["float_for_runtime"] == kept  # in the manifest's recipe record
    x = _inputs(200, 1)
    ours = ModelRunner(variant.model, threads=1).predict(x)[0].argmax(1)
    ref = ModelRunner(float_model, threads=1).predict(x)[0].argmax(1)
    assert (ours == ref).mean() >= 0.9
