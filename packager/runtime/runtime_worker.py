"""A model runner inside one pinned runtime's environment (packager/runtime/envs.py).

Run by path with that environment's Python (`<env>/bin/python runtime_worker.py tflite`), so it
imports nothing of packager: the standard library, numpy and the runtime only, exactly the
versions the environment pins. One process serves many jobs (a build's every variant, or the
virtual handset's requests on one accelerator path); the parent is packager.runtime.isolation.Worker.

Protocol (stdin/stdout, as packager.runtime.isolation's): the parent writes an 8-byte little-endian length
and a JSON header, then the header's `payload` bytes (the model, then every input array's raw
bytes in the order the header lists them). The worker answers with JSON lines: `{"hello": ...}`
once it has imported the runtime (what it really loaded), `{"step": ...}` before each native step
(so a crash is located) and `{"done": {...}}` at the end of each job.

Runtimes: `tflite` is TensorFlow's `tf.lite.Interpreter` (tensorflow/lite/python/interpreter.py
and its _pywrap_tensorflow_interpreter_wrapper from the tensorflow-cpu wheel), imported without
running tensorflow/__init__.py, which would load the whole of TensorFlow (about 5 s of CPU) for
the one class; `litert` is ai_edge_litert's Interpreter.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import signal
import struct
import sys
import time
import types
from importlib import metadata
from pathlib import Path


def _import_runtime(kind: str):
    """(Interpreter, OpResolverType, runtime version) of this environment's `kind`."""
    if kind == "tflite":
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("tensorflow is not installed in this environment")
        package = types.ModuleType("tensorflow")  # the package without its __init__ (all of TensorFlow)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["tensorflow"] = package
        from tensorflow.lite.python.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

        for dist in ("tensorflow-cpu", "tensorflow"):
            try:
                return Interpreter, OpResolverType, metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return Interpreter, OpResolverType, "unknown"
    if kind == "litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

        return Interpreter, OpResolverType, metadata.version("ai-edge-litert")
    raise ValueError(f"unknown runtime kind {kind!r}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split())[:500] if text else type(exc).__name__


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


def _encode(np, array) -> dict:
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def _run(np, Interpreter, resolvers, header: dict, payload: bytes, say) -> dict:
    model_size = int(header["model_size"])
    model = payload[:model_size]
    samples = []  # per sample, one array per input
    offset = model_size
    for sample in header.get("samples", []):
        arrays = []
        for item in sample:
            count = int(np.prod(item["shape"])) if item["shape"] else 1
            dtype = np.dtype(item["dtype"])
            arrays.append(np.frombuffer(payload, dtype, count, offset).reshape(item["shape"]))
            offset += count * dtype.itemsize
        samples.append(arrays)
    resolver = header.get("resolver", "builtin")
    result: dict = {"load_error": None, "allocate_error": None, "run_error": None, "outputs": [], "latencies_ms": [],
                    "init_ms": None, "first_inference_ms": None, "ops": None, "peak_memory_kb": None}
    baseline = _baseline_kb() if header.get("measure_memory") else None
    say(step=f"loading it ({resolver})")
    t0 = time.perf_counter()
    try:
        interpreter = Interpreter(model_content=model, num_threads=int(header.get("threads", 1)),
                                  experimental_op_resolver_type=resolvers[resolver])
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        result["load_error"] = _first_line(exc)
        return result
    say(step=f"allocating its tensors ({resolver})")
    try:
        interpreter.allocate_tensors()
    except Exception as exc:  # noqa: BLE001
        result["allocate_error"] = _first_line(exc)
        return result
    result["init_ms"] = (time.perf_counter() - t0) * 1000
    if header.get("ops"):
        try:
            result["ops"] = [{"index": int(o["index"]), "op_name": o["op_name"], "inputs": [int(t) for t in o["inputs"]],
                              "outputs": [int(t) for t in o["outputs"]]} for o in interpreter._get_ops_details()]  # noqa: SLF001
        except Exception:  # noqa: BLE001 - an older runtime without the op list: the counts are unknown
            result["ops"] = None
    details = interpreter.get_input_details()
    outputs = interpreter.get_output_details()

    def feed(arrays) -> None:
        if len(arrays) != len(details):
            raise ValueError(f"the model has {len(details)} inputs but the request gives {len(arrays)} input files")
        for detail, array in zip(details, arrays):
            if array.dtype != detail["dtype"] or tuple(array.shape) != tuple(detail["shape"]):
                raise ValueError(f"input {detail['name']}: got {array.dtype}{list(array.shape)}, "
                                 f"the model takes {np.dtype(detail['dtype'])}{list(detail['shape'])}")
            interpreter.set_tensor(detail["index"], array)

    say(step=f"running it on {len(samples)} inputs ({resolver})")
    try:
        if not samples:  # no inputs given: one run on zeros
            samples = [[np.zeros(d["shape"], d["dtype"]) for d in details]]
            keep = False
        else:
            keep = True
        for i, arrays in enumerate(samples):
            feed(arrays)
            t0 = time.perf_counter()
            interpreter.invoke()
            if i == 0:
                result["first_inference_ms"] = (time.perf_counter() - t0) * 1000
            if keep and header.get("outputs", True):
                result["outputs"].append([_encode(np, interpreter.get_tensor(d["index"])) for d in outputs])
        for i in range(int(header.get("warmup_runs", 0))):
            feed(samples[i % len(samples)])
            interpreter.invoke()
        deadline = time.monotonic() + float(header["timeout_s"]) if header.get("timeout_s") else None
        measured = int(header.get("measured_runs", 0))
        for i in range(measured):
            feed(samples[i % len(samples)])
            t0 = time.perf_counter()
            interpreter.invoke()
            result["latencies_ms"].append((time.perf_counter() - t0) * 1000)
            if deadline is not None and time.monotonic() > deadline and i + 1 < measured:
                result["timed_out"] = True
                break
    except Exception as exc:  # noqa: BLE001
        result["run_error"] = _first_line(exc)
    peak = _status_kb("VmHWM:")
    if baseline is not None and peak is not None:
        result["peak_memory_kb"] = max(0, peak - baseline)
    interpreter = None  # freed before the next job
    return result


def serve(kind: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes our stdin
    stdin, stdout = sys.stdin.buffer, sys.stdout

    def say(**message) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    import numpy as np  # noqa: PLC0415

    Interpreter, OpResolverType, version = _import_runtime(kind)
    resolvers = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    say(hello={"kind": kind, "version": version, "numpy": np.__version__, "python": sys.version.split()[0]})
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return  # the parent is done (or gone)
        (size,) = struct.unpack("<Q", head)
        header = json.loads(stdin.read(size))
        payload = stdin.read(int(header["payload"]))
        say(done=_run(np, Interpreter, resolvers, header, payload, say))


if __name__ == "__main__":
    serve(sys.argv[1])
