"""The demo app's process on the virtual handset: runs benchmark requests (docs/CONTRACTS.md, contract 2).

It is a separate, long-lived process, as an Android app process is: the first launch is cold
(start Python, import LiteRT), later ones are warm; a crash kills it without taking the handset
down; its peak memory is measured as the Kotlin app's is (peak_memory_measure
"rise_over_preload_baseline"): VmHWM, restarted through /proc/self/clear_refs just before the model
is loaded, minus VmRSS at that moment.

The parent sends one JSON job per line on stdin and reads one JSON line back per job. Paths in
requests are device paths; the job carries the sandbox root to map them.

Each accelerator path runs on the runtime, at the version, the demo app ships for it
(packager/runtime/targets.py reads android_app/gradle/libs.versions.toml): cpu on TFLite's
Interpreter with XNNPACK off (the pinned tensorflow-cpu wheel's tf.lite.Interpreter, builtin
kernels), xnnpack on the pinned LiteRT (ai-edge-litert's Interpreter with XNNPACK); gpu, nnapi and
npu do not exist on a host, so they fall back (to xnnpack, else cpu) and the result says so. A
runtime lives in a child of this process (packager/runtime/runtime_worker.py in that version's
cached environment), as the app's native libraries live in its process: the model is loaded,
timed and its memory measured there (the peak-memory measure above, in that process), and a
native crash there kills this process with the same signal, as it kills an Android app. The
result's `runtime` says which runtime and version produced its figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Literal

import numpy as np

from packager import schemas
from packager.manifest import BenchAccelerator, BenchDevice, BenchResult, BenchRuntime
from packager.runtime import envs
from packager.runtime import targets as runtime_targets
from packager.runtime.compat import RuntimeWorker, decode_array

ORDER = ("xnnpack", "cpu")  # fallback order when the requested accelerator is missing
# the kernels each path that runs on a host uses in its runtime (the app's: Interpreter with XNNPACK off; CompiledModel on CPU)
KERNELS: dict[str, Literal["builtin", "xnnpack"]] = {"cpu": "builtin", "xnnpack": "xnnpack"}


class Runtimes:
    """The app's runtimes, one long-lived worker each, started on the first request that needs it."""

    def __init__(self) -> None:
        self.workers: dict[str, RuntimeWorker] = {}
        self._targets: tuple[runtime_targets.RuntimeTarget, ...] | None = None

    def target(self, accelerator: str) -> runtime_targets.RuntimeTarget:
        if self._targets is None:
            self._targets = runtime_targets.app_targets()
        target = runtime_targets.for_accelerator(self._targets, accelerator)
        if target is None:
            raise RuntimeError(f"the app's catalog names no runtime for {accelerator}")
        return target

    def worker(self, target: runtime_targets.RuntimeTarget) -> RuntimeWorker:
        if target.env_name not in self.workers:
            self.workers[target.env_name] = RuntimeWorker(target, envs.ensure(target))
        return self.workers[target.env_name]


RUNTIMES = Runtimes()


class RuntimeDied(Exception):
    """The runtime's process died of a signal running the request: so does the app."""

    def __init__(self, message: str, code: int | None):
        super().__init__(message)
        self.code = code


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delegated_by_graph(ops: list[dict[str, Any]]) -> tuple[int, int]:
    """(operators the delegates took, operators of the model) from LiteRT's op list after delegation.

    LiteRT's Python API lists every original operator plus one DELEGATE node per partition a
    delegate took, with the partition's input and output tensors, but not which operators are in
    it. A partition is convex, so its operators are exactly those reached walking back from its
    outputs through producers until its inputs. (TFLite logs the count itself, "Replacing N out of
    M node(s)", only at VERBOSE, below the host build's minimum severity, which the Python API
    cannot change.)
    """
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    originals = [o for o in ops if o["op_name"] != "DELEGATE"]
    producer = {int(t): o for o in originals for t in o["outputs"]}
    taken: set[int] = set()
    for node in delegates:
        stop = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        seen: set[int] = set()
        while stack:
            tensor = stack.pop()
            if tensor in stop or tensor in seen:
                continue
            seen.add(tensor)
            op = producer.get(tensor)
            if op is None or op["index"] in taken:
                continue
            taken.add(op["index"])
            stack.extend(int(t) for t in op["inputs"] if int(t) >= 0)
    return len(taken), len(originals)


class Job:
    def __init__(self, job: dict[str, Any]):
        self.root = Path(job["root"]).resolve()
        self.app_dir = job["app_dir"]
        self.device = job["device"]
        self.unavailable = set(job.get("unavailable", []))
        self.fault = job.get("fault")
        self.request_path = job["request"]
        self.logs: list[list[str]] = []

    def log(self, level: str, message: str) -> None:
        self.logs.append([level, message])

    def host(self, device_path: str) -> Path:
        """Apps only reach their own data folder (Android 10+ scoped storage)."""
        norm = os.path.normpath(device_path)
        if not (norm == self.app_dir or norm.startswith(self.app_dir + "/")):
            raise PermissionError(f"{device_path}: the app cannot read outside its data folder {self.app_dir}")
        host = (self.root / norm.lstrip("/")).resolve()
        if self.root not in host.parents:
            raise PermissionError(f"{device_path}: outside the sandbox")
        return host


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_request(job: Job) -> BenchResult:

    started = _now()
    request: dict[str, Any] = {}
    accelerator = BenchAccelerator(requested="cpu", applied=None, ops_source="unknown", ops_note="nothing ran")
    result = BenchResult(request_id="unknown", status="error", runner="app", virtual=True, device=BenchDevice.from_dict(job.device),
                         model_path="", accelerator=accelerator, threads=1, started=started, runner_version="virtual-handset-2")
    try:
        request = json.loads(job.host(job.request_path).read_text())
        result.request_id = str(request.get("request_id", "unknown"))
        problems = schemas.errors("bench-request", request)
        if problems:
            raise ValueError(f"invalid request: {problems[0]}")
        result.model_path, result.threads = request["model_path"], request["threads"]
        requested = request["accelerator"]
        accelerator.requested = requested
        model_path = job.host(request["model_path"])
        data = model_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        result.model_sha256 = digest  # what ran, always recorded; checked when the request gives one
        if request.get("model_sha256"):
            if digest != request["model_sha256"]:
                raise ValueError(f"model sha256 {digest[:12]}... does not match the request's {request['model_sha256'][:12]}...")
        applied, reason = requested, None
        if requested in job.unavailable:
            applied = next((a for a in ORDER if a not in job.unavailable), None)
            why = f"the virtual handset has no {requested.upper()}" if requested in ("gpu", "nnapi", "npu") else "missing on this device"
            reason = f"{requested} is not available on this device ({why}); ran on {applied or 'nothing'}"
            job.log("W", f"{requested} delegate failed to apply: {reason}")
        if applied is None:
            raise RuntimeError(f"{requested} is not available and no CPU path is left to run the model")
        inputs = [np.load(job.host(p), allow_pickle=False) for p in request["input_files"]]
        if not inputs:
            raise ValueError("the request names no input files")
        target, kernels = RUNTIMES.target(applied), KERNELS[applied]
        result.runtime = BenchRuntime(name=target.kind, version=target.version, package=target.wheel, kernels=kernels)
        rows = [[array[i % len(array) : i % len(array) + 1] for array in inputs] for i in range(inputs[0].shape[0])]
        worker = RUNTIMES.worker(target)
        done = worker.run(data, rows, f"request {result.request_id}", resolver=kernels, threads=request["threads"], ops=True,
                          warmup_runs=request["warmup_runs"], measured_runs=request["measured_runs"],
                          timeout_s=request.get("timeout_s"), measure_memory=True)
        if "crash" in done:
            raise RuntimeDied(done["crash"], worker.worker.exit_code)
        if done["peak_memory_kb"] is not None:  # the rise in the runtime's process, where the model lives
            result.peak_memory_kb, result.peak_memory_measure = done["peak_memory_kb"], "rise_over_preload_baseline"
        where = f"{target.name}, {target.wheel}, {kernels} kernels"
        if done["load_error"] or done["allocate_error"]:
            raise RuntimeError(f"{done['load_error'] or done['allocate_error']} ({where}, loading the model)")
        result.init_ms, result.first_inference_ms = done["init_ms"], done["first_inference_ms"]
        if done["run_error"]:
            raise RuntimeError(f"{done['run_error']} ({where}, running the model)")
        taken, total = delegated_by_graph(done["ops"]) if done["ops"] is not None else (0, None)
        if applied == "xnnpack" and taken == 0:
            # XNNPACK took nothing: the builtin kernels ran the model, and the result says that.
            reason = (reason + "; " if reason else "") + "XNNPACK took no operator of this model; the builtin kernels ran it"
            applied = "cpu"
        accelerator.applied, accelerator.fallback_reason, accelerator.total_ops = applied, reason, total
        if applied == "cpu":
            accelerator.delegated_ops, accelerator.ops_source, accelerator.ops_note = 0, "no_delegate", None
        else:
            accelerator.delegated_ops, accelerator.ops_source = taken, "delegate_graph"
            accelerator.ops_note = "XNNPACK's partitions as LiteRT's graph shows them (its own log line is VERBOSE, not printed on a host)"
        latencies = result.latencies_ms = done["latencies_ms"]
        if done.get("timed_out"):
            raise TimeoutError(f"timed out after {len(latencies)} of {request['measured_runs']} measured runs ({request['timeout_s']} s)")
        if request.get("save_outputs", True):
            out_dir = job.host(request["output_dir"])
            out_dir.mkdir(parents=True, exist_ok=True)
            for k, per_sample in enumerate(zip(*done["outputs"])):  # samples x outputs -> one file per output
                buffer = io.BytesIO()
                np.save(buffer, np.stack([decode_array(item)[0] for item in per_sample]), allow_pickle=False)
                _write_atomic(out_dir / f"output_{k}.npy", buffer.getvalue())
                result.output_files.append(f"{request['output_dir'].rstrip('/')}/output_{k}.npy")
        result.status = "ok"
        job.log("I", f"request {result.request_id}: {requested} -> {applied} on {target.name}, {len(latencies)} runs, "
                     f"mean {np.mean(latencies):.3f} ms")
    except RuntimeDied:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an honest error result
        result.errors.append(f"{type(exc).__name__}: {exc}")
        job.log("E", f"request {result.request_id} failed: {exc}")
    result.finished = _now()
    return result


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for line in sys.stdin:
        job = Job(json.loads(line))
        if job.fault == "crash":
            job.log("I", "BenchmarkActivity: loading request")
            print(json.dumps({"logs": job.logs, "crashing": True}), flush=True)
            os._exit(1)  # the process dies: no result, the parent writes the AndroidRuntime tail
        try:
            try:
                result = run_request(job)
            except RuntimeDied as died:  # a native crash in the runtime: the app dies of the same signal, as on Android
                job.log("E", str(died))
                print(json.dumps({"logs": job.logs, "crashing": True}), flush=True)
                if died.code is not None and died.code < 0:
                    signal.signal(-died.code, signal.SIG_DFL)
                    os.kill(os.getpid(), -died.code)
                os._exit(1)
            if job.fault != "missing_result":
                result_path = job.host(json.loads(job.host(job.request_path).read_text())["result_path"])
                result_path.parent.mkdir(parents=True, exist_ok=True)
                _write_atomic(result_path, result.to_json(f"the result of {result.request_id}").encode())
            else:
                job.log("I", "BenchmarkActivity finished")
        except Exception:  # noqa: BLE001 - report, keep serving
            job.log("E", traceback.format_exc().strip().splitlines()[-1])
        print(json.dumps({"logs": job.logs}), flush=True)


if __name__ == "__main__":
    main()
