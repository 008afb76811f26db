"""A real trained segmenter from a PyPI wheel through `packager build --task segmentation`.

    uv run python benchmarks/real_segmenter.py [--cache DIR] [--keep DIR]

The model: MediaPipe's selfie segmentation (`selfie_segmentation.tflite` in the mediapipe 0.10.14
wheel): 256x256 RGB in [0, 1], one output [1, 256, 256, 1], the probability that a pixel is a person.
Two things stand between it and a stock LiteRT, and this script changes both, in the flatbuffer, with
packager's own flatbuffer module (nothing trained, no weight changed):
- its last upsampling is MediaPipe's custom operator Convolution2DTransposeBias (LiteRT has no kernel
  for it): replaced by the builtin TRANSPOSE_CONV with the same weights, bias, strides and padding
  (TRANSPOSE_CONV takes a bias input since TFLite 2.5); its float16 weights are widened to float32
  exactly (packager.tflite.float16);
- a segmenter has a class axis: the probability p becomes two class scores (1 - p, p) with a SUB and a
  CONCATENATION, so the category mask (argmax) is "person" where p > 0.5, as MediaPipe thresholds it.
Images: crops of the photographs in the scikit-image wheel (`skimage/data`; astronaut.png and camera.png
have a person, the others none), all pip-downloaded (--no-deps) into the cache; nothing committed.

Each of fp16, dynamic and int8 is built on its own (one bundle each), and its model is run here with
LiteRT on the evaluation crops: per-pixel agreement and mean IoU of its masks against the float model's,
computed independently of packager, beside what packager's manifest says. No TF-converter comparison:
the source is a .tflite (the TF converter needs a Keras/SavedModel source). No ground truth: no human
masks ship with these photos, so the figures are against float only. The golden files' sizes are
printed against what the raw float scores would take.
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
from packager.tflite import flatbuffer  # noqa: E402
from packager.tflite.float16 import expand_float16_weights  # noqa: E402

MEDIAPIPE, SKIMAGE = "mediapipe==0.10.14", "scikit-image==0.25.2"
MODEL = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SIZE = 256
PEOPLE = ("astronaut.png", "camera.png")
OTHERS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "horse.png", "coins.png")
CUSTOM = b"Convolution2DTransposeBias"


def _code(tree, schema, builtin: int) -> int:
    """The index of `builtin`'s operator code, added when the model has none."""
    for i, c in enumerate(tree.operatorCodes):
        if c.customCode is None and max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    tree.operatorCodes.append(code)
    return len(tree.operatorCodes) - 1


def _constant(tree, sub, schema, values: np.ndarray, name: str) -> int:
    buffer = schema.BufferT()
    buffer.data = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
    tree.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = np.asarray(values.shape, np.int32), {np.float32: 0, np.int32: 2}[values.dtype.type], \
        len(tree.buffers) - 1, name.encode()
    sub.tensors.append(tensor)
    return len(sub.tensors) - 1


def _activation(sub, schema, like: int, shape: tuple[int, ...], name: str) -> int:
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = np.asarray(shape, np.int32), 0, 0, name.encode()
    sub.tensors.append(tensor)
    return len(sub.tensors) - 1


def stock_segmenter(model: bytes) -> bytes:
    """The selfie model for a stock LiteRT, with a class axis (see the module doc)."""
    tree = flatbuffer.read(expand_float16_weights(model))
    schema = flatbuffer.schema()
    sub = tree.subgraphs[0]
    transpose_conv = _code(tree, schema, schema.BuiltinOperator.TRANSPOSE_CONV)
    for op in sub.operators:
        if tree.operatorCodes[op.opcodeIndex].customCode != CUSTOM:
            continue
        x, weights, bias = (int(i) for i in op.inputs)
        padding, stride_w, stride_h = np.frombuffer(bytes(op.customOptions), np.int32)  # TfLiteTransposeConvParams
        out_shape = np.asarray(sub.tensors[int(op.outputs[0])].shape, np.int32)
        options = schema.TransposeConvOptionsT()
        options.padding = {1: schema.Padding.SAME, 2: schema.Padding.VALID}[int(padding)]  # TfLitePadding -> schema Padding
        options.strideW, options.strideH = int(stride_w), int(stride_h)
        op.opcodeIndex, op.customOptions, op.customOptionsFormat = transpose_conv, None, 0
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.TransposeConvOptions, options
        op.inputs = np.asarray([_constant(tree, sub, schema, out_shape, "output_shape"), weights, x, bias], np.int32)
    if any(tree.operatorCodes[op.opcodeIndex].customCode for op in sub.operators):
        raise SystemExit("the model has another custom operator")
    # p [1, H, W, 1] -> scores [1, H, W, 2] = (1 - p, p): class 0 background, class 1 person
    p = int(sub.outputs[0])
    shape = tuple(int(d) for d in sub.tensors[p].shape)
    one = _constant(tree, sub, schema, np.ones((1,), np.float32), "one")
    rest = _activation(sub, schema, p, shape, "background")
    scores = _activation(sub, schema, p, (*shape[:3], 2), "segmentation_scores")
    minus, concat = schema.OperatorT(), schema.OperatorT()
    minus.opcodeIndex, minus.inputs, minus.outputs = _code(tree, schema, schema.BuiltinOperator.SUB), np.asarray([one, p], np.int32), np.asarray([rest], np.int32)
    minus.builtinOptionsType, minus.builtinOptions = schema.BuiltinOptions.SubOptions, schema.SubOptionsT()
    concat.opcodeIndex = _code(tree, schema, schema.BuiltinOperator.CONCATENATION)
    concat.inputs, concat.outputs = np.asarray([rest, p], np.int32), np.asarray([scores], np.int32)
    options = schema.ConcatenationOptionsT()
    options.axis = 3
    concat.builtinOptionsType, concat.builtinOptions = schema.BuiltinOptions.ConcatenationOptions, options
    sub.operators += [minus, concat]
    sub.outputs = np.asarray([scores], np.int32)
    if tree.signatureDefs:  # the signature names the output it had: it now names the scores
        for sig in tree.signatureDefs:
            for entry in sig.outputs or []:
                entry.tensorIndex = scores
    tree.metadata, tree.metadataBuffer = None, None  # MediaPipe's metadata described the probability output
    return flatbuffer.write(tree)


def photos(cache: Path) -> dict[str, np.ndarray]:
    from PIL import Image  # noqa: PLC0415

    out = {}
    with zipfile.ZipFile(download(SKIMAGE, cache)) as archive:
        for name in PEOPLE + OTHERS:
            with archive.open(f"skimage/data/{name}") as f:
                out[name] = np.asarray(Image.open(f).convert("RGB"))
    return out


def crops(images: dict[str, np.ndarray], count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Square crops resized to 256x256, two in three from the photographs with a person."""
    from PIL import Image  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        name = PEOPLE[i % 2] if i % 3 else OTHERS[(i // 3) % len(OTHERS)]
        image = images[name]
        h, w = image.shape[:2]
        side = int(rng.uniform(0.55, 1.0) * min(h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out.append((name, np.asarray(Image.fromarray(image[top : top + side, left : left + side]).resize((SIZE, SIZE), Image.BILINEAR))))
    return out


def run(model: bytes, pixels: np.ndarray) -> np.ndarray:
    """[N, H, W, C] dequantized scores of `model` on 0-255 pixels (inputs (pixel - 0) / 255), one image at a time."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    found = []
    for p in pixels:
        x = p.astype(np.float32)[None] / 255.0
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.rint(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float64) - zero) * scale
        found.append(y[0])
    return np.stack(found)


def mean_iou(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    ious = [((a == c) & (b == c)).sum() / ((a == c) | (b == c)).sum() for c in range(classes) if ((a == c) | (b == c)).any()]
    return float(np.mean(ious))


def packager(args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "packager.cli", "build", *args]
    print("$ packager build " + " ".join(args), flush=True)
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def main() -> int:
    from PIL import Image  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("PACKAGER_REAL_MODELS", Path.home() / ".cache" / "packager-real-models")))
    parser.add_argument("--keep", type=Path, help="keep the data and bundles here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="real-segmenter-"))
    work.mkdir(parents=True, exist_ok=True)
    source = extract(download(MEDIAPIPE, args.cache), args.cache, "mediapipe/modules/selfie_segmentation/") / MODEL
    model = stock_segmenter(source.read_bytes())
    (work / "selfie.tflite").write_bytes(model)
    images = photos(args.cache)
    for folder, count, seed in (("eval", 24, 1), ("calib", 32, 2)):
        (work / folder).mkdir(exist_ok=True)
        for i, (name, pixels) in enumerate(crops(images, count, seed)):
            Image.fromarray(pixels).save(work / folder / f"{i:02d}_{Path(name).stem}.png")
    (work / "labels.txt").write_text("background\nperson\n")
    eval_files = sorted((work / "eval").glob("*.png"))
    pixels = np.stack([np.asarray(Image.open(f)) for f in eval_files])
    float_masks = run(model, pixels).argmax(-1)
    print(f"selfie segmentation, stock LiteRT: {len(model) / 2**20:.2f} MiB float32; person on {float_masks.mean():.1%} of the "
          f"{len(pixels)} evaluation crops' pixels")
    rows = []
    for quant in ("fp16", "dynamic", "int8"):
        dist = work / f"dist-{quant}"
        proc = packager([str(work / "selfie.tflite"), "--task", "segmentation", "--mean", "0", "--std", "255", "--labels", str(work / "labels.txt"),
                         "--quant", quant, "--calib-data", str(work / "calib"), "--eval-data", str(work / "eval"), "--name", "selfie",
                         "-o", str(dist), "--no-latency"])
        if proc.returncode != 0:
            rows.append((quant, None))
            continue
        bundle = dist / "selfie"
        manifest = json.loads((bundle / "manifest.json").read_text())
        variant = run((bundle / manifest["model"]["file"]).read_bytes(), pixels).argmax(-1)
        chosen = manifest["metrics"]["chosen"]
        rows.append((quant, {"agreement": float((variant == float_masks).mean()), "miou": mean_iou(variant, float_masks, 2),
                             "packager_agreement": chosen.get("top1_agreement"), "packager_miou": chosen.get("mean_iou"),
                             "figure": chosen.get("figure"), "kib": manifest["model"]["size_bytes"] / 1024, "golden": manifest["golden"]}))
    print(f"\n{'variant':8} {'KiB':>8} {'pixels agree':>13} {'mIoU':>7}   packager's manifest (agreement, mIoU, figure)")
    for quant, r in rows:
        if r is None:
            print(f"{quant:8} build failed")
            continue
        pa, pm = r["packager_agreement"], r["packager_miou"]
        print(f"{quant:8} {r['kib']:8.0f} {r['agreement']:13.2%} {r['miou']:7.4f}   {pa if pa is None else f'{pa:.2%}'}, "
              f"{pm if pm is None else f'{pm:.4f}'}, {r['figure']}")
    for quant, r in rows:
        if r is not None:
            g = r["golden"]
            budget = g.get("budget", {})
            raw = g["count"] * SIZE * SIZE * 2 * 4
            print(f"golden files ({quant}): {budget.get('bytes', 0) / 1024:.0f} KiB for {budget.get('kept')} of {budget.get('requested')} samples, "
                  f"budget {budget.get('budget_bytes', 0) / 1024:.0f} KiB, stored {budget.get('outputs_stored')}; the float scores alone would take "
                  f"{raw / 1024:.0f} KiB")
    print(f"\nbundles in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
