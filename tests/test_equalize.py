"""Cross-layer equalization (packager.quant.equalization) on a small depthwise-separable model made to need it.

One depthwise channel is made 40x wider than the others (as trained depthwise layers often are):
the int8 depthwise output then has one scale that the narrow channels cannot use. Equalization
must leave the float function unchanged, even out the channel ranges and lower the int8 error.
"""

from __future__ import annotations

import functools

import numpy as np

from packager import quiet


@functools.cache
def _separable() -> bytes:
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    dw = keras.layers.DepthwiseConv2D(3, padding="same")
    x = dw(x)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    kernel, bias = dw.get_weights()
    kernel[:, :, 0, :] *= 40.0  # one wide channel (Keras depthwise kernels are [kh, kw, channels, multiplier])
    dw.set_weights([kernel, bias])
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _channel_spread(model: bytes, x: np.ndarray) -> float:
    from packager.quant.calibration import run_keeping_tensors
    from packager.runtime.evaluate import ModelRunner

    names = {d["name"] for d in ModelRunner(model).interpreter.get_tensor_details() if "depthwise" in d["name"].lower()}
    spreads = []

    def visit(detail, value):
        if value.dtype == np.float32 and value.ndim == 4:
            r = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            spreads.append(r.max() / max(r.min(), 1e-9))

    run_keeping_tensors(model, x.astype(np.float32), names, visit)
    return max(spreads)


def test_equalization_keeps_the_function_evens_the_channels_and_lowers_int8_error():
    from packager.quant.equalization import equalize
    from packager.runtime.evaluate import ModelRunner
    from packager.quant.engines import AeqEngine, Recipe

    model = _separable()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (96, 8, 8, 3))
    eq = equalize(model, x)
    assert eq.pairs == 1
    ref = ModelRunner(model).predict(x)[0]
    assert np.abs(ModelRunner(eq.model).predict(x)[0] - ref).max() < 1e-5
    assert _channel_spread(eq.model, x) < 0.25 * _channel_spread(model, x)
    engine = AeqEngine(model)
    plain = engine.derive(Recipe("int8", io_dtype="float32"), x)
    cle = engine.derive(Recipe("int8", io_dtype="float32", equalize=True), x)
    assert cle.options["equalized_pairs"] == 1 and cle.recipe.equalize
    err = lambda v: float(np.sqrt(np.mean((ModelRunner(v.model).predict(x)[0] - ref) ** 2)))  # noqa: E731
    assert err(cle) < 0.9 * err(plain), (err(cle), err(plain))  # 17 % lower here


def test_a_model_without_depthwise_pairs_is_left_alone():
    from packager.quant.equalization import equalize
    from tests.tflite_models import mlp

    result = equalize(mlp(), np.random.default_rng(0).standard_normal((8, 16)))
    assert result.pairs == 0 and result.model == mlp()
