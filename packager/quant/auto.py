"""`--quant auto`: the smallest, fastest variant within the accuracy budget.

Candidates, most compressed first: full int8; int8 with the most quantization-sensitive
operators kept in float (as few as the budget needs); dynamic range; fp16; fp32. The first one
within `--max-accuracy-drop` wins. Sensitive operators come from packager.quant.sensitivity
(per-operator, per-channel error against the float model), re-measured after each operator is
moved to float, because keeping one operator in float changes what its neighbours see.
Every candidate tried is recorded with its size, accuracy, agreement and why it was rejected.

Every candidate is scored by the build's one judge (packager.runtime.judge): the float model's
outputs computed once, the output roles and the per-kind figure, the loss rule. A detector is
searched the same way on its raw graph: the judge finishes each candidate (appends the
post-processing) and scores its detections instead of its tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from packager import progress
from packager.data.dataset import Samples
from packager.errors import PackagerError
from packager.manifest import Candidate, EngineCandidate, OperatorError, Selection, VariantMetrics
from packager.quant import engine_choice, registry
from packager.quant.engines import Engines, IoDtype, Recipe, Variant
from packager.quant.sensitivity import operator_errors
from packager.runtime.evaluate import slower_note
from packager.runtime.isolation import check_tflite
from packager.runtime.judge import Judge

MAX_FLOAT_OPS = 8  # beyond this, a mixed model is rarely smaller than dynamic range
SENSITIVITY_SAMPLES = 64


@dataclass
class Tried:
    variant: Variant
    metrics: VariantMetrics
    drop: float
    accepted: bool
    reason: str

    def candidate(self, measure: str) -> Candidate:
        return Candidate(name=self.variant.name, accepted=self.accepted, size_bytes=self.variant.size_bytes, accuracy=self.metrics.accuracy,
                         accuracy_drop=round(self.drop, 6) if measure == "accuracy" else None,
                         top1_agreement=self.metrics.top1_agreement, reason=self.reason, float_ops=list(self.variant.recipe.float_ops),
                         engine=self.variant.engine, calibration=self._calibration())

    def _calibration(self) -> str | None:
        if not self.variant.recipe.needs_calibration:
            return None
        return self.variant.recipe.calibration if registry.packager_calibration(self.variant.engine) else self.variant.engine


@dataclass
class AutoResult:
    tried: list[Tried]
    chosen: Tried
    sensitivity: list[OperatorError] = field(default_factory=list)
    engine_choice: list[EngineCandidate] = field(default_factory=list)

    def selection(self, budget: float, measure: str) -> Selection:
        return Selection(mode="auto", chosen=self.chosen.variant.name, max_accuracy_drop=budget, reason=self.chosen.reason,
                         candidates=[t.candidate(measure) for t in self.tried], operator_sensitivity=list(self.sensitivity[:20]),
                         engine_choice=list(self.engine_choice))


class Search:
    """One auto search over a float model, with fixed evaluation data."""

    def __init__(self, spec, float_model: bytes, calibration: Samples, judge: Judge, float_metrics: VariantMetrics, converter=None, checker=None):
        """`float_model`: what the candidates are derived from (a detector: its raw graph); `float_metrics`:
        the float model's row (with its host latency, for the slower-than-float note)."""
        self.spec = spec
        self.checker = checker  # packager/runtime/compat.Checker: a candidate must run in the app's runtimes
        self.budget = float(spec.max_accuracy_drop)
        self.float_model = float_model
        self.calibration = calibration
        self.judge = judge
        self.float_metrics = float_metrics
        self.engines = Engines(float_model, converter)
        self.engine = self.engines["ai-edge-quantizer"]  # mixed variants and per-operator sensitivity are its own
        self.tried: list[Tried] = []
        self.engine_choice: list[EngineCandidate] = []
        self.measure = judge.measure_name  # "accuracy" (against ground truth) or "agreement" (with float)
        self.derived: dict[str, bytes] = {}  # each candidate as derived, before the judge finishes it

    # --- measuring one candidate ----------------------------------------------------------------
    def evaluate(self, variant: Variant) -> Tried:
        self.derived[variant.name] = variant.model
        variant = replace(variant, model=self.judge.finish(variant.model))
        metrics = self.judge.measure([variant], latency=self.spec.measure_latency)[0]
        drop, what = self.judge.loss_points(metrics)
        within = drop <= self.budget + 1e-9
        reason = (f"loses {drop:.2f} points of {what}, within the {self.budget:g}-point budget" if within
                  else f"loses {drop:.2f} points of {what}, more than the {self.budget:g}-point budget")
        if self.checker is not None and self.checker.active:
            self.checker.check(variant.name, variant.model, self.judge.inputs)
            refused = self.checker.reject_reason(variant.name)
            if refused:  # never chosen: it does not run on the phone
                within, reason = False, f"{variant.name} {refused}; {reason}"
        tried = Tried(variant, metrics, drop, within, reason)
        self.tried.append(tried)
        return tried

    def _derive(self, recipe: Recipe) -> Variant:

        variant = self.engines.derive(recipe, self.calibration)
        check_tflite(variant.model, f"the {recipe.name} candidate")  # first load and run in the worker (isolate.py)
        return variant

    def _best(self, recipe: Recipe) -> Variant:
        """`recipe` made every way packager can, the best on the evaluation data kept (packager.quant.engine_choice),
        unless the user fixed its engine."""
        if recipe.engine is not None:
            return self._derive(recipe)
        try:
            variant, candidates = engine_choice.choose(recipe, self.engines, self.calibration, self.judge)
        except engine_choice.NoEngine as exc:
            self.engine_choice += exc.records
            raise
        self.engine_choice += [c.record(recipe.name) for c in candidates]
        return variant

    def _best_aeq_method(self) -> str:
        """The activation-range method that lost least for int8 among ai-edge-quantizer's candidates."""
        aeq = [c for c in self.engine_choice if c.variant == "int8" and c.engine == self.engine.name and c.loss_points is not None]
        if not aeq:
            return "minmax"
        method = min(aeq, key=lambda c: (c.loss_points, c.mean_abs_error)).calibration
        assert method is not None  # ai-edge-quantizer's candidates all name their calibration (Way.calibration)
        return method

    # --- the search -----------------------------------------------------------------------------
    def run(self) -> AutoResult:
        int8_io = self.spec.int8_io
        sensitivity: list[OperatorError] = []
        with progress.task("Searching for the smallest variant within budget", None):
            try:
                full = self.evaluate(self._best(Recipe("int8", io_dtype=int8_io, engine=self.spec.engine_for("int8"))))
            except PackagerError:  # no engine makes a full-int8 model that runs (the choice records why): no int8 candidates
                full = None
            if full is not None and full.accepted:
                return self._finish(full, sensitivity)
            dynamic = self._best(Recipe("dynamic", engine=self.spec.engine_for("dynamic")))
            fp16 = self._best(Recipe("fp16", engine=self.spec.engine_for("fp16")))
            if full is None:
                for candidate in (dynamic, fp16):
                    tried = self.evaluate(candidate)
                    if tried.accepted:
                        return self._finish(tried, sensitivity)
                fp32 = Variant(Recipe("fp32"), self.float_model, "tf-converter", 0.0)
                return self._finish(self.evaluate(fp32), sensitivity)
            # mixed variants are ai-edge-quantizer's; they take the ranges that served full int8 best there
            if full.variant.engine == self.engine.name:
                method, equalize = full.variant.recipe.calibration, full.variant.recipe.equalize
            else:
                method, _, cle = self._best_aeq_method().partition("+")
                equalize = bool(cle)
            mixed, sensitivity = self._mixed_search(full, int8_io, size_limit=fp16.size_bytes, method=method, equalize=equalize)
            if mixed is not None and mixed.variant.size_bytes <= dynamic.size_bytes:
                return self._finish(mixed, sensitivity)
            for candidate in (dynamic, fp16):
                tried = self.evaluate(candidate)
                if tried.accepted:
                    return self._finish(tried, sensitivity)
                if mixed is not None and candidate is dynamic:
                    return self._finish(mixed, sensitivity)  # dynamic failed: the (larger) mixed one stands
            fp32 = Variant(Recipe("fp32"), self.float_model, "tf-converter", 0.0)
            return self._finish(self.evaluate(fp32), sensitivity)

    def _mixed_search(self, full: Tried, int8_io: IoDtype, size_limit: int, method: str = "minmax",
                      equalize: bool = False) -> tuple[Tried | None, list[OperatorError]]:
        """Move the most sensitive operator to float, re-measure, repeat while it helps and fits."""
        samples = self.calibration[:SENSITIVITY_SAMPLES]  # not the evaluation data: that judges the result
        errors = operator_errors(self.engine, samples)
        ranked = [e for e in errors if e.error > 0][:MAX_FLOAT_OPS]
        float_ops: list[str] = []
        for worst in ranked:
            float_ops.append(worst.op)
            try:
                current = self._derive(Recipe("mixed", io_dtype=int8_io, float_ops=tuple(float_ops), calibration=method,
                                              equalize=equalize))
            except PackagerError:
                break
            if current.size_bytes >= size_limit:
                tried = self.evaluate(current)
                tried.accepted = False
                tried.reason = f"keeping {len(float_ops)} operators in float makes it as large as fp16 ({size_limit} bytes)"
                break
            tried = self.evaluate(current)
            if tried.accepted:
                tried.reason += f"; {len(float_ops)} most sensitive operator(s) kept in float"
                return tried, errors
        return None, errors

    def _finish(self, chosen: Tried, sensitivity: list[OperatorError]) -> AutoResult:
        if self.checker is not None and self.checker.active:  # the last resort (fp32) does not run either
            self.checker.require(chosen.variant.name, [t.variant.name for t in self.tried], chosen.variant.model)
        for tried in self.tried:
            if tried is not chosen and tried.accepted:
                tried.accepted = False
                tried.reason += "; a more compressed candidate was chosen"
        chosen.reason = f"{chosen.variant.name}: the most compressed candidate that " + chosen.reason.replace("loses", "loses only", 1)
        chosen.reason += slower_note(chosen.metrics, self.float_metrics)
        return AutoResult(self.tried, chosen, sensitivity, self.engine_choice)
