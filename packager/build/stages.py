"""The values that flow between the build's stages (packager/build/pipeline.py): the float model
(Converted), what it is with its labels and data (Prepared), and what a mode chose (Choice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from packager.build import sources
from packager.build.facts import ModelFacts
from packager.build.spec import BuildSpec
from packager.build.tasks import Task
from packager.data.loading import Inputs, LoadingDataset
from packager.data.readers import Dataset, MultiInputs
from packager.manifest import Selection, VariantMetrics
from packager.quant.engines import Variant


@dataclass
class Converted:
    """The source as a float .tflite, and how the variants are to be chosen."""

    spec: BuildSpec  # with the defaults a .tflite source's own metadata gives
    source: sources.SourceModel
    converter: sources.Converter | None  # None for a .tflite source
    float_model: bytes
    original: bytes  # the model as converted or given (a .tflite keeps its own metadata and packed files)
    own: Any  # a .tflite source's own metadata (metadata.read_metadata), else None
    mode: str  # a key of MODES: "explicit" (the variants of --quant), "auto" (--quant auto), "as_given" (a .tflite, no --quant)
    task: Task  # what differs per task: the graph finished, the judging, the metadata (packager/build/tasks.py)
    raw_float: bytes  # what the variants are derived from (a detector: before its post-processing is added)


@dataclass
class Prepared:
    """What the float model is, its labels, and the data it is measured on."""

    converted: Converted
    facts: ModelFacts
    labels: list[str]
    calib: Dataset | None
    loading: LoadingDataset | None  # the evaluation data: an image folder may still be decoding (packager.data.loading)
    stand_in: np.ndarray | MultiInputs | None  # seeded random inputs when there is no evaluation data
    truth: Any = None  # a detector's ground-truth boxes (packager.detection.stage), a segmenter's masks [N, H, W], if the data has them

    @property
    def spec(self) -> BuildSpec:
        return self.converted.spec

    @property
    def evaluation(self) -> Dataset | None:
        """The evaluation data, decoded (waits for the loader)."""
        return self.loading.result() if self.loading is not None else None

    @property
    def eval_inputs(self) -> np.ndarray | MultiInputs:
        """The evaluation inputs (waits for the loader), or the seeded random ones."""
        if self.loading is not None:
            return self.loading.result().inputs
        assert self.stand_in is not None  # made when there is no evaluation data
        return self.stand_in

    @property
    def eval_rows(self) -> Inputs:
        """What evaluation runs on as it comes: the loading data itself (chunks as they are decoded), or the random inputs."""
        if self.loading is not None:
            return self.loading
        assert self.stand_in is not None  # made when there is no evaluation data
        return self.stand_in

    @property
    def eval_labels(self) -> np.ndarray | None:
        return self.loading.labels if self.loading is not None else None


@dataclass
class Choice:
    """What every mode produces: the float reference, the variants made and measured, and the one chosen."""

    reference: VariantMetrics  # the float model (or the .tflite as given)
    variants: list[Variant]
    metrics: list[VariantMetrics]  # one per variant
    chosen_variant: Variant | None  # None: the float model as given is bundled
    chosen: VariantMetrics
    selection: Selection  # how it was chosen, for the manifest
    float_outputs: list[np.ndarray]
    models: dict[str, bytes]  # the float model and every variant, as evaluated
    raw_models: dict[str, bytes] = field(default_factory=dict)  # a detector's variants before their post-processing
    measured_on: str = "evaluation data"  # what the judge measured every model on (packager.build.judging.measuring_data)
