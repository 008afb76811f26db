"""The device kit against the naive way: 5 bundles x 3 accelerators on the virtual handset.

Bundles: the digits CNN built as fp32, fp16, dynamic, int8 and int16x8 (5 bundles). Accelerators:
cpu, xnnpack, gpu (gpu falls back on the virtual handset, as on a phone without one). Link: the
virtual handset caps throughput at --link-mbps (default 30 MB/s, USB 2 in practice) for both ways.

naive: the Debian `adb` client, per run: `adb push` the model and the input, copy them in with
       run-as, push the request, `am start`, poll for the result, read it, pull the outputs; runs
       in sequence (what a hand-rolled script does); then the APK pulled once for its breakdown.
kit:   `packager.device.bench`: push only what the device lacks (sha256 on both sides), one app
       launch for all requests, results and outputs read back in batches, and the APK's make-up
       read from its zip directory on the device (`tail -c`) instead of pulling the APK.

Run: uv run python benchmarks/bench_device.py [--link-mbps 30] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ratio  # noqa: E402
from packager import quiet  # noqa: E402

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
ACCELERATORS = ("cpu", "xnnpack", "gpu")
PACKAGE = "dev.packager.demo"


def build_bundles(root: Path) -> list[Path]:
    from packager import examples
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    data = examples.write_digits_dataset(root / "digits")
    model = examples.train_digits_cnn(data)
    with quiet.captured_output():
        model.save(root / "digits.keras")
    bundles = []
    for variant in VARIANTS:
        spec = make_spec(None, {"model": root / "digits.keras", "name": f"digits-{variant}", "output": root / "dist", "quant": variant,
                                "calib_data": data.train_dir, "eval_data": data.test_dir, "labels": data.labels_file,
                                "mean": examples.DIGITS_MEAN, "std": examples.DIGITS_STD, "measure_latency": False})
        bundles.append(build(spec).bundle)
    return bundles


class Adb:
    def __init__(self, serial: str, port: int, home: Path):
        self.serial, self.port = serial, port
        self.env = {**os.environ, "HOME": str(home), "ANDROID_USER_HOME": str(home / ".android")}
        self.calls = 0

    def __call__(self, *args: str) -> str:
        self.calls += 1
        proc = subprocess.run(["adb", "-P", str(self.port), "-s", self.serial, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"adb {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout


def naive_run(adb: Adb, bundle: Path, accelerator: str, index: int, runs: int, work: Path) -> dict:
    """One run the way a hand-written script does it."""
    app = f"/data/user/0/{PACKAGE}/files/naive"
    tmp = "/data/local/tmp/naive"
    model = next(bundle.glob("*.tflite"))
    adb("shell", f"mkdir -p {tmp}")
    adb("push", str(model), f"{tmp}/model.tflite")
    adb("push", str(bundle / "golden" / "input_0.npy"), f"{tmp}/input_0.npy")
    request = {"schema_version": 1, "request_id": f"naive-{index}", "model_path": f"{app}/model.tflite", "accelerator": accelerator,
               "threads": 1, "warmup_runs": 3, "measured_runs": runs, "input_files": [f"{app}/input_0.npy"],
               "output_dir": f"{app}/out-{index}", "result_path": f"{app}/result-{index}.json"}
    local_request = work / f"request-{index}.json"
    local_request.write_text(json.dumps(request))
    adb("push", str(local_request), f"{tmp}/request.json")
    adb("shell", f"run-as {PACKAGE} mkdir -p {app}")
    adb("shell", f"run-as {PACKAGE} cp {tmp}/model.tflite {tmp}/input_0.npy {tmp}/request.json {app}/")
    adb("shell", f"am start -W -n {PACKAGE}/.BenchmarkActivity --esa requests {app}/request.json")
    deadline = time.time() + 120
    while f"result-{index}.json" not in adb("shell", f"run-as {PACKAGE} ls {app}"):
        if time.time() > deadline:
            raise RuntimeError("no result")
        time.sleep(0.1)
    result = json.loads(adb("shell", f"run-as {PACKAGE} cat {app}/result-{index}.json"))
    adb("shell", f"run-as {PACKAGE} cat {app}/out-{index}/output_0.npy > {tmp}/output_0.npy")
    adb("pull", f"{tmp}/output_0.npy", str(work / f"output-{index}.npy"))
    return result


def naive_apk(adb: Adb, work: Path) -> dict:
    from packager.device.apk import breakdown

    path = adb("shell", f"pm path {PACKAGE}").strip().split(":", 1)[1]
    adb("pull", path, str(work / "base.apk"))
    return breakdown(work / "base.apk").to_dict()


class Traffic:
    """File bytes that crossed the link (the virtual handset's sync counters) since the last take()."""

    def __init__(self, device):
        self.device = device
        self.pushed, self.pulled = device.bytes_received, device.bytes_sent

    def take(self) -> dict[str, int]:
        pushed, pulled = self.device.bytes_received, self.device.bytes_sent
        moved = {"pushed": pushed - self.pushed, "pulled": pulled - self.pulled}
        self.pushed, self.pulled = pushed, pulled
        return moved


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link-mbps", type=float, default=30.0, help="virtual link throughput, MB/s")
    parser.add_argument("--runs", type=int, default=20, help="measured runs per benchmark")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("adb"):
        sys.exit("the Debian adb client is needed: apt-get install adb (scripts/setup.sh does it)")

    from packager.bundle.reader import load_bundle
    from packager.device.bench import bench
    from packager.device.handset import Handset
    from packager.device import virtual

    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        os.environ["ANDROID_USER_HOME"] = str(tmp / "home" / ".android")
        (tmp / "home" / ".android").mkdir(parents=True)
        bundles = build_bundles(tmp / "build")
        refs = [load_bundle(b) for b in bundles]
        handset_sim = virtual.start(stack.callback, root=tmp / "device")  # stopped before the folder goes
        handset_sim.faults.throughput_bytes_per_s = args.link_mbps * 1e6
        port = free_port()
        adb = Adb(handset_sim.address, port, tmp / "home")
        subprocess.run(["adb", "-P", str(port), "start-server"], env=adb.env, capture_output=True, check=True)
        subprocess.run(["adb", "-P", str(port), "connect", handset_sim.address], env=adb.env, capture_output=True)
        time.sleep(0.5)
        try:
            kit = Handset.open(handset_sim.address, prefer="direct")
            bench(kit, [refs[0]], ["cpu"], runs=1, warmup=0)  # warm the app process once, for both ways
            kit.shell("rm", "-rf", "/data/local/tmp/packager")  # ... and start the kit from an empty device

            traffic = Traffic(handset_sim)
            t0 = time.perf_counter()
            work = tmp / "naive"
            work.mkdir()
            naive_results = [naive_run(adb, b, a, i * 10 + j, args.runs, work)
                             for i, b in enumerate(bundles) for j, a in enumerate(ACCELERATORS)]
            naive_apk(adb, work)  # the same work as the kit: the APK's size and make-up, once
            naive_s = time.perf_counter() - t0
            naive_bytes = traffic.take()

            t0 = time.perf_counter()
            first = bench(kit, refs, list(ACCELERATORS), runs=args.runs, warmup=3)
            kit_s = time.perf_counter() - t0
            kit_bytes = traffic.take()
            t0 = time.perf_counter()
            second = bench(kit, refs, list(ACCELERATORS), runs=args.runs, warmup=3)
            kit2_s = time.perf_counter() - t0
            kit2_bytes = traffic.take()
            kit.close()
        finally:
            subprocess.run(["adb", "-P", str(port), "kill-server"], env=adb.env, capture_output=True)

    assert all(r["status"] == "ok" for r in naive_results) and all(r.ran for r in first.runs + second.runs)
    report = {
        "workload": {"bundles": [f"digits-{v}" for v in VARIANTS], "accelerators": ACCELERATORS, "runs_each": args.runs,
                     "link_MBps": args.link_mbps, "device": "virtual handset"},
        "seconds": {"naive": naive_s, "kit_first": kit_s, "kit_second": kit2_s},
        "ratio_first": naive_s / kit_s, "ratio_second": naive_s / kit2_s,
        "adb_invocations_naive": adb.calls,
        "bytes": {"naive": naive_bytes, "kit_first": kit_bytes, "kit_second": kit2_bytes,
                  "model_bytes_kit_second_pushed": second.bytes_pushed, "model_bytes_kit_second_skipped": second.bytes_skipped},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"5 bundles x 3 accelerators on the virtual handset ({args.link_mbps:g} MB/s link)")
    for col in ("way", "wall time", "pushed to device", "pulled from device", "vs naive"):
        table.add_column(col, justify="left" if col == "way" else "right")
    rows = [(f"naive (adb CLI, {adb.calls} invocations)", naive_s, naive_bytes), ("kit, first run", kit_s, kit_bytes),
            ("kit, unchanged bundles", kit2_s, kit2_bytes)]
    for way, seconds, moved in rows:
        table.add_row(way, f"{seconds:.2f} s", f"{moved['pushed']:,} B", f"{moved['pulled']:,} B", ratio(naive_s, seconds))
    Console().print(table)


if __name__ == "__main__":
    main()
