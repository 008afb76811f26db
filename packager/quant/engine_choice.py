"""Which engine and which calibration make a variant: both engines try, the data decides.

For a variant whose engine the user did not fix, every way packager has of making it is built and
measured against the float model on the same inputs (the evaluation data, or, when there is none,
calibration samples held out of calibration by the build: random inputs judge nothing): ai-edge-quantizer with each activation-range
method (packager.quant.calibration.METHODS) for static variants, on the equalized model too where
cross-layer equalization applies (`+cle`), and, for int8, the best of those again with bias correction
(`+bc`, packager.quant.bias_correction); once for fp16 and dynamic; and the TF
converter when the source is Keras/SavedModel. Each costs seconds. The candidate that loses the
fewest points (top-1 accuracy with labels, else top-1 agreement with float) wins, the lower mean
output error breaking ties; the others are recorded with their figures (manifest
`selection.engine_choice`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from packager.data.dataset import Samples
from packager.errors import PackagerError
from packager.manifest import EngineCandidate
from packager.quant import registry
from packager.quant.engines import Engines, Recipe, Variant
from packager.quant.registry import Way
from packager.runtime.evaluate import VariantMetrics, compare, run_all
from packager.runtime.isolation import check_tflite


@dataclass
class Candidate:
    """One way of making a variant (engine, calibration), the variant it made and its figures while
    the choice is made; `record` is what the manifest keeps of it (manifest.EngineCandidate)."""

    engine: registry.EngineName
    calibration: str | None
    variant: Variant | None
    metrics: VariantMetrics | None
    loss: float | None
    error: str | None = None
    chosen: bool = False

    def record(self, name: str) -> EngineCandidate:
        m = self.metrics
        return EngineCandidate(variant=name, engine=self.engine, calibration=self.calibration, chosen=self.chosen,
                               size_bytes=self.variant.size_bytes if self.variant else None,
                               loss_points=None if self.loss is None else round(self.loss, 6),
                               top1_agreement=m.top1_agreement if m else None, accuracy=m.accuracy if m else None,
                               max_abs_error=m.max_abs_error if m else None, mean_abs_error=m.mean_abs_error if m else None,
                               error=self.error or None)


class Judge:
    """Measures candidates against the float model on fixed inputs."""

    def __init__(self, float_model: bytes, inputs: Samples, labels: np.ndarray | None, num_classes: int | None, roles=None):
        self.inputs = inputs
        self.labels = labels
        self.num_classes = num_classes
        self.roles = roles
        self.failed: list[EngineCandidate] = []  # candidates of variants no engine could make
        self.checker = None  # packager.runtime.compat.Checker: the pick must run in the app's runtimes
        outputs, _ = run_all({"fp32": float_model}, inputs, measure_latency=False)
        self.reference = outputs["fp32"]
        # every model measured here, by its bytes, with its outputs on `inputs`: the build's evaluation
        # of the chosen variants on the same inputs takes them from here instead of running them again
        self.outputs: dict[bytes, list[np.ndarray]] = {float_model: self.reference}
        self.float_metrics = compare("fp32", "fp32", "tf-converter", len(float_model), self.reference, self.reference, labels,
                                     num_classes, None, roles)

    def loss(self, metrics: VariantMetrics) -> float:
        drop = metrics.accuracy_drop(self.float_metrics)
        return drop if drop is not None else (1.0 - (metrics.top1_agreement or 0.0)) * 100.0

    def measure(self, variants: list[Variant]) -> list[VariantMetrics]:
        models = {f"{i}": v.model for i, v in enumerate(variants)}
        outputs, _ = run_all(models, self.inputs, measure_latency=False)
        self.outputs.update((v.model, outputs[f"{i}"]) for i, v in enumerate(variants))
        return [compare(v.name, v.recipe.quant, v.engine, v.size_bytes, outputs[f"{i}"], self.reference, self.labels, self.num_classes,
                        None, self.roles) for i, v in enumerate(variants)]


def candidates_for(recipe: Recipe, engines: Engines, calibration: Samples | None) -> list[Candidate]:
    """Every way of making `recipe` (its engine not fixed by the user): built, not yet measured."""
    ways = engines.ways(recipe, calibration)

    def attempt(way: Way) -> Candidate:
        return _attempt(recipe, way.engine, way.calibration, lambda: engines.derive(way.recipe, calibration))

    # An engine that spends its time in C++ releasing the GIL (the TF converter: MLIR conversion,
    # calibration) makes its candidates in a background thread while the others (ai-edge-quantizer,
    # mostly Python) are made here, on the other core.
    background_engines = {w.engine for w in ways if engines[w.engine].releases_gil}
    with ThreadPoolExecutor(max_workers=1) as pool:
        background = {i: pool.submit(attempt, way) for i, way in enumerate(ways) if way.engine in background_engines}
        here = {i: attempt(way) for i, way in enumerate(ways) if i not in background}
        return [here[i] if i in here else background[i].result() for i in range(len(ways))]


def _attempt(recipe: Recipe, engine: registry.EngineName, method: str | None, make: Callable[[], Variant]) -> Candidate:

    try:
        variant = make()
        check_tflite(variant.model, f"the {recipe.name} variant ({engine})")
        return Candidate(engine, method, variant, None, None)
    except PackagerError as exc:
        return Candidate(engine, method, None, None, None, exc.one_line())


def _rank(c: Candidate) -> tuple[float, float]:
    assert c.loss is not None and c.metrics is not None, "ranked before it was measured"
    return round(c.loss, 9), c.metrics.mean_abs_error


def _measure(candidates: list[Candidate], judge: Judge) -> None:
    built = [(c, c.variant) for c in candidates if c.variant is not None]
    for (c, _), m in zip(built, judge.measure([v for _, v in built])):
        c.metrics, c.loss = m, judge.loss(m)


def bias_corrected(recipe: Recipe, best: Candidate, engines: Engines, calibration: Samples | None) -> Candidate:
    """The best ai-edge-quantizer int8 candidate made again with bias correction (`+bc`). Only the best
    one: a correction of each method's candidate doubled the int8 candidates (each a quantization and a
    measurement, seconds apiece) and on the regression set never changed the pick (benchmarks/bench_quant_real.py)."""
    assert best.variant is not None, "the best candidate was made"
    r = replace(best.variant.recipe, bias_correction=True)
    return _attempt(recipe, best.engine, f"{best.calibration}+bc", lambda: engines.derive(r, calibration))


def choose(recipe: Recipe, engines: Engines, calibration: Samples | None, judge: Judge) -> tuple[Variant, list[Candidate]]:
    """The best way of making `recipe`, and every candidate with its figures."""
    candidates = candidates_for(recipe, engines, calibration)
    if not any(c.variant is not None for c in candidates):
        judge.failed += [c.record(recipe.name) for c in candidates]
        raise PackagerError(f"no engine could make {recipe.name}: {candidates[0].error}", "try another variant (fp16, dynamic)")
    _measure(candidates, judge)
    correctable = [c for c in candidates if c.variant is not None and registry.packager_calibration(c.engine)]
    if recipe.quant == "int8" and correctable:
        extra = bias_corrected(recipe, min(correctable, key=_rank), engines, calibration)
        _measure([extra], judge)
        candidates.append(extra)
    ranked = sorted((c for c in candidates if c.variant is not None), key=_rank)
    best = next((c for c in ranked if _runs_in_the_apps_runtimes(c, judge)), ranked[0])
    best.chosen = True
    assert best.variant is not None  # ranked holds made candidates only
    return best.variant, candidates


def _runs_in_the_apps_runtimes(candidate: Candidate, judge: Judge) -> bool:
    """Whether the candidate runs in every runtime the app ships (packager/runtime/compat.py); one
    that does not is recorded with why, and the next best is tried (none: the best, to fail later)."""
    checker = judge.checker
    if checker is None or not checker.active:
        return True
    failed = [o for o in checker.probe(candidate.variant.model, judge.inputs) if not o.runs]
    if failed:
        candidate.error = "does not run in the app's " + "; ".join(f"{o.target.name}: {o.failure.what()}" for o in failed)
    return not failed
