"""A .tflite that carries metadata written by another tool keeps it: packager merges what the user
gives into it (or replaces it when asked, and says so) and reads both back.

The model's metadata is written here the way other tools do it, with tflite-support's low-level
object API (metadata_schema_py_generated) and its MetadataPopulator: a path packager itself does
not use. It describes a two-output model (scores with a labels file, boxes) and packs a second,
model-level file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from packager import quiet
from tests.test_bad_input import assert_clean_failure, run_cli

CLASSES = b"cat\ndog\nbird\n"
NOTES = b"Trained elsewhere. Boxes are (y0, x0, y1, x1) in [0, 1].\n"


@pytest.fixture(scope="session")
def foreign_model(tmp_path_factory) -> Path:
    tf = quiet.import_tensorflow()
    import keras

    from packager.tflite.metadata import _tflite_support

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    model = keras.Model(image, {"scores": keras.layers.Dense(3, activation="softmax", name="scores")(x),
                                "boxes": keras.layers.Dense(4, activation="sigmoid", name="boxes")(x)})
    with quiet.captured_output():
        flat = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    from ai_edge_litert.interpreter import Interpreter

    outputs = Interpreter(model_content=flat).get_signature_list()["serving_default"]["outputs"]
    details = {d["index"]: d for d in Interpreter(model_content=flat).get_output_details()}
    by_index = Interpreter(model_content=flat)._get_full_signature_list()["serving_default"]["outputs"]
    order = [next(n for n in outputs if by_index[n] == index) for index in details]  # names in subgraph output order

    tfs = _tflite_support()
    fb = tfs.fb
    root = fb.ModelMetadataT()
    root.name, root.description, root.version, root.author = "OtherTool detector", "A detector from another tool.", "v7", "other tool"
    notes = fb.AssociatedFileT()
    notes.name, notes.description, notes.type = "notes.txt", "How the boxes are encoded.", fb.AssociatedFileType.DESCRIPTIONS
    root.associatedFiles = [notes]
    norm = fb.NormalizationOptionsT()
    norm.mean, norm.std = [127.5], [127.5]
    unit = fb.ProcessUnitT()
    unit.optionsType, unit.options = fb.ProcessUnitOptions.NormalizationOptions, norm
    props = fb.ImagePropertiesT()
    props.colorSpace = fb.ColorSpaceType.RGB
    content = fb.ContentT()
    content.contentPropertiesType, content.contentProperties = fb.ContentProperties.ImageProperties, props
    tensor_in = fb.TensorMetadataT()
    tensor_in.name, tensor_in.description, tensor_in.content, tensor_in.processUnits = "picture", "An RGB picture.", content, [unit]
    tensors_out = []
    for name in order:
        t = fb.TensorMetadataT()
        t.name, t.description = name, f"The {name} head."
        if name == "scores":
            labels = fb.AssociatedFileT()
            labels.name, labels.description, labels.type = "classes.txt", "Class names.", fb.AssociatedFileType.TENSOR_AXIS_LABELS
            t.associatedFiles = [labels]
        tensors_out.append(t)
    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [tensor_in], tensors_out
    root.subgraphMetadata = [subgraph]
    builder = fb.flatbuffers.Builder(0)
    builder.Finish(root.Pack(builder), tfs.md.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    populator = tfs.md.MetadataPopulator.with_model_buffer(flat)
    populator.load_metadata_buffer(bytes(builder.Output()))
    populator.load_associated_file_buffers({"classes.txt": CLASSES, "notes.txt": NOTES})
    populator.populate()
    path = tmp_path_factory.mktemp("foreign") / "detector.tflite"
    path.write_bytes(bytes(populator.get_model_buffer()))
    return path


def _bundle_model(dist: Path, name: str = "detector") -> bytes:
    return (dist / name / f"{name}.tflite").read_bytes()


def _by_name(found):
    return {t.name: t for t in found.outputs}


def test_own_metadata_is_kept_whole_and_its_normalization_used(tmp_path, foreign_model):
    from packager.tflite import metadata

    dist = tmp_path / "dist"
    result = run_cli(["build", str(foreign_model), "-o", str(dist), "--no-latency"])  # no --mean/--std: the metadata has them
    assert result.exit_code == 0, result.output
    assert "kept detector.tflite's own metadata (OtherTool detector; packed files" in " ".join(result.stderr.split())
    model = _bundle_model(dist)
    found, before = metadata.read_metadata(model), metadata.read_metadata(foreign_model.read_bytes())
    assert found == before  # every field, every tensor entry, every file as recorded
    assert metadata.associated_files(model) == {"classes.txt": CLASSES, "notes.txt": NOTES}
    assert _by_name(found)["scores"].associated_files == ("classes.txt",) and found.inputs[0].name == "picture"
    # the read-back check fails when a packed file is lost or a tensor's metadata changes
    from packager.errors import PackagerError
    from packager.tflite.flatbuffer import parse_graph

    base = metadata._without_metadata(model, parse_graph(model))
    lost = metadata._attach(base, metadata.metadata_buffer(model), {"classes.txt": CLASSES})
    with pytest.raises(PackagerError, match="packed file notes.txt"):
        metadata.verify_merged(lost, foreign_model.read_bytes(), metadata.MetadataSpec("x", "1", "generic"), set(), metadata.Merged((), ()))
    manifest = json.loads((dist / "detector" / "manifest.json").read_text())
    assert manifest["preprocessing"]["mean"] == [127.5] and manifest["preprocessing"]["color_space"] == "RGB"
    assert manifest["description"] == "A detector from another tool."


def test_what_the_user_gives_is_merged_into_it_on_a_quantized_variant(tmp_path, foreign_model):
    from packager.tflite import metadata
    from packager.runtime.evaluate import ModelRunner

    labels = tmp_path / "animals.txt"
    labels.write_text("cat\ndog\nfox\n")
    dist = tmp_path / "dist"
    result = run_cli(["build", str(foreign_model), "-o", str(dist), "--quant", "dynamic", "--name", "detector", "--author", "me",
                      "--labels", f"scores={labels}", "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "merged in: name, author, labels (classes.txt on output" in note
    model = _bundle_model(dist)
    found = metadata.read_metadata(model)
    assert (found.name, found.author, found.version, found.description) == ("detector", "me", "v7", "A detector from another tool.")
    scores = ModelRunner(model).output_names.index("scores")
    assert found.outputs[scores].associated_files == ("classes.txt",)  # the output's own labels file, the user's labels
    files = metadata.associated_files(model)
    assert files == {"classes.txt": b"cat\ndog\nfox\n", "notes.txt": NOTES}
    assert found.inputs[0].mean == (127.5,) and found.inputs[0].name == "picture"
    manifest = json.loads((dist / "detector" / "manifest.json").read_text())
    assert manifest["recipe"]["quant"] == "dynamic" and manifest["labels"]["values"] == ["cat", "dog", "fox"]
    assert manifest["labels"]["output"] == manifest["outputs"][scores]["name"]
    assert manifest["metrics"]["chosen"]["primary_output"] == "scores"


def test_replacing_it_is_asked_for_and_said(tmp_path, foreign_model):
    from packager.tflite import metadata

    dist = tmp_path / "dist"
    conflicting = run_cli(["build", str(foreign_model), "-o", str(dist), "--mean", "0", "--std", "255", "--no-latency"])
    assert_clean_failure(conflicting, dist, "differ from the model's own metadata", "--replace-metadata")
    result = run_cli(["build", str(foreign_model), "-o", str(dist), "--mean", "0", "--std", "255", "--replace-metadata", "--no-latency"])
    assert result.exit_code == 0, result.output
    assert "replacing detector.tflite's own metadata (OtherTool detector; packed files classes.txt, notes.txt dropped)" in " ".join(
        result.stderr.split())
    found = metadata.read_metadata(_bundle_model(dist))
    assert found.name == "detector" and found.associated_files == () and found.inputs[0].mean == (0.0, 0.0, 0.0)
