"""The data a build measures a model on: calibration and evaluation sets fitted to its inputs,
else seeded random inputs. An evaluation image folder is decoded in the background
(packager.data.loading) while the variants are made; calibration data is needed first and loads at once."""

from __future__ import annotations

from typing import Any

import numpy as np

from packager.build.facts import ModelFacts
from packager.build.spec import BuildSpec
from packager.data.loading import LoadingDataset
from packager.data.readers import Dataset, MultiInputs, load_dataset, load_multi_input, start_loading
from packager.errors import PackagerError


def load_data(spec: BuildSpec, facts: ModelFacts, labels: list[str]) -> tuple[Dataset | None, LoadingDataset | None]:
    needs_calibration = spec.auto or any(q in ("int8", "int16x8") for q in spec.quant)
    if needs_calibration and spec.calib_data is None and spec.eval_data is None:
        raise PackagerError("int8 and int16x8 variants need calibration data", "pass --calib-data (an image folder or .npy/.npz)")
    if facts.input_specs is not None:  # several inputs: .npz files with one array per input
        if spec.auto:
            raise PackagerError("--quant auto is not available for a model with several inputs", "name the variants, e.g. --quant fp16,dynamic")
        several = None if spec.eval_data is None else load_multi_input(spec.eval_data, facts.input_specs, what="evaluation data",
                                                                       limit=spec.eval_samples)
        calib = None if spec.calib_data is None else load_multi_input(spec.calib_data, facts.input_specs, what="calibration data",
                                                                      limit=spec.calib_samples, labelled=False)
        if calib is None and several is not None and needs_calibration:
            calib = several.take(spec.calib_samples, seed=1)
        return calib, None if several is None else LoadingDataset(several)
    dense = facts.task == "segmentation"  # its labels are masks (packager.segmentation.masks), its images the folder's own
    common: dict[str, Any] = dict(allow_resize=spec.resize, label_names=labels or None, dense_labels=dense)
    evaluation: LoadingDataset | None = None
    if spec.eval_data is not None:
        evaluation = start_loading(spec.eval_data, facts.preprocessing, facts.input_shape, what="evaluation data", limit=spec.eval_samples, **common)
        classes = facts.num_classes or int(np.prod(facts.outputs[0].shape[1:], dtype=np.int64))  # top-1 indexes the first output
        if evaluation.labels is not None and len(evaluation.labels) and int(evaluation.labels.max()) >= classes:
            raise PackagerError(f"evaluation data {spec.eval_data} has label {int(evaluation.labels.max())} but the model's first output "
                                f"has {classes} values (labels are class indices from 0)", "store labels as class indices of the model's output")
    calib = None
    if spec.calib_data is not None:
        calib = load_dataset(spec.calib_data, facts.preprocessing, facts.input_shape, what="calibration data", limit=spec.calib_samples,
                             allow_resize=spec.resize, labelled=False, dense_labels=dense)
    elif evaluation is not None and needs_calibration:
        calib = evaluation.result().take(spec.calib_samples, seed=1)
    return calib, evaluation


def random_inputs(facts: ModelFacts, count: int = 64) -> np.ndarray | MultiInputs:
    """Without evaluation data, variants are still compared with float on seeded random inputs
    (several inputs: one array each; integer inputs get 0/1, e.g. masks and token ids)."""
    rng = np.random.default_rng(0)
    if facts.input_specs is None:
        return rng.standard_normal((count, *facts.input_shape))
    return MultiInputs(tuple(i.name for i in facts.input_specs), tuple(
        rng.integers(0, 2, (count, *i.shape)) if np.dtype(i.dtype).kind in "iub" else rng.standard_normal((count, *i.shape))
        for i in facts.input_specs))

