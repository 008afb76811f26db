"""The bundle's manifest, made once from the values of the build's stages (packager/build/stages.py)."""

from __future__ import annotations

import platform
from importlib import metadata as importlib_metadata

import numpy as np

from packager import DISTRIBUTION
from packager.build.facts import ModelFacts
from packager.build.spec import BuildSpec
from packager.build.stages import Choice, Prepared
from packager.bundle.writer import BundleFiles, describe_files
from packager.manifest import AcceleratorCoverage, DetectionInfo, Labels, Manifest, Metrics, QuantizationDebug, RecipeRecord, RuntimeCompat, Semantics, Sizes, Tensor
from packager.runtime.evaluate import ModelRunner, OutputRoles
from packager.tflite.state import model_state


def output_semantics(facts: ModelFacts, reference: np.ndarray | None) -> Semantics:
    if facts.task != "image_classification":
        return "other"
    if reference is not None and reference.size and (reference >= -1e-6).all() and np.allclose(reference.sum(axis=-1), 1.0, atol=1e-3):
        return "probabilities"
    return "logits"


def output_roles(prepared: Prepared, choice: Choice) -> Semantics | OutputRoles | tuple[Semantics, ...]:
    """What the outputs mean: a detector's four, one output's semantics, or several outputs' roles."""
    fixed = prepared.converted.task.output_semantics()  # a detector's four
    if fixed is not None:
        return fixed
    float_outputs, facts = choice.float_outputs, prepared.facts
    return output_semantics(facts, float_outputs[0]) if len(float_outputs) == 1 else facts.roles(float_outputs)


_SEMANTICS: dict[str, Semantics] = {"probabilities": "probabilities", "classes": "logits", "values": "other"}


def _labels_output_name(facts: ModelFacts) -> str:
    """The labels' output as the manifest's outputs list names it (its tensor name)."""
    return facts.outputs[facts.labels_output or 0].name


def tool_versions() -> dict[str, str | None]:
    def version(dist: str) -> str | None:
        try:
            return importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            return None

    return {
        "packager": version(DISTRIBUTION), "python": platform.python_version(), "tensorflow": version("tensorflow-cpu") or version("tensorflow"),
        "ai_edge_litert": version("ai-edge-litert"), "ai_edge_quantizer": version("ai-edge-quantizer"),
        "tflite_support": version("tflite-support"), "numpy": version("numpy"),
    }


def default_description(spec: BuildSpec, facts: ModelFacts) -> str:
    pre = facts.preprocessing
    if facts.task == "object_detection":
        assert pre is not None  # an image task has its preprocessing (model_facts)
        h, w = pre.size
        return f"Object detector ({h}x{w} {pre.color_space}, {facts.num_classes} classes) packaged by packager."
    if facts.task == "segmentation":
        assert pre is not None
        h, w = pre.size
        return f"Image segmenter ({h}x{w} {pre.color_space}, {facts.num_classes} classes per pixel) packaged by packager."
    if facts.task == "image_classification":
        assert pre is not None
        h, w = pre.size
        return f"Image classifier ({h}x{w} {pre.color_space}, {facts.num_classes} classes) packaged by packager."
    return "Model packaged by packager."


IO_DTYPES = ("float32", "int8", "uint8", "int16")


def make_manifest(prepared: Prepared, choice: Choice, files: BundleFiles, runner: ModelRunner, custom_ops: list[str],
                  debug: QuantizationDebug | None, detection: DetectionInfo | None, reports: dict[str, str],
                  accelerators: AcceleratorCoverage | None = None, runtimes: RuntimeCompat | None = None) -> Manifest:
    """The manifest, once, from the stages' values (what the model is, what was chosen, the app model's
    runner and the files); the bundle's file entries come from the files themselves."""
    spec, facts, c = prepared.spec, prepared.facts, prepared.converted
    chosen_variant, chosen, evaluation, semantics = choice.chosen_variant, choice.chosen, prepared.evaluation, output_roles(prepared, choice)
    recipe = chosen_variant.record() if chosen_variant else RecipeRecord(
        name=chosen.name, quant=chosen.quant, engine="none", io_dtype=runner.input.dtype if runner.input.dtype in IO_DTYPES else "float32")
    inputs = [Tensor.of(t, "image" if facts.preprocessing is not None else "features") for t in runner.inputs]
    outputs = [Tensor.of(t, semantics if isinstance(semantics, str) else semantics[i] if isinstance(semantics, tuple)
                         else _SEMANTICS[semantics.kinds[i]]) for i, t in enumerate(runner.outputs)]
    model_file, labels_file, golden = describe_files(files, inputs, outputs)
    return Manifest(
        name=spec.bundle_name, version=spec.version, task=facts.task, description=spec.description or default_description(spec, facts),
        author=spec.author, license=spec.license, source=c.source, model=model_file, recipe=recipe, quantization_debug=debug,
        custom_ops=list(custom_ops), inputs=inputs, outputs=outputs, preprocessing=facts.preprocessing,
        labels=Labels(file=labels_file, values=list(files.labels), output=_labels_output_name(facts) if files.labels else None),
        metrics=Metrics(reference=choice.reference, chosen=chosen, variants=list(choice.metrics),
                        eval_samples=int(len(evaluation)) if evaluation is not None else 0,
                        eval_data=str(spec.eval_data) if spec.eval_data else None, measured_on=choice.measured_on),
        selection=choice.selection, sizes=Sizes(source_bytes=c.source.size_bytes, float_bytes=len(c.float_model), chosen_bytes=len(files.model)),
        golden=golden, tools=tool_versions(), reports=dict(reports), detection=detection, accelerator_coverage=accelerators,
        runtimes=runtimes,
        state=model_state(files.model),
    )
