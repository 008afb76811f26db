"""Bias correction (packager.quant.bias_correction): the arithmetic, and a small model where it must help.

The model's input has a heavy positive tail that MSE-optimal ranges clip: the quantized first layer
then sees inputs whose mean is too low, and every output is shifted the same way. Bias correction
must take a good part (here a third) of that mean shift out, on evaluation data it was not measured on.
(The mean absolute error barely moves here: the shift is small next to the rounding noise.)
"""

from __future__ import annotations

import functools

import numpy as np

from packager import quiet


def test_corrected_bias_subtracts_the_mean_error_in_bias_steps_and_saturates():
    from packager.quant.bias_correction import corrected_bias

    bias = np.array([100, -5, 2**31 - 3], np.int32)
    scale = np.array([0.5, 0.01, 1.0])
    out = corrected_bias(bias, np.array([1.24, -0.026, -10.0]), scale)
    assert out.dtype == np.int32
    assert out.tolist() == [100 - 2, -5 + 3, 2**31 - 1]  # round(2.48) = 2, round(-2.6) = -3, clipped at int32's max


def test_tap_means_give_the_exact_mean_of_a_convolution_before_its_activation():
    from packager.quant.bias_correction import pre_activation_mean, tap_means

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 6, 4))
    w = rng.standard_normal((5, 3, 3, 4))  # [O, kh, kw, I]
    b = rng.standard_normal(5)
    for same, stride in ((True, (2, 2)), (False, (1, 2)), (True, (1, 1))):
        tf = quiet.import_tensorflow()
        direct = tf.nn.conv2d(x, np.transpose(w, (1, 2, 3, 0)), strides=(1, *stride, 1), padding="SAME" if same else "VALID").numpy() + b
        sums, count = tap_means(x, (3, 3), stride, (1, 1), same)
        assert count == direct.shape[0] * direct.shape[1] * direct.shape[2]
        np.testing.assert_allclose(pre_activation_mean("CONV_2D", w, b, sums / count), direct.mean(axis=(0, 1, 2)), rtol=1e-9, atol=1e-12)


@functools.cache
def _skewed() -> bytes:
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 2), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(8, 1)(x)
    outputs = keras.layers.Dense(4)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _data(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.exponential(0.2, (n, 8, 8, 2)) ** 2).astype(np.float32)  # mostly small, a long positive tail


def test_bias_correction_takes_out_the_mean_error_that_clipped_ranges_add():
    from packager.quant.bias_correction import bias_correct
    from packager.runtime.evaluate import ModelRunner
    from packager.quant.engines import AeqEngine, Recipe

    model, calib, evaluation = _skewed(), _data(0, 128), _data(1, 128)
    engine = AeqEngine(model)
    plain = engine.derive(Recipe("int8", calibration="mse"), calib)
    corrected = engine.derive(Recipe("int8", calibration="mse", bias_correction=True), calib)
    assert corrected.options["bias_corrected_ops"] >= 1 and corrected.recipe.bias_correction
    direct = bias_correct(model, plain.model, calib)
    assert direct.layers >= 2 and direct.model == corrected.model
    ref = ModelRunner(model).predict(evaluation)[0]
    shift = lambda v: float(np.abs((ModelRunner(v.model).predict(evaluation)[0] - ref).mean(axis=0)).mean())  # noqa: E731
    assert shift(corrected) < 0.75 * shift(plain), (shift(corrected), shift(plain))
