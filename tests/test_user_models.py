"""Models and data as users really have them: unlabelled calibration folders, subclassed Keras
models, custom operators, bundle permissions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from packager import examples, quiet
from tests.test_bad_input import run_cli


def _unlabelled_folder(digits_data, root: Path) -> Path:
    """The digits training images below root/photo/<batch>/: subfolders that are not classes."""
    for i, image in enumerate(sorted(digits_data.train_dir.rglob("*.png"))[:120]):
        target = root / "photo" / f"batch{i % 3}" / f"{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    return root


def test_classifier_calibrates_from_an_unlabelled_folder(tmp_path, digits_sources, digits_data):
    calib = _unlabelled_folder(digits_data, tmp_path / "calib")
    result = run_cli(["build", str(digits_sources["keras"]), "-o", str(tmp_path / "dist"), "--quant", "int8", "--calib-data", str(calib),
                      "--eval-data", str(digits_data.test_dir), "--labels", str(digits_data.labels_file), "--mean", "0", "--std", "255",
                      "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "dist" / "digits" / "manifest.json").read_text())
    assert manifest["recipe"]["calibration_samples"] == 120  # every image, at any depth
    assert manifest["metrics"]["chosen"]["accuracy"] > 0.8  # evaluation keeps its labels


@pytest.fixture(scope="session")
def generic_image_model(tmp_path_factory) -> Path:
    """An 8x8 grayscale image in, four values out (not a classifier): a --task generic model."""
    quiet.import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    path = tmp_path_factory.mktemp("generic-image") / "boxes.keras"
    with quiet.captured_output():
        model.save(path)
    return path


def test_generic_model_calibrates_from_an_unlabelled_folder(tmp_path, generic_image_model, digits_data):
    calib = _unlabelled_folder(digits_data, tmp_path / "calib")
    flat = tmp_path / "eval"  # images directly in the folder: no labels, agreement with float only
    flat.mkdir()
    for image in sorted(digits_data.test_dir.rglob("*.png"))[:40]:
        shutil.copy(image, flat / f"{image.parent.name}_{image.name}")
    dist = tmp_path / "dist"
    result = run_cli(["build", str(generic_image_model), "-o", str(dist), "--task", "generic", "--quant", "int8", "--calib-data", str(calib),
                      "--eval-data", str(flat), "--mean", "0", "--std", "255", "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    bundle = dist / "boxes"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["recipe"]["calibration_samples"] == 120 and manifest["labels"]["values"] == []
    assert manifest["metrics"]["eval_samples"] == 40
    assert manifest["metrics"]["chosen"]["accuracy"] is None and manifest["metrics"]["chosen"]["top1_agreement"] is not None


def test_help_explains_calibration_and_evaluation_data():
    result = run_cli(["build", "--help"])
    text = " ".join(result.output.split())
    assert "no labels needed" in text and "at any depth" in text and "one subfolder per class" in text


def _known_flags() -> set[str]:
    import click

    from packager import pytest_plugin
    from packager.cli import main

    flags: set[str] = set()

    def walk(command) -> None:
        for param in command.params:
            flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name))

    walk(main)

    class Options:  # collects the pytest plugin's options (--budgets, --bundle, ...)
        def getgroup(self, *args, **kwargs):
            return self

        def addoption(self, *names, **kwargs):
            flags.update(names)

    pytest_plugin.pytest_addoption(Options())
    return flags


def test_every_flag_named_in_an_error_exists():
    """Hints name flags a user can type: scan every PackagerError(...) in the package."""
    import ast
    import re

    import packager

    known, unknown = _known_flags(), []
    for path in Path(packager.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "PackagerError":
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        unknown += [f"{path.name}:{sub.lineno} {flag}" for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", sub.value)
                                    if flag not in known]
    assert len(known) > 30 and unknown == []


def test_two_input_model_builds_without_calibration_and_int8_needs_per_input_arrays(tmp_path):
    """Several inputs: fp16 needs no calibration; int8 takes an .npz with one array per input and
    refuses, in one line whose hint works, a calibration file that lacks one (the full multi-input
    flow is in tests/test_model_shapes.py)."""
    from tests.test_bad_input import assert_clean_failure

    quiet.import_tensorflow()
    import keras

    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    with quiet.captured_output():
        model.save(tmp_path / "two.keras")
    result = run_cli(["build", str(tmp_path / "two.keras"), "-o", str(tmp_path / "dist"), "--quant", "fp16", "--no-latency"])
    assert result.exit_code == 0, result.output
    arrays = tmp_path / "calib.npz"
    np.savez(arrays, a=np.zeros((4, 3), np.float32))
    result = run_cli(["build", str(tmp_path / "two.keras"), "-o", str(tmp_path / "dist2"), "--quant", "int8", "--calib-data", str(arrays),
                      "--no-latency"])
    assert_clean_failure(result, tmp_path / "dist2", "no array for input 'b'", "named a, b")
    assert "--no-eval" not in result.stderr


def test_generic_bundle_has_no_empty_labels_file_and_follows_the_umask(tmp_path, generic_image_model):
    import os
    import stat

    previous = os.umask(0o027)
    try:
        result = run_cli(["build", str(generic_image_model), "-o", str(tmp_path / "dist"), "--task", "generic", "--quant", "fp16",
                          "--mean", "0", "--std", "255", "--no-latency", "--json"])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "dist" / "boxes"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o750
    assert not (bundle / "labels.txt").exists()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["labels"] == {"file": None, "values": []}
    from packager.bundle.install import app_files
    from packager.bundle.reader import load_bundle  # the host side of the kit reads it without a labels file

    ref = load_bundle(bundle)
    assert ref.labels == [] and all((bundle / f).is_file() for f in app_files(ref.manifest))


_SUBCLASSED = '''
import keras


class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class TinyClassifier(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.scale = Scale(0.5)
        self.dense = keras.layers.Dense(classes, activation="softmax")

    def call(self, x):
        return self.dense(self.scale(x))

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}
'''


@pytest.fixture(scope="session")
def subclassed_model(tmp_path_factory) -> tuple[Path, Path]:
    """A subclassed Keras model saved as .keras and the module file that defines its classes."""
    import importlib.util

    quiet.import_tensorflow()
    root = tmp_path_factory.mktemp("subclassed")
    module_file = root / "my_layers.py"
    module_file.write_text(_SUBCLASSED)
    spec = importlib.util.spec_from_file_location("my_layers_for_saving", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TinyClassifier(3)
    model(np.zeros((1, 6), np.float32))
    with quiet.captured_output():
        model.save(root / "tiny.keras")
    return root / "tiny.keras", module_file


def test_subclassed_keras_model_needs_and_takes_custom_objects(tmp_path, subclassed_model):
    from tests.test_bad_input import assert_clean_failure

    model, module_file = subclassed_model
    args = ["build", str(model), "--quant", "fp16", "--task", "generic", "--no-latency"]
    missing = run_cli([*args, "-o", str(tmp_path / "missing")])
    assert_clean_failure(missing, tmp_path / "missing", "TinyClassifier", "--custom-objects")
    line = missing.stderr.strip()
    assert "make sure they are all imported" in line or "custom_objects" in line  # keras' sentence, whole
    assert "saved with model.save()" not in line  # it was: that hint was wrong here

    only_model = run_cli([*args, "-o", str(tmp_path / "half"), "--custom-objects", f"{module_file}:TinyClassifier"])
    assert only_model.exit_code == 0, only_model.output  # Scale is made in __init__: the model class is enough

    ok = run_cli([*args, "-o", str(tmp_path / "ok"), "--custom-objects", f"{module_file}:TinyClassifier",
                  "--custom-objects", f"{module_file}:Scale", "--json"])
    assert ok.exit_code == 0, ok.output
    manifest = json.loads((tmp_path / "ok" / "tiny" / "manifest.json").read_text())
    assert manifest["outputs"][0]["shape"][-1] == 3

    whole_module = run_cli([*args, "-o", str(tmp_path / "module"), "--custom-objects", str(module_file)])
    assert whole_module.exit_code == 0, whole_module.output

    bad_attr = run_cli([*args, "-o", str(tmp_path / "bad"), "--custom-objects", f"{module_file}:Nope"])
    assert_clean_failure(bad_attr, tmp_path / "bad", "has no attribute Nope", "TinyClassifier")


def test_custom_operators_are_named_in_manifest_report_and_a_warning(tmp_path):
    """A .tflite with custom ops this LiteRT resolves (AudioSpectrogram, Mfcc): bundled, but the app's
    LiteRT build must provide them, and the user is told so."""
    tf = quiet.import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([1, 64], tf.float32, name="audio")])
    def mfcc(audio):
        spectrogram = tf.raw_ops.AudioSpectrogram(input=tf.reshape(audio, [64, 1]), window_size=16, stride=8, magnitude_squared=True)
        return tf.raw_ops.Mfcc(spectrogram=spectrogram, sample_rate=tf.constant(16000), dct_coefficient_count=4)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([mfcc.get_concrete_function()], mfcc)
    converter.allow_custom_ops = True
    with quiet.captured_output():
        (tmp_path / "mfcc.tflite").write_bytes(converter.convert())
    result = run_cli(["build", str(tmp_path / "mfcc.tflite"), "-o", str(tmp_path / "dist"), "--quant", "fp32", "--no-latency"])
    assert result.exit_code == 0, result.output
    assert "custom operators AudioSpectrogram, Mfcc" in result.stderr and "LiteRT build must provide" in result.stderr
    bundle = tmp_path / "dist" / "mfcc"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["custom_ops"] == ["AudioSpectrogram", "Mfcc"]
    from packager import schemas

    assert schemas.errors("manifest", manifest) == []
    report = (bundle / "report.md").read_text()
    assert "AudioSpectrogram, Mfcc" in report and "LiteRT build must provide" in report
    inspected = run_cli(["inspect", str(bundle / "mfcc.tflite")])
    assert "AudioSpectrogram (custom)" in inspected.stdout


def test_float_tflite_source_is_quantized_and_a_quantized_one_refused(tmp_path, digits_build, digits_data):
    """Many users only have the .tflite: --quant quantizes a float one (ai-edge-quantizer), and an
    already-quantized one is refused with the reason."""
    from tests.test_bad_input import assert_clean_failure

    float_tflite = tmp_path / "digits_float.tflite"
    float_tflite.write_bytes(digits_build.models["fp32"])
    common = ["--calib-data", str(digits_data.train_dir), "--eval-data", str(digits_data.test_dir), "--labels", str(digits_data.labels_file),
              "--mean", "0", "--std", "255", "--no-latency"]
    result = run_cli(["build", str(float_tflite), "-o", str(tmp_path / "dist"), "--quant", "int8,fp16,dynamic", *common])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "dist" / "digits_float" / "manifest.json").read_text())
    assert manifest["recipe"]["quant"] == "int8" and manifest["recipe"]["engine"] == "ai-edge-quantizer"
    assert manifest["recipe"]["calibration_samples"] > 0
    assert [v["name"] for v in manifest["metrics"]["variants"]] == ["int8", "fp16", "dynamic"]
    assert manifest["sizes"]["chosen_bytes"] < 0.6 * manifest["sizes"]["float_bytes"]  # int8 weights, not the float model
    assert manifest["metrics"]["chosen"]["accuracy"] > 0.8

    auto = run_cli(["build", str(float_tflite), "-o", str(tmp_path / "auto"), "--quant", "auto", "--max-accuracy-drop", "2", *common])
    assert auto.exit_code == 0, auto.output  # auto searches ai-edge-quantizer's candidates (no TF converter without the Keras source)
    chosen = json.loads((tmp_path / "auto" / "digits_float" / "manifest.json").read_text())
    assert chosen["selection"]["mode"] == "auto" and chosen["recipe"]["quant"] in ("int8", "mixed", "dynamic")
    assert {c["engine"] for c in chosen["selection"].get("engine_choice", [])} <= {"ai-edge-quantizer"}

    int8 = tmp_path / "dist" / "digits_float" / "digits_float.tflite"
    again = run_cli(["build", str(int8), "-o", str(tmp_path / "again"), "--quant", "int16x8", *common])
    assert_clean_failure(again, tmp_path / "again", "already quantized", "int8", "cannot be quantized again")
    as_is = run_cli(["build", str(int8), "-o", str(tmp_path / "as-is"), *common])
    assert as_is.exit_code == 0, as_is.output
