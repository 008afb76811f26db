"""One judge per build: how any model is scored against the float model.

The build makes one `Judge` (packager/build/judging.py) and passes it to every chooser: the engine and
calibration choice (packager.quant.engine_choice), `--quant auto` (packager.quant.auto), the budget
check and the evaluation table. It holds the measuring data, the float model's outputs on it (run
once), the task's scorer (output roles and per-kind figures for classification and generic models,
detections for a detector) and the one loss rule, so that every chooser measures the same figure on
the same outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from packager.data.loading import Inputs, LoadingDataset
from packager.manifest import Latency, VariantMetrics
from packager.runtime.evaluate import OutputRoles, compare, measure_latencies, run_all


class Scorer(Protocol):
    """A task's way of scoring one model's outputs against the float model's."""

    def __call__(self, name: str, quant: str, engine: str, size_bytes: int, outputs: list[np.ndarray], reference: list[np.ndarray],
                 latency: Latency | None) -> VariantMetrics: ...


class _Recipe(Protocol):
    @property
    def quant(self) -> str: ...


class Measurable(Protocol):
    """What the judge needs of a model to score it (packager.quant.engines.Variant has it)."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> bytes: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def engine(self) -> str: ...

    @property
    def recipe(self) -> _Recipe: ...


CLASSIFICATION_FIGURE = "top-1 agreement with float (no labels)"
DETECTION_FIGURE = "detection agreement with float (F1 of boxes matched at IoU >= 0.5, no ground truth)"


def figure_names(metrics: VariantMetrics) -> tuple[str, str]:
    """What the loss is counted in: with ground truth (accuracy), without it (agreement with float)."""
    if metrics.detection is not None:
        return "mAP@0.5", DETECTION_FIGURE
    if metrics.output_kind in (None, "classes", "values"):
        return "top-1 accuracy", CLASSIFICATION_FIGURE
    return "top-1 accuracy", metrics.figure or CLASSIFICATION_FIGURE


def loss_points(chosen: VariantMetrics, reference: VariantMetrics) -> tuple[float, str]:
    """The one loss rule: percentage points of accuracy lost against float when both have one (ground
    truth), else the share of disagreement with float (the per-kind figure the metrics name); and
    what that figure is."""
    accuracy, agreement = figure_names(chosen)
    drop = chosen.accuracy_drop(reference)
    if drop is not None:
        return drop, accuracy
    return (1.0 - (chosen.top1_agreement or 0.0)) * 100.0, agreement


def outputs_scorer(labels: np.ndarray | None, num_classes: int | None,
                   roles_of: Callable[[list[np.ndarray]], OutputRoles] = OutputRoles.guess) -> Callable[[list[np.ndarray]], Scorer]:
    """How a classifier or a generic model is scored: its primary output (the roles, fitted once to the
    float outputs: --primary-output, --labels-output) against float's, and against the labels."""

    def fit(reference: list[np.ndarray]) -> Scorer:
        roles = roles_of(reference)

        def score(name: str, quant: str, engine: str, size_bytes: int, outputs: list[np.ndarray], reference: list[np.ndarray],
                  latency: Latency | None) -> VariantMetrics:
            return compare(name, quant, engine, size_bytes, outputs, reference, labels, num_classes, latency, roles)

        return score

    return fit


def _identity(model: bytes) -> bytes:
    return model


class Judge:
    """The float model's outputs on the measuring data (run once, at construction), and every other
    model scored against them by the task's scorer.

    `finish` turns a model as derived into the one that is scored and bundled (a detector's raw graph
    gets its post-processing); callers pass finished models to `measure`. Outputs are kept per model,
    so a model measured by one chooser (the engine choice) is not run again by the next (evaluation).
    """

    def __init__(self, float_model: bytes, rows: Inputs, score: Callable[[list[np.ndarray]], Scorer], *,
                 finish: Callable[[bytes], bytes] = _identity, name: str = "fp32", quant: str = "fp32", engine: str = "tf-converter",
                 data: str = "evaluation data"):
        self.float_model = float_model
        self.rows = rows
        self.finish = finish
        self.data = data  # what the measuring data is: "evaluation data" or "seeded random inputs"
        self._fit, self._float = score, (name, quant, engine)
        self.checker = None  # packager.runtime.compat.Checker: a pick must run in the app's runtimes (engine choice, auto)
        self._outputs: dict[bytes, list[np.ndarray]] = {}
        self._score: Scorer | None = None
        self._float_metrics: VariantMetrics | None = None

    # The float model is run when first needed, not at construction: an evaluation folder keeps
    # decoding in the background while the variants are made (packager.data.loading).
    @property
    def reference(self) -> list[np.ndarray]:
        """The float model's outputs on the measuring data: run once per build."""
        if self.float_model not in self._outputs:
            outputs, _ = run_all({self._float[0]: self.float_model}, self.rows, measure_latency=False)
            self._outputs[self.float_model] = outputs[self._float[0]]
        return self._outputs[self.float_model]

    @property
    def score(self) -> Scorer:
        """The task's scorer, fitted to the float outputs (output roles and kinds)."""
        if self._score is None:
            self._score = self._fit(self.reference)
        return self._score

    @property
    def float_metrics(self) -> VariantMetrics:
        if self._float_metrics is None:
            name, quant, engine = self._float
            self._float_metrics = self.score(name, quant, engine, len(self.float_model), self.reference, self.reference, None)
        return self._float_metrics

    @property
    def inputs(self):
        """The measuring inputs, decoded (an evaluation folder: waits for its loader)."""
        return self.rows.result().inputs if isinstance(self.rows, LoadingDataset) else self.rows

    @property
    def samples(self) -> int:
        return len(self.rows)

    def outputs(self, models: dict[str, bytes]) -> dict[str, list[np.ndarray]]:
        """Every model's outputs on the measuring data; a model already run is not run again."""
        todo: dict[bytes, str] = {}  # each model once, however many names it has
        for n, m in models.items():
            if m not in self._outputs:
                todo.setdefault(m, n)
        if self.float_model not in self._outputs:  # run beside the first models measured, once
            todo.setdefault(self.float_model, "\0float")  # a name no variant has
        ran, _ = run_all({n: m for m, n in todo.items()}, self.rows, measure_latency=False)
        self._outputs.update((m, ran[n]) for m, n in todo.items())
        return {n: self._outputs[m] for n, m in models.items()}

    def measure(self, variants: Sequence[Measurable], latency: bool = False) -> list[VariantMetrics]:
        """Each (finished) model scored against float; host latency too when asked."""
        outputs = self.outputs({str(i): v.model for i, v in enumerate(variants)})
        times = self.latencies({str(i): v.model for i, v in enumerate(variants)}) if latency else {}
        return [self.score(v.name, v.recipe.quant, v.engine, v.size_bytes, outputs[str(i)], self.reference, times.get(str(i)))
                for i, v in enumerate(variants)]

    def reference_metrics(self, name: str, quant: str, engine: str, latency: Latency | None) -> VariantMetrics:
        """The float model's (or a .tflite's as given) own row, under the name the table gives it."""
        return replace(self.float_metrics, name=name, quant=quant, engine=engine, latency=latency)

    def latencies(self, models: dict[str, bytes]) -> dict[str, Latency | None]:
        return measure_latencies(models, self.rows)

    def loss(self, metrics: VariantMetrics) -> float:
        return loss_points(metrics, self.float_metrics)[0]

    def loss_points(self, metrics: VariantMetrics) -> tuple[float, str]:
        return loss_points(metrics, self.float_metrics)

    @property
    def figure(self) -> str:
        """The figure the loss is counted in on this build."""
        accuracy, agreement = figure_names(self.float_metrics)
        return accuracy if self.measure_name == "accuracy" else agreement

    @property
    def measure_name(self) -> str:
        """What the loss is counted in for this build: "accuracy" (ground truth) or "agreement" (with float)."""
        return "accuracy" if self.float_metrics.accuracy is not None else "agreement"
