"""TFLite metadata with tflite-support: embed, read back, verify; real converted models throughout."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest

from packager.tflite import metadata
from packager.errors import PackagerError
from packager.tflite.flatbuffer import parse_graph
from packager.data.preprocess import Preprocessing, to_input_dtype
from tests.tflite_models import CLASSES, LABELS, build_models, run

GRAY = Preprocessing(size=(8, 8), color_space="GRAYSCALE", mean=(127.5,), std=(127.5,))
RGB = Preprocessing(size=(8, 8), color_space="RGB", mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


@pytest.fixture(scope="session")
def models():
    return build_models()


def classifier_spec(**changes) -> metadata.MetadataSpec:
    spec = metadata.MetadataSpec(name="digits", version="1.2.0", task="image_classification", description="Five digits.",
                                 author="tests", license="Apache-2.0", labels=list(LABELS), preprocessing=GRAY)
    return dataclasses.replace(spec, **changes)


def test_float_classifier_round_trip(models):
    spec = classifier_spec()
    model = metadata.embed_metadata(models.float_gray, spec)
    found = metadata.verify_metadata(model, spec)
    assert found == metadata.read_metadata(model)
    assert (found.name, found.version, found.description, found.author, found.license) == \
        ("digits", "1.2.0", "Five digits.", "tests", "Apache-2.0")
    assert found.labels == tuple(LABELS)
    assert found.normalization == ((127.5,), (127.5,)) and found.color_space == "GRAYSCALE"
    image, scores = found.inputs[0], found.outputs[0]
    assert image.content == "image" and (image.min, image.max) == ((-1.0,), (1.0,))  # (0 - 127.5) / 127.5 .. (255 - 127.5) / 127.5
    assert scores.name == "probability" and (scores.min, scores.max) == ((0.0,), (1.0,))  # softmax output
    assert scores.associated_files == (metadata.LABELS_FILE,)
    files = metadata.associated_files(model)
    assert files == {"labels.txt": "".join(f"{label}\n" for label in LABELS).encode()}
    label_file = found.associated_files[0]
    assert (label_file.name, label_file.type, label_file.size_bytes) == ("labels.txt", "TENSOR_AXIS_LABELS", len(files["labels.txt"]))
    # metadata does not change what the model computes
    x = np.random.default_rng(1).uniform(-1, 1, (1, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(run(model, [x])[0], run(models.float_gray, [x])[0])


@pytest.mark.parametrize("io_type", ["int8", "uint8"])
def test_integer_io_classifier_gets_full_metadata(models, io_type):
    source = models.int8_gray if io_type == "int8" else models.uint8_gray
    spec = classifier_spec()
    model = metadata.embed_metadata(source, spec)
    found = metadata.verify_metadata(model, spec)
    graph = parse_graph(model)
    tensor_in, tensor_out = graph.inputs[0], graph.outputs[0]
    assert tensor_in.dtype == io_type and tensor_out.dtype == io_type
    assert found.labels == tuple(LABELS) and found.normalization == ((127.5,), (127.5,)) and found.color_space == "GRAYSCALE"
    # Stats: the integers that black and white pixels become, through the same preprocessing
    pixels = GRAY.normalize(np.array([[0.0], [255.0]]))
    expected = to_input_dtype(pixels, np.dtype(io_type), tensor_in.scale, tensor_in.zero_point).ravel().astype(float)
    assert (found.inputs[0].min[0], found.inputs[0].max[0]) == tuple(expected)
    # outputs: probabilities 0 and 1 as the output's integers
    low, high = (np.clip(np.rint(np.array([0.0, 1.0]) / tensor_out.scale) + tensor_out.zero_point, *({"int8": (-128, 127), "uint8": (0, 255)}[io_type])))
    assert (found.outputs[0].min, found.outputs[0].max) == ((low,), (high,))
    # quantization recorded as text in the tensor descriptions
    assert f"Quantized {io_type}" in found.inputs[0].description and f"{tensor_in.scale:.9g}" in found.inputs[0].description
    assert f"{tensor_out.scale:.9g}" in found.outputs[0].description


def test_per_channel_normalization_and_logits(models):
    spec = classifier_spec(preprocessing=RGB)
    model = metadata.embed_metadata(models.float_rgb_logits, spec)
    found = metadata.verify_metadata(model, spec)
    assert found.color_space == "RGB"
    np.testing.assert_allclose(found.normalization[0], RGB.mean, rtol=1e-6)
    np.testing.assert_allclose(found.normalization[1], RGB.std, rtol=1e-6)
    np.testing.assert_allclose(found.inputs[0].min, (0 - np.array(RGB.mean)) / RGB.std, rtol=1e-6)
    # not a softmax: no [0, 1] range is claimed
    assert found.outputs[0].name == "scores" and found.outputs[0].min is None and found.outputs[0].max is None
    # one mean/std value for three channels is written per channel
    single = classifier_spec(preprocessing=Preprocessing(size=(8, 8), color_space="RGB", mean=(127.5,), std=(127.5,)))
    broadcast = metadata.verify_metadata(metadata.embed_metadata(models.float_rgb_logits, single), single)
    assert broadcast.normalization == ((127.5,) * 3, (127.5,) * 3)


def test_wrong_label_count_is_refused_before_writing(models):
    with pytest.raises(PackagerError) as err:
        metadata.embed_metadata(models.float_gray, classifier_spec(labels=LABELS[:4]))
    message = err.value.one_line()
    assert "4 labels" in message and f"{CLASSES} classes" in message and "labels file" in message
    assert "\n" not in message


@pytest.mark.parametrize("bad", [
    dict(labels=["zero", "one", "two", "three", "FOUR"]),
    dict(preprocessing=Preprocessing(size=(8, 8), color_space="GRAYSCALE", mean=(0.0,), std=(255.0,))),
    dict(preprocessing=Preprocessing(size=(8, 8), color_space="GRAYSCALE", mean=(127.5,), std=(128.0,))),
    dict(name="other"),
    dict(version="2"),
    dict(author="someone else"),
])
def test_mismatch_with_the_spec_raises(models, bad):
    model = metadata.embed_metadata(models.float_gray, classifier_spec())
    with pytest.raises(PackagerError, match="does not match"):
        metadata.verify_metadata(model, classifier_spec(**bad))


def _repack(model: bytes, files: dict[str, bytes]) -> bytes:
    """The model with its packed files replaced (as a careless tool would do it)."""
    graph_only = metadata._without_metadata(model, parse_graph(model))
    from tensorflow_lite_support.metadata.python.metadata import MetadataPopulator  # loaded by packager.tflite.metadata

    populator = MetadataPopulator.with_model_buffer(graph_only)
    populator.load_metadata_buffer(metadata._tflite_support().md.get_metadata_buffer(model))
    populator.load_associated_file_buffers(files)
    populator.populate()
    return bytes(populator.get_model_buffer())


def test_tampered_model_fails_verification(models):
    spec = classifier_spec()
    model = metadata.embed_metadata(models.float_gray, spec)
    four_labels = _repack(model, {"labels.txt": b"zero\none\ntwo\nthree\n"})
    with pytest.raises(PackagerError, match=f"4 entries but the model's output has {CLASSES} classes"):
        metadata.verify_metadata(four_labels, spec)
    renamed = _repack(model, {"labels.txt": b"zero\none\ntwo\nthree\nvier\n"})
    with pytest.raises(PackagerError, match="label 4 is 'vier'"):
        metadata.verify_metadata(renamed, spec)
    # the packed files cut off: the metadata names labels.txt, the model no longer holds it
    cut = model[:-10]
    with pytest.raises(PackagerError, match="labels.txt but the file is not packed"):
        metadata.verify_metadata(cut, spec)


def test_generic_model_gets_generic_metadata(models):
    spec = metadata.MetadataSpec(name="mixer", version="3", task="generic", description="Sums and products.", author="tests",
                                 license="MIT", input_descriptions=["First vector.", "Second vector."],
                                 output_descriptions=["a + sum(b).", "b * prod(a)."])
    model = metadata.embed_metadata(models.generic_two_io, spec)
    found = metadata.verify_metadata(model, spec)
    assert (found.name, found.version, found.description, found.license) == ("mixer", "3", "Sums and products.", "MIT")
    assert [t.description for t in found.inputs] == ["First vector.", "Second vector."]
    graph = parse_graph(model)
    # the writer names each entry after its model tensor, in the model's order
    assert [t.name for t in found.inputs] == [t.name for t in graph.inputs]
    assert [t.name for t in found.outputs] == [t.name for t in graph.outputs]
    assert sorted(t.description for t in found.outputs) == sorted(spec.output_descriptions)
    assert found.labels is None and found.associated_files == () and found.normalization is None
    assert all(t.content != "image" for t in found.inputs)
    with pytest.raises(PackagerError, match="1 input descriptions for 2 input tensors"):
        metadata.embed_metadata(models.generic_two_io, dataclasses.replace(spec, input_descriptions=["only one"]))


def test_generic_default_descriptions_name_shape_dtype(models):
    spec = metadata.MetadataSpec(name="mixer", version="3", task="generic")
    found = metadata.verify_metadata(metadata.embed_metadata(models.generic_two_io, spec), spec)
    graph = parse_graph(models.generic_two_io)
    assert found.inputs[0].description == f"Input tensor {graph.inputs[0].name!r}, shape [3], float32."


def test_embedding_again_replaces_the_metadata(models):
    first = metadata.embed_metadata(models.float_gray, classifier_spec())
    renamed = [label.upper() for label in LABELS]
    second = metadata.embed_metadata(first, classifier_spec(labels=renamed, version="2"))
    found = metadata.verify_metadata(second, classifier_spec(labels=renamed, version="2"))
    assert found.labels == tuple(renamed) and found.version == "2"
    with zipfile.ZipFile(io.BytesIO(second)) as archive:
        assert archive.namelist() == ["labels.txt"]
    assert parse_graph(second).metadata_entries.count(metadata.METADATA_NAME) == 1
    assert abs(len(second) - len(first)) < 64  # replaced, not stacked


def test_model_without_metadata(models):
    assert metadata.read_metadata(models.float_gray) is None
    with pytest.raises(PackagerError, match="has no TFLite metadata"):
        metadata.verify_metadata(models.float_gray, classifier_spec())


@pytest.mark.parametrize("bad, message", [
    (dict(preprocessing=RGB), r"not an NHWC image with 3 channel\(s\) \(RGB\)"),
    (dict(preprocessing=None), "needs a preprocessing spec"),
    (dict(labels=["a", "", "c", "d", "e"]), "label 1 .* is empty"),
    (dict(version=""), "needs a model name and a version"),
])
def test_specs_that_do_not_fit_the_model_are_refused(models, bad, message):
    with pytest.raises(PackagerError, match=message):
        metadata.embed_metadata(models.float_gray, classifier_spec(**bad))


def test_image_classifier_needs_one_input_and_one_output(models):
    with pytest.raises(PackagerError, match="this model has 2 and 2") as err:
        metadata.embed_metadata(models.generic_two_io, classifier_spec(preprocessing=None))
    assert err.value.one_line().endswith("; use --task generic.")


def test_a_model_change_during_embedding_is_refused(models):
    # the guard against tflite-support's old schema dropping newer fields: any difference outside
    # the metadata is an error
    metadata._check_graph_preserved(models.float_gray, metadata.embed_metadata(models.float_gray, classifier_spec()))
    with pytest.raises(PackagerError, match="would change the model itself"):
        metadata._check_graph_preserved(models.float_gray, models.int8_gray)


def test_extract_associated_files(models, tmp_path):
    model = metadata.embed_metadata(models.int8_gray, classifier_spec())
    written = metadata.extract_associated_files(model, tmp_path / "out")
    assert written == [tmp_path / "out" / "labels.txt"]
    assert written[0].read_text().splitlines() == LABELS
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["labels.txt"]  # no temporary left behind


def test_classifier_without_labels(models):
    spec = classifier_spec(labels=[])  # no labels file: an empty list means none
    found = metadata.verify_metadata(metadata.embed_metadata(models.float_gray, spec), spec)
    assert found.labels is None and found.associated_files == () and found.normalization == ((127.5,), (127.5,))
    with pytest.raises(PackagerError, match="the labels is '5 labels' but should be 'none'"):
        metadata.verify_metadata(metadata.embed_metadata(models.float_gray, classifier_spec()), spec)
