"""`packager build` as a whole process against the naive script, on the same work.

Work: MobileNetV2 (alpha 0.35, 96x96 RGB, untrained: conversion and inference cost do not depend
on what the weights learned) saved as .keras; five variants (fp32, fp16, dynamic, int8, int16x8);
100 calibration JPEGs; 500 evaluation JPEGs of 128x128 in 10 class folders (crops of
scikit-learn's sample photos), decoded and resized to 96x96.

naive:    `python benchmarks/naive_build.py` - import TensorFlow, load the model, one
          TFLiteConverter.from_keras_model per variant, each variant evaluated with
          tf.lite.Interpreter image by image.
packager: `packager build model.keras --quant fp32,fp16,dynamic,int8,int16x8 --calib-data ...
          --eval-data ... --resize --labels ...`: everything it does (host latency, metadata,
          golden files, report, bundle) included. By default packager makes each variant every
          way it can (ai-edge-quantizer with three range methods, and the TF converter) and keeps
          the best on the evaluation data (packager/quant/engine_choice.py): 12 candidates here, 4 of
          them TF conversions. Also timed: the same with `--engine ai-edge-quantizer` (one
          candidate per variant, as the naive script makes one).

Both are timed as whole processes (interpreter start-up and imports included), alternated in one
run (naive, packager, naive, ...) so that load from other work on the machine hits both alike;
the ratio reported is the median of the per-round ratios. Also timed: `packager --help`,
`packager inspect` on the fp32 model, and how long `packager build` takes to print its first
line (stderr on a pseudo-terminal, as in a shell).

Run: uv run python benchmarks/bench_cli.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

VARIANTS = "fp32,fp16,dynamic,int8,int16x8"
MEAN = STD = "127.5"


def prepare(root: Path, eval_images: int, calib_images: int) -> None:
    """The workload's files (run in a child process: the parent stays free of TensorFlow)."""
    from benchmarks.common import write_photo_dataset
    from packager import quiet

    quiet.import_tensorflow()
    import keras

    import numpy as np
    from PIL import Image

    keras.utils.set_random_seed(0)
    write_photo_dataset(root / "train", 320, seed=2)
    files = sorted((root / "train").rglob("*.jpg"))
    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((96, 96), Image.BILINEAR), np.float32) for f in files])
    y = np.array([int(f.parent.name) for f in files])
    with quiet.captured_output():
        model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
        # a few epochs give the batch-norm layers real statistics: untrained ones leave activations
        # so close to zero that the TF converter's int16x8 model cannot even be loaded
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit((x - 127.5) / 127.5, y, epochs=3, batch_size=32, verbose=0)
    model.save(root / "model.keras")
    write_photo_dataset(root / "eval", eval_images)
    write_photo_dataset(root / "calib", calib_images, seed=1)
    (root / "labels.txt").write_text("".join(f"class_{i}\n" for i in range(10)))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path, pty_stderr: bool = False, cpu: list[float] | None = None) -> tuple[float, float | None]:
    """Wall time of `cmd` as a whole process, and (with pty_stderr) when its first byte on stderr
    came; the CPU time it (and its children) used is appended to `cpu`."""
    first: list[float] = []
    cpu_before = _children_cpu()
    started = time.perf_counter()
    if not pty_stderr:
        done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
        if cpu is not None:
            cpu.append(_children_cpu() - cpu_before)
        return time.perf_counter() - started, None
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            if not first:
                first.append(time.perf_counter() - started)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = proc.wait()
    elapsed = time.perf_counter() - started
    reader.join(timeout=5)
    os.close(master)
    if code:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}")
    if cpu is not None:
        cpu.append(_children_cpu() - cpu_before)
    return elapsed, first[0] if first else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="naive/packager pairs, alternated (default 3)")
    parser.add_argument("--images", type=int, default=500, help="evaluation JPEGs (default 500)")
    parser.add_argument("--calib", type=int, default=100, help="calibration JPEGs (default 100)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.images, args.calib)
        return

    python = sys.executable
    packager = str(Path(python).with_name("packager"))
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        subprocess.run([python, __file__, "--prepare", str(root), "--images", str(args.images), "--calib", str(args.calib)], check=True)
        naive = [python, str(HERE / "naive_build.py"), "model.keras", "calib", "eval", "naive-out", "--mean", MEAN, "--std", STD,
                 "--calib-samples", str(args.calib)]
        ours = [packager, "build", "model.keras", "--name", "mobilenet", "-o", "dist", "--quant", VARIANTS, "--calib-data", "calib",
                "--calib-samples", str(args.calib), "--eval-data", "eval", "--resize", "--labels", "labels.txt", "--mean", MEAN, "--std", STD]
        for i in range(args.rounds):
            cpu: list[float] = []
            naive_s, _ = timed(naive, root, cpu=cpu)
            ours_s, first_line_s = timed(ours, root, pty_stderr=True, cpu=cpu)
            aeq_s, _ = timed([*ours, "--engine", "ai-edge-quantizer", "-o", "dist-aeq"], root, cpu=cpu)
            help_s, _ = timed([packager, "--help"], root)
            inspect_s, _ = timed([packager, "inspect", "naive-out/model_fp32.tflite"], root)
            rows.append({"naive_s": naive_s, "packager_s": ours_s, "ratio": naive_s / ours_s, "first_line_s": first_line_s,
                         "help_s": help_s, "inspect_s": inspect_s, "naive_cpu_s": cpu[0], "packager_cpu_s": cpu[1],
                         "packager_aeq_s": aeq_s, "ratio_aeq": naive_s / aeq_s, "packager_aeq_cpu_s": cpu[2]})
            if not args.json:
                print(f"round {i + 1}: naive {naive_s:.1f} s, packager build {ours_s:.1f} s ({naive_s / ours_s:.2f}x; CPU {cpu[0]:.1f} s and "
                      f"{cpu[1]:.1f} s), with --engine ai-edge-quantizer {aeq_s:.1f} s ({naive_s / aeq_s:.2f}x; CPU {cpu[2]:.1f} s); "
                      f"first line after {first_line_s:.2f} s; --help {help_s:.2f} s, inspect {inspect_s:.2f} s", flush=True)

    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    report = {"workload": {"model": "MobileNetV2 alpha 0.35 96x96 (untrained), .keras", "variants": VARIANTS.split(","),
                           "calibration_images": args.calib, "eval_images": args.images, "cpus": os.cpu_count()},
              "rounds": rows, "median": median}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"median of {len(rows)} rounds: naive {median['naive_s']:.1f} s, packager build {median['packager_s']:.1f} s, "
          f"ratio {median['ratio']:.2f}x (CPU {median['naive_cpu_s']:.1f} s and {median['packager_cpu_s']:.1f} s); with --engine "
          f"ai-edge-quantizer {median['packager_aeq_s']:.1f} s, ratio {median['ratio_aeq']:.2f}x (CPU {median['packager_aeq_cpu_s']:.1f} s); first line after {median['first_line_s']:.2f} s; "
          f"packager --help {median['help_s']:.2f} s, packager inspect {median['inspect_s']:.2f} s")


if __name__ == "__main__":
    main()
