"""A float .tflite with control flow (a Keras GRU converted by TF: WHILE with two subgraphs) quantized
by ai-edge-quantizer: the loop stays in float, the main graph around it is calibrated by packager
and quantized (packager.quant.keep_float, packager.quant.engines). Before, int8, int16x8 and auto
ended in a raw traceback from ai-edge-quantizer's calibration ('Tensor data is null')."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from packager import quiet


@functools.cache
def _gru_tflite() -> bytes:
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 4), batch_size=1, name="sequence")
    hidden = keras.layers.GRU(8)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _sequences(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 10, 4)).astype(np.float32)


@pytest.mark.parametrize("quant", ["int8", "int16x8"])
def test_static_variants_of_a_model_with_a_loop_keep_the_loop_in_float(quant):
    from packager.quant.engines import AeqEngine, Recipe
    from packager.runtime.evaluate import ModelRunner
    from packager.runtime.isolation import check_tflite
    from packager.tflite.flatbuffer import parse_graph

    float_model = _gru_tflite()
    assert "WHILE" in parse_graph(float_model).operators and len(parse_graph(float_model).subgraphs) == 3
    io = {"int8": "int8", "int16x8": "float32"}[quant]
    variant = AeqEngine(float_model).derive(Recipe(quant, io_dtype=io), _sequences(64, 0))
    check_tflite(variant.model, f"the {quant} variant")
    graph = parse_graph(variant.model)
    assert "WHILE" in graph.operators
    assert {"int8": "int8", "int16x8": "int16"}[quant] in graph.tensor_dtypes  # the main graph is quantized
    assert np.dtype(graph.inputs[0].dtype).name == {"int8": "int8", "int16x8": "float32"}[quant]
    kept = variant.options["kept_float"]
    assert [k["op_type"] for k in kept] == ["WHILE"] and "24 operators of its 2 subgraph(s)" in kept[0]["reason"]
    x = _sequences(100, 1)
    ours = ModelRunner(variant.model, threads=1).predict(x)[0]
    ref = ModelRunner(float_model, threads=1).predict(x)[0]
    assert float((ours.argmax(1) == ref.argmax(1)).mean()) >= 0.95
    assert np.abs(ours - ref).max() < 0.05


def test_auto_on_a_float_tflite_with_a_loop_chooses_within_budget(tmp_path):
    """`--quant auto` is accepted for a float .tflite source (docs/BUILD.md): every candidate is made, none crashes."""
    from packager import schemas
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    model = tmp_path / "gru.tflite"
    model.write_bytes(_gru_tflite())
    np.save(tmp_path / "calib.npy", _sequences(64, 0))
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "quant": "auto", "calib_data": tmp_path / "calib.npy",
                                    "measure_latency": False}))
    selection = result.manifest.selection
    assert selection.mode == "auto"
    names = [c.name for c in selection.candidates]
    assert names[0] == "int8"  # int8 was made and measured, not refused
    chosen = next(c for c in selection.candidates if c.accepted)
    assert chosen.name == selection.chosen
    assert schemas.errors("manifest", json.loads((result.bundle / "manifest.json").read_text())) == []
