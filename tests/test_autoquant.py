"""`--quant auto --max-accuracy-drop P`: the acceptance figures of the issue, on real models."""

from __future__ import annotations

import json

import pytest

from packager import schemas
from packager.quant.sensitivity import operator_errors
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
    # when one engine's dynamic range (made both ways, packager.quant.engine_choice) holds and is smaller
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


@pytest.fixture(scope="module")
def outlier_engine(outlier_model_path, digits_data):
    """ai-edge-quantizer's engine on the outlier model, calibrated on 64 training images."""
    from packager.build import sources
    from packager.data.readers import load_dataset
    from packager.data.preprocess import Preprocessing
    from packager.quant.engines import AeqEngine

    float_model = sources.to_float_tflite(sources.detect(outlier_model_path))
    pre = Preprocessing((8, 8), "GRAYSCALE", (0.0,), (255.0,))
    samples = load_dataset(digits_data.train_dir, pre, (8, 8, 1), limit=64).inputs
    engine = AeqEngine(float_model)
    engine.calibrate(samples)
    return engine, samples


def test_sensitivity_ranks_the_outlier_layers_first(outlier_engine):
    import numpy as np

    engine, samples = outlier_engine
    float_model = engine.float_model
    errors = operator_errors(engine, samples)
    # worst first, as operator_errors ranks them: by the share of top-1 changes, then by the error (the
    # error alone is not in order: the head's 0.948 came second behind the outlier layer's 0.943, or
    # first ahead of 0.956, in 3 of training seeds 0-9)
    ranks = [(e.top1_disagreement, e.error) for e in errors]
    assert ranks == sorted(ranks, reverse=True), errors[:4]
    # the top two are the operators that produce and consume the outlier activation (the outlier layer
    # and the head's FULLY_CONNECTED), in either order depending on training; each op is named by its output tensor
    from packager.tflite import flatbuffer

    tree = flatbuffer.read(float_model)
    tensor_name = lambda i: tree.subgraphs[0].tensors[i].name.decode()  # noqa: E731
    nodes = flatbuffer.op_nodes(tree)
    producer = next(n for n in nodes if "/outliers_1/" in tensor_name(n.outputs[0]))  # the model is digits_outliers_1
    consumer = next(n for n in nodes if producer.outputs[0] in n.inputs)
    assert {e.op for e in errors[:2]} == {tensor_name(producer.outputs[0]), tensor_name(consumer.outputs[0])}, errors[:4]
    # both stand far above every other operator. Seeds 0-9: the top two 0.89-0.97 (top-1 changed on
    # 66-95 % of the samples), the rest at most 0.0033 (the softmax; no top-1 change): 270-320x
    rest = errors[2:]
    assert len(rest) >= 2 and min(e.error for e in errors[:2]) > 100 * max(e.error for e in rest), errors[:4]
    assert max(e.top1_disagreement for e in rest) < 0.1 < min(e.top1_disagreement for e in errors[:2])
    assert np.isfinite([e.error for e in errors]).all()
    # the same figures when measured again: the operators are measured on two threads, and while
    # ai-edge-quantizer ran on both at once (not thread-safe) one run in three lost an operator to an
    # exception and measured it as 0 (the CI failure: the head missing, the softmax second at 6.5x the third)
    again = operator_errors(engine, samples)
    assert [(e.op, e.error, e.top1_disagreement) for e in again] == [(e.op, e.error, e.top1_disagreement) for e in errors]


def test_one_engine_quantizes_the_same_from_two_threads(outlier_engine):
    """AeqEngine is used from two threads (packager.quant.sensitivity): each one-operator model must come out as
    it does alone. Without the lock in packager.quant.engines, 3 of 8 rounds like these (one model per operator, 8 operators) raised KeyError ''
    or AttributeError inside ai-edge-quantizer."""
    from concurrent.futures import ThreadPoolExecutor

    from packager.quant.sensitivity import quantizable_ops

    engine, _ = outlier_engine
    names = [name for name, _ in quantizable_ops(engine.float_model)]
    alone = [engine.only(name) for name in names]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(8):
            assert list(pool.map(engine.only, names)) == alone
