"""A .tflite whose weights are float16 constants behind DEQUANTIZE ops (as MediaPipe ships its models,
and as TFLiteConverter's fp16 option writes them) is a float model stored in half precision: packager
widens the weights to float32 exactly and makes every variant from it (packager.tflite.float16).
Before, `--quant int8` refused it as 'already quantized (fp16)'."""

from __future__ import annotations

import functools
import json

import numpy as np

from packager import quiet


@functools.cache
def _models() -> tuple[bytes, bytes]:
    """(float32 model, the same with float16 weights) of a small Conv2D classifier on 8x8x1."""
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(6, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    with quiet.captured_output():
        float32 = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        float16 = bytes(converter.convert())
    return float32, float16


def _x(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 8, 8, 1)).astype(np.float32)


def test_float16_weights_are_widened_exactly():
    from packager.build.tflite_source import infer_quant
    from packager.runtime.evaluate import ModelRunner
    from packager.tflite.flatbuffer import parse_graph
    from packager.tflite.float16 import expand_float16_weights, float16_weights_only

    float32, float16 = _models()
    assert infer_quant(float16) == "fp16" and "DEQUANTIZE" in parse_graph(float16).operators
    assert float16_weights_only(float16) and not float16_weights_only(float32)
    widened = expand_float16_weights(float16)
    graph = parse_graph(widened)
    assert "DEQUANTIZE" not in graph.operators and "float16" not in graph.tensor_dtypes
    assert infer_quant(widened) == "fp32"
    x = _x(32, 0)
    # the same function as the half-precision file (LiteRT widens the same values at run time)
    assert np.array_equal(ModelRunner(widened, threads=1).predict(x)[0], ModelRunner(float16, threads=1).predict(x)[0])


def test_every_variant_is_made_from_a_float16_weight_tflite(tmp_path):
    from packager import schemas
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    _, float16 = _models()
    model = tmp_path / "half.tflite"
    model.write_bytes(float16)
    for name, seed in (("calib", 1), ("eval", 2)):  # pixels, normalized by --mean/--std
        np.save(tmp_path / f"{name}.npy", ((_x(64, seed) + 1) * 127.5).astype(np.float32))
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "quant": "int8,int16x8,dynamic,fp16,fp32",
                                    "calib_data": tmp_path / "calib.npy", "eval_data": tmp_path / "eval.npy", "mean": (127.5,), "std": (127.5,),
                                    "measure_latency": False}))
    metrics = {v.name: v for v in result.manifest.metrics.variants}
    assert set(metrics) >= {"int8", "int16x8", "dynamic", "fp16", "fp32"}
    assert all(m.top1_agreement >= 0.9 for m in metrics.values())
    assert metrics["fp32"].size_bytes > metrics["fp16"].size_bytes  # fp32 is the widened model
    assert result.manifest.recipe.quant == "int8"
    assert schemas.errors("manifest", json.loads((result.bundle / "manifest.json").read_text())) == []


def test_asking_for_fp16_bundles_the_half_precision_file_as_it_is(tmp_path):
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    _, float16 = _models()
    model = tmp_path / "half.tflite"
    model.write_bytes(float16)
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "quant": "fp16", "mean": (127.5,), "std": (127.5,),
                                    "measure_latency": False}))
    assert (result.bundle / "half.tflite").stat().st_size < len(float16) + 64 * 1024  # metadata added, weights still half
    assert result.manifest.recipe.quant == "fp16" and result.manifest.recipe.engine == "none"
    assert result.manifest.selection.reason == "an existing .tflite model is bundled as it is"
