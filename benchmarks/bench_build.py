"""packager build against the naive way, on the same model and the same data.

Model: MobileNetV2 (alpha 0.35, 96x96 RGB, untrained weights: conversion and inference cost do
not depend on what the weights learned). Data: JPEG photos (crops of scikit-learn's bundled
sample photos), 128x128, so every image is decoded and resized.

1. Conversion of fp32, fp16, dynamic, int8 and int16x8 with the same calibration images.
   naive:    one tf.lite.TFLiteConverter.from_keras_model(...).convert() per variant, as the
             tutorials do (the Keras model is already in memory; loading it is not timed).
   packager: `packager build` (library call): load, convert to float once, one calibration
             pass, ai-edge-quantizer for the variants.
2. Evaluation of those five variants on the same N JPEG images, end to end (decode, preprocess,
   inference, metrics).
   naive:    for each variant, a per-image loop: PIL decode, resize, normalize, set_tensor, invoke.
   packager: decode and preprocess once, on a background thread, while batched inference on
             both cores runs each chunk of images as soon as it is decoded (as `packager build`
             does with its evaluation folder, which it decodes while the variants are made).
   Also timed: inference alone per variant (single thread, inputs ready), the CPU time no
   evaluation avoids; divided by the cores it gives the best ratio possible on this machine.

Then `--repeat` times (default 3), alternated: packager's evaluation, then inference alone; the
median ratio of the two is printed (wall, and CPU seconds against inference alone's). Last, twice:
`packager build` with the 500 JPEGs as --eval-data (one engine, so that the evaluate stage runs every
variant), its evaluate stage against inference alone measured right after: in a build the folder is
decoded while the variants are made, and the evaluate stage is what is left.

Run: uv run python benchmarks/bench_build.py [--images 500] [--calib 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ratio, timer, write_photo_dataset  # noqa: E402
from packager import quiet  # noqa: E402

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
MEAN = STD = 127.5
SIZE = 96


def naive_preprocess(path: Path) -> np.ndarray:
    from PIL import Image

    image = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    return ((np.asarray(image, dtype=np.float32) - MEAN) / STD)[None]


def naive_convert(model, calib_files: list[Path]) -> dict[str, bytes]:
    tf = quiet.import_tensorflow()

    def representative():
        for path in calib_files:
            yield [naive_preprocess(path)]

    out = {}
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
        with quiet.captured_output():
            out[variant] = converter.convert()
    return out


def naive_evaluate(models: dict[str, bytes], files: list[Path], labels: np.ndarray) -> dict[str, dict]:
    from ai_edge_litert.interpreter import Interpreter

    outputs = {}
    for name, model in models.items():
        interpreter = Interpreter(model_content=model)
        interpreter.allocate_tensors()
        tin, tout = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        rows = []
        for path in files:
            x = naive_preprocess(path)
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
        outputs[name] = np.stack(rows)
    reference = outputs["fp32"]
    return {
        name: {
            "accuracy": float((out.argmax(1) == labels).mean()),
            "agreement": float((out.argmax(1) == reference.argmax(1)).mean()),
            "max_abs_error": float(np.abs(out - reference).max()),
        }
        for name, out in outputs.items()
    }


def packager_evaluate(models: dict[str, bytes], folder: Path, labels_list: list[str]) -> dict[str, dict]:
    """As the build does: the folder decoded by a background thread (packager.data.loading), each chunk of
    images evaluated by every variant as soon as it is decoded (packager.runtime.evaluate.run_all)."""
    from packager.data.readers import start_loading
    from packager.runtime.evaluate import compare, run_all
    from packager.data.preprocess import Preprocessing

    pre = Preprocessing(size=(SIZE, SIZE), color_space="RGB", mean=(MEAN,), std=(STD,))
    loading = start_loading(folder, pre, (SIZE, SIZE, 3), allow_resize=True, label_names=labels_list)
    outputs, _ = run_all(models, loading, measure_latency=False)
    labels = loading.labels
    reference = outputs["fp32"]
    metrics = {}
    for name, out in outputs.items():
        m = compare(name, name, "", len(models[name]), out, reference, labels, len(labels_list), None)
        metrics[name] = {"accuracy": m.accuracy, "agreement": m.top1_agreement, "max_abs_error": m.max_abs_error}
    return metrics


def inference_seconds(models: dict[str, bytes], folder: Path, cpu: bool = False):
    """Single-threaded inference alone (inputs already preprocessed), per variant: the CPU time no
    evaluation can avoid. Divided by the number of cores, it bounds how fast evaluation can get.
    (With cpu: {"wall": ..., "cpu": ...}, the CPU seconds as well.)"""
    from packager.data.readers import load_dataset
    from packager.runtime.evaluate import ModelRunner
    from packager.data.preprocess import Preprocessing

    pre = Preprocessing(size=(SIZE, SIZE), color_space="RGB", mean=(MEAN,), std=(STD,))
    inputs = load_dataset(folder, pre, (SIZE, SIZE, 3), allow_resize=True).inputs
    seconds, cpu_seconds = {}, {}
    for name, model in models.items():
        runner = ModelRunner(model, threads=1)
        runner.predict(inputs[:32])  # warm-up
        cpu_before, started = time.process_time(), time.perf_counter()
        runner.predict(inputs)
        seconds[name], cpu_seconds[name] = time.perf_counter() - started, time.process_time() - cpu_before
    return {"wall": seconds, "cpu": cpu_seconds} if cpu else seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--calib", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="packager's evaluation against the bound, alternated (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    quiet.quiet_environment()
    tf = quiet.import_tensorflow()
    import keras
    from rich.console import Console
    from rich.table import Table

    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None)
        model_path = tmp / "mobilenet_v2_035_96.keras"
        model.save(model_path)
        images = write_photo_dataset(tmp / "images", args.images)
        calib = write_photo_dataset(tmp / "calib", args.calib, seed=1)
        calib_files = sorted(calib.rglob("*.jpg"))
        labels_file = tmp / "labels.txt"
        labels_list = [f"class_{i}" for i in range(1000)]
        labels_file.write_text("\n".join(labels_list) + "\n")

        with timer(times, "convert_naive"):
            naive_models = naive_convert(model, calib_files)
        spec = make_spec(None, {
            "model": model_path, "name": "mobilenet", "output": tmp / "dist", "quant": ",".join(VARIANTS), "calib_data": calib,
            "calib_samples": args.calib, "resize": True, "labels": labels_file, "mean": (MEAN,), "std": (STD,), "measure_latency": False,
        })
        with timer(times, "build_packager"):
            result = build(spec)
        timings = result.timings
        times["convert_packager"] = timings["convert"] + timings["data"] + timings["quantize"]
        del tf
        models = result.models  # the variants packager made, evaluated both ways on the same images
        files = sorted(images.rglob("*.jpg"))
        labels = np.array([int(p.parent.name) for p in files])
        with timer(times, "eval_naive"):
            naive_metrics = naive_evaluate(models, files, labels)
        with timer(times, "eval_packager"):
            ours_metrics = packager_evaluate(models, images, labels_list)
        # where the time goes: int16x8 and dynamic-range run on LiteRT's own kernels, not XNNPACK
        fast = {k: v for k, v in models.items() if k != "int16x8"}
        with timer(times, "eval4_naive"):
            naive_evaluate(fast, files, labels)
        with timer(times, "eval4_packager"):
            packager_evaluate(fast, images, labels_list)
        with timer(times, "eval_int16_naive"):
            naive_evaluate({"fp32": models["fp32"], "int16x8": models["int16x8"]}, files, labels)
        with timer(times, "eval_int16_packager"):
            packager_evaluate({"fp32": models["fp32"], "int16x8": models["int16x8"]}, images, labels_list)
        inference_cpu = inference_seconds(models, images)
        # packager's evaluation against the bound, alternated (load from other work hits both alike);
        # also in CPU seconds, which other work on the machine distorts less than wall time
        bound_rounds = []
        for _ in range(args.repeat):
            cpu_before, started = time.process_time(), time.perf_counter()
            packager_evaluate(models, images, labels_list)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
            alone = inference_seconds(models, images, cpu=True)
            bound_rounds.append({"eval_s": wall, "eval_cpu_s": cpu, "bound_s": sum(alone["wall"].values()) / (os.cpu_count() or 1),
                                 "inference_cpu_s": sum(alone["cpu"].values())})
            bound_rounds[-1]["ratio"] = wall / bound_rounds[-1]["bound_s"]
        # evaluation as `packager build --eval-data` runs it: the folder decoded while the variants are made,
        # then the evaluate stage. One engine (ai-edge-quantizer), so that every variant is run there and
        # none by the engine choice (which with --engine auto runs candidates on the data while quantizing).
        in_build_rounds = []
        for i in range(min(2, args.repeat)):
            eval_spec = make_spec(None, {
                "model": model_path, "name": "mobilenet", "output": tmp / f"dist-eval-{i}", "quant": ",".join(VARIANTS), "calib_data": calib,
                "calib_samples": args.calib, "eval_data": images, "resize": True, "labels": labels_file, "mean": (MEAN,), "std": (STD,),
                "measure_latency": False, "engine": "ai-edge-quantizer",
            })
            stages = build(eval_spec).timings
            alone = inference_seconds(models, images)  # the bound, measured right after
            in_build_rounds.append({"evaluate_stage_s": stages["evaluate"], "bound_s": sum(alone.values()) / (os.cpu_count() or 1),
                                    "quantize_s": stages["quantize"]})
            in_build_rounds[-1]["ratio"] = in_build_rounds[-1]["evaluate_stage_s"] / in_build_rounds[-1]["bound_s"]

    cpus = os.cpu_count() or 1
    report = {
        "workload": {"model": "MobileNetV2 alpha 0.35 96x96 (untrained)", "variants": VARIANTS, "calibration_images": args.calib,
                     "eval_images": args.images, "cpus": cpus},
        "seconds": times,
        "ratios": {"convert": times["convert_naive"] / times["convert_packager"], "convert_whole_build": times["convert_naive"] / times["build_packager"],
                   "evaluate": times["eval_naive"] / times["eval_packager"],
                   "evaluate_without_int16x8": times["eval4_naive"] / times["eval4_packager"],
                   "evaluate_fp32_and_int16x8": times["eval_int16_naive"] / times["eval_int16_packager"],
                   "evaluate_best_possible": times["eval_naive"] / (sum(inference_cpu.values()) / cpus)},
        "inference_cpu_seconds": inference_cpu,
        "evaluation_against_bound": {"rounds": bound_rounds,
                                     "median": {k: statistics.median(r[k] for r in bound_rounds) for k in bound_rounds[0]}},
        "evaluation_in_build": {"rounds": in_build_rounds,
                                "median": {k: statistics.median(r[k] for r in in_build_rounds) for k in in_build_rounds[0]}},
        "agreement_check": {name: [naive_metrics[name]["agreement"], ours_metrics[name]["agreement"]] for name in naive_metrics},
        "packager_stage_seconds": timings,
        "sizes": {name: len(m) for name, m in models.items()},
        "naive_sizes": {name: len(m) for name, m in naive_models.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table(title="packager vs the naive way (same model, same data)")
    for col in ("work", "naive", "packager", "speed-up"):
        table.add_column(col, justify="right" if col != "work" else "left")
    table.add_row("convert 5 variants", f"{times['convert_naive']:.1f} s", f"{times['convert_packager']:.1f} s", ratio(times["convert_naive"], times["convert_packager"]))
    table.add_row("  (whole packager build incl. bundle)", "", f"{times['build_packager']:.1f} s", ratio(times["convert_naive"], times["build_packager"]))
    table.add_row(f"evaluate 5 variants x {args.images} JPEGs", f"{times['eval_naive']:.1f} s", f"{times['eval_packager']:.1f} s", ratio(times["eval_naive"], times["eval_packager"]))
    table.add_row("  of which: fp32, fp16, dynamic, int8", f"{times['eval4_naive']:.1f} s", f"{times['eval4_packager']:.1f} s", ratio(times["eval4_naive"], times["eval4_packager"]))
    table.add_row("  of which: fp32 + int16x8", f"{times['eval_int16_naive']:.1f} s", f"{times['eval_int16_packager']:.1f} s", ratio(times["eval_int16_naive"], times["eval_int16_packager"]))
    console.print(table)
    cpu = sum(inference_cpu.values())
    console.print(f"inference alone needs {cpu:.1f} s of CPU ({', '.join(f'{k} {v:.2f}' for k, v in inference_cpu.items())}): "
                  f"on {cpus} cores no evaluation beats {cpu / cpus:.1f} s, i.e. {report['ratios']['evaluate_best_possible']:.2f}x the naive way")
    med = report["evaluation_against_bound"]["median"]
    each = ", ".join(f"{r['ratio']:.2f}x" for r in bound_rounds)
    console.print(f"packager's evaluation against that bound ({args.repeat} alternated rounds, median): {med['eval_s']:.2f} s against "
                  f"{med['bound_s']:.2f} s = {med['ratio']:.2f}x (rounds: {each}); "
                  f"CPU {med['eval_cpu_s']:.2f} s against inference alone's {med['inference_cpu_s']:.2f} s")
    inb = report["evaluation_in_build"]["median"]
    each_in_build = ", ".join(f"{r['ratio']:.2f}x" for r in in_build_rounds)
    console.print(f"in packager build --eval-data (the folder decoded while the variants are made; {len(in_build_rounds)} builds, median): "
                  f"evaluate stage {inb['evaluate_stage_s']:.2f} s against the bound's {inb['bound_s']:.2f} s = {inb['ratio']:.2f}x "
                  f"(rounds: {each_in_build})")
    console.print(f"packager stages (s): {', '.join(f'{k} {v:.2f}' for k, v in timings.items())}")
    console.print("top-1 agreement with fp32 (naive / packager): " + ", ".join(f"{k} {a:.3f}/{b:.3f}" for k, (a, b) in report["agreement_check"].items()))


if __name__ == "__main__":
    main()
