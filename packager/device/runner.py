"""Runners: how a bundle gets executed on a handset, behind one interface.

- `AppRunner` drives the demo app's headless BenchmarkActivity (docs/CONTRACTS.md, contract 2): stage the
  model and golden inputs (only what changed), copy them into the app with run-as, write the
  requests, launch the activity once for all of them, wait for the results, read them back.
- `BenchmarkModelRunner` runs a user-supplied TFLite `benchmark_model` binary and parses what
  it prints into the same result.

Both return every request's result as a `BenchResult` (contract 2), checked against its schema.
"""

from __future__ import annotations

import json
import posixpath
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from packager import schemas
from packager.bundle.reader import BundleRef
from packager.data import arrays
from packager.device.contract import ACCELERATORS, APP_PACKAGE, APP_WORK_DIR, BENCHMARK_ACTIVITY, EXTRA_REQUESTS, LOG_TAG, STAGING_DIR
from packager.device.handset import TEMP_SUFFIX, Handset, quote
from packager.errors import PackagerError
from packager.fileio import DocumentError, loads_json, sha256_file
from packager.manifest import BenchAccelerator, BenchDevice, BenchResult, BenchSummary

COMMAND_CHUNK = 16 * 1024  # keep single shell commands well under old adbd payload limits


@dataclass(frozen=True)
class RunSpec:
    bundle: BundleRef
    accelerator: str
    threads: int = 1
    warmup: int = 3
    runs: int = 20

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise PackagerError(f"unknown accelerator {self.accelerator!r}", f"use one of {', '.join(ACCELERATORS)}")


@dataclass
class RunOutcome:
    spec: RunSpec
    result: BenchResult
    outputs: list[np.ndarray] | None


class DeviceRunError(PackagerError):
    """The app crashed or did not answer; the message carries the logcat tail."""


class Runner(Protocol):
    name: str

    def prepare(self, handset: Handset) -> None: ...
    def run(self, handset: Handset, specs: list[RunSpec], advance: Callable[[int], None] | None = None) -> list[RunOutcome]: ...


def _batched(commands: list[str], joiner: str = " && ") -> list[str]:
    batches, current = [], ""
    for command in commands:
        if current and len(current) + len(command) > COMMAND_CHUNK:
            batches.append(current)
            current = ""
        current = f"{current}{joiner}{command}" if current else command
    return batches + ([current] if current else [])


class AppRunner:
    """The demo app's BenchmarkActivity, over any handset."""

    name = "app"

    def __init__(self, package: str = APP_PACKAGE, timeout_s: float = 180.0, poll_s: float = 0.05):
        self.package = package
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    def prepare(self, handset: Handset) -> None:
        if not handset.is_installed(self.package):
            raise PackagerError(f"the demo app {self.package} is not installed on {handset.serial}",
                                "build android_app (./gradlew assembleDebug) and `adb install` its debug APK")
        handset.run_as(self.package, "mkdir", "-p", APP_WORK_DIR)  # also proves it is debuggable

    # --- staging --------------------------------------------------------------------------------
    def _stage(self, handset: Handset, specs: list[RunSpec]) -> dict[str, str]:
        """Push each distinct model and golden input once, only if the device lacks it; returns
        local path -> device staging path."""
        staged: dict[str, str] = {}
        for spec in specs:
            files = [spec.bundle.model_path, *spec.bundle.golden_input_paths]
            for local in files:
                key = str(local)
                if key in staged:
                    continue
                digest = spec.bundle.model_sha256 if local == spec.bundle.model_path else sha256_file(local)
                staged[key] = f"{STAGING_DIR}/blobs/{digest}{Path(local).suffix}"
        handset.push_many_if_changed([(Path(local), remote) for local, remote in staged.items()])
        # the app's user (run-as) must get through the staging folders whatever the shell's umask was
        handset.shell("chmod", "755", STAGING_DIR, f"{STAGING_DIR}/blobs")
        return staged

    def run(self, handset: Handset, specs: list[RunSpec], advance: Callable[[int], None] | None = None) -> list[RunOutcome]:
        if not specs:
            return []
        handset.clean_partials(STAGING_DIR)
        handset.clean_partials(f"{STAGING_DIR}/blobs")
        staged = self._stage(handset, specs)
        run_id = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        app_dir = f"{APP_WORK_DIR}/{run_id}"
        blobs = f"{APP_WORK_DIR}/blobs"

        # copy what the app lacks into its own folder (apps cannot read /data/local/tmp)
        listing = handset.run(quote("run-as", self.package, "ls", blobs), check=False)
        has = set(listing.output.split()) if listing.exit_code == 0 else set()
        copies = [quote("mkdir", "-p", app_dir, blobs)]
        in_app: dict[str, str] = {}
        for local, remote in staged.items():
            name = posixpath.basename(remote)
            target = f"{blobs}/{name}"
            if name not in has:  # under a temporary name first: a copy cut short never passes for the blob
                partial = f"{target}{TEMP_SUFFIX}"
                copies.append(quote("cp", remote, partial) + " && " + quote("mv", "-f", partial, target))
                has.add(name)
            in_app[local] = target
        requests: list[str] = []  # paths of the request files in the app's folder
        result_paths: list[str] = []
        for i, spec in enumerate(specs):
            result_path = f"{app_dir}/result-{i}.json"
            request = {
                "schema_version": 1, "request_id": f"{run_id}-{i}", "bundle": spec.bundle.name,
                "model_path": in_app[str(spec.bundle.model_path)], "model_sha256": spec.bundle.model_sha256,
                "accelerator": spec.accelerator, "threads": spec.threads, "warmup_runs": spec.warmup,
                "measured_runs": spec.runs, "input_files": [in_app[str(p)] for p in spec.bundle.golden_input_paths],
                "output_dir": f"{app_dir}/out-{i}", "save_outputs": True, "result_path": result_path,
            }
            schemas.validate("bench-request", request, what="benchmark request")
            path = f"{app_dir}/request-{i}.json"
            copies.append(f"echo {quote(json.dumps(request))} > {quote(path)}")
            requests.append(path)
            result_paths.append(result_path)
        # the shell of run-as runs these in the app's folder, as the app's user; the first failure stops it
        for batch in _batched(copies[1:], " && "):
            copied = handset.run(quote("run-as", self.package, "sh", "-c", copies[0] + " && " + batch), check=False)
            if copied.exit_code != 0:
                raise DeviceRunError(f"copying the model, inputs and requests into {self.package} failed on {handset.serial}: "
                                     f"{_tail(copied.output, 1)}",
                                     f"check the app's storage: adb shell run-as {self.package} ls -l {APP_WORK_DIR}")

        self._launch(handset, requests)
        done = self._wait(handset, app_dir, result_paths, advance)
        outcomes = self._collect(handset, specs, result_paths, run_id, done)
        handset.run(quote("run-as", self.package, "rm", "-rf", app_dir), check=False)
        handset.run(quote("rm", "-rf", f"{STAGING_DIR}/{run_id}"), check=False)
        return outcomes

    def _launch(self, handset: Handset, requests: list[str]) -> None:
        """One `am start` for every request. am reports a missing activity as "Error: ..." lines
        (with exit code 0 on some Android versions), so both are checked."""
        started = handset.run(quote("am", "start", "-W", "-n", BENCHMARK_ACTIVITY, "--esa", EXTRA_REQUESTS, ",".join(requests)), check=False)
        problems = [line.strip() for line in started.output.splitlines() if line.strip().startswith("Error")]
        if started.exit_code != 0 or problems:
            why = problems[-1] if problems else (_tail(started.output, 1) or f"exit {started.exit_code}")
            raise DeviceRunError(f"`am start` could not launch {BENCHMARK_ACTIVITY} on {handset.serial}: {why}",
                                 "install a current debug build of the demo app (it has BenchmarkActivity)")

    def _wait(self, handset: Handset, app_dir: str, result_paths: list[str], advance) -> set[str]:
        names = {posixpath.basename(p) for p in result_paths}
        deadline = time.monotonic() + self.timeout_s
        seen: set[str] = set()
        gone_since = None
        while True:
            probe = handset.run(quote("run-as", self.package, "ls", app_dir) + "; " + quote("pidof", self.package), check=False)
            present = names & set(probe.output.split())
            if advance and len(present) > len(seen):
                advance(len(present) - len(seen))
            seen = present
            if seen == names:
                return seen
            alive = probe.exit_code == 0  # pidof's status: the app process exists
            if not alive:
                gone_since = gone_since or time.monotonic()
                if time.monotonic() - gone_since > 1.0:  # not a launch race: the process is gone
                    tail = handset.logcat_tail(30)
                    crashed = "FATAL EXCEPTION" in tail or "has died" in tail
                    what = "crashed" if crashed else "exited"
                    raise DeviceRunError(
                        f"the app {what} on {handset.serial} after {len(seen)} of {len(names)} results; logcat tail:\n{_tail(tail)}",
                        "fix the crash shown above (adb logcat -s AndroidRuntime), then retry",
                    )
            else:
                gone_since = None
            if time.monotonic() > deadline:
                missing = sorted(names - seen)
                tail = handset.logcat_tail(30, [LOG_TAG, "AndroidRuntime"])
                raise DeviceRunError(
                    f"the app wrote no result for {', '.join(missing)} on {handset.serial} within {self.timeout_s:.0f} s; logcat tail:\n{_tail(tail)}",
                    "check the app handles the request (adb logcat -s PackagerBench) or raise the timeout",
                )
            time.sleep(self.poll_s)

    def _collect(self, handset: Handset, specs: list[RunSpec], result_paths: list[str], run_id: str, done: set[str]) -> list[RunOutcome]:
        marker = f"=====packager-{uuid.uuid4().hex[:8]}====="
        line = " ; ".join(f"{quote('run-as', self.package, 'cat', p)} ; echo {marker}" for p in result_paths)
        texts = handset.run(line, check=False).output.split(marker)
        results = []
        for i in range(len(specs)):
            try:
                data = loads_json(texts[i].strip())
            except (IndexError, DocumentError):
                raise DeviceRunError(f"the result of request {i} on {handset.serial} is not JSON: {texts[i].strip()[:200] if i < len(texts) else ''}",
                                     "check the app's benchmark entry point") from None
            results.append(BenchResult.from_dict(data, what=f"result {i} from {handset.serial}"))
        # bring outputs back through the staging folder (run-as's `cat` feeds the shell's redirect)
        stage = f"{STAGING_DIR}/{run_id}"
        wanted = [(i, k, remote) for i, r in enumerate(results) for k, remote in enumerate(r.output_files) if r.status == "ok"]
        copies = [f"{quote('run-as', self.package, 'cat', remote)} > {quote(f'{stage}/out-{i}-{k}.npy')}" for i, k, remote in wanted]
        outputs: dict[int, list[np.ndarray]] = {}
        if copies:
            for batch in _batched(copies, " && "):
                handset.run(quote("mkdir", "-p", stage) + " && " + batch)
            with tempfile.TemporaryDirectory() as tmp:
                for i, k, remote in wanted:
                    local = Path(tmp) / f"out-{i}-{k}.npy"
                    handset.pull(f"{stage}/out-{i}-{k}.npy", local)
                    outputs.setdefault(i, []).append(arrays.load_array(local, f"output file {remote} from {handset.serial}"))
        return [RunOutcome(spec, results[i], outputs.get(i)) for i, spec in enumerate(specs)]


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- benchmark_model --------------------------------------------------------------------------------
_DELEGATES = {"gpu": "TfLiteGpuDelegate", "nnapi": "TfLiteNnapiDelegate", "xnnpack": "TfLiteXNNPackDelegate"}


def benchmark_model_flags(spec: RunSpec, graph: str) -> list[str]:
    flags = [f"--graph={graph}", f"--num_threads={spec.threads}", f"--warmup_runs={spec.warmup}", f"--num_runs={spec.runs}",
             "--min_secs=0", "--warmup_min_secs=0"]
    flags.append(f"--use_xnnpack={'false' if spec.accelerator == 'cpu' else 'true'}")
    if spec.accelerator == "gpu":
        flags.append("--use_gpu=true")
    if spec.accelerator == "nnapi":
        flags.append("--use_nnapi=true")
    return flags


def parse_benchmark_model(text: str, spec: RunSpec, device: BenchDevice, graph: str) -> BenchResult:
    """benchmark_model's log -> a bench-result (runner benchmark_model, summary instead of runs)."""
    errors = [line.strip() for line in text.splitlines() if re.match(r"\s*(ERROR|E tflite)", line)]
    accelerator = BenchAccelerator(requested=spec.accelerator, applied=None, ops_source="unknown", ops_note="benchmark_model printed no run")  # type: ignore[arg-type]
    result = BenchResult(request_id=f"benchmark_model-{uuid.uuid4().hex[:6]}", status="error", runner="benchmark_model",
                         virtual=bool(device.virtual), device=device, model_path=graph, accelerator=accelerator, threads=spec.threads,
                         errors=errors, runner_version="benchmark_model")
    timings = re.search(r"Inference timings in us: Init: ([\d.]+), First inference: ([\d.]+), Warmup \(avg\): ([\d.e+]+), Inference \(avg\): ([\d.e+]+)", text)
    # the stat lines (warm-up, then measured runs): "count=20 first=.. curr=.. min=.. max=.. avg=.. std=..",
    # or "count=20 curr=9000(all same)" when every run took the same time
    runs = [dict(re.findall(r"(\w+)=([-\d.e+]+)", line)) for line in text.splitlines() if re.search(r"\bcount=\d+", line)]
    replaced = {name: (int(a), int(b)) for a, b, name in re.findall(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+?)(?:V2)?\)", text)}
    # newer builds sample the peak; older ones print "(Peak) memory footprint ... (MB): init=.. overall=.."
    memory = re.search(r"Overall peak memory footprint \(MB\) via periodic monitoring: ([\d.]+)", text) or \
        re.search(r"emory footprint.*\(MB\):.*overall=([\d.]+)", text)
    def delegate(accel: str) -> tuple[int, int] | None:
        return next((v for k, v in replaced.items() if k.startswith(_DELEGATES[accel]) and v[0] > 0), None)

    applied = "xnnpack" if delegate("xnnpack") else "cpu"
    if spec.accelerator in ("gpu", "nnapi") and delegate(spec.accelerator):
        applied = spec.accelerator
    took = delegate(applied) if applied != "cpu" else None
    if took:
        accelerator.delegated_ops, accelerator.total_ops = took
        accelerator.ops_source, accelerator.ops_note = "delegate_log", None
    elif timings:
        accelerator.ops_source, accelerator.delegated_ops = "no_delegate", 0
        accelerator.ops_note = "no delegate took an operator (benchmark_model logged no replacement)"
    if spec.accelerator == "npu":
        result.errors.append("benchmark_model has no NPU option; use the app runner")
    if applied != spec.accelerator and spec.accelerator != "cpu":
        reason = next((e for e in errors if spec.accelerator.upper() in e.upper() or "delegate" in e.lower()), None)
        accelerator.fallback_reason = reason or f"no {spec.accelerator} delegate was applied (see benchmark_model's log)"
    if timings and runs and int(runs[-1]["count"]) > 0:
        init_us, first_us = float(timings.group(1)), float(timings.group(2))
        measured = runs[-1]
        same = float(measured["curr"])  # all runs equal: only count and curr are printed
        result.init_ms, result.first_inference_ms, result.status = init_us / 1000, first_us / 1000, "ok"
        result.summary = BenchSummary(count=int(measured["count"]), mean_ms=float(measured.get("avg", same)) / 1000,
                                      std_ms=float(measured.get("std", 0)) / 1000, min_ms=float(measured.get("min", same)) / 1000,
                                      max_ms=float(measured.get("max", same)) / 1000)
        accelerator.applied = applied  # type: ignore[assignment]
    elif not result.errors:
        result.errors.append("benchmark_model printed no timings")
    if memory:
        result.peak_memory_kb = int(float(memory.group(1)) * 1024)
        result.peak_memory_measure = "fresh_process_peak"  # benchmark_model is started for this one run
    return result


class BenchmarkModelRunner:
    """A user-supplied TFLite benchmark_model binary for the device's ABI."""

    name = "benchmark_model"

    def __init__(self, binary: Path):
        self.binary = Path(binary)
        if not self.binary.is_file():
            raise PackagerError(f"benchmark_model binary {binary} does not exist", "download it for the phone's ABI from the LiteRT releases")

    def prepare(self, handset: Handset) -> None:
        self.remote = f"{STAGING_DIR}/benchmark_model"
        handset.push_if_changed(self.binary, self.remote)
        handset.shell("chmod", "755", self.remote)

    def run(self, handset: Handset, specs: list[RunSpec], advance: Callable[[int], None] | None = None) -> list[RunOutcome]:
        outcomes = []
        props = handset.props()
        device = BenchDevice.from_dict(props.to_dict())
        for spec in specs:
            graph = f"{STAGING_DIR}/blobs/{spec.bundle.model_sha256}.tflite"
            handset.push_if_changed(spec.bundle.model_path, graph)
            ran = handset.run(quote(self.remote, *benchmark_model_flags(spec, graph)) + " 2>&1", check=False, timeout=600)
            if ran.exit_code in (126, 127):  # the shell could not execute it: wrong ABI, not a program, no permission
                raise PackagerError(f"benchmark_model cannot run on {handset.serial}: {_tail(ran.output, 1)}",
                                    f"use the benchmark_model built for the phone's ABI ({device.abi}) from the LiteRT releases")
            result = parse_benchmark_model(ran.output, spec, device, graph)
            if result.status != "ok" and ran.exit_code != 0:
                result.errors.append(f"benchmark_model exited with {ran.exit_code}: {_tail(ran.output, 1)}")
            result.validate("benchmark_model result")
            outcomes.append(RunOutcome(spec, result, None))
            if advance:
                advance(1)
        return outcomes
