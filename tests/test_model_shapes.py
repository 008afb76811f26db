"""Models whose shape is not one fixed image in, one vector out: a fully convolutional network
(no fixed input size) with two outputs, a box regressor and a class probability map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from packager import quiet
from tests.test_bad_input import assert_clean_failure, run_cli


@pytest.fixture(scope="session")
def fully_convolutional(tmp_path_factory) -> dict[str, Path]:
    """A PNet-like network: input None x None x 3, outputs box [.., 4] (regression) and prob
    [.., 2] (softmax), saved as .keras and as a .tflite that keeps the dynamic dimensions."""
    tf = quiet.import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    model = keras.Model(image, [keras.layers.Conv2D(4, 1, name="box")(x), keras.layers.Conv2D(2, 1, activation="softmax", name="prob")(x)])
    root = tmp_path_factory.mktemp("fcn")
    with quiet.captured_output():
        model.save(root / "pnet.keras")
        (root / "pnet.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    pixels = np.random.default_rng(0).integers(0, 256, (40, 12, 12, 3)).astype(np.uint8)
    np.save(root / "calib.npy", pixels)
    return {"keras": root / "pnet.keras", "tflite": root / "pnet.tflite", "calib": root / "calib.npy"}


def _build(model: Path, dist: Path, *extra: str):
    return run_cli(["build", str(model), "-o", str(dist), "--task", "generic", "--mean", "127.5", "--std", "128", "--no-latency", *extra])


@pytest.mark.parametrize("form", ["keras", "tflite"])
def test_dynamic_input_needs_size_and_size_fixes_it(tmp_path, fully_convolutional, form):
    model, calib = fully_convolutional[form], fully_convolutional["calib"]
    dist = tmp_path / "dist"
    result = _build(model, dist, "--quant", "fp32,int8", "--calib-data", str(calib))
    # not "corrupt or truncated": the dimension and the flag are named
    assert_clean_failure(result, dist, "input 'image'", "no fixed height, width", "[None, None, None, 3]", "--size 96x96")
    assert "corrupt" not in result.stderr

    size = "12x12" if form == "keras" else "image=12x12"  # both forms of the flag
    result = _build(model, dist, "--quant", "fp32,int8", "--calib-data", str(calib), "--size", size, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((dist / "pnet" / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == [1, 12, 12, 3]
    assert manifest["preprocessing"]["size"] == [12, 12]
    assert sorted(o["shape"][1:] for o in manifest["outputs"]) == [[3, 3, 2], [3, 3, 4]]
    assert [m["name"] for m in manifest["metrics"]["variants"]] == ["fp32", "int8"]  # int8 calibrated at the fixed size


def test_size_of_the_wrong_rank_or_a_fixed_dimension_is_refused(tmp_path, fully_convolutional):
    dist = tmp_path / "dist"
    assert_clean_failure(_build(fully_convolutional["keras"], dist, "--quant", "fp32", "--size", "image=12"), dist,
                         "gives 1 dimensions", "--size image=96x96x3")
    assert_clean_failure(_build(fully_convolutional["keras"], dist, "--quant", "fp32", "--size", "image=12x12x4"), dist,
                         "channels is fixed at 3")
