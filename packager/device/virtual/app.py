"""The demo app's process on the virtual handset: runs benchmark requests (docs/CONTRACTS.md, contract 2).

It is a separate, long-lived process, as an Android app process is: the first launch is cold
(start Python, import LiteRT), later ones are warm; a crash kills it without taking the handset
down; its peak memory is measured as the Kotlin app's is (peak_memory_measure
"rise_over_preload_baseline"): VmHWM, restarted through /proc/self/clear_refs just before the model
is loaded, minus VmRSS at that moment.

The parent sends one JSON job per line on stdin and reads one JSON line back per job. Paths in
requests are device paths; the job carries the sandbox root to map them. Accelerators: cpu is
LiteRT's builtin kernels without XNNPACK, xnnpack is LiteRT's default CPU path; gpu, nnapi and
npu do not exist on a host, so they fall back (to xnnpack, else cpu) and the result says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from packager import schemas
from packager.manifest import BenchAccelerator, BenchDevice, BenchResult

ORDER = ("xnnpack", "cpu")  # fallback order when the requested accelerator is missing


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _baseline_kb() -> int | None:
    """Restart the peak (VmHWM := VmRSS) and return VmRSS; None when the kernel refuses the reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_kb("VmRSS:")


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
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415 - LiteRT only in the app's worker process


    started = _now()
    baseline: int | None = None
    request: dict[str, Any] = {}
    accelerator = BenchAccelerator(requested="cpu", applied=None, ops_source="unknown", ops_note="nothing ran")
    result = BenchResult(request_id="unknown", status="error", runner="app", virtual=True, device=BenchDevice.from_dict(job.device),
                         model_path="", accelerator=accelerator, threads=1, started=started, runner_version="virtual-handset-1")
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
        baseline = _baseline_kb()  # just before loading: the rise is this model on this accelerator
        t0 = time.perf_counter()
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if applied == "cpu" else OpResolverType.AUTO
        interpreter = Interpreter(model_content=data, num_threads=request["threads"], experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        result.init_ms = (time.perf_counter() - t0) * 1000
        details = interpreter.get_input_details()
        if len(inputs) != len(details):
            raise ValueError(f"the model has {len(details)} inputs but the request gives {len(inputs)} input files")
        ops = interpreter._get_ops_details()  # noqa: SLF001 - the only view of the delegated graph
        taken, total = delegated_by_graph(ops)
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
        samples = inputs[0].shape[0]
        outputs: list[list[np.ndarray]] = [[] for _ in interpreter.get_output_details()]

        def feed(i: int) -> None:
            for detail, array in zip(details, inputs):
                sample = array[i % samples : i % samples + 1]
                if sample.dtype != detail["dtype"] or tuple(sample.shape) != tuple(detail["shape"]):
                    raise ValueError(f"input {detail['name']}: got {sample.dtype}{list(sample.shape)}, the model takes {np.dtype(detail['dtype'])}{list(detail['shape'])}")
                interpreter.set_tensor(detail["index"], sample)

        for i in range(samples):  # one pass over the samples: their outputs, and the first inference
            feed(i)
            t0 = time.perf_counter()
            interpreter.invoke()
            if i == 0:
                result.first_inference_ms = (time.perf_counter() - t0) * 1000
            for k, detail in enumerate(interpreter.get_output_details()):
                outputs[k].append(interpreter.get_tensor(detail["index"])[0].copy())
        for i in range(request["warmup_runs"]):
            feed(i)
            interpreter.invoke()
        latencies = []
        deadline = time.monotonic() + request["timeout_s"] if request.get("timeout_s") else None
        for i in range(request["measured_runs"]):
            feed(i)
            t0 = time.perf_counter()
            interpreter.invoke()
            latencies.append((time.perf_counter() - t0) * 1000)
            if deadline is not None and time.monotonic() > deadline and i + 1 < request["measured_runs"]:
                result.latencies_ms = latencies
                raise TimeoutError(f"timed out after {len(latencies)} of {request['measured_runs']} measured runs ({request['timeout_s']} s)")
        result.latencies_ms = latencies
        if request.get("save_outputs", True):
            out_dir = job.host(request["output_dir"])
            out_dir.mkdir(parents=True, exist_ok=True)
            for k, rows in enumerate(outputs):
                target = out_dir / f"output_{k}.npy"
                buffer = io.BytesIO()
                np.save(buffer, np.stack(rows), allow_pickle=False)
                _write_atomic(target, buffer.getvalue())
                result.output_files.append(f"{request['output_dir'].rstrip('/')}/output_{k}.npy")
        result.status = "ok"
        job.log("I", f"request {result.request_id}: {requested} -> {applied}, {len(latencies)} runs, mean {np.mean(latencies):.3f} ms")
    except Exception as exc:  # noqa: BLE001 - every failure becomes an honest error result
        result.errors.append(f"{type(exc).__name__}: {exc}")
        job.log("E", f"request {result.request_id} failed: {exc}")
    peak = _status_kb("VmHWM:")
    if baseline is not None and peak is not None:
        result.peak_memory_kb = max(0, peak - baseline)
        result.peak_memory_measure = "rise_over_preload_baseline"
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
            result = run_request(job)
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
