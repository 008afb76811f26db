"""One judge per build (packager.runtime.judge): the float model run once, and every chooser (engine
choice, --quant auto, the budget, the table) scoring the same output, the one --primary-output names,
even when it is not the model's first output."""

from __future__ import annotations

import numpy as np
import pytest

from packager.errors import PackagerError
from packager.runtime import evaluate
from tests.test_model_shapes import fully_convolutional  # noqa: F401 - the session fixture: outputs box (values) and prob (softmax)


class _FloatRuns:
    """How many samples each model was run on by ModelRunner.predict (what every scoring goes through)."""

    def __init__(self, monkeypatch):
        self.rows: dict[bytes, int] = {}
        init, predict = evaluate.ModelRunner.__init__, evaluate.ModelRunner.predict
        runs = self

        def counting_init(self, model, *args, **kwargs):
            init(self, model, *args, **kwargs)
            self._counted_model = model

        def counting_predict(self, normalized, *args, **kwargs):
            runs.rows[self._counted_model] = runs.rows.get(self._counted_model, 0) + len(normalized)
            return predict(self, normalized, *args, **kwargs)

        monkeypatch.setattr(evaluate.ModelRunner, "__init__", counting_init)
        monkeypatch.setattr(evaluate.ModelRunner, "predict", counting_predict)


def _pnet_build(fcn, tmp_path, quant: str, **extra):
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    tmp_path.mkdir(parents=True, exist_ok=True)
    evaluation = tmp_path / "eval.npy"
    np.save(evaluation, np.random.default_rng(1).integers(0, 256, (24, 12, 12, 3)).astype(np.uint8))
    flags = {"model": fcn["keras"], "output": tmp_path / "dist", "task": "generic", "mean": (127.5,), "std": (128.0,), "size": (12, 12),
             "quant": quant, "calib_data": fcn["calib"], "eval_data": evaluation, "primary_output": "box", "measure_latency": False}
    flags.update(extra)
    return build(make_spec(None, flags)), evaluation


def _box_error(model: bytes, float_model: bytes, inputs: np.ndarray) -> float:
    """The max abs error of the `box` output against float's, computed here with LiteRT."""
    runs = [evaluate.ModelRunner(m) for m in (model, float_model)]
    box = [r.output_names.index("box") for r in runs]
    out, ref = (r.predict(inputs)[k] for r, k in zip(runs, box))
    return float(np.abs(out.astype(np.float64) - ref.astype(np.float64)).max())


def test_auto_and_its_engine_choice_judge_the_primary_output_and_float_runs_once(tmp_path, monkeypatch, fully_convolutional):  # noqa: F811
    runs = _FloatRuns(monkeypatch)
    result, evaluation = _pnet_build(fully_convolutional, tmp_path, "auto", max_accuracy_drop=100.0)
    float_model = result.models["fp32"]
    assert runs.rows[float_model] == 24  # the float model scored once on the 24 evaluation samples, for every chooser
    monkeypatch.undo()
    selection = result.manifest.selection
    assert selection.mode == "auto" and selection.engine_choice
    inputs = (np.load(evaluation).astype(np.float64) - 127.5) / 128.0
    for metrics in result.variants:  # every candidate auto tried: its headline numbers are box's, measured independently here
        assert metrics.primary_output == "box", metrics
        assert metrics.max_abs_error == pytest.approx(_box_error(result.models[metrics.name], float_model, inputs), rel=1e-6)
    # the engine choice's record of the chosen way is the same figure on the same output as auto's row for it
    chosen_way = next(c for c in selection.engine_choice if c.chosen and c.variant == selection.candidates[0].name)
    first = result.variants[0]
    assert chosen_way.max_abs_error == pytest.approx(first.max_abs_error) and chosen_way.top1_agreement == pytest.approx(first.top1_agreement)


def test_the_explicit_build_and_the_budget_judge_the_primary_output(tmp_path, monkeypatch, fully_convolutional):  # noqa: F811
    runs = _FloatRuns(monkeypatch)
    result, evaluation = _pnet_build(fully_convolutional, tmp_path, "int8,fp16")
    assert runs.rows[result.models["fp32"]] == 24  # the engine choice and the table share the float outputs
    monkeypatch.undo()
    inputs = (np.load(evaluation).astype(np.float64) - 127.5) / 128.0
    int8 = result.variants[0]
    assert int8.primary_output == "box"
    assert int8.max_abs_error == pytest.approx(_box_error(result.models["int8"], result.models["fp32"], inputs), rel=1e-6)
    drop = (1 - int8.top1_agreement) * 100
    if drop > 0:  # the budget counts the primary output's figure, and says which measured variant would keep it
        with pytest.raises(PackagerError, match="percentage points") as failed:
            _pnet_build(fully_convolutional, tmp_path / "again", "int8,fp16", max_accuracy_drop=drop / 2)
        assert f"{drop:.2f}" in failed.value.message
        fp16 = result.variants[1]
        if (1 - fp16.top1_agreement) * 100 <= drop / 2:
            assert "fp16" in failed.value.hint


def _row(name: str, agreement: float, size: int):
    from packager.manifest import VariantMetrics

    return VariantMetrics(name=name, quant=name, engine="ai-edge-quantizer", size_bytes=size, accuracy=None, per_class_accuracy=None,
                          top1_agreement=agreement, max_abs_error=0.1, mean_abs_error=0.01)


def test_a_broken_budget_names_the_measured_variants_within_it_never_a_more_lossy_one():
    from packager.build.selection import check_budget
    from packager.build.spec import make_spec

    spec = make_spec(None, {"model": "x", "max_accuracy_drop": 1.0})
    reference = _row("fp32", 1.0, 40_000)
    int8, dynamic, fp16, worse = _row("int8", 0.95, 10_000), _row("dynamic", 0.995, 12_000), _row("fp16", 1.0, 20_000), _row("int16x8", 0.9, 11_000)
    with pytest.raises(PackagerError, match="int8 loses 5.00 percentage points") as failed:
        check_budget(spec, int8, reference, [int8, dynamic, fp16, worse])
    hint = failed.value.hint
    assert "dynamic (0.50 points lost" in hint and "fp16 (0.00 points lost" in hint and hint.index("dynamic") < hint.index("fp16")
    assert "int16x8" not in hint  # it loses more: never offered
    with pytest.raises(PackagerError) as failed:
        check_budget(spec, int8, reference, [int8, worse])
    assert "none of the other variants measured (int16x8) stays within it" in failed.value.hint
    check_budget(spec, dynamic, reference, [int8, dynamic])  # within: no error


def test_the_pipeline_asks_the_task_and_never_tests_which_task_it_is():
    # tasks as peers (packager/build/tasks.py): no detector branches left in the build's stages
    import ast
    from pathlib import Path

    import packager.build

    folder = Path(packager.build.__file__).parent
    for name in ("pipeline.py", "judging.py", "stages.py"):
        tree = ast.parse((folder / name).read_text())
        found = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and "detect" in n.id.lower()}
                       | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and "detector" in n.attr.lower()}
                       | {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "object_detection"})
        assert found == [], (name, found)
