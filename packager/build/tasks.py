"""What the build does differently per task, behind one interface: the pipeline
(packager/build/pipeline.py) asks the task and never tests which task it is.

A task finishes the graph (a detector gets TFLite_Detection_PostProcess), says what the variants
are derived from, how models are judged (packager.runtime.judge: its scorer), what ground truth the
data has, and what it writes into the metadata and the manifest. `OutputsTask` is classification
and generic models (their outputs as they are), `DetectionTask` object detection (packager.detection).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from packager.build.spec import BuildSpec
from packager.detection import stage as detection
from packager.detection.decode import dequantize
from packager.manifest import DetectionInfo, Semantics
from packager.quant.engines import Variant
from packager.runtime.evaluate import ModelRunner
from packager.runtime.judge import Scorer, outputs_scorer
from packager.segmentation import masks as seg_masks


class Task(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def classes(self) -> int | None:
        """Its own count of classes (a detector's object classes), when the output shapes do not say it."""

    def finish(self, model: bytes) -> bytes:
        """Any model of the graph (the float one, every variant) as it is judged and bundled."""

    def raw_graph(self, model: bytes) -> bytes:
        """What the variants are derived from, given the float model as converted."""

    def ground_truth(self, spec: BuildSpec, evaluation: Any, labels: list[str], facts: Any) -> Any:
        """What the evaluation data holds beyond per-sample labels (a detector's boxes, a segmenter's masks), or None."""

    def scorer(self, labels: np.ndarray | None, num_classes: int | None, roles_of: Any, truth: Any) -> Any:
        """How the build's judge scores a model (a factory fitted to the float outputs: runtime.judge.Judge)."""

    def finish_variants(self, variants: list[Variant]) -> list[Variant]:
        """The variants as derived, finished (and checked) for judging and bundling."""

    def as_given_reason(self) -> str:
        """Why a .tflite given without --quant is bundled as it is."""

    def stale_metadata(self) -> str | None:
        """Why the source's own metadata no longer describes the outputs (it is replaced, not merged into), or None."""

    def builtin_ops(self) -> tuple[str, ...]:
        """Custom operators it adds that LiteRT has built in (no warning)."""

    def manifest_info(self, float_model: bytes, golden_inputs: Any, golden_out: list[np.ndarray], runner: ModelRunner,
                      labels: list[str]) -> DetectionInfo | None:
        """Its own manifest entry (a detector's, with the golden samples' detections)."""

    def output_semantics(self) -> tuple[Semantics, ...] | None:
        """What its outputs are, when the task fixes them (a detector's four)."""


@dataclass(frozen=True)
class OutputsTask:
    """Classification and generic models: the outputs as they are, judged by their roles and kinds."""

    name: str
    classes: int | None = None

    def finish(self, model: bytes) -> bytes:
        return model

    def raw_graph(self, model: bytes) -> bytes:
        return model

    def ground_truth(self, spec: BuildSpec, evaluation: Any, labels: list[str], facts: Any) -> Any:
        if facts.task == "segmentation" and evaluation is not None:  # labelled masks, when the data has them
            _, height, width, classes = facts.outputs[0].shape
            return seg_masks.read_truth(spec.eval_data, evaluation.files, len(evaluation), (int(height), int(width)), int(classes))
        return None

    def scorer(self, labels: np.ndarray | None, num_classes: int | None, roles_of: Any, truth: Any):
        return outputs_scorer(labels, num_classes, roles_of)

    def finish_variants(self, variants: list[Variant]) -> list[Variant]:
        return variants

    def as_given_reason(self) -> str:
        return "an existing .tflite model is bundled as it is"

    def stale_metadata(self) -> None:
        return None

    def builtin_ops(self) -> tuple[str, ...]:
        return ()

    def manifest_info(self, float_model: bytes, golden_inputs: np.ndarray, golden_out: list[np.ndarray], runner: ModelRunner,
                      labels: list[str]) -> None:
        return None

    def output_semantics(self) -> None:
        return None


@dataclass(frozen=True)
class DetectionTask:
    """Object detection (packager.detection): the post-processing op added or kept, judged by boxes."""

    detector: detection.Detector
    name: str = "object_detection"

    @property
    def classes(self) -> int:
        return self.detector.classes

    def finish(self, model: bytes) -> bytes:
        return self.detector.finish(model)

    def raw_graph(self, model: bytes) -> bytes:
        return self.detector.raw_graph(model)

    def ground_truth(self, spec: BuildSpec, evaluation: Any, labels: list[str], facts: Any) -> Any:
        return detection.ground_truth(spec, evaluation, labels)

    def scorer(self, labels: np.ndarray | None, num_classes: int | None, roles_of: Any, truth: Any) -> Any:
        return detection.scorer(truth, num_classes)  # detections matched by IoU, never the raw tensors (NMS makes those meaningless)

    def finish_variants(self, variants: list[Variant]) -> list[Variant]:
        return detection.finish_variants(self.detector, variants)

    def as_given_reason(self) -> str:
        if self.detector.source is None:
            return "the .tflite detector is bundled in float with TFLite_Detection_PostProcess added by packager (no --quant given)"
        return "an existing .tflite model is bundled as it is"

    def stale_metadata(self) -> str | None:
        if self.detector.source is None:  # a raw detector's metadata describes its box and score outputs, not the four packager gave it
            return "an object detector's: it described the raw box and score outputs, which TFLite_Detection_PostProcess now replaces"
        return None

    def builtin_ops(self) -> tuple[str, ...]:
        return ("TFLite_Detection_PostProcess",)  # a LiteRT builtin registered as a custom op

    def manifest_info(self, float_model: bytes, golden_inputs: np.ndarray, golden_out: list[np.ndarray], runner: ModelRunner,
                      labels: list[str]) -> DetectionInfo:
        float_outputs = ModelRunner(float_model).predict(golden_inputs)
        chosen = [dequantize(o, t.scale, t.zero_point) for o, t in zip(golden_out, runner.outputs)]
        return replace(self.detector.to_manifest(), samples=detection.samples(float_outputs, chosen, labels))

    def output_semantics(self) -> tuple[Semantics, ...]:
        return detection.SEMANTICS


def plan(float_model: bytes, spec: BuildSpec) -> Task:
    """The task of this build, looked at once on the float model as converted."""
    if spec.task == "object_detection":
        return DetectionTask(detection.plan(float_model, spec))
    return OutputsTask(spec.task)


__all__ = ["DetectionTask", "OutputsTask", "Scorer", "Task", "plan"]
