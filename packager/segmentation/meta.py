"""TFLite metadata of a segmenter: tflite-support's ImageSegmenter writer, read back and checked.

The writer (metadata_writers.image_segmenter) records what the Task library's ImageSegmenter and
Android Studio need: the image input's normalization and color space, and one output
"segmentation_masks" whose content is an image (GRAYSCALE ImageProperties with the content range
[1, 2]: dimensions 1 and 2 of [1, H, W, C] are the mask's height and width, so C is the class
axis) with the labels packed as labels.txt, TENSOR_AXIS_LABELS on that output: one label per
class index of the category mask. `read` gives those back from the flatbuffer; `verify` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from packager.errors import PackagerError

OUTPUT_NAME = "segmentation_masks"
CONTENT_RANGE = (1, 2)  # the mask's height and width dimensions of [1, H, W, C]


@dataclass(frozen=True)
class SegmentationMetadata:
    output_names: tuple[str, ...]
    image_output: bool  # the output's content is an image (ImageProperties): a mask per class
    content_range: tuple[int, int] | None  # which dimensions are the mask's height and width
    axis_labels: bool  # the output has a TENSOR_AXIS_LABELS file: labels on the class axis


def writer(tfs, base: bytes, general, input_md, label_files: list, description: str):
    output = tfs.info.TensorMd(name=OUTPUT_NAME, description=description, associated_files=label_files or None)
    return tfs.image_segmenter.MetadataWriter.create_from_metadata_info(bytearray(base), general_md=general, input_md=input_md,
                                                                        output_md=output)


def _root(model: bytes, tfs):
    fb = tfs.fb
    buffer = tfs.md.MetadataDisplayer.with_model_buffer(bytes(model)).get_metadata_buffer()
    return fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))


def read(model: bytes, tfs) -> SegmentationMetadata:
    fb = tfs.fb
    sub = _root(model, tfs).subgraphMetadata[0]
    outputs = list(sub.outputTensorMetadata or [])
    text = lambda v: v.decode() if isinstance(v, bytes) else (v or "")  # noqa: E731
    first = outputs[0] if outputs else None
    content = first.content if first is not None else None
    image = content is not None and content.contentPropertiesType == fb.ContentProperties.ImageProperties
    span = (int(content.range.min), int(content.range.max)) if image and content is not None and content.range is not None else None
    axis = first is not None and any(f.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS for f in first.associatedFiles or [])
    return SegmentationMetadata(tuple(text(t.name) for t in outputs), image, span, axis)


def is_segmenter(output_contents: tuple[str | None, ...]) -> bool:
    """A model's own metadata describes an ImageSegmenter: one output, and its content is an image."""
    return len(output_contents) == 1 and output_contents[0] == "image"


def verify(model: bytes, tfs, labels: list[str] | None) -> SegmentationMetadata:
    found = read(model, tfs)

    def bad(what: str, got, want) -> PackagerError:
        return PackagerError(f"embedded segmentation metadata does not match: {what} is {got!r} but should be {want!r}",
                             "rebuild the model with packager build")

    if found.output_names != (OUTPUT_NAME,):
        raise bad("the output names", list(found.output_names), [OUTPUT_NAME])
    if not found.image_output or found.content_range != CONTENT_RANGE:
        raise bad("the output's content (a category mask)", (found.image_output, found.content_range), (True, CONTENT_RANGE))
    if bool(labels) != found.axis_labels:
        raise bad("the labels on the class axis", found.axis_labels, bool(labels))
    return found
