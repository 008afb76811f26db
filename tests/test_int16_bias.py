"""int16x8 variants get 32-bit biases only where the worst-case accumulator fits in int32."""

from __future__ import annotations

import json

import numpy as np
import pytest

from packager import quiet
from packager.runtime.evaluate import ModelRunner
from packager.quant.int16_bias import narrow_int16_biases
from packager.quant.engines import AeqEngine, Recipe


def _bias_types(model: bytes) -> dict[str, list[str]]:
    """Op name -> dtype of its bias input, for every op that has one."""
    from ai_edge_litert.interpreter import Interpreter

    out: dict[str, list[str]] = {}
    for op in Interpreter(model_content=model)._get_ops_details():
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D") and len(op["operand_types"]) == 3:
            out.setdefault(op["op_name"], []).append(np.dtype(op["operand_types"][2]).name)
    return out


def _float_model(build) -> bytes:
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(0)
    model = build(keras)
    with quiet.captured_output():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def conv_int16x8():
    """A conv/depthwise/dense net in int16x8 (ai-edge-quantizer: 64-bit biases)."""

    def build(keras):
        layers = keras.layers
        x = inputs = keras.Input((12, 12, 3))
        x = layers.Conv2D(16, 3, padding="same", activation="relu", bias_initializer="random_normal")(x)
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu", bias_initializer="random_normal")(x)
        x = layers.Conv2D(24, 1, activation="relu", bias_initializer="random_normal")(x)
        x = layers.GlobalAveragePooling2D()(x)
        outputs = layers.Dense(5, bias_initializer="random_normal")(x)
        return keras.Model(inputs, outputs)

    samples = np.random.default_rng(0).uniform(-1, 1, (16, 12, 12, 3))
    variant = AeqEngine(_float_model(build)).derive(Recipe("int16x8"), samples)
    return variant, samples


def test_conv_and_dense_biases_become_int32_depthwise_stays_int64(conv_int16x8):
    variant, _ = conv_int16x8
    # the build path already narrowed; start again from 64-bit biases to see the change
    widened = _bias_types(variant.model)
    assert widened["CONV_2D"] == ["int32", "int32"] and widened["FULLY_CONNECTED"] == ["int32"]
    assert widened["DEPTHWISE_CONV_2D"] == ["int64"]  # LiteRT has no 32-bit-bias int16 depthwise kernel
    assert variant.options == {"int32_bias_ops": 3, "int64_bias_ops": 0}


def test_narrowed_model_computes_what_the_64_bit_one_does():
    """Same sums; only the requantization after each layer may round the other way."""

    def build(keras):
        layers = keras.layers
        x = inputs = keras.Input((16, 16, 8))
        for _ in range(3):
            x = layers.Conv2D(32, 1, activation="relu6", bias_initializer="random_normal")(x)
            x = layers.Conv2D(8, 3, padding="same", bias_initializer="random_normal")(x)
        return keras.Model(inputs, x)

    samples = np.random.default_rng(1).uniform(-1, 1, (12, 16, 16, 8))
    float_model = _float_model(build)
    from ai_edge_quantizer import quantizer

    from packager.quant.engines import _aeq_recipe

    engine = AeqEngine(float_model)
    qsv = engine.calibrate(samples)
    recipe = _aeq_recipe(Recipe("int16x8", io_dtype="int16"))  # int16 output: its scale is one LSB
    wide = bytes(quantizer.Quantizer(float_model, recipe).quantize(qsv, enable_progress_report=False).quantized_model)
    assert set(_bias_types(wide)["CONV_2D"]) == {"int64"}
    narrow, narrowing = narrow_int16_biases(wide)
    assert narrowing.narrowed == 6 and narrowing.kept_int64 == 0 and 0 < narrowing.worst_fraction < 1
    assert set(_bias_types(narrow)["CONV_2D"]) == {"int32"}
    runner = ModelRunner(wide, threads=1)
    a = runner.predict(samples)[0]
    b = ModelRunner(narrow, threads=1).predict(samples)[0]
    lsb = runner.outputs[0].scale
    assert np.abs(a - b).max() <= narrowing.narrowed * lsb  # at most one output LSB per narrowed layer
    reference = ModelRunner(float_model, threads=1).predict(samples)[0]
    wide_error, narrow_error = np.abs(a - reference).mean(), np.abs(b - reference).mean()
    assert narrow_error <= wide_error + lsb  # no less faithful to the float model
    assert np.abs(a).max() > 100 * lsb  # the outputs are not trivially zero


def test_ops_whose_worst_case_overflows_int32_keep_64_bit_biases():
    """1024 inputs x |w| = 127 x 32768 > 2^31: that layer must stay on 64-bit biases."""

    def build(keras):
        layers = keras.layers
        inputs = keras.Input((1024,))
        wide = layers.Dense(4, activation="relu", kernel_initializer="ones", bias_initializer="ones")(inputs)  # every |w_q| = 127
        small = layers.Dense(3, bias_initializer="random_normal")(wide)
        return keras.Model(inputs, small)

    samples = np.random.default_rng(2).uniform(0, 1, (8, 1024))
    variant = AeqEngine(_float_model(build)).derive(Recipe("int16x8"), samples)
    assert _bias_types(variant.model)["FULLY_CONNECTED"] == ["int64", "int32"]
    assert variant.options == {"int32_bias_ops": 1, "int64_bias_ops": 1}


def test_models_without_int16_ops_are_returned_unchanged():
    def build(keras):
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs))

    model = _float_model(build)
    same, narrowing = narrow_int16_biases(model)
    assert same is model and narrowing.narrowed == 0


def test_the_bundle_keeps_the_narrowing_through_metadata_and_records_it(digits_bundles):
    """tflite-support re-packs models with a 2022 schema that lacks the bias type: it must survive."""
    from packager.tflite.metadata import associated_files, read_metadata

    bundle = digits_bundles["int16x8"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    options = manifest["recipe"]["options"]
    assert options["int32_bias_ops"] >= 1 and options["int64_bias_ops"] == 0
    model = (bundle / manifest["model"]["file"]).read_bytes()
    assert set(_bias_types(model)["CONV_2D"]) == {"int32"}
    assert read_metadata(model) is not None
    assert associated_files(model)["labels.txt"].decode().split() == manifest["labels"]["values"]
    assert "32-bit biases" in (bundle / "report.md").read_text()
