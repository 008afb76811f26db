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


def test_several_outputs_are_measured_each_and_the_probability_output_heads_the_table(tmp_path, fully_convolutional):
    dist = tmp_path / "dist"
    result = _build(fully_convolutional["keras"], dist, "--quant", "fp32,int8", "--calib-data", str(fully_convolutional["calib"]),
                    "--size", "12x12")
    assert result.exit_code == 0, result.output
    assert "on output 'prob' (the primary one of 2" in " ".join(result.output.split())
    manifest = json.loads((dist / "pnet" / "manifest.json").read_text())
    int8 = manifest["metrics"]["variants"][1]
    by_name = {o["name"]: o for o in int8["outputs"]}
    assert int8["primary_output"] == "prob" and set(by_name) == {"box", "prob"}  # named as the Keras outputs are
    assert by_name["box"]["kind"] == "values" and by_name["box"]["top1_agreement"] is None  # a regressor: error and correlation
    assert by_name["prob"]["kind"] == "probabilities" and by_name["prob"]["top1_agreement"] is not None
    assert all(o["correlation"] is not None and -1 <= o["correlation"] <= 1 for o in int8["outputs"])
    # the headline numbers are the primary output's, not output 0's or a mix of both
    assert int8["top1_agreement"] == by_name["prob"]["top1_agreement"]
    assert int8["max_abs_error"] == by_name["prob"]["max_abs_error"] and by_name["box"]["max_abs_error"] != by_name["prob"]["max_abs_error"]
    assert sorted(o["semantics"] for o in manifest["outputs"]) == ["other", "probabilities"]
    report = (dist / "pnet" / "report.md").read_text()
    assert "## Outputs" in report and "| int8 | box | values | – |" in report


def test_labels_attach_to_a_named_output_and_primary_output_is_chosen(tmp_path, fully_convolutional):
    from packager.tflite import metadata
    from packager.runtime.evaluate import ModelRunner

    labels = tmp_path / "labels.txt"
    labels.write_text("background\nface\n")
    dist = tmp_path / "dist"
    result = _build(fully_convolutional["keras"], dist, "--quant", "fp32", "--size", "12x12", "--labels", f"prob={labels}",
                    "--primary-output", "box", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((dist / "pnet" / "manifest.json").read_text())
    labelled = next(o for o in manifest["outputs"] if o["name"] == manifest["labels"]["output"])  # names an outputs entry
    assert labelled["shape"][-1] == 2 and manifest["labels"]["values"] == ["background", "face"]
    assert manifest["metrics"]["chosen"]["primary_output"] == "box"
    model = (dist / "pnet" / "pnet.tflite").read_bytes()
    prob = ModelRunner(model).output_names.index("prob")
    found = metadata.read_metadata(model)  # read back: the labels file hangs on the prob output, not on output 0
    assert found.outputs[prob].associated_files == ("labels.txt",) and found.outputs[1 - prob].associated_files == ()
    assert found.outputs[prob].name == "prob" and found.labels == ("background", "face")

    fresh = tmp_path / "fresh"  # a failed build leaves nothing in its output folder
    assert_clean_failure(_build(fully_convolutional["keras"], fresh, "--quant", "fp32", "--size", "12x12", "--labels", f"box={labels}"),
                         fresh, "2 labels", "4 classes")
    assert_clean_failure(_build(fully_convolutional["keras"], fresh, "--quant", "fp32", "--size", "12x12", "--primary-output", "nope"),
                         fresh, "no output of that name", "box, prob")


@pytest.fixture(scope="session")
def two_inputs(tmp_path_factory) -> dict[str, Path]:
    """Inputs a[3] and b[2], outputs cls (softmax of 3) and reg[1]; an .npz with one array per input and labels."""
    quiet.import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    x = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], [keras.layers.Dense(3, activation="softmax", name="cls")(x), keras.layers.Dense(1, name="reg")(x)])
    root = tmp_path_factory.mktemp("two-inputs")
    with quiet.captured_output():
        model.save(root / "two.keras")
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((40, 3)).astype(np.float32), rng.standard_normal((40, 2)).astype(np.float32)
    expected = model.predict([xa, xb], verbose=0)
    np.savez(root / "eval.npz", b=xb, a=xa, y=expected[0].argmax(axis=1))  # stored by input name, in any order
    return {"model": root / "two.keras", "eval": root / "eval.npz", "a": xa, "b": xb}


def test_two_inputs_are_evaluated_and_golden_per_input(tmp_path, two_inputs):
    dist = tmp_path / "dist"
    result = run_cli(["build", str(two_inputs["model"]), "-o", str(dist), "--quant", "fp16,dynamic,fp32", "--eval-data", str(two_inputs["eval"]),
                      "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    bundle = dist / "two"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(i["name"], i["shape"], i["semantics"]) for i in manifest["inputs"]] == [("a", [1, 3], "features"), ("b", [1, 2], "features")]
    assert manifest["metrics"]["eval_samples"] == 40
    assert manifest["metrics"]["float"]["accuracy"] == 1.0  # labels are the Keras model's own predictions: float agrees with Keras
    assert manifest["metrics"]["chosen"]["primary_output"] == "cls"
    golden = manifest["golden"]["inputs"]
    assert [(g["tensor"], g["shape"]) for g in golden] == [("a", [8, 3]), ("b", [8, 2])]
    # the golden inputs are the evaluation samples of each input, in the model's input order
    picks = np.unique(np.linspace(0, 39, 8).astype(int))
    np.testing.assert_array_equal(np.load(bundle / golden[0]["file"]), two_inputs["a"][picks])
    np.testing.assert_array_equal(np.load(bundle / golden[1]["file"]), two_inputs["b"][picks])


@pytest.mark.parametrize("engine", ["ai-edge-quantizer", "tf-converter"])
def test_two_inputs_are_calibrated_per_input_name(tmp_path, two_inputs, engine):
    dist = tmp_path / "dist"
    result = run_cli(["build", str(two_inputs["model"]), "-o", str(dist), "--quant", "int8", "--engine", engine, "--calib-data",
                      str(two_inputs["eval"]), "--eval-data", str(two_inputs["eval"]), "--no-latency"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((dist / "two" / "manifest.json").read_text())
    assert manifest["recipe"]["quant"] == "int8" and manifest["recipe"]["calibration_samples"] == 40
    # full integer: each input quantized with its own scale; the golden inputs are each input's samples
    assert [i["dtype"] for i in manifest["inputs"]] == ["int8", "int8"]
    picks = np.unique(np.linspace(0, 39, 8).astype(int))
    for tensor, golden, name in zip(manifest["inputs"], manifest["golden"]["inputs"], ("a", "b")):
        q = tensor["quantization"]
        real = (np.load(dist / "two" / golden["file"]).astype(np.float64) - q["zero_point"]) * q["scale"]
        assert np.abs(real - two_inputs[name][picks]).max() <= q["scale"] / 2 + 1e-6, name
    assert manifest["metrics"]["chosen"]["top1_agreement"] >= 0.9


def test_two_input_bundle_runs_on_the_virtual_handset_with_parity(tmp_path, two_inputs):
    dist = tmp_path / "dist"
    assert run_cli(["build", str(two_inputs["model"]), "-o", str(dist), "--quant", "fp32", "--no-latency"]).exit_code == 0
    out = tmp_path / "results.json"
    result = run_cli(["device", "bench", str(dist / "two"), "--virtual", "--runs", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["status"] == "ok" and run["parity"]["samples"] == 8 and run["parity"]["max_abs_error"] < 1e-5


def test_an_npz_without_an_input_is_refused(tmp_path, two_inputs):
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=two_inputs["a"])
    dist = tmp_path / "dist"
    assert_clean_failure(run_cli(["build", str(two_inputs["model"]), "-o", str(dist), "--quant", "fp16", "--eval-data", str(bad)]), dist,
                         "no array for input 'b'", "named a, b")
