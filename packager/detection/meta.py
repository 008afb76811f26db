"""TFLite metadata of a detector: tflite-support's ObjectDetector writer, read back and checked.

The writer (metadata_writers.object_detector) records what the Task library's ObjectDetector and
Android Studio need: the image input's normalization and color space, the four outputs named
location / category / score / number of detections, the label map (labels.txt, TENSOR_VALUE_LABELS
on the category output), the location's BoundingBoxProperties (BOUNDARIES, index [1, 0, 3, 2]
for the op's (ymin, xmin, ymax, xmax), RATIO coordinates) and the output tensor group
"detection_result" over location, category and score. `read` gives those back from the
flatbuffer; `verify` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from packager.errors import PackagerError

OUTPUT_NAMES = ("location", "category", "score", "number of detections")
GROUP = "detection_result"
BOX_INDEX = (1, 0, 3, 2)  # left, top, right, bottom positions in (ymin, xmin, ymax, xmax)


@dataclass(frozen=True)
class DetectionMetadata:
    output_names: tuple[str, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group name, tensor names)
    box_index: tuple[int, ...] | None
    box_type: str | None  # BOUNDARIES, UPPER_LEFT, CENTER
    coordinate_type: str | None  # RATIO, PIXEL
    value_labels: bool  # the category output has a TENSOR_VALUE_LABELS file


def writer(tfs, base: bytes, general, input_md, label_files: list):
    info = tfs.info
    location = info.TensorMd(name=OUTPUT_NAMES[0], description="Boxes (ymin, xmin, ymax, xmax), normalized to 0..1 of the image.")
    category = info.CategoryTensorMd(name=OUTPUT_NAMES[1], description="Class index of each box (labels.txt, one label per line).",
                                     label_files=label_files or None)
    score = info.ClassificationTensorMd(name=OUTPUT_NAMES[2], description="Score of each box, 0..1.")
    number = info.TensorMd(name=OUTPUT_NAMES[3], description="Number of valid boxes.")
    return tfs.object_detector.MetadataWriter.create_from_metadata_info(
        bytearray(base), general_md=general, input_md=input_md, output_location_md=location, output_category_md=category,
        output_score_md=score, output_number_md=number)


def read(model: bytes, tfs) -> DetectionMetadata:
    fb = tfs.fb
    root = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(tfs.md.MetadataDisplayer.with_model_buffer(bytes(model)).get_metadata_buffer(), 0))
    sub = root.subgraphMetadata[0]
    outputs = list(sub.outputTensorMetadata or [])
    text = lambda v: v.decode() if isinstance(v, bytes) else (v or "")  # noqa: E731
    names = {v: k for k, v in vars(fb.BoundingBoxType).items() if not k.startswith("_")}
    coords = {v: k for k, v in vars(fb.CoordinateType).items() if not k.startswith("_")}
    index = box_type = coordinate = None
    if outputs and outputs[0].content is not None and outputs[0].content.contentPropertiesType == fb.ContentProperties.BoundingBoxProperties:
        props = outputs[0].content.contentProperties
        index = tuple(int(i) for i in props.index) if props.index is not None else None
        box_type, coordinate = names.get(props.type), coords.get(props.coordinateType)
    value_labels = len(outputs) > 1 and any(f.type == fb.AssociatedFileType.TENSOR_VALUE_LABELS for f in outputs[1].associatedFiles or [])
    groups = tuple((text(g.name), tuple(text(n) for n in g.tensorNames or [])) for g in sub.outputTensorGroups or [])
    return DetectionMetadata(tuple(text(t.name) for t in outputs), groups, index, box_type, coordinate, value_labels)


def verify(model: bytes, tfs, labels: list[str] | None) -> DetectionMetadata:
    found = read(model, tfs)

    def bad(what: str, got, want) -> PackagerError:
        return PackagerError(f"embedded detection metadata does not match: {what} is {got!r} but should be {want!r}", "rebuild the model with packager build")

    if found.output_names != OUTPUT_NAMES:
        raise bad("the output names", list(found.output_names), list(OUTPUT_NAMES))
    if (found.box_index, found.box_type, found.coordinate_type) != (BOX_INDEX, "BOUNDARIES", "RATIO"):
        raise bad("the box format", (found.box_index, found.box_type, found.coordinate_type), (BOX_INDEX, "BOUNDARIES", "RATIO"))
    if (GROUP, OUTPUT_NAMES[:3]) not in found.groups:
        raise bad("the output tensor groups", list(found.groups), [(GROUP, list(OUTPUT_NAMES[:3]))])
    if bool(labels) != found.value_labels:
        raise bad("the category output's label map", found.value_labels, bool(labels))
    return found
