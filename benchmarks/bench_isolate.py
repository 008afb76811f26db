"""What isolating LiteRT in a child process (packager/runtime/isolation.py) costs a build.

Every model's first load and run happens in a worker process that imports LiteRT only; the naive
way (what packager did before) loads the model in the build's own process, where a native crash
kills the build with no word. Both run the same builds, alternating, in one process (TensorFlow
imported once for both), so machine load affects both alike:

- guarded:   packager as it is; the worker is stopped before each build, so every build starts
             its own worker, as every `packager build` command does;
- in-process: isolation.probe replaced by the same load / allocate / run on zero inputs, in process.

Workloads: MobileNetV2 (alpha 0.35, 96x96, untrained) with 5 variants (6 models probed), and a
.tflite source bundled as it is (1 model probed, the case where the worker's start-up cannot hide
behind TensorFlow's conversion). Also timed: the worker's cold start to its first answer, and
one probe of the MobileNetV2 int8 model in a warm worker against in process.

Run: uv run python benchmarks/bench_isolate.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_photo_dataset  # noqa: E402
from packager import quiet  # noqa: E402
from packager.runtime import isolation

SIZE, MEAN, STD = 96, 127.5, 127.5
VARIANTS = "fp32,fp16,dynamic,int8,int16x8"


def in_process_probe(model: bytes, what: str) -> isolation.Probe:
    """The same work as the worker's, in this process (no protection against a crash)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    errors: dict[str, str | None] = {"load_error": None, "allocate_error": None, "run_error": None}
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        with quiet.captured_output():
            try:
                interpreter = Interpreter(model_content=model, experimental_op_resolver_type=resolver)
            except Exception as exc:  # noqa: BLE001
                errors["load_error"] = str(exc)
                break
            try:
                interpreter.allocate_tensors()
                for d in interpreter.get_input_details():
                    interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
                interpreter.invoke()
            except Exception as exc:  # noqa: BLE001
                errors["allocate_error"] = str(exc)
    return isolation.Probe(**errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    quiet.import_tensorflow()
    import keras

    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    real_probe = isolation.probe
    times: dict[str, list[float]] = {"mobilenet guarded": [], "mobilenet in-process": [], "tflite guarded": [], "tflite in-process": []}
    with tempfile.TemporaryDirectory(prefix="bench-isolate-") as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model_path = tmp / "mobilenet.keras"
        keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None).save(model_path)
        calib = write_photo_dataset(tmp / "calib", 50, size=SIZE, seed=1)
        labels = tmp / "labels.txt"
        labels.write_text("".join(f"class_{i}\n" for i in range(1000)))

        def spec(source: Path, out: str, quant: str | None):
            flags = {"model": source, "name": "m", "output": tmp / out, "calib_data": calib, "calib_samples": 50, "labels": labels,
                     "mean": (MEAN,), "std": (STD,), "measure_latency": False, "eval_data": None}
            if quant:
                flags["quant"] = quant
            return make_spec(None, flags)

        first = build(spec(model_path, "warm", VARIANTS))  # warm caches; its int8 model is the .tflite source below
        tflite_source = tmp / "int8.tflite"
        tflite_source.write_bytes(first.models["int8"])
        for _ in range(args.rounds):
            for guarded in (True, False):
                isolation.probe = real_probe if guarded else in_process_probe
                way = "guarded" if guarded else "in-process"
                try:
                    for name, source, quant in (("mobilenet", model_path, VARIANTS), ("tflite", tflite_source, None)):
                        isolation.shutdown()  # every build starts its own worker, as every `packager build` does
                        t0 = time.perf_counter()
                        build(spec(source, f"{name}-{way}", quant))
                        times[f"{name} {way}"].append(time.perf_counter() - t0)
                finally:
                    isolation.probe = real_probe

        isolation.shutdown()
        t0 = time.perf_counter()
        isolation.probe(first.models["fp32"], "cold")
        cold = time.perf_counter() - t0
        warm, local = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            isolation.probe(first.models["int8"], "warm")
            warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            in_process_probe(first.models["int8"], "local")
            local.append(time.perf_counter() - t0)
        isolation.shutdown()

    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "rounds": args.rounds,
        "build_s": med,
        "added_s": {"mobilenet (6 models)": med["mobilenet guarded"] - med["mobilenet in-process"],
                    "tflite source (1 model)": med["tflite guarded"] - med["tflite in-process"]},
        "worker_cold_start_s": cold,
        "probe_int8_s": {"worker": statistics.median(warm), "in_process": statistics.median(local)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
