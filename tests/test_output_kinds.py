"""Dense outputs measured per position (issue 27 item 1; packager.runtime.kinds): a tiny segmenter
[1, H, W, C], a per-step classifier [1, T, C] and a probability map [1, H, W, 1], made here. The
headline agreement, the engine choice, the budget and auto all use the per-kind figure, computed here
independently with LiteRT and checked to differ from the argmax over the whole flattened output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from packager import quiet
from packager.runtime.evaluate import ModelRunner

H = W = 8
T, FEATURES = 12, 6


@dataclass(frozen=True)
class Tiny:
    model: Path
    calib: Path
    evaluation: Path
    image: bool


def _save(root: Path, name: str, model, shape: tuple[int, ...], image: bool) -> Tiny:
    with quiet.captured_output():
        model.save(root / f"{name}.keras")
    rng = np.random.default_rng(3)
    make = (lambda n, seed: np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.uint8)) if image else (
        lambda n, seed: np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32))
    del rng
    np.save(root / f"{name}-calib.npy", make(32, 1))
    np.save(root / f"{name}-eval.npy", make(24, 2))
    return Tiny(root / f"{name}.keras", root / f"{name}-calib.npy", root / f"{name}-eval.npy", image)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Tiny]:
    quiet.import_tensorflow()
    import keras

    root = tmp_path_factory.mktemp("kinds")
    keras.utils.set_random_seed(0)
    image = keras.Input((H, W, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    segmenter = keras.Model(image, keras.layers.Conv2D(4, 1, activation="softmax", name="classes")(x))
    probability = keras.Model(image, keras.layers.Conv2D(1, 1, activation="sigmoid", name="edges")(x))
    steps = keras.Input((T, FEATURES), name="steps")
    y = keras.layers.Dense(16, activation="relu")(steps)
    sequence = keras.Model(steps, keras.layers.Dense(5, activation="softmax", name="per_step")(y))
    return {"segmentation": _save(root, "segmenter", segmenter, (H, W, 3), True),
            "probability_map": _save(root, "edges", probability, (H, W, 3), True),
            "sequence": _save(root, "tagger", sequence, (T, FEATURES), False)}


def _build(tiny: Tiny, output: Path, quant: str, **extra):
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    flags = {"model": tiny.model, "output": output, "task": "generic", "quant": quant, "calib_data": tiny.calib, "eval_data": tiny.evaluation,
             "measure_latency": False, "golden_samples": 2}
    if tiny.image:
        flags.update(mean=(127.5,), std=(127.5,))
    flags.update(extra)
    return build(make_spec(None, flags))


def _inputs(tiny: Tiny) -> np.ndarray:
    data = np.load(tiny.evaluation).astype(np.float64)
    return (data - 127.5) / 127.5 if tiny.image else data


def _independent(kind: str, out: np.ndarray, ref: np.ndarray) -> float:
    """The per-kind figure, written out here."""
    if kind == "probability_map":
        return float(((out >= 0.5) == (ref >= 0.5)).mean())
    return float((out.argmax(axis=-1) == ref.argmax(axis=-1)).mean())  # at every pixel / step


def _flattened(out: np.ndarray, ref: np.ndarray) -> float:
    return float((out.reshape(len(out), -1).argmax(axis=1) == ref.reshape(len(ref), -1).argmax(axis=1)).mean())


@pytest.mark.parametrize("kind", ["segmentation", "sequence", "probability_map"])
def test_each_dense_kind_is_measured_per_position_everywhere(tiny_models, tmp_path, kind):
    from packager.build.selection import check_budget
    from packager.build.spec import make_spec
    from packager.errors import PackagerError

    tiny = tiny_models[kind]
    result = _build(tiny, tmp_path / "dist", "int8,dynamic")
    inputs, float_model = _inputs(tiny), result.models["fp32"]
    reference = ModelRunner(float_model).predict(inputs)[0]
    discriminating = False
    for m in result.variants:
        assert m.output_kind == kind and m.figure and "flattened" not in m.figure
        out = ModelRunner(result.models[m.name]).predict(inputs)[0]
        assert m.top1_agreement == pytest.approx(_independent(kind, out, reference), abs=1e-9), m.name
        discriminating |= abs(_flattened(out, reference) - m.top1_agreement) > 1e-6
        if kind == "segmentation":
            a, b = out.argmax(-1).ravel(), reference.argmax(-1).ravel()
            ious = [((a == c) & (b == c)).sum() / ((a == c) | (b == c)).sum() for c in range(out.shape[-1]) if ((a == c) | (b == c)).any()]
            assert m.mean_iou == pytest.approx(float(np.mean(ious)))
        if kind == "probability_map":
            assert m.correlation is not None and m.correlation > 0.9
    assert discriminating, "the flattened argmax happens to agree here: the test would not tell the two apart"
    # the engine choice judged the same figure: each candidate's loss is its per-kind disagreement
    choice = [c for c in result.manifest.selection.engine_choice if c.loss_points is not None]
    assert choice
    for c in choice:
        assert c.loss_points == pytest.approx((1 - c.top1_agreement) * 100, abs=1e-5)
    for m in result.variants:
        chosen_way = next(c for c in choice if c.variant == m.name and c.chosen)
        assert chosen_way.top1_agreement == pytest.approx(m.top1_agreement)
    # the budget counts it and names it
    int8 = result.variants[0]
    drop = (1 - int8.top1_agreement) * 100
    if drop > 0:
        with pytest.raises(PackagerError) as failed:
            check_budget(make_spec(None, {"model": "x", "max_accuracy_drop": drop / 2}), int8, result.float_metrics, result.variants)
        assert int8.figure in failed.value.message and f"{drop:.2f}" in failed.value.message
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["metrics"]["chosen"]["output_kind"] == kind and manifest["metrics"]["chosen"]["figure"] == int8.figure
    report = (result.bundle / "report.md").read_text()
    assert int8.figure in report  # the report says what the figure is


def test_auto_searches_on_the_per_pixel_figure(tiny_models, tmp_path):
    tiny = tiny_models["segmentation"]
    result = _build(tiny, tmp_path / "dist", "auto", max_accuracy_drop=5.0)
    selection = result.manifest.selection
    for candidate, m in zip(selection.candidates, result.variants):
        assert m.output_kind == "segmentation"
        assert "per-pixel class agreement with float" in candidate.reason, candidate.reason
        assert f"{(1 - m.top1_agreement) * 100:.2f} points" in candidate.reason


def test_output_kind_can_be_given_and_a_misfit_is_refused(tiny_models, tmp_path):
    from packager.errors import PackagerError

    tiny = tiny_models["segmentation"]
    result = _build(tiny, tmp_path / "dist", "fp16", output_kind="values")
    assert result.chosen.output_kind == "values" and "flattened" in result.chosen.figure
    with pytest.raises(PackagerError, match="--output-kind sequence measures outputs shaped"):
        _build(tiny, tmp_path / "bad", "fp16", output_kind="sequence")
    assert not (tmp_path / "bad").exists()
