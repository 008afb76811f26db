"""What a user writes by hand to do `packager build`'s work with the TF converter (the tutorials' way).

Load the Keras model, run one TFLiteConverter.from_keras_model(...).convert() per variant (fp32,
fp16, dynamic-range, full int8, int16x8; the static ones with a representative dataset of the
calibration images), write each .tflite, then evaluate each variant with tf.lite.Interpreter in
a per-image loop (PIL decode, resize, normalize, quantize the input, invoke) and print top-1
accuracy and agreement with fp32.

benchmarks/bench_cli.py times this script as a whole process against `packager build`.

Run: python benchmarks/naive_build.py MODEL.keras CALIB_DIR EVAL_DIR OUT_DIR --mean 127.5 --std 127.5
"""

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("model", "calib", "eval", "out"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--mean", type=float, default=127.5)
    parser.add_argument("--std", type=float, default=127.5)
    parser.add_argument("--calib-samples", type=int, default=100)
    args = parser.parse_args()

    model = tf.keras.models.load_model(args.model, compile=False)
    height, width = model.input_shape[1:3]

    def preprocess(path: Path) -> np.ndarray:
        image = Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR)
        return ((np.asarray(image, dtype=np.float32) - args.mean) / args.std)[None]

    calib_files = sorted(args.calib.rglob("*.jpg"))[: args.calib_samples]

    def representative():
        for path in calib_files:
            yield [preprocess(path)]

    args.out.mkdir(parents=True, exist_ok=True)
    models = {}
    for variant in VARIANTS:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if variant != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        if variant == "int16x8":
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        models[variant] = converter.convert()
        (args.out / f"model_{variant}.tflite").write_bytes(models[variant])

    eval_files = sorted(args.eval.rglob("*.jpg"))
    class_names = sorted(p.name for p in args.eval.iterdir() if p.is_dir())
    labels = np.array([class_names.index(p.parent.name) for p in eval_files])
    outputs = {}
    for variant, content in models.items():
        interpreter = tf.lite.Interpreter(model_content=content)
        interpreter.allocate_tensors()
        tin, tout = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        rows = []
        for path in eval_files:
            x = preprocess(path)
            if tin["dtype"] != np.float32:
                scale, zero = tin["quantization"]
                info = np.iinfo(tin["dtype"])
                x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(tin["dtype"])
            interpreter.set_tensor(tin["index"], x)
            interpreter.invoke()
            y = interpreter.get_tensor(tout["index"])[0]
            if tout["dtype"] != np.float32:
                scale, zero = tout["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            rows.append(y)
        outputs[variant] = np.stack(rows)
    reference = outputs["fp32"].argmax(1)
    for variant, out in outputs.items():
        top1 = out.argmax(1)
        print(f"{variant:8s} {len(models[variant]) / 1024:8.1f} KiB  accuracy {(top1 == labels).mean():.3f}  "
              f"agreement {(top1 == reference).mean():.3f}")


if __name__ == "__main__":
    main()
