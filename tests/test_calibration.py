"""Activation ranges (packager.quant.calibration) on a small model that reproduces the real-model failure.

ai-edge-quantizer's own calibration averages per-sample ranges (moving average), so the samples
seen last decide the range: on a real emotion CNN that clipped the input and the softmax and cost
26 points of top-1 agreement. The model here is a small Keras MLP fed calibration data whose first
samples are wide and the rest narrow: ranges must cover the whole calibration set (`minmax`), and
int8 must agree with float on the wide samples too.
"""

from __future__ import annotations

import numpy as np
import pytest

from packager.quant import calibration
from tests.tflite_models import mlp, wide_then_narrow


def _agreement(model: bytes, reference: bytes, x: np.ndarray) -> float:
    from packager.runtime.evaluate import ModelRunner

    ours = ModelRunner(model, threads=1).predict(x)[0].argmax(1)
    ref = ModelRunner(reference, threads=1).predict(x)[0].argmax(1)
    return float((ours == ref).mean())


def test_minmax_ranges_cover_every_calibration_sample_and_int8_agrees_on_the_wide_ones():
    from packager.quant.engines import AeqEngine, Recipe

    float_model, x = mlp(), wide_then_narrow()
    engine = AeqEngine(float_model)
    int8 = engine.derive(Recipe("int8", io_dtype="float32"), x)
    ranges = engine.ranges("minmax")
    input_range = next(r for name, r in ranges.items() if name.startswith("x") or "serving_default_x" in name)
    assert input_range.low == pytest.approx(min(x.min(), 0.0), rel=1e-5)
    assert input_range.high == pytest.approx(x.max(), rel=1e-5)
    assert int8.recipe.record(len(x)).calibration == "minmax"
    assert _agreement(int8.model, float_model, x[:40]) >= 0.95


def test_percentile_and_mse_ranges_clip_outliers_and_mse_lowers_the_error():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.laplace(0, 1, 50_000), [60.0, -55.0]]).astype(np.float32)
    stats = calibration.TensorStats("t", float(values.min()), float(values.max()), values, 100)
    minmax = calibration.tensor_range(stats, "minmax")
    percentile = calibration.tensor_range(stats, "percentile")
    mse = calibration.tensor_range(stats, "mse")
    assert (minmax.low, minmax.high) == (pytest.approx(-55.0), pytest.approx(60.0))
    assert 5 < percentile.high < 20 and -20 < percentile.low < -5
    err = lambda r, v=values: calibration.quantization_error(v, r.low, r.high, 8, False)  # noqa: E731
    assert err(mse) <= err(minmax)  # two huge outliers: clipping them costs more than rounding, MSE keeps them
    # a light-tailed tensor: MSE trades its extremes for finer steps and lowers the error
    gauss = rng.standard_normal(50_000).astype(np.float32)
    g_stats = calibration.TensorStats("g", float(gauss.min()), float(gauss.max()), gauss, 100)
    g_minmax, g_mse = calibration.tensor_range(g_stats, "minmax"), calibration.tensor_range(g_stats, "mse")
    assert g_mse.high < g_minmax.high and g_mse.low > g_minmax.low
    assert err(g_mse, gauss) < 0.95 * err(g_minmax, gauss)  # 8 % lower here
    # ranges always hold zero and are never narrower than the floor
    relu = calibration.TensorStats("r", 0.0, 0.0, np.zeros(10, np.float32), 10)
    floored = calibration.tensor_range(relu, "mse")
    assert floored.low == 0.0 and floored.high == calibration.MIN_ACTIVATION_RANGE
