"""Session fixtures shared by the whole suite: the digits example, trained once, and bundles.

Everything is real: scikit-learn's digits (shipped inside the package), a Keras CNN trained in
seconds, `packager build` with TensorFlow, ai-edge-quantizer, LiteRT and tflite-support.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from packager import examples, quiet

quiet.quiet_environment()

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory) -> examples.DigitsData:
    return examples.write_digits_dataset(tmp_path_factory.mktemp("digits-data"))


@pytest.fixture(scope="session")
def digits_keras_model(digits_data):
    return examples.train_digits_cnn(digits_data)


@pytest.fixture(scope="session")
def digits_sources(tmp_path_factory, digits_keras_model) -> dict[str, Path]:
    """The trained CNN saved as .keras, legacy .h5 and a SavedModel folder."""
    root = tmp_path_factory.mktemp("digits-sources")
    paths = {"keras": root / "digits.keras", "h5": root / "digits.h5", "saved_model": root / "digits_savedmodel"}
    with quiet.captured_output():
        digits_keras_model.save(paths["keras"])
        digits_keras_model.save(paths["h5"])
        digits_keras_model.export(paths["saved_model"])
    return paths


def build_digits(digits_data, source: Path, output: Path, quant: str = "int8", **overrides):
    """`packager build` on the digits example, as a library call."""
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    flags = {
        "model": source, "name": "digits", "output": output, "quant": quant, "calib_data": digits_data.train_dir,
        "eval_data": digits_data.test_dir, "labels": digits_data.labels_file, "mean": examples.DIGITS_MEAN,
        "std": examples.DIGITS_STD, "author": "tests", "license": "Apache-2.0",
    }
    flags.update(overrides)
    return build(make_spec(None, flags))


@pytest.fixture(scope="session")
def digits_build(tmp_path_factory, digits_data, digits_sources):
    """One build of every variant from .keras; int8 is bundled."""
    return build_digits(digits_data, digits_sources["keras"], tmp_path_factory.mktemp("dist"), quant=",".join(("int8", "fp32", "fp16", "dynamic", "int16x8")))


@pytest.fixture(scope="session")
def digits_bundle(digits_build) -> Path:
    """dist/digits/: the int8 digits bundle (docs/CONTRACTS.md, contract 1)."""
    return digits_build.bundle


@pytest.fixture(scope="session")
def digits_bundles(tmp_path_factory, digits_data, digits_sources) -> dict[str, Path]:
    """One bundle per variant (fp32, fp16, dynamic, int8, int16x8), named digits-<variant>."""
    out = {}
    root = tmp_path_factory.mktemp("dist-variants")
    for variant in VARIANTS:
        out[variant] = build_digits(digits_data, digits_sources["keras"], root, quant=variant, name=f"digits-{variant}").bundle
    return out


def make_outlier_model(trained):
    """The digits CNN with one layer made hostile to int8: a few activation channels are scaled
    by 1e4 (and scaled back by the next layer), so the float model is unchanged but a per-tensor
    int8 scale for that activation wipes out every other channel."""
    import keras
    import numpy as np

    hidden = trained.layers[-2]  # Dense(64, relu)
    head = trained.layers[-1]  # Dense(10, softmax)
    inputs = keras.Input((8, 8, 1), name="image")
    x = inputs
    for layer in trained.layers[:-1]:
        x = layer(x)
    units = hidden.units
    scale = np.ones(units, np.float32)
    scale[:3] = 1e4  # a few huge outlier channels
    outlier = keras.layers.Dense(units, use_bias=False, trainable=False, name="outliers")
    x = outlier(x)
    outlier.set_weights([np.diag(scale)])
    new_head = keras.layers.Dense(10, activation="softmax", name="probabilities")
    outputs = new_head(x)
    kernel, bias = head.get_weights()
    new_head.set_weights([kernel / scale[:, None], bias])
    return keras.Model(inputs, outputs, name="digits_outliers")


@pytest.fixture(scope="session")
def outlier_model_path(tmp_path_factory, digits_keras_model) -> Path:
    path = tmp_path_factory.mktemp("outliers") / "digits_outliers.keras"
    with quiet.captured_output():
        make_outlier_model(digits_keras_model).save(path)
    return path


@pytest.fixture(scope="session")
def outlier_builds(tmp_path_factory, digits_data, outlier_model_path):
    """The outlier model built plainly (int8 and fp16 for reference) and with auto, 1-point budget."""
    root = tmp_path_factory.mktemp("outliers")
    plain = build_digits(digits_data, outlier_model_path, root / "plain", quant="int8,fp16", name="plain", measure_latency=False)
    auto = build_digits(digits_data, outlier_model_path, root / "auto", quant="auto", max_accuracy_drop=1.0, name="auto", measure_latency=False)
    return plain, auto


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory):
    """The synthetic detection data set (packager/detection/example.py): shapes on photo crops."""
    from packager.detection import example

    return example.write_shapes_dataset(tmp_path_factory.mktemp("shapes-data"))


@pytest.fixture(scope="session")
def shapes_detector(tmp_path_factory, shapes_data) -> Path:
    """The small SSD trained on the shapes (about half a minute on 2 cores), saved as .keras."""
    from packager.detection import example

    model = example.train_detector(shapes_data)
    path = tmp_path_factory.mktemp("shapes-model") / "shapes_ssd.keras"
    with quiet.captured_output():
        model.save(path)
    return path


def build_shapes(shapes_data, source: Path, output: Path, **overrides):
    """`packager build --task object_detection` on the shapes detector, as a library call."""
    from packager.build.pipeline import build
    from packager.detection import example
    from packager.build.spec import make_spec

    flags = {
        "model": source, "name": "shapes", "output": output, "task": "object_detection", "calib_data": shapes_data.train_dir,
        "eval_data": shapes_data.test_dir, "labels": shapes_data.labels_file, "anchors": shapes_data.anchors_file,
        "mean": example.MEAN, "std": example.STD, "score_threshold": 0.1, "measure_latency": False,
        "author": "tests", "license": "Apache-2.0",
    }
    flags.update(overrides)
    return build(make_spec(None, flags))


@pytest.fixture(scope="session")
def shapes_build(tmp_path_factory, shapes_data, shapes_detector):
    """The detector built from .keras with int8 (bundled) and fp16."""
    return build_shapes(shapes_data, shapes_detector, tmp_path_factory.mktemp("shapes-dist"), quant="int8,fp16")


@pytest.fixture(scope="session")
def segmenter_data(tmp_path_factory):
    """The segmentation example (packager/segmentation/example.py): shapes with their masks, and the
    constructed segmenter as .keras (made in well under a second)."""
    from packager.segmentation import example

    root = tmp_path_factory.mktemp("segmenter")
    return example.write_data(root), example.build_model(root / "segmenter.keras")


def build_segmenter(segmenter_data, output: Path, **overrides):
    """`packager build --task segmentation` on the example segmenter, as a library call."""
    from packager.build.pipeline import build
    from packager.build.spec import make_spec
    from packager.segmentation import example

    data, source = segmenter_data
    flags = {"model": source, "name": "segmenter", "output": output, "task": "segmentation", "calib_data": data.calib,
             "eval_data": data.images, "labels": data.labels_file, "mean": example.MEAN, "std": example.STD, "measure_latency": False,
             "quant": "int8,fp16", "golden_samples": 4}
    flags.update(overrides)
    return build(make_spec(None, flags))


@pytest.fixture(scope="session")
def segmenter_build(tmp_path_factory, segmenter_data):
    """The example segmenter built with int8 (bundled) and fp16, masks beside the evaluation images."""
    return build_segmenter(segmenter_data, tmp_path_factory.mktemp("segmenter-dist"))
