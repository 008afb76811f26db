"""What a float model's tensors say about the task: inputs, outputs, task, classes, preprocessing (ModelFacts)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from packager.build.spec import BuildSpec
from packager.data.preprocess import Preprocessing
from packager.data.readers import InputSpec
from packager.errors import PackagerError
from packager.manifest import OutputKind, Task
from packager.runtime.evaluate import PROBABILITY_OPS, ModelRunner, OutputRoles, choose_roles
from packager.runtime.kinds import check_kind, output_kind
from packager.tflite.flatbuffer import TensorInfo, parse_graph

LABELLED_TASKS = ("image_classification", "object_detection", "segmentation")  # tasks whose metadata always carries labels


@dataclass
class ModelFacts:
    """What the float model's tensors say about the task."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    task: Task
    num_classes: int | None
    preprocessing: Preprocessing | None
    output_names: tuple[str, ...] = ()  # what a user calls each output (signature name, else tensor name)
    labels_output: int | None = None  # the output the labels belong to (several outputs: --labels-output)
    primary_output: int | None = None  # --primary-output
    probability_outputs: tuple[bool, ...] = ()  # produced by SOFTMAX/LOGISTIC
    image_outputs: tuple[bool, ...] = ()  # the model's own metadata calls the output an image (an ImageSegmenter's mask)
    output_kind: str | None = None  # --output-kind: how the primary output is measured

    def roles(self, float_outputs: list[np.ndarray]) -> OutputRoles:
        """Which output is what, the one the headline metrics are about, and how each is measured
        (its kind: packager.runtime.kinds) (evaluate.OutputRoles)."""
        guessed = OutputRoles.guess(float_outputs)
        probability = self.probability_outputs or (False,) * len(float_outputs)
        kinds: tuple[OutputKind, ...] = tuple("probabilities" if (p or g == "probabilities") else "values" for p, g in zip(probability, guessed.kinds))
        labels_output = self.labels_output if self.labels_output is not None else (0 if self.num_classes is not None else None)
        roles = choose_roles(self.output_names or guessed.names, kinds, labels_output if len(float_outputs) > 1 else None,
                             self.primary_output, tuple(o.shape for o in self.outputs))
        images = self.image_outputs or (False,) * len(float_outputs)
        measures = [output_kind(r, probability_op=p, labelled=i == labels_output and self.num_classes == (r.shape[-1] if r.ndim > 1 else 0),
                                image=img) for i, (r, p, img) in enumerate(zip(float_outputs, probability, images))]
        if self.output_kind is not None:
            problem = check_kind(self.output_kind, float_outputs[roles.primary].shape)
            if problem:
                raise PackagerError(f"{problem} (output {roles.primary_name!r})", "drop --output-kind, or name another with --primary-output")
            measures[roles.primary] = self.output_kind
        return replace(roles, measures=tuple(measures))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs[0].shape[1:])

    @property
    def input_specs(self) -> list[InputSpec] | None:
        """Several inputs: what an .npz of samples must hold; None for a single-input model."""
        if len(self.inputs) == 1:
            return None
        return [InputSpec(t.name, tuple(t.shape[1:]), t.dtype) for t in self.inputs]


def model_facts(float_model: bytes, spec: BuildSpec, detection_classes: int | None = None) -> ModelFacts:
    """detection_classes: a detector's object classes (--task object_detection)."""
    runner = ModelRunner(float_model)
    inputs, outputs = runner.inputs, runner.outputs
    shape = inputs[0].shape
    # several inputs are features, fed from an .npz (one array per input): no image preprocessing
    is_image = len(inputs) == 1 and len(shape) == 4 and shape[-1] in (1, 3) and inputs[0].dtype in ("float32", "uint8", "int8")
    names = runner.output_names
    labels_output = find_output(names, outputs, spec.labels_output, "--labels-output") if spec.labels_output else None
    primary_output = find_output(names, outputs, spec.primary_output, "--primary-output") if spec.primary_output else None
    out_shape = outputs[labels_output or 0].shape
    is_classifier = len(outputs) == 1 and len(out_shape) == 2 and out_shape[-1] >= 2
    is_segmenter = len(outputs) == 1 and len(out_shape) == 4 and out_shape[-1] >= 2  # [1, H, W, classes]
    task = spec.task if spec.task != "auto" else ("image_classification" if is_image and is_classifier else "generic")
    if task == "object_detection" and not is_image:
        raise PackagerError(f"the detector's input {list(shape)} is not an image (NHWC, 1 or 3 channels)", "use --task generic")
    if task == "segmentation" and not (is_image and is_segmenter):
        raise PackagerError(f"the model (input {list(shape)}, outputs {[list(t.shape) for t in outputs]}) is not an image segmenter "
                            "(one NHWC image input, one [1, H, W, classes] output)", "use --task generic")
    if task == "image_classification" and not (is_image and is_classifier):
        raise PackagerError(
            f"the model (input {list(shape)}, output {list(out_shape)}) is not an image classifier",
            "use --task generic",
        )
    preprocessing = None
    if is_image:
        color = spec.color_space or ("GRAYSCALE" if shape[-1] == 1 else "RGB")
        if (color == "GRAYSCALE") != (shape[-1] == 1):
            raise PackagerError(f"--color-space {color} does not fit the model's {shape[-1]}-channel input", "drop --color-space or fix it")
        size = spec.size or (shape[1], shape[2])
        if tuple(size) != (shape[1], shape[2]):
            raise PackagerError(f"--size {size[0]}x{size[1]} differs from the model input {shape[1]}x{shape[2]}", "drop --size")
        if spec.mean is None or spec.std is None:
            raise PackagerError(
                "image models need the normalization used in training: --mean and --std (in 0-255 pixel units)",
                "e.g. --mean 0 --std 255 for [0,1] inputs, --mean 127.5 --std 127.5 for [-1,1]",
            )
        preprocessing = Preprocessing(size=(int(size[0]), int(size[1])), color_space=color, mean=spec.mean, std=spec.std, resize_method=spec.resize_method)
    num_classes = int(out_shape[-1]) if is_classifier or task == "segmentation" else None  # a segmenter's: the class axis
    if task == "object_detection":
        num_classes, labels_output = detection_classes, 1  # the labels name the category output's values
    elif labels_output is not None:  # labels for one of several outputs: its last dimension is the classes
        num_classes = int(out_shape[-1]) if out_shape else 1
    elif spec.labels is not None and len(outputs) > 1 and task == "generic":
        num_classes = int(out_shape[-1]) if out_shape else 1  # the first output, as the metadata has it

    probability = tuple(t.producer in PROBABILITY_OPS for t in parse_graph(float_model).outputs)
    return ModelFacts(inputs, outputs, task, num_classes, preprocessing, names, labels_output, primary_output, probability,
                      output_kind=spec.output_kind)


def find_output(names: tuple[str, ...], outputs: list[TensorInfo], wanted: str, flag: str) -> int:
    """The index of the output called `wanted` (its signature name or its tensor name)."""
    for i, (name, tensor) in enumerate(zip(names, outputs)):
        if wanted in (name, tensor.name, tensor.name.split(":")[0]):
            return i
    choices = ", ".join(sorted({*names, *(t.name for t in outputs)}))
    raise PackagerError(f"{flag} {wanted}: the model has no output of that name", f"name one of: {choices[:400]}")


# A label is a class name shown in an app: ImageNet-21k's longest is under 200 characters. The
