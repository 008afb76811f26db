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
