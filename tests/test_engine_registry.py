"""Quantization engines behind one protocol and one registry (packager.quant.registry): the build,
the engine choice and auto find engines there, so a newly registered engine takes part in the
choice without any other change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from packager.errors import PackagerError
from packager.quant import engine_choice, registry
from packager.quant.calibration import METHODS
from packager.quant.engines import AeqEngine, Engines, Recipe
from packager.quant.registry import Way
from packager.runtime.judge import Judge, outputs_scorer
from tests.tflite_models import build_models


def _calibration(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (n, 8, 8, 1)).astype(np.float32)


def test_built_in_engines_are_registered_with_what_they_make():
    assert set(registry.names()) >= {"ai-edge-quantizer", "tf-converter"}
    assert registry.makes("ai-edge-quantizer", "mixed") and not registry.makes("tf-converter", "mixed")
    assert registry.needs_source("tf-converter") and not registry.needs_source("ai-edge-quantizer")
    with pytest.raises(PackagerError) as refused:
        Recipe("mixed", float_ops=("x",), engine="tf-converter")
    assert "tf-converter engine does not make mixed variants; use --engine ai-edge-quantizer" in refused.value.one_line()
    with pytest.raises(PackagerError, match="unknown quantization engine 'qnn'"):
        registry.engine_class("qnn")


def test_engines_without_a_source_model_offer_only_the_tflite_engine():
    engines = Engines(build_models().float_gray, converter=None)
    assert engines.get("tf-converter") is None
    with pytest.raises(PackagerError, match="tf-converter engine needs the Keras/SavedModel source"):
        engines.derive(Recipe("int8", engine="tf-converter"), _calibration())
    ways = engines.ways(Recipe("int8"), _calibration())
    assert [(w.engine, w.calibration) for w in ways] == [("ai-edge-quantizer", m) for m in METHODS]
    assert [(w.engine, w.calibration) for w in engines.ways(Recipe("fp16"), None)] == [("ai-edge-quantizer", None)]


@pytest.fixture
def extra_engine():
    """A second engine registered under its own name: ai-edge-quantizer's minmax int8 with float I/O only."""

    class MinmaxOnly(AeqEngine):
        name = "minmax-only"
        kinds = ("int8",)

        def ways(self, recipe, calibration):
            return [Way(self.name, "minmax", replace(recipe, engine=self.name, calibration="minmax"))]

        def derive(self, recipe, calibration):
            variant = super().derive(replace(recipe, engine=None), calibration)
            return replace(variant, engine=self.name)

    registry.register()(MinmaxOnly)
    yield MinmaxOnly
    registry._REGISTRY.pop(MinmaxOnly.name)


def test_a_registered_engine_takes_part_in_the_engine_choice(extra_engine):
    model = build_models().float_gray
    calibration = _calibration()
    judge = Judge(model, calibration, outputs_scorer(None, None))
    variant, candidates = engine_choice.choose(Recipe("int8"), Engines(model), calibration, judge)
    assert [c.engine for c in candidates].count("minmax-only") == 1
    mine = next(c for c in candidates if c.engine == "minmax-only")
    assert mine.variant is not None and mine.metrics is not None
    # the same quantization as ai-edge-quantizer's own minmax candidate, so the same figures
    aeq = next(c for c in candidates if c.engine == "ai-edge-quantizer" and c.calibration == "minmax")
    assert mine.metrics.max_abs_error == pytest.approx(aeq.metrics.max_abs_error)
    # a recipe naming it is made by it
    made = Engines(model).derive(Recipe("int8", engine="minmax-only"), calibration)
    assert made.engine == "minmax-only" and made.model == mine.variant.model
