"""A real trained detector from a PyPI wheel through `packager build --task object_detection`.

    uv run python benchmarks/real_detector.py [--cache DIR] [--keep DIR]

The model: MediaPipe's BlazeFace short range (`face_detection_short_range.tflite` in the mediapipe
0.10.14 wheel): 128x128 RGB in [-1, 1], `regressors [1, 896, 16]` (x, y, w, h, six keypoints,
in pixels, decoded linearly) and `classificators [1, 896, 1]` (logits), over MediaPipe's SSD
anchors (16x16 cells with 2 anchors, 8x8 with 6, fixed size 1). Built with `--box-coder
mediapipe`, the anchor grid in a config file, `--box-scales 128,128,128,128`. Images: crops of
the photographs in the scikit-image wheel (`skimage/data`: astronaut.png and camera.png have a
face; the others have none), all pip-downloaded (--no-deps) into the cache, nothing committed.

What it checks and prints:
- the float bundle's detections on the astronaut photo against MediaPipe's decoding of the source
  model's raw outputs, written here in numpy from MediaPipe's formulas (the best box's IoU, and
  its score);
- precision/recall/F1 of int8 and fp16 against float (boxes at IoU >= 0.5), score errors, and
  mAP@0.5 against the boxes.csv written from MediaPipe's own decoding of the float source on each
  evaluation image (a face box per detection scoring >= 0.5 after NMS), so "mAP" here is agreement
  with MediaPipe's reference pipeline, not with human labels (none ship with these photos).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.real_models import download, extract  # noqa: E402
from packager.tflite.float16 import expand_float16_weights  # noqa: E402

MEDIAPIPE, SKIMAGE = "mediapipe==0.10.14", "scikit-image==0.25.2"
MODEL = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
SIZE, SCALE = 128, 128.0
GRID = ((16, 16, 2), (8, 8, 6))  # MediaPipe's SsdAnchorsCalculator for this model: strides 8, 16, 16, 16
FACES = ("astronaut.png", "camera.png")
OTHERS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "coins.png", "brick.png", "grass.png", "gravel.png",
          "hubble_deep_field.jpg", "horse.png", "page.png", "moon.png")


def anchors() -> np.ndarray:
    out = []
    for h, w, per_cell in GRID:
        for row in range(h):
            for col in range(w):
                out.extend([((row + 0.5) / h, (col + 0.5) / w, 1.0, 1.0)] * per_cell)
    return np.asarray(out, np.float32)


def mediapipe_decode(regressors: np.ndarray, logits: np.ndarray, min_score: float = 0.5, iou: float = 0.3) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's TensorsToDetectionsCalculator (reverse_output_order, scales 128) and a plain
    NMS: [(box ymin, xmin, ymax, xmax normalized, score)], best first."""
    a = anchors()
    x = regressors[:, 0] / SCALE * a[:, 3] + a[:, 1]
    y = regressors[:, 1] / SCALE * a[:, 2] + a[:, 0]
    w = regressors[:, 2] / SCALE * a[:, 3]
    h = regressors[:, 3] / SCALE * a[:, 2]
    scores = 1 / (1 + np.exp(-np.clip(logits[:, 0].astype(np.float64), -100, 100)))
    boxes = np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1)
    kept: list[tuple[np.ndarray, float]] = []
    for i in np.argsort(-scores):
        if scores[i] < min_score:
            break
        if all(box_iou(boxes[i], k) < iou for k, _ in kept):
            kept.append((boxes[i], float(scores[i])))
    return kept


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ih, iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0])), max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ih * iw
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def photos(cache: Path) -> dict[str, np.ndarray]:
    from PIL import Image  # noqa: PLC0415

    wheel = download(SKIMAGE, cache)
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in FACES + OTHERS:
            with archive.open(f"skimage/data/{name}") as f:
                out[name] = np.asarray(Image.open(f).convert("RGB"))
    return out


def crops(image: np.ndarray, count: int, rng: np.random.Generator, around_face: bool) -> list[np.ndarray]:
    from PIL import Image  # noqa: PLC0415

    h, w = image.shape[:2]
    out = []
    for _ in range(count):
        side = int(rng.uniform(0.45, 1.0) * min(h, w)) if around_face else int(rng.uniform(0.3, 1.0) * min(h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(image[top : top + side, left : left + side]).resize((SIZE, SIZE), Image.BILINEAR)
        out.append(np.asarray(crop))
    return out


def run_tflite(model: Path, pixels: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    x = pixels.astype(np.float32)[None]
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        x = (x - 127.5) / 127.5
        x = np.clip(np.rint(x / scale + zero), np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max).astype(inp["dtype"])
    else:
        x = (x - 127.5) / 127.5
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("PACKAGER_REAL_MODELS", Path.home() / ".cache" / "packager-real-models")))
    parser.add_argument("--keep", type=Path, help="keep the data and bundles here")
    args = parser.parse_args()
    from PIL import Image  # noqa: PLC0415

    model = extract(download(MEDIAPIPE, args.cache), args.cache, "mediapipe/modules/face_detection/") / MODEL
    images = photos(args.cache)
    work = args.keep or Path(tempfile.mkdtemp(prefix="real-detector-"))
    work.mkdir(parents=True, exist_ok=True)
    # the wheel's model has float16 weights behind DEQUANTIZEs: packager widens them itself (packager.tflite.float16);
    # widened here too because the float reference below runs this file
    (work / "blazeface.tflite").write_bytes(expand_float16_weights(model.read_bytes()))
    model = work / "blazeface.tflite"
    rng = np.random.default_rng(0)
    calib, evaluation = work / "calib", work / "eval"
    for folder in (calib, evaluation):
        folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for name, image in images.items():  # calibration: every photo, faces or not
        for crop in crops(image, 12, rng, name in FACES):
            Image.fromarray(crop).save(calib / f"{k:03d}.png")
            k += 1
    rows, k = ["image,label,ymin,xmin,ymax,xmax"], 0
    for name, image in images.items():  # evaluation: more face crops, a few of each other photo
        for crop in crops(image, 16 if name in FACES else 3, rng, name in FACES):
            file = f"{k:03d}.png"
            Image.fromarray(crop).save(evaluation / file)
            regressors, logits = (o[0] for o in sorted(run_tflite(model, crop), key=lambda t: -t.shape[-1]))
            rows += [f"{file},face,{b[0]:.5f},{b[1]:.5f},{b[2]:.5f},{b[3]:.5f}" for b, _ in mediapipe_decode(regressors, logits)
                     for b in [np.clip(b, 0.0, 1.0)]]  # boxes.csv is normalized 0..1, as decode.py clips
            k += 1
    (evaluation / "boxes.csv").write_text("\n".join(rows) + "\n")
    (work / "labels.txt").write_text("face\n")
    grid = "".join(f"\n[[detection.anchor_grid]]\nheight = {h}\nwidth = {w}\nsizes = {[1.0] * n}\n" for h, w, n in GRID)
    config = work / "build.toml"
    config.write_text(f'model = "{model}"\nname = "blazeface"\ntask = "object_detection"\noutput = "{work / "dist"}"\n'
                      f'[data]\ncalib = "{calib}"\neval = "{evaluation}"\n[preprocessing]\nmean = [127.5]\nstd = [127.5]\n'
                      f'[metadata]\nlabels = "{work / "labels.txt"}"\nreplace = true\n'  # MediaPipe's own metadata describes its raw outputs
                      f'[detection]\nbox_coder = "mediapipe"\nbox_scales = [128.0, 128.0, 128.0, 128.0]\nscore_threshold = 0.5\n'
                      f'iou_threshold = 0.3\nmax_detections = 10\n{grid}')
    command = ["packager", "build", "--config", str(config), "--quant", "int8,fp16,dynamic", "--no-latency"]
    print("$", " ".join(command), flush=True)
    done = subprocess.run([str(Path(sys.executable).with_name("packager")), *command[1:]], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="100"))
    print(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(done.returncode)
    bundle = work / "dist" / "blazeface"
    manifest = json.loads((bundle / "manifest.json").read_text())
    for v in manifest["metrics"]["variants"] + [manifest["metrics"]["float"]]:
        d = v["detection"]
        print(f"{v['name']:6} mAP@0.5 {d['map50']:.3f}  precision {d['precision']:.3f}  recall {d['recall']:.3f}  F1 {d['agreement']:.3f}  "
              f"score error mean {d['score_error_mean']:.4f} max {d['score_error_max']:.4f}  {v['size_bytes'] / 1024:.1f} KiB")
    # the float model with the op on the astronaut photo, against MediaPipe's decoding of the source
    astronaut = np.asarray(Image.fromarray(images["astronaut.png"][:256, 128:384]).resize((SIZE, SIZE), Image.BILINEAR))  # her head
    regressors, logits = (o[0] for o in sorted(run_tflite(model, astronaut), key=lambda t: -t.shape[-1]))
    reference = mediapipe_decode(regressors, logits)
    float_file = work / "float_with_op.tflite"
    subprocess.run([str(Path(sys.executable).with_name("packager")), "build", "--config", str(config), "--quant", "fp32", "--no-latency", "-o", str(work / "fp32")],
                   check=True, capture_output=True)
    fp32 = next((work / "fp32" / "blazeface").glob("*.tflite"))
    float_file.write_bytes(fp32.read_bytes())
    boxes, classes, scores, count = run_tflite(float_file, astronaut)
    n = int(count[0])
    print(f"astronaut: MediaPipe's decoding {len(reference)} face(s), best {np.round(reference[0][0], 4).tolist() if reference else None} "
          f"score {reference[0][1] if reference else 0:.4f}; packager's float bundle {n} detection(s), best "
          f"{np.round(boxes[0, 0], 4).tolist() if n else None} score {scores[0, 0] if n else 0:.4f}; "
          f"IoU {box_iou(reference[0][0], boxes[0, 0]) if reference and n else 0:.4f}")


if __name__ == "__main__":
    main()
