"""Models that are not image classifiers: generic metadata, float-array data, no labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from packager import quiet, schemas


@pytest.fixture(scope="session")
def regression_model(tmp_path_factory):
    quiet.import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 6)).astype(np.float32)
    y = np.stack([x @ rng.standard_normal(6), np.sin(x[:, 0])], axis=1).astype(np.float32)
    model = keras.Sequential([keras.Input((6,), name="features"), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=5, verbose=0)
    root = tmp_path_factory.mktemp("regression")
    with quiet.captured_output():
        model.save(root / "regressor.keras")
    np.savez(root / "data.npz", x=x)
    return root


def test_generic_model_with_float_arrays(regression_model, tmp_path):
    from packager.build.pipeline import build
    from packager.tflite.metadata import read_metadata
    from packager.build.spec import make_spec

    spec = make_spec(None, {"model": regression_model / "regressor.keras", "output": tmp_path, "quant": "dynamic,int8",
                            "calib_data": regression_model / "data.npz", "eval_data": regression_model / "data.npz",
                            "description": "two regression outputs", "measure_latency": False})
    result = build(spec)
    manifest = result.manifest
    assert manifest.task == "generic" and manifest.preprocessing is None
    assert manifest.labels.values == [] and manifest.labels.file is None
    assert manifest.inputs[0].semantics == "features" and manifest.outputs[0].semantics == "other"
    assert result.chosen.accuracy is None and result.chosen.top1_agreement is not None
    assert result.chosen.max_abs_error < 1.0  # dynamic range stays close to float on a small MLP
    assert schemas.errors("manifest", json.loads((result.bundle / "manifest.json").read_text())) == []
    meta = read_metadata((result.bundle / "regressor.tflite").read_bytes())
    assert meta.name == "regressor" and meta.description == "two regression outputs"


def test_generic_model_without_data_is_compared_on_random_inputs(regression_model, tmp_path):
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    result = build(make_spec(None, {"model": regression_model / "regressor.keras", "output": tmp_path, "quant": "fp16",
                                    "measure_latency": False}))
    assert result.manifest.metrics.eval_samples == 0
    assert result.chosen.max_abs_error < 0.05


def test_weights_stored_outside_the_flatbuffer_are_bundled_inside(tmp_path):
    """ai-edge-quantizer appends weights after the flatbuffer (referenced by offset) once they pass
    256 KiB; the bundled model must still carry them, with its metadata, and run."""
    quiet.import_tensorflow()
    import keras

    from packager.build.pipeline import build
    from packager.runtime.evaluate import ModelRunner
    from packager.tflite.metadata import read_metadata
    from packager.build.spec import make_spec
    from packager.tflite.flatbuffer import has_external_buffers, read_model_file

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,), name="features"), keras.layers.Dense(1024, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(3)])
    with quiet.captured_output():
        model.save(tmp_path / "wide.keras")
    result = build(make_spec(None, {"model": tmp_path / "wide.keras", "output": tmp_path / "dist", "quant": "fp16,dynamic",
                                    "measure_latency": False}))
    assert has_external_buffers(result.models["fp16"])  # as ai-edge-quantizer wrote it
    (tmp_path / "outside.tflite").write_bytes(result.models["fp16"])  # its length counts the weights after the flatbuffer
    assert read_model_file(tmp_path / "outside.tflite") == result.models["fp16"]
    bundled = (result.bundle / "wide.tflite").read_bytes()
    assert not has_external_buffers(bundled) and len(bundled) > 512 * 1024  # the fp16 weights are inside
    assert read_metadata(bundled).name == "wide"
    x = np.random.default_rng(0).standard_normal((4, 8))
    assert np.allclose(ModelRunner(bundled).predict(x)[0], ModelRunner(result.models["fp16"]).predict(x)[0])
