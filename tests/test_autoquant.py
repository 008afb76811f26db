"""`--quant auto --max-accuracy-drop P`: the acceptance figures of the issue, on real models."""

from __future__ import annotations

import json


from packager import schemas
from packager.sensitivity import operator_errors
from tests.conftest import build_digits


def test_auto_on_digits_picks_int8_within_a_third_of_a_point(digits_data, digits_sources, tmp_path):
    result = build_digits(digits_data, digits_sources["keras"], tmp_path, quant="auto", max_accuracy_drop=0.5, measure_latency=False)
    selection = result.manifest.selection
    assert selection.mode == "auto"
    assert result.manifest.recipe.quant in ("int8", "mixed")
    assert result.chosen.accuracy_drop(result.float_metrics) <= 0.3
    assert result.manifest.inputs[0].dtype == "int8"
    chosen = [c for c in selection.candidates if c.accepted]
    assert [c.name for c in chosen] == [selection.chosen]


def test_plain_int8_breaks_on_outliers(outlier_builds):
    plain, _ = outlier_builds
    by_name = {m.name: m for m in plain.variants}
    assert by_name["int8"].accuracy_drop(plain.float_metrics) > 1.0
    assert by_name["fp16"].accuracy_drop(plain.float_metrics) <= 1.0


def test_auto_finds_a_mixed_variant_smaller_than_fp16(outlier_builds):
    plain, auto = outlier_builds
    fp16_size = {m.name: m for m in plain.variants}["fp16"].size_bytes
    manifest = auto.manifest
    candidates = manifest.selection.candidates
    mixed = [c for c in candidates if c.name.startswith("mixed-int8") and "within" in c.reason]
    assert mixed, [c.reason for c in candidates]
    assert mixed[0].size_bytes < fp16_size
    # the operators kept in float are the ones that touch the outlier activation
    float_ops = mixed[0].float_ops
    assert 1 <= len(float_ops) <= 3
    assert any("outliers" in op or "probabilities" in op for op in float_ops)
    # what is bundled is int8-class, within budget, and the smallest accepted candidate: the mixed one, or dynamic range
    # when one engine's dynamic range (made both ways, packager.variant_choice) holds and is smaller
    assert manifest.recipe.quant in ("mixed", "dynamic"), manifest.selection.reason
    assert auto.chosen.accuracy_drop(auto.float_metrics) <= 1.0
    assert manifest.sizes.chosen_bytes < fp16_size
    accepted = [c for c in candidates if "within" in c.reason]
    assert manifest.selection.chosen == min(accepted, key=lambda c: c.size_bytes).name


def test_every_candidate_is_recorded_with_why(outlier_builds):
    _, auto = outlier_builds
    selection = auto.manifest.selection
    names = [c.name for c in selection.candidates]
    assert names[0] == "int8" and selection.chosen in names and names[1].startswith("mixed-int8")
    first = selection.candidates[0]
    assert not first.accepted and "more than the 1-point budget" in first.reason
    for candidate in selection.candidates:
        assert candidate.size_bytes > 0 and candidate.reason
        assert candidate.accuracy is not None and candidate.top1_agreement is not None
    # per-operator errors are in the manifest, worst first, and validate against the schema
    sens = selection.operator_sensitivity
    assert sens and sens[0].error >= sens[-1].error
    assert schemas.errors("manifest", json.loads((auto.bundle / "manifest.json").read_text())) == []
    assert selection.chosen in (auto.bundle / "report.md").read_text()


def test_sensitivity_ranks_the_outlier_layers_first(outlier_model_path, digits_data):
    import numpy as np

    from packager import sources
    from packager.data import load_dataset
    from packager.preprocess import Preprocessing
    from packager.quantize import AeqEngine

    float_model = sources.to_float_tflite(sources.detect(outlier_model_path))
    pre = Preprocessing((8, 8), "GRAYSCALE", (0.0,), (255.0,))
    samples = load_dataset(digits_data.train_dir, pre, (8, 8, 1), limit=64).inputs
    engine = AeqEngine(float_model)
    engine.calibrate(samples)
    errors = operator_errors(engine, samples)
    # The last layer's op is named by its output tensor: "probabilities_1", or the signature's
    # output name ("Identity") when TF names the model output after the graph's return value.
    from ai_edge_litert.interpreter import Interpreter

    output_names = [d["name"] for d in Interpreter(model_content=float_model).get_output_details()]
    top_two = [e.op for e in errors[:2]]
    assert any("outliers_1" in op for op in top_two), errors[:4]
    # the second place is the softmax or the layer feeding the outliers, depending on training (both seen
    # since packager calibrates over the whole set); what matters is that the outlier layer leads
    assert errors[0].error >= errors[1].error and any("outliers_1" in op for op in top_two), (errors[:4], output_names)
    # the outlier layer stands far above every operator outside the top two (0.89 against 5e-4 seen; the
    # second place alone was 6.5x the third in one CI run, so only the outlier's margin is asserted)
    outlier_error = next(e.error for e in errors[:2] if "outliers_1" in e.op)
    assert len(errors) > 3 and outlier_error > 100 * max(e.error for e in errors[2:])
    assert np.isfinite([e.error for e in errors]).all()
