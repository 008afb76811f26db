"""The detection step of `packager build --task object_detection`.

`plan` looks at the float model once: either it already ends in TFLite_Detection_PostProcess
(its four outputs: left as it is) or it is a raw detector whose box and score outputs are found
(postprocess.find_raw_outputs) and whose anchors and op settings come from the spec. `finish`
then gives any model of that graph (the float one, every quantized variant) its four outputs.
`compare` measures a variant's detections against the float model's (and the ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from packager.detection import anchors as anchor_boxes
from packager.detection import metrics as det_metrics
from packager.detection.decode import decode_all
from packager.detection.postprocess import OUTPUT_NAMES, PostProcess, RawOutputs, SourceOp, attach, detach, find_raw_outputs, has_postprocess, standard_outputs
from packager.errors import PackagerError
from packager.manifest import Detection, DetectionInfo, DetectionSample, Semantics, VariantMetrics
from packager.runtime.evaluate import ModelRunner
from packager.runtime.isolation import check_tflite

SEMANTICS: tuple[Semantics, ...] = ("detection_boxes", "detection_classes", "detection_scores", "detection_count")


@dataclass(frozen=True)
class Detector:
    raw: RawOutputs  # the box and score outputs of the raw graph the variants are derived from
    config: PostProcess  # the op put on it (a source model's own: its anchors and options unchanged)
    classes: int  # object classes (background excluded)
    source: SourceOp | None = None  # the source already had the op (its raw graph is source.raw_model)

    def finish(self, model: bytes) -> bytes:
        """The model with the four outputs in the standard order: a model that has the op (the
        source itself) is left as it is, or only its outputs reordered; a raw one gets the op."""
        return standard_outputs(model) if has_postprocess(model) else attach(model, self.raw, self.config)

    def raw_graph(self, model: bytes) -> bytes:
        """What the variants are quantized from: the graph before the post-processing."""
        return model if self.source is None else self.source.raw_model

    def to_manifest(self) -> DetectionInfo:
        return DetectionInfo(postprocess="added by packager" if self.source is None else "in the source model", classes=self.classes,
                             outputs=list(OUTPUT_NAMES), iou_match_threshold=det_metrics.IOU_THRESHOLD,
                             settings=self.config.to_manifest())


def spec_anchors(spec) -> np.ndarray | None:
    if spec.anchors is not None:
        return anchor_boxes.read_anchors(Path(spec.anchors))
    if spec.anchor_grid:
        maps = [anchor_boxes.FeatureMap(int(m["height"]), int(m["width"]), tuple(float(s) for s in m["sizes"]),
                                        tuple(float(a) for a in m.get("aspect_ratios", (1.0,)))) for m in spec.anchor_grid]
        return anchor_boxes.grid_anchors(maps)
    return None


def plan(float_model: bytes, spec) -> Detector:

    runner = ModelRunner(float_model)
    if has_postprocess(float_model):  # its own op, anchors and options; the outputs reordered if they are not standard
        source = detach(float_model)
        return Detector(source.raw, source.config, source.classes, source)
    shapes = [tuple(int(d) for d in o.shape) for o in runner.outputs]
    raw = find_raw_outputs(runner.output_names, shapes, spec.boxes_output, spec.scores_output, spec.box_coder)
    anchors = spec_anchors(spec)
    if anchors is None:
        raise PackagerError(f"the detector ends in box encodings and class scores over {raw.anchors} anchors but no anchors were given",
                            "pass --anchors FILE (.npy [N, 4] or .csv y_center,x_center,height,width), or the [detection] anchor grid in the config file")
    background = spec.background_class and spec.box_coder != "mediapipe"  # MediaPipe's scores have no background column
    config = PostProcess(anchors, tuple(spec.box_scales), spec.score_threshold, spec.iou_threshold, spec.max_detections, background,
                         box_coder=spec.box_coder)
    config.check()
    detector = Detector(raw, config, raw.columns - (1 if background else 0))
    detector.finish(float_model)  # refuses anchors that do not fit before anything is derived
    return detector


def ground_truth(spec, evaluation, labels: list[str]) -> list[det_metrics.GroundTruth] | None:
    """boxes.csv beside the evaluation images (metrics.py has the format), when there is one."""
    if evaluation is None or spec.eval_data is None or not Path(spec.eval_data).is_dir():
        return None
    path = Path(spec.eval_data) / det_metrics.BOXES_FILE
    if not path.exists():
        return None
    return det_metrics.read_boxes_csv(path, evaluation.files, labels)


def compare(name: str, quant: str, engine: str, size_bytes: int, outputs: list[np.ndarray], reference: list[np.ndarray],
            truth, classes: int, latency):
    """VariantMetrics for a detector: accuracy = mAP@0.5 against ground truth (None without it),
    top1_agreement = F1 agreement with the float model's detections, errors = score errors of
    the matched boxes; every number in `detection`."""
    found = det_metrics.measure(decode_all(outputs), decode_all(reference), truth, classes)
    return VariantMetrics(name=name, quant=quant, engine=engine, size_bytes=size_bytes, accuracy=found.map50, per_class_accuracy=None,
                          top1_agreement=found.agreement, max_abs_error=found.score_error_max, mean_abs_error=found.score_error_mean,
                          latency=latency, samples=len(outputs[0]), detection=found, output_kind="detections",
                          figure="detection agreement with float (F1 of boxes matched at IoU >= 0.5)")


def samples(float_outputs: list[np.ndarray], chosen_outputs: list[np.ndarray], labels: list[str] | None) -> list:
    """Each golden sample's detections by the float model and by the bundled one (the report draws them)."""

    def records(found) -> list:
        return [Detection(box=[round(float(v), 5) for v in b], class_index=int(c), label=labels[c] if labels and 0 <= c < len(labels) else None,
                          score=round(float(sc), 5)) for b, c, sc in zip(found.boxes, found.classes, found.scores)]

    return [DetectionSample(golden_index=i, float=records(f), chosen=records(c))
            for i, (f, c) in enumerate(zip(decode_all(float_outputs), decode_all(chosen_outputs)))]


def scorer(truth, classes: int | None):
    """How the build's judge (packager.runtime.judge) scores a detector: by its detections, against the
    float model's (and the ground truth when there is some), never by its raw tensors."""

    def fit(reference: list[np.ndarray]):
        def score(name, quant, engine, size_bytes, outputs, reference, latency):
            return compare(name, quant, engine, size_bytes, outputs, reference, truth, classes, latency)

        return score

    return fit


def finish_variants(detector: Detector, variants: list) -> list:

    out = []
    for v in variants:
        finished = replace(v, model=detector.finish(v.model))
        check_tflite(finished.model, f"the {v.name} variant with TFLite_Detection_PostProcess")
        out.append(finished)
    return out
