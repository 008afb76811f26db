"""Which engine and which calibration make a variant: both engines try, the data decides.

For a variant whose engine the user did not fix, every way packager has of making it is built and
measured against the float model by the build's one judge (packager.runtime.judge: the evaluation
data, else calibration samples held out of calibration by the build, random inputs judge nothing; the per-kind
figure; a detector by its boxes): ai-edge-quantizer with each activation-range
method (packager.quant.calibration.METHODS) for static variants, on the equalized model too where
cross-layer equalization applies (`+cle`), and, for int8, the best of those again with bias correction
(`+bc`, packager.quant.bias_correction); once for fp16 and dynamic; and the TF
converter when the source is Keras/SavedModel. Each costs seconds. The candidate that loses the
fewest points (the judge's loss rule: accuracy with labels, else agreement with float) wins, the lower mean
output error breaking ties; the others are recorded with their figures (manifest
`selection.engine_choice`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from packager.data.dataset import Samples
from packager.errors import PackagerError
from packager.manifest import EngineCandidate, VariantMetrics
from packager.quant import registry
from packager.quant.engines import Engines, Recipe, Variant
from packager.quant.registry import Way
from packager.runtime.isolation import check_tflite
from packager.runtime.judge import Judge


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


class NoEngine(PackagerError):
    """No engine could make a variant; `records` are its candidates with why each failed (for the manifest)."""

    def __init__(self, message: str, hint: str, records: list[EngineCandidate]):
        super().__init__(message, hint)
        self.records = records


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
    """Each built candidate scored by the build's judge, as it would be bundled (a detector: with its post-processing)."""
    built = [(c, c.variant) for c in candidates if c.variant is not None]
    finished = [replace(v, model=judge.finish(v.model)) for _, v in built]
    for (c, _), m in zip(built, judge.measure(finished)):
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
        raise NoEngine(f"no engine could make {recipe.name}: {candidates[0].error}", "try another variant (fp16, dynamic)",
                       [c.record(recipe.name) for c in candidates])
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
