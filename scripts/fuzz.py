"""The fuzz and fault suite in larger numbers, run once outside the test suite (tests/test_fuzz.py
runs the same trials, bounded in time). Prints, per kind of trial: tried / ok / clean error /
crash, where a clean error is exit 2 with one `error:` line and a crash is anything else (see
tests/fuzzing.py). docs/TESTING.md's table comes from this script.

Run (as root for the tmpfs): uv run python scripts/fuzz.py [--examples 1000] [--tflite 1000]
    [--builds 100] [--bundles 300] [--disk 30] [--kills 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def digits_bundle(work: Path) -> Path:
    from packager import examples
    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    data = examples.write_digits_dataset(work / "data")
    model = examples.train_digits_cnn(data, epochs=3)
    model.save(work / "digits.keras")
    spec = make_spec(None, {"model": work / "digits.keras", "name": "digits", "output": work / "dist", "quant": "int8",
                            "calib_data": data.train_dir, "labels": data.labels_file, "mean": examples.DIGITS_MEAN,
                            "std": examples.DIGITS_STD, "measure_latency": False})
    return build(spec).bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per property (flags, config, labels, arrays)")
    parser.add_argument("--tflite", type=int, default=1000, help="mutated .tflite files through inspect")
    parser.add_argument("--builds", type=int, default=100, help="of those, how many also through build")
    parser.add_argument("--bundles", type=int, default=300, help="of those, how many also through bundle")
    parser.add_argument("--disk", type=int, default=30, help="builds on a full 2 MiB tmpfs, at random fill levels")
    parser.add_argument("--kills", type=int, default=20, help="builds SIGKILLed at a random moment")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import pytest

    from tests import fuzzing

    started = time.monotonic()
    os.environ["PACKAGER_FUZZ_EXAMPLES"] = str(args.examples)
    code = pytest.main([str(ROOT / "tests" / "test_fuzz.py"), "-q", "-p", "no:cacheprovider", "-k",
                        "flags or config or labels or npy"]) if args.examples else 0
    tallies = dict(fuzzing.TALLIES)
    with tempfile.TemporaryDirectory(prefix="packager-fuzz-") as tmp:
        work = Path(tmp)
        bundle = digits_bundle(work / "src")
        model = (bundle / "digits.tflite").read_bytes()
        app = fuzzing.minimal_app(work / "app")
        trials = work / "trials"
        trials.mkdir()
        inspect, build, bundles = fuzzing.Tally(), fuzzing.Tally(), fuzzing.Tally()
        every = max(args.tflite // max(args.builds, 1), 1)
        if args.tflite:
            fuzzing.tflite_trials(model, range(args.tflite), trials, inspect, build, None, None, None, build_every=every)
            tallies.update({"mutated .tflite: inspect": inspect, "mutated .tflite: build (as the source)": build})
        if args.bundles:
            fuzzing.tflite_trials(model, range(10**6, 10**6 + args.bundles), trials, fuzzing.Tally(), None, bundles, bundle, app)
            tallies["mutated .tflite: bundle (installed into an app)"] = bundles

        source = work / "digits.tflite"
        source.write_bytes(model)
        disk = work / "disk"
        disk.mkdir()
        mounted = args.disk and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                                               capture_output=True).returncode == 0
        if mounted:
            try:
                build_args = ["build", source, "--name", "digits", "-o", disk, "--mean", "0", "--std", "255", "--no-latency"]
                assert fuzzing.outcome_of(fuzzing.cli(build_args))[0] == fuzzing.OK
                size = sum(len(v) for v in fuzzing.snapshot(disk / "digits").values())
                rng = random.Random(0)
                levels = [rng.randrange(0, 3 * size) for _ in range(args.disk)]
                tallies["full disk (2 MiB tmpfs)"] = fuzzing.Tally()
                fuzzing.disk_trials(build_args, disk, "digits", levels, tallies["full disk (2 MiB tmpfs)"])
            finally:
                subprocess.run(["umount", "-l", str(disk)], check=False)
        if args.kills:
            out = work / "kill"
            tallies["SIGKILL during a build"] = fuzzing.Tally()
            fuzzing.kill_trials(fuzzing.forkserver(), ["build", source, "--name", "digits", "-o", out, "--mean", "0", "--std", "255",
                                                       "--no-latency"], out, "digits", args.kills, 1, tallies["SIGKILL during a build"])
    report = {kind: {"tried": t.tried, "ok": t.counts[fuzzing.OK], "clean_error": t.counts[fuzzing.CLEAN],
                     "crash": t.counts[fuzzing.CRASH], "crashes": t.crashes[:5]} for kind, t in tallies.items()}
    report["_"] = {"hypothesis_exit": int(code), "seconds": round(time.monotonic() - started)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("| trials | tried | ok | clean error | crash |\n|---|---|---|---|---|")
    for kind, r in report.items():
        if kind != "_":
            print(f"| {kind} | {r['tried']} | {r['ok']} | {r['clean_error']} | {r['crash']} |")
    print(f"hypothesis exit {code}; {report['_']['seconds']} s")


if __name__ == "__main__":
    main()
