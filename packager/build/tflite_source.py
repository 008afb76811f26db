"""A .tflite given as the source: what it is (infer_quant), whether it is bundled as it is or
quantized, and the defaults its own metadata gives."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from packager.build import sources
from packager.build.spec import BuildSpec
from packager.errors import PackagerError
from packager.quant import registry
from packager.quant.engines import FLOAT
from packager.segmentation import meta as segmentation_meta
from packager.tflite import metadata as tflite_metadata
from packager.tflite.flatbuffer import parse_graph
from packager.tflite.float16 import expand_float16_weights, float16_weights_only


def tflite_source(spec: BuildSpec, source: sources.SourceModel, model: bytes) -> tuple[bytes, bool]:
    """A .tflite source: bundled as it is unless --quant is given; a float one (or one with float16 weights
    only, widened to float32) is then quantized by ai-edge-quantizer (the TF converter needs the
    Keras/SavedModel source), a quantized one refused."""
    if not spec.quant_given:
        return model, False
    kind = infer_quant(model)
    name = source.path.name
    if kind == "fp16" and spec.quant != (kind,) and float16_weights_only(model):
        # float16 weights behind DEQUANTIZEs (MediaPipe's models): a float model stored in half precision,
        # widened exactly to float32 and quantized like any float source; fp32 is the widened model
        model, kind = expand_float16_weights(model), "fp32"
    if kind != "fp32":
        if spec.quant == (kind,) or spec.quant == (FLOAT,):
            return model, False  # asked for what it already is: bundled as it is
        raise PackagerError(
            f"{name} is already quantized ({kind}: its tensors are not float32), so it cannot be quantized again to {','.join(spec.quant)}",
            "drop --quant to bundle it as it is, or quantize the float model (its .tflite, Keras or SavedModel source)",
        )
    fixed = {e for q in spec.quant if q != FLOAT and (e := spec.engine_for(q)) is not None}
    if any(registry.needs_source(e) for e in fixed):
        raise PackagerError(f"the {' and '.join(sorted(e for e in fixed if registry.needs_source(e)))} engine needs the Keras/SavedModel source, not {name}",
                            "drop --engine (ai-edge-quantizer quantizes a .tflite)")

    graph = parse_graph(model, name)
    if not graph.signatures:  # ai-edge-quantizer needs a signature: name the graph's own tensors
        model = sources.with_signature(model, [t.name for t in graph.inputs], [t.name for t in graph.outputs])
    return model, True


def infer_quant(model: bytes) -> str:
    """What an existing .tflite is, judged by its tensor types (read from the flatbuffer, packager.tflite.flatbuffer)."""

    graph = parse_graph(model)
    types = graph.tensor_dtypes
    if "int16" in types:
        return "int16x8"
    if "float16" in types:
        return "fp16"
    if "int8" in types or "uint8" in types:
        io = np.dtype(graph.inputs[0].dtype)
        # full-integer models take integer inputs or quantize float inputs on entry
        return "int8" if io.kind in "iu" or "QUANTIZE" in graph.operators else "dynamic"
    return "fp32"


def own_metadata(model: bytes):
    """The metadata a .tflite source carries (written by another tool), or None."""

    if tflite_metadata.metadata_buffer(model) is None:
        return None
    return tflite_metadata.read_metadata(model)


def defaults_from_metadata(spec: BuildSpec, own) -> BuildSpec:
    """Normalization and color space the model's own metadata records, where no flag gives them."""
    if own is None or spec.replace_metadata:
        return spec
    changes: dict[str, Any] = {}
    if own.normalization is not None and spec.mean is None and spec.std is None:
        changes.update(mean=tuple(own.normalization[0]), std=tuple(own.normalization[1]))
    if own.color_space in ("RGB", "GRAYSCALE") and spec.color_space is None:
        changes["color_space"] = own.color_space
    if spec.task == "auto" and segmentation_meta.is_segmenter(tuple(t.content for t in own.outputs)):
        changes["task"] = "segmentation"  # an ImageSegmenter's metadata: its one output is an image (a mask per class)
    for key in ("description", "author", "license"):  # the manifest says what the model says
        if getattr(own, key) and not getattr(spec, key):
            changes[key] = getattr(own, key)
    return replace(spec, **changes) if changes else spec

