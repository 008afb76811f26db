"""The detection example: shapes on photographs, and a small SSD trained on them in seconds.

Images are 64x64 RGB crops of scikit-learn's two sample photographs (shipped inside the package,
no download) with one to three filled shapes (square, circle, triangle, diamond) drawn on them. The
detector is SSD-style: four stride-2 convolutions, anchors over the 8x8 and 4x4 feature maps
(two sizes each, 160 anchors), a conv box head and a conv class head (softmax over background +
4 classes) on each map. Outputs: `boxes` [1, 160, 4] encodings, `scores` [1, 160, 5].

The data set is written the way `packager build --task object_detection` reads one: a folder of
PNG images and `boxes.csv` beside them (see packager/detection/metrics.py for the format).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packager import quiet
from packager.detection.anchors import FeatureMap, encode, grid_anchors, iou
from packager.detection.metrics import write_boxes_csv

SIZE = 64
CLASSES = ("square", "circle", "triangle", "diamond")
MEAN, STD = (127.5,), (127.5,)
SCALES = (10.0, 10.0, 5.0, 5.0)
FEATURE_MAPS = (FeatureMap(8, 8, (0.18, 0.28)), FeatureMap(4, 4, (0.40, 0.56)))


@dataclass(frozen=True)
class Shapes:
    pixels: np.ndarray  # (N, 64, 64, 3) uint8
    boxes: list[np.ndarray]  # per image [k, 4] (ymin, xmin, ymax, xmax), normalized
    classes: list[np.ndarray]  # per image [k] class index into CLASSES


@dataclass(frozen=True)
class ShapesData:
    train_dir: Path
    test_dir: Path
    labels_file: Path
    anchors_file: Path
    boxes_file: Path  # test_dir/boxes.csv
    train: Shapes
    test: Shapes


def anchors() -> np.ndarray:
    return grid_anchors(FEATURE_MAPS)


def _backgrounds() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images  # noqa: PLC0415

    return list(load_sample_images().images)


def make_shapes(count: int, seed: int) -> Shapes:
    from PIL import Image, ImageDraw  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    photos = _backgrounds()
    pixels, all_boxes, all_classes = [], [], []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(64, 240))
        top, left = int(rng.integers(0, photo.shape[0] - side)), int(rng.integers(0, photo.shape[1] - side))
        image = Image.fromarray(photo[top : top + side, left : left + side]).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(image)
        boxes: list[np.ndarray] = []
        classes: list[int] = []
        for _ in range(int(rng.integers(1, 4))):
            for _attempt in range(10):
                h = float(rng.uniform(11, 34))
                w = float(np.clip(h * rng.uniform(0.8, 1.25), 10, 36))
                y0, x0 = float(rng.uniform(0, SIZE - h)), float(rng.uniform(0, SIZE - w))
                box = np.array([y0, x0, y0 + h, x0 + w]) / SIZE
                if not boxes or iou(box[None], np.array(boxes)).max() < 0.1:
                    break
            else:
                continue
            kind = int(rng.integers(len(CLASSES)))
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            outline = tuple(255 - c for c in color)
            xy = [x0, y0, x0 + w, y0 + h]
            if kind == 0:
                draw.rectangle(xy, fill=color, outline=outline)
            elif kind == 1:
                draw.ellipse(xy, fill=color, outline=outline)
            elif kind == 2:
                draw.polygon([(x0 + w / 2, y0), (x0 + w, y0 + h), (x0, y0 + h)], fill=color, outline=outline)
            else:
                draw.polygon([(x0 + w / 2, y0), (x0 + w, y0 + h / 2), (x0 + w / 2, y0 + h), (x0, y0 + h / 2)], fill=color, outline=outline)
            boxes.append(box)
            classes.append(kind)
        pixels.append(np.asarray(image, np.uint8))
        all_boxes.append(np.asarray(boxes, np.float32).reshape(-1, 4))
        all_classes.append(np.asarray(classes, np.int64))
    return Shapes(np.stack(pixels), all_boxes, all_classes)


def write_shapes_dataset(root: Path, train: int = 800, test: int = 120, seed: int = 0, calib: int = 100) -> ShapesData:
    """train/ (the first `calib` training images, for calibration; all of them stay in memory for
    training) and test/ folders of PNGs with boxes.csv, and labels.txt and anchors.npy, under root."""
    from PIL import Image  # noqa: PLC0415


    root.mkdir(parents=True, exist_ok=True)
    parts = {"train": make_shapes(train, seed), "test": make_shapes(test, seed + 1)}
    for part, shapes in parts.items():
        folder = root / part
        folder.mkdir(exist_ok=True)
        names = [f"{i:04d}.png" for i in range(len(shapes.pixels) if part == "test" else min(calib, len(shapes.pixels)))]
        for name, image in zip(names, shapes.pixels):
            if not (folder / name).exists():
                Image.fromarray(image).save(folder / name)
        write_boxes_csv(folder / "boxes.csv", names, shapes.boxes, shapes.classes, CLASSES)
    labels_file = root / "labels.txt"
    labels_file.write_text("".join(f"{c}\n" for c in CLASSES), encoding="utf-8")
    np.save(root / "anchors.npy", anchors())
    return ShapesData(root / "train", root / "test", labels_file, root / "anchors.npy", root / "test" / "boxes.csv",
                      parts["train"], parts["test"])


def targets(shapes: Shapes, anchor_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor: class (0 background, 1.. the shapes) and box encoding; an anchor is positive
    at IoU >= 0.5 with a box, and each box's best anchor is positive."""
    corners = np.concatenate([anchor_boxes[:, :2] - anchor_boxes[:, 2:] / 2, anchor_boxes[:, :2] + anchor_boxes[:, 2:] / 2], axis=1)
    n = len(shapes.pixels)
    cls = np.zeros((n, len(anchor_boxes)), np.int64)
    enc = np.zeros((n, len(anchor_boxes), 4), np.float32)
    for i, (boxes, classes) in enumerate(zip(shapes.boxes, shapes.classes)):
        if not len(boxes):
            continue
        overlap = iou(corners, boxes)  # [N, k]
        best = overlap.argmax(axis=1)
        positive = overlap.max(axis=1) >= 0.5
        forced = overlap.argmax(axis=0)
        best[forced] = np.arange(len(boxes))
        positive[forced] = True
        cls[i, positive] = classes[best[positive]] + 1
        enc[i] = encode(boxes[best], anchor_boxes, SCALES)
    return cls, enc


def build_detector():
    quiet.import_tensorflow()
    import keras  # noqa: PLC0415

    layers = keras.layers
    k = len(CLASSES) + 1
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inputs
    maps = []
    for i, filters in enumerate((16, 32, 48, 64)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        if i >= 2:
            maps.append(x)
    boxes, logits = [], []
    for fm, feature in zip(FEATURE_MAPS, maps):
        boxes.append(layers.Reshape((-1, 4))(layers.Conv2D(fm.per_cell * 4, 3, padding="same")(feature)))
        logits.append(layers.Reshape((-1, k))(layers.Conv2D(fm.per_cell * k, 3, padding="same")(feature)))
    box_out = layers.Concatenate(axis=1, name="boxes")(boxes)
    score_out = layers.Softmax(name="scores")(layers.Concatenate(axis=1)(logits))
    return keras.Model(inputs, [box_out, score_out], name="shapes_ssd")


def train_detector(data: ShapesData, epochs: int = 14, seed: int = 0, batch: int = 32):
    """SSD loss (softmax cross-entropy with 3:1 hard negatives, Huber on positive boxes), Adam."""
    tf = quiet.import_tensorflow()
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    model = build_detector()
    cls, enc = targets(data.train, anchors())
    x = ((data.train.pixels.astype(np.float32) - MEAN[0]) / STD[0])
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(images, labels, encodings):
        with tf.GradientTape() as tape:
            pred_boxes, pred_scores = model(images, training=True)
            ce = -tf.math.log(tf.gather(pred_scores, labels, batch_dims=2) + 1e-7)
            positive = tf.cast(labels > 0, tf.float32)
            n_pos = tf.maximum(tf.reduce_sum(positive), 1.0)
            negative_ce = tf.reshape(ce * (1.0 - positive), [-1])
            k = tf.minimum(tf.cast(3.0 * n_pos, tf.int32), tf.size(negative_ce))
            hard = tf.reduce_sum(tf.math.top_k(negative_ce, k).values)
            box = tf.reduce_sum(tf.reduce_sum(keras.ops.where(tf.abs(pred_boxes - encodings) < 1.0, 0.5 * (pred_boxes - encodings) ** 2,
                                                              tf.abs(pred_boxes - encodings) - 0.5), axis=-1) * positive)
            loss = (tf.reduce_sum(ce * positive) + hard + box) / n_pos
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            pick = order[start : start + batch]
            step(tf.constant(x[pick]), tf.constant(cls[pick]), tf.constant(enc[pick]))
    return model
