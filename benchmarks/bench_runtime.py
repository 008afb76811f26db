"""What proving every variant in the app's pinned runtimes (packager/runtime/compat.py) costs a build.

Each build proves its variants in the app's TFLite 2.16.1 (tensorflow-cpu wheel) and LiteRT 2.2.0
(ai-edge-litert wheel): one long-lived worker per runtime environment, started when the build
starts (its import overlaps the conversion), loads every variant, allocates it, runs it on the
golden inputs (8 samples, one at a time) and the outputs are compared with the host's. Measured,
alternating in one process (TensorFlow imported once) so machine load affects both alike:

- checked: packager as it is;
- skipped: the same build with --skip-runtime-check.

Also: each worker's cold start to its first answer, and per variant the check's own time in each
runtime (the manifest's `runtimes.checks[].seconds`: load + allocate + 8 invokes + answer) plus
the host run of the golden inputs it is compared with.

Workload: MobileNetV2 (alpha 0.35, 96x96, untrained) with 5 variants (fp32 bundled).
Run: uv run python benchmarks/bench_runtime.py [--rounds 3]
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

from benchmarks.common import write_photo_dataset
from packager import quiet

SIZE, MEAN, STD = 96, 127.5, 127.5
VARIANTS = "fp32,fp16,dynamic,int8,int16x8"


def _workers_cpu(compat) -> float:
    """CPU seconds (user + system) the process's runtime workers have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for worker in compat._SHARED.values():
        proc = worker.worker.proc
        if proc is None or proc.poll() is not None:
            continue
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    quiet.import_tensorflow()
    import keras

    from packager.build import build
    from packager.build.spec import make_spec
    from packager.runtime import compat, envs, targets

    times: dict[str, list[float]] = {"checked": [], "skipped": [], "runtime check stage": []}
    stages: dict[str, dict[str, list[float]]] = {"checked": {}, "skipped": {}}
    cpu: dict[str, list[float]] = {"checked": [], "skipped": [], "checked: runtime workers": [], "skipped: runtime workers": []}
    per_variant: dict[str, list[float]] = {}
    outcome: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model_path = tmp / "mobilenet.keras"
        keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None).save(model_path)
        calib = write_photo_dataset(tmp / "calib", 50, size=SIZE, seed=1)
        labels = tmp / "labels.txt"
        labels.write_text("".join(f"class_{i}\n" for i in range(1000)))

        def spec(out: str, skip: bool):
            return make_spec(None, {"model": model_path, "name": "m", "output": tmp / out, "calib_data": calib, "calib_samples": 50,
                                    "labels": labels, "mean": (MEAN,), "std": (STD,), "measure_latency": False, "quant": VARIANTS,
                                    "engine": "ai-edge-quantizer", "skip_runtime_check": skip})

        first = build(spec("warm", False))  # warm caches
        for _ in range(args.rounds):
            for skip in (False, True):
                way = "skipped" if skip else "checked"
                t0, c0, w0 = time.perf_counter(), time.process_time(), _workers_cpu(compat)
                result = build(spec(way, skip))
                times[way].append(time.perf_counter() - t0)
                cpu[way].append(time.process_time() - c0)
                cpu[f"{way}: runtime workers"].append(_workers_cpu(compat) - w0)
                for stage, seconds in result.timings.items():
                    stages["skipped" if skip else "checked"].setdefault(stage, []).append(seconds)
                if not skip:
                    times["runtime check stage"].append(result.timings.get("runtime check", 0.0))
                    for c in result.manifest.runtimes.checks:
                        per_variant.setdefault(f"{c.variant} in {c.runtime}", []).append(c.seconds)
                        outcome[f"{c.variant} in {c.runtime}"] = c.status + (f" ({c.reason})" if c.reason else "")
        golden_host = []
        for model in first.models.values():
            inputs = np.random.default_rng(0).random((8, SIZE, SIZE, 3))
            t0 = time.perf_counter()
            compat.host_run(model, inputs, 8)
            golden_host.append(time.perf_counter() - t0)
        cold = {}
        for target in targets.app_targets():
            worker = compat.RuntimeWorker(target, envs.ensure(target, create=False))
            t0 = time.perf_counter()
            worker.check(first.models["int8"], compat.host_run(first.models["int8"], np.random.default_rng(0).random((1, SIZE, SIZE, 3)), 1), "cold")
            cold[target.name] = time.perf_counter() - t0
            worker.close()

    med = {k: statistics.median(v) for k, v in times.items() if v}
    report = {
        "rounds": args.rounds, "variants": VARIANTS,
        "build_checked_s": med["checked"], "build_skipped_s": med["skipped"],
        "check_cost_s": med["checked"] - med["skipped"], "check_share": (med["checked"] - med["skipped"]) / med["checked"],
        "runtime_check_stage_s": med["runtime check stage"],
        "per_variant_runtime_s": {k: statistics.median(v) for k, v in per_variant.items()},
        "per_variant_outcome": outcome,
        "host_golden_run_s_median": statistics.median(golden_host),
        "worker_cold_start_and_first_check_s": cold,
        "stages_s": {way: {k: statistics.median(v) for k, v in st.items()} for way, st in stages.items()},
        "cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
        "raw": times,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"MobileNetV2 0.35 96x96, {VARIANTS}, {args.rounds} rounds (medians)")
    print(f"  build, runtimes checked: {med['checked']:.2f} s; --skip-runtime-check: {med['skipped']:.2f} s; "
          f"difference {report['check_cost_s']:+.2f} s ({report['check_share']:.1%} of the build)")
    print(f"  the build's 'runtime check' stage (after evaluation: every variant in both runtimes): {med['runtime check stage']:.3f} s")
    print(f"  host run of 8 golden inputs per variant (what the runtimes' outputs are compared with): {report['host_golden_run_s_median'] * 1000:.1f} ms")
    c = report["cpu_s"]
    extra = c["checked"] + c["checked: runtime workers"] - c["skipped"]
    print(f"  CPU (this process + the runtime workers; TensorFlow's own threads included): checked {c['checked']:.2f} + "
          f"{c['checked: runtime workers']:.2f} s, skipped {c['skipped']:.2f} s: {extra:+.2f} s "
          f"({extra / (c['checked'] + c['checked: runtime workers']):.1%} of the checked build's CPU)")
    for way in ("checked", "skipped"):
        print(f"  stages ({way}): " + ", ".join(f"{k} {v:.2f} s" for k, v in report["stages_s"][way].items()))
    print(f"  builds (s): checked {', '.join(f'{t:.1f}' for t in times['checked'])}; skipped {', '.join(f'{t:.1f}' for t in times['skipped'])}")
    for k, v in report["per_variant_runtime_s"].items():
        print(f"  {k:<28} {v * 1000:7.1f} ms  {outcome[k][:110]}")
    for k, v in cold.items():
        print(f"  {k}: a new worker's start (import) and first check: {v:.2f} s (hidden behind the conversion in a build)")


if __name__ == "__main__":
    main()
