"""TFLite_Detection_PostProcess on a raw detector, and the four standard outputs recognised.

A raw SSD-style detector ends in two tensors over N anchors: box encodings [1, N, 4] and class
scores [1, N, K] (probabilities; column 0 the background when `background`). `attach` appends
TFLite's detection post-processing custom op to its graph by editing the flatbuffer (the same
op, custom options and tensor layout TensorFlow's converter writes for a function decorated with
experimental_implements="name: 'TFLite_Detection_PostProcess' ...", as the TF Object Detection
API's export_tflite_graph does), with the anchors as a constant input. Appending after
quantization keeps the op float, as TF's exported detectors have it: integer box/score tensors
are dequantized first. The model then has the four outputs in the order the TFLite Task
library's ObjectDetector and the LiteRT samples read them:

    0 location              [1, M, 4] float32, (ymin, xmin, ymax, xmax) normalized
    1 category              [1, M]    float32, class index (background excluded)
    2 score                 [1, M]    float32
    3 number of detections  [1]       float32

MEDIAPIPE (`--box-coder mediapipe`): MediaPipe's detectors (BlazeFace, palm, pose) end in
[1, N, 4 + 2k] values per anchor, x_center, y_center, w, h then k keypoints, decoded linearly
(x = x_raw / x_scale * anchor_w + anchor_x, w = w_raw / w_scale * anchor_w), and [1, N, K] score
logits. The op decodes sizes as exp(t / h_scale) * anchor_h, so before it packager gathers (y, x)
and (h, w) from the first four values, takes log(max(h, 1e-6)) and log(max(w, 1e-6)), applies a
sigmoid to the scores, and gives the op scales 1 and anchor sizes divided by MediaPipe's scales:
the same boxes as MediaPipe's decoder for every box of positive size (it needs y_scale = h_scale
and x_scale = w_scale, as MediaPipe's models have). The keypoints are dropped: the four standard
outputs have no place for them.

The op ships in LiteRT's builtin op resolver (Python and Android), so the model needs no
custom kernel registration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from packager.errors import PackagerError
from packager.manifest import PostProcessSettings
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import parse_graph
from packager.tflite.flatbuffer import schema as _schema

OP_NAME = "TFLite_Detection_PostProcess"
OUTPUT_NAMES = ("location", "category", "score", "number_of_detections")
_CUSTOM, _DEQUANTIZE, _TRANSPOSE = 32, 6, 39  # BuiltinOperator.CUSTOM, .DEQUANTIZE, .TRANSPOSE
_GATHER, _MAXIMUM, _LOG, _LOGISTIC, _CONCATENATION = 36, 55, 73, 14, 2
_FLOAT32, _INT32 = 0, 2  # TensorType
_MIN_SIZE = 1e-6  # MediaPipe sizes are clamped to this before their log (a real box has a positive size)
_BOX_WORDS = ("box", "loc", "bbox", "regress", "encod", "offset", "delta")
_SCORE_WORDS = ("score", "class", "cls", "conf", "logit", "prob")


@dataclass(frozen=True)
class PostProcess:
    """The op's settings (its custom options) and the anchors it decodes against."""

    anchors: np.ndarray  # [N, 4] (y_center, x_center, height, width)
    scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w box coder scales
    score_threshold: float = 0.3
    iou_threshold: float = 0.5
    max_detections: int = 10
    background: bool = True  # the scores' column 0 is the background class
    custom_options: bytes | None = None  # a source model's own op options, written back as they were
    box_coder: str = "tflite"  # or "mediapipe": see MEDIAPIPE below

    def check(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise PackagerError(f"--score-threshold {self.score_threshold} is not in [0, 1)", "e.g. --score-threshold 0.3")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise PackagerError(f"--iou-threshold {self.iou_threshold} is not in (0, 1]", "e.g. --iou-threshold 0.5")
        if not 1 <= self.max_detections <= 1000:
            raise PackagerError(f"--max-detections {self.max_detections} is not between 1 and 1000", "e.g. --max-detections 10")
        if len(self.scales) != 4 or not all(np.isfinite(s) and s > 0 for s in self.scales):
            raise PackagerError(f"--box-scales {list(self.scales)} are not four positive numbers", "e.g. --box-scales 10,10,5,5 (y,x,h,w)")
        if self.box_coder == "mediapipe" and (self.scales[0] != self.scales[2] or self.scales[1] != self.scales[3]):
            raise PackagerError(f"--box-coder mediapipe needs the y and h scales equal and the x and w scales equal, got --box-scales {list(self.scales)}",
                                "give MediaPipe's x_scale,y_scale,w_scale,h_scale as --box-scales y,x,h,w, e.g. 128,128,128,128 for a 128x128 input")

    def to_manifest(self):

        return PostProcessSettings(anchors=int(len(self.anchors)), box_scales=[float(s) for s in self.scales],
                                   score_threshold=float(self.score_threshold), iou_threshold=float(self.iou_threshold),
                                   max_detections=int(self.max_detections), background_class=bool(self.background), box_coder=self.box_coder)


@dataclass(frozen=True)
class RawOutputs:
    """Which outputs of a raw detector are the box encodings and the class scores, and whether
    each comes anchors last ([1, 4, N], [1, K, N]: transposed before the op)."""

    boxes: int
    scores: int
    anchors: int  # N
    columns: int  # K, background included
    boxes_transposed: bool = False
    scores_transposed: bool = False
    box_values: int = 4  # values per anchor in the box output (MediaPipe's: 4 box + 2 per keypoint)


def has_postprocess(model: bytes) -> bool:
    """The model's outputs are TFLite_Detection_PostProcess's four (in any order)."""

    graph = parse_graph(model)
    return len(graph.outputs) == 4 and all(t.producer == OP_NAME for t in graph.outputs)


def standard_order(model: bytes) -> bool:
    """The four outputs are the op's outputs 0..3 in that order (location, category, score, count)."""

    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]
    op = next((o for o in graph.operators if _custom_code(tree, o) == OP_NAME), None)
    return op is not None and list(graph.outputs) == list(op.outputs)


ROLES = ("location", "category", "score", "number of detections")


def output_roles(model: bytes) -> tuple[str, ...] | None:
    """What each graph output is, when they are TFLite_Detection_PostProcess's outputs (in any
    order: a TF2 SavedModel's may come back reordered); None for any other model."""

    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]
    op = next((o for o in graph.operators or [] if _custom_code(tree, o) == OP_NAME), None)
    if op is None or op.outputs is None or len(op.outputs) != 4:
        return None
    position = {int(t): k for k, t in enumerate(op.outputs)}
    outputs = [int(t) for t in graph.outputs]
    if len(outputs) != 4 or not all(t in position for t in outputs):
        return None
    return tuple(ROLES[position[t]] for t in outputs)


def _custom_code(tree, op) -> str | None:
    code = tree.operatorCodes[op.opcodeIndex]
    custom = code.customCode
    return (custom.decode() if isinstance(custom, bytes) else custom) if custom else None


def find_raw_outputs(names: tuple[str, ...], shapes: list[tuple[int, ...]], boxes_name: str | None, scores_name: str | None,
                     box_coder: str = "tflite") -> RawOutputs:
    """Map a raw detector's outputs to box encodings and class scores (by --boxes-output /
    --scores-output, else by shape: [1, N, 4] and [1, N, K] in either order, else by name when
    both have K = 4). Outputs that come anchors last, [1, 4, N] and [1, K, N], are mapped too
    (transposed before the op) when N tells them apart from the anchors-first layout."""
    found = ", ".join(f"{n} {list(s)}" for n, s in zip(names, shapes))
    fix = "a detector must end in box encodings [1, N, 4] and class scores [1, N, K] over N anchors; map them with --boxes-output NAME --scores-output NAME"

    def index_of(wanted: str) -> int:
        for i, name in enumerate(names):
            if wanted in (name, name.split(":")[0]):
                return i
        raise PackagerError(f"the detector has no output {wanted!r} (outputs: {found})", fix)

    rank3 = [i for i, s in enumerate(shapes) if len(s) == 3 and s[0] == 1 and s[1] > 0 and s[2] > 0]
    given = (index_of(boxes_name) if boxes_name else None, index_of(scores_name) if scores_name else None)
    transposed = False
    if box_coder == "mediapipe":  # boxes [1, N, 4 + 2 * keypoints] and scores [1, N, K], anchors first
        mapped = _by_shape(names, shapes, rank3, *given, transposed=False, box_values=None)
        if mapped is None:
            raise PackagerError(f"--box-coder mediapipe: cannot tell the box values [1, N, C >= 4] and class scores [1, N, K] apart among the outputs {found}",
                                "name them with --boxes-output NAME --scores-output NAME")
        boxes, scores = mapped
        return RawOutputs(boxes, scores, int(shapes[boxes][1]), int(shapes[scores][2]), box_values=int(shapes[boxes][2]))
    mapped = _by_shape(names, shapes, rank3, *given, transposed=False)
    if mapped is None:
        transposed, mapped = True, _by_shape(names, shapes, rank3, *given, transposed=True)
    if mapped is None:
        given_boxes, given_scores = given
        if given_boxes is not None and given_scores is not None:
            raise PackagerError(f"boxes output {names[given_boxes]} {list(shapes[given_boxes])} and scores output {names[given_scores]} "
                                f"{list(shapes[given_scores])} "
                                "are not [1, N, 4] and [1, N, K] (nor [1, 4, N] and [1, K, N]) over the same N anchors", fix)
        raise PackagerError(f"cannot tell the box encodings and class scores apart among the outputs {found}", fix)
    boxes, scores = mapped
    b, s = shapes[boxes], shapes[scores]
    if transposed:
        return RawOutputs(boxes, scores, int(b[2]), int(s[1]), True, True)
    return RawOutputs(boxes, scores, int(b[1]), int(s[2]))


def _by_shape(names, shapes, rank3: list[int], boxes: int | None, scores: int | None, transposed: bool,
              box_values: int | None = 4) -> tuple[int, int] | None:
    """(boxes, scores) among the rank-3 outputs, anchors first ([1, N, 4], [1, N, K]) or, with
    `transposed`, anchors last ([1, 4, N], [1, K, N]); None when they cannot be told apart."""
    anchors_of = (lambda s: s[2]) if transposed else (lambda s: s[1])
    width_of = (lambda s: s[1]) if transposed else (lambda s: s[2])
    if box_values is None:  # MediaPipe's: the widest output is the boxes (4 + keypoints), at least 4
        width_of = lambda s: 4 if s[2] >= 4 and s[2] == max(shapes[i][2] for i in rank3) else -1  # noqa: E731
    if boxes is None:
        four = [i for i in rank3 if width_of(shapes[i]) == 4 and i != scores]
        named = [i for i in four if any(w in names[i].lower() for w in _BOX_WORDS)]
        boxes = four[0] if len(four) == 1 else (named[0] if len(named) == 1 else None)
    if boxes is None or boxes not in rank3 or width_of(shapes[boxes]) != 4:
        return None
    if scores is None:
        rest = [i for i in rank3 if i != boxes and anchors_of(shapes[i]) == anchors_of(shapes[boxes])]
        named = [i for i in rest if any(w in names[i].lower() for w in _SCORE_WORDS)]
        scores = rest[0] if len(rest) == 1 else (named[0] if len(named) == 1 else None)
    if scores is None or scores == boxes or scores not in rank3 or anchors_of(shapes[scores]) != anchors_of(shapes[boxes]):
        return None
    return boxes, scores


def _options(config: PostProcess, classes: int) -> bytes:
    from flatbuffers import flexbuffers  # noqa: PLC0415

    builder = flexbuffers.Builder()
    with builder.Map():  # the keys and types TensorFlow's converter writes (kernel: detection_postprocess.cc)
        builder.Int("max_detections", int(config.max_detections))
        builder.Int("max_classes_per_detection", 1)
        builder.Int("detections_per_class", 100)
        builder.Bool("use_regular_nms", False)
        builder.Float("nms_score_threshold", float(config.score_threshold))
        builder.Float("nms_iou_threshold", float(config.iou_threshold))
        builder.Int("num_classes", int(classes))
        builder.Float("y_scale", float(config.scales[0]))
        builder.Float("x_scale", float(config.scales[1]))
        builder.Float("h_scale", float(config.scales[2]))
        builder.Float("w_scale", float(config.scales[3]))
    return bytes(builder.Finish())


def attach(model: bytes, raw: RawOutputs, config: PostProcess) -> bytes:
    """`model` with TFLite_Detection_PostProcess appended to its box and score outputs; the four
    detection outputs become the graph's outputs (and its serving signature's)."""

    schema = _schema()


    config.check()
    if len(config.anchors) != raw.anchors:
        raise PackagerError(f"the detector predicts {raw.anchors} boxes but there are {len(config.anchors)} anchors",
                            "give the anchors the model was trained with (--anchors FILE, or the [detection] anchor grid in the config file)")
    classes = raw.columns - (1 if config.background else 0)
    if classes < 1:
        raise PackagerError(f"the scores output has {raw.columns} column(s): no class is left besides the background", "pass --no-background-class")
    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]

    def buffer(data: bytes | None) -> int:
        entry = schema.BufferT()
        entry.data = None if data is None else np.frombuffer(data, np.uint8)
        tree.buffers.append(entry)
        return len(tree.buffers) - 1

    def tensor(name: str, shape: list[int], data: bytes | None = None, kind: int = _FLOAT32) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, np.asarray(shape, np.int32), kind, buffer(data)
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def opcode(builtin: int, custom: str | None = None) -> int:
        for i, code in enumerate(tree.operatorCodes):
            name = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin and (name or None) == custom:
                return i
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        code.customCode = custom
        tree.operatorCodes.append(code)
        return len(tree.operatorCodes) - 1

    def as_float(index: int) -> int:
        t = graph.tensors[index]
        if t.type == _FLOAT32:
            return index
        name = t.name.decode() if isinstance(t.name, bytes) else t.name
        out = tensor(f"{name}_dequantized", list(t.shape))
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode(_DEQUANTIZE), np.asarray([index], np.int32), np.asarray([out], np.int32)
        graph.operators.append(op)
        return out

    def anchors_first(index: int) -> int:  # [1, C, N] -> [1, N, C]
        t = graph.tensors[index]
        name = t.name.decode() if isinstance(t.name, bytes) else t.name
        shape = [int(d) for d in t.shape]
        perm = tensor(f"{name}_perm", [3], np.asarray([0, 2, 1], np.int32).tobytes(), _INT32)
        out = tensor(f"{name}_anchors_first", [shape[0], shape[2], shape[1]])
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode(_TRANSPOSE), np.asarray([index, perm], np.int32), np.asarray([out], np.int32)
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.TransposeOptions, schema.TransposeOptionsT()
        graph.operators.append(op)
        return out

    def builtin(code: int, inputs: list[int], shape: list[int], name: str, options=None) -> int:
        out = tensor(name, shape)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode(code), np.asarray(inputs, np.int32), np.asarray([out], np.int32)
        if options is not None:
            op.builtinOptionsType, op.builtinOptions = options
        graph.operators.append(op)
        return out

    def mediapipe_boxes(index: int) -> int:
        """[1, N, C] MediaPipe box values (x, y, w, h, keypoints...) -> [1, N, 4] (y, x, log h, log w)
        for the op's decoder with scales 1 and anchor sizes divided by MediaPipe's scales (MEDIAPIPE)."""
        n = raw.anchors
        gather = schema.GatherOptionsT()
        gather.axis, gather.batchDims = 2, 0
        concat = schema.ConcatenationOptionsT()
        concat.axis = 2
        yx_index = tensor("mediapipe_yx_index", [2], np.asarray([1, 0], np.int32).tobytes(), _INT32)
        hw_index = tensor("mediapipe_hw_index", [2], np.asarray([3, 2], np.int32).tobytes(), _INT32)
        smallest = tensor("mediapipe_min_size", [], np.asarray(_MIN_SIZE, np.float32).tobytes())
        yx = builtin(_GATHER, [index, yx_index], [1, n, 2], "mediapipe_yx", (schema.BuiltinOptions.GatherOptions, gather))
        hw = builtin(_GATHER, [index, hw_index], [1, n, 2], "mediapipe_hw", (schema.BuiltinOptions.GatherOptions, gather))
        hw = builtin(_MAXIMUM, [hw, smallest], [1, n, 2], "mediapipe_hw_positive", (schema.BuiltinOptions.MaximumMinimumOptions, schema.MaximumMinimumOptionsT()))
        hw = builtin(_LOG, [hw], [1, n, 2], "mediapipe_log_hw")
        return builtin(_CONCATENATION, [yx, hw], [1, n, 4], "mediapipe_box_encodings", (schema.BuiltinOptions.ConcatenationOptions, concat))

    box_tensor, score_tensor = as_float(graph.outputs[raw.boxes]), as_float(graph.outputs[raw.scores])
    op_anchors = np.asarray(config.anchors, np.float32)
    if config.box_coder == "mediapipe":
        box_tensor = mediapipe_boxes(box_tensor)
        score_tensor = builtin(_LOGISTIC, [score_tensor], [1, raw.anchors, raw.columns], "mediapipe_scores")
        op_anchors = op_anchors.copy()
        op_anchors[:, 2] /= config.scales[2]
        op_anchors[:, 3] /= config.scales[3]
    if raw.boxes_transposed:
        box_tensor = anchors_first(box_tensor)
    if raw.scores_transposed:
        score_tensor = anchors_first(score_tensor)
    anchors = tensor("anchors", [raw.anchors, 4], np.ascontiguousarray(op_anchors, np.float32).tobytes())
    m = int(config.max_detections)
    outputs = [tensor(OUTPUT_NAMES[0], [1, m, 4]), tensor(OUTPUT_NAMES[1], [1, m]), tensor(OUTPUT_NAMES[2], [1, m]), tensor(OUTPUT_NAMES[3], [1])]
    op = schema.OperatorT()
    op.opcodeIndex = opcode(_CUSTOM, OP_NAME)
    op.inputs = np.asarray([box_tensor, score_tensor, anchors], np.int32)
    op.outputs = np.asarray(outputs, np.int32)
    op_config = replace(config, scales=(1.0, 1.0, 1.0, 1.0)) if config.box_coder == "mediapipe" else config
    op.customOptions = np.frombuffer(config.custom_options or _options(op_config, classes), np.uint8)
    op.customOptionsFormat = 0  # FLEXBUFFERS
    graph.operators.append(op)
    graph.outputs = np.asarray(outputs, np.int32)
    for index in graph.inputs:  # the op takes one image at a time: no dynamic batch
        t = graph.tensors[index]
        if t.shapeSignature is not None and len(t.shapeSignature) and t.shapeSignature[0] == -1:
            t.shapeSignature = np.asarray([1, *list(t.shapeSignature)[1:]], np.int32)
    _name_signature_outputs(tree, list(OUTPUT_NAMES), [int(t) for t in outputs])
    return flatbuffer.write(tree)


@dataclass(frozen=True)
class SourceOp:
    """A source model's own TFLite_Detection_PostProcess taken apart: the graph cut before the op
    (its outputs the op's box and score inputs: what variants are quantized from) and the op's
    anchors and options, put back unchanged on every variant by `attach`."""

    raw_model: bytes
    raw: RawOutputs
    config: PostProcess
    classes: int
    roles: tuple[str, ...]  # what the source's outputs are, in its order


def op_settings(options: bytes, anchors: np.ndarray) -> tuple[PostProcess, int]:
    """The op's custom options read as PostProcess (kept byte for byte) and its class count."""
    from flatbuffers import flexbuffers  # noqa: PLC0415

    root = flexbuffers.GetRoot(options).AsMap
    keys = {str(k.AsKey) for k in root.Keys}

    def number(key: str, default: float) -> float:
        return float(root[key].AsFloat) if key in keys else default

    config = PostProcess(anchors, (number("y_scale", 1.0), number("x_scale", 1.0), number("h_scale", 1.0), number("w_scale", 1.0)),
                         number("nms_score_threshold", 0.0), number("nms_iou_threshold", 0.5), int(number("max_detections", 10)),
                         True, options)
    return config, int(root["num_classes"].AsInt)


def detach(model: bytes) -> SourceOp:
    """`model` (whose outputs are the op's four) without the op: see SourceOp."""

    roles = output_roles(model)
    assert roles is not None, "detach takes a model whose outputs are the op's four (has_postprocess)"
    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]
    position = next(k for k, o in enumerate(graph.operators) if _custom_code(tree, o) == OP_NAME)
    op = graph.operators[position]
    box_tensor, score_tensor, anchor_tensor = (int(t) for t in op.inputs[:3])
    data = tree.buffers[graph.tensors[anchor_tensor].buffer].data
    if data is None or len(data) == 0:
        raise PackagerError(f"the model's {OP_NAME} takes its anchors from a tensor computed at run time, not a constant",
                            "convert it without the post-processing and build the raw detector with --anchors FILE")
    anchors = np.frombuffer(bytes(data), np.float32).reshape(-1, 4)
    config, classes = op_settings(bytes(bytearray(op.customOptions)), anchors)
    shapes = [[int(d) for d in graph.tensors[t].shape] for t in (box_tensor, score_tensor)]
    raw = RawOutputs(0, 1, shapes[0][1], shapes[1][2])
    del graph.operators[position]
    graph.outputs = np.asarray([box_tensor, score_tensor], np.int32)
    _name_signature_outputs(tree, ["raw_boxes", "raw_scores"], [box_tensor, score_tensor])
    flatbuffer.drop_unused_tensors(tree)  # the op's outputs and anchors: tensors nothing writes would be null to a calibrator
    return SourceOp(flatbuffer.write(tree), raw, config, classes, roles)


def standard_outputs(model: bytes) -> bytes:
    """`model` with its four op outputs in the standard order (unchanged when they are)."""

    if output_roles(model) == ROLES:
        return model
    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]
    op = next(o for o in graph.operators if _custom_code(tree, o) == OP_NAME)
    graph.outputs = np.asarray(op.outputs, np.int32)
    _name_signature_outputs(tree, list(OUTPUT_NAMES), [int(t) for t in op.outputs])
    return flatbuffer.write(tree)


def _name_signature_outputs(tree, names: list[str], tensors: list[int]) -> None:

    schema = _schema()
    for signature in tree.signatureDefs or []:
        if signature.subgraphIndex == 0:
            entries = []
            for name, index in zip(names, tensors):
                entry = schema.TensorMapT()
                entry.name, entry.tensorIndex = name, index
                entries.append(entry)
            signature.outputs = entries

