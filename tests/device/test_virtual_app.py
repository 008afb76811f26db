"""The demo app on the virtual handset runs contract 2 (docs/CONTRACTS.md) on a real bundle, driven the way a
harness drives a phone (adb-shell: push to staging, run-as copy, am start, poll, run-as cat), and
its faults: a crash with its logcat tail, a missing result, a missing accelerator."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest

from packager import schemas
from packager.bundle.reader import load_bundle
from packager.device.virtual.app import delegated_by_graph
from packager.tflite.flatbuffer import parse_graph
from packager.device.contract import APP_PACKAGE, APP_WORK_DIR, BENCHMARK_ACTIVITY, LOG_TAG, STAGING_DIR


@pytest.fixture(scope="module")
def digits(digits_bundle):
    return load_bundle(digits_bundle)


class App:
    """The harness side of contract 2, spelled out with plain adb-shell calls."""

    def __init__(self, device, bundle):
        self.device = device
        self.bundle = bundle
        self.run_id = uuid.uuid4().hex[:8]
        self.dir = f"{APP_WORK_DIR}/{self.run_id}"
        self.staged = False

    def sh(self, line: str) -> str:
        return self.device.shell(line)

    def stage(self) -> None:
        staging = f"{STAGING_DIR}/{self.run_id}"
        files = [self.bundle.model_path, *self.bundle.golden_input_paths]
        for local in files:
            self.device.push(str(local), f"{staging}/{local.name}")
        self.sh(f"run-as {APP_PACKAGE} mkdir -p {self.dir}/out && run-as {APP_PACKAGE} cp {staging}/* {self.dir}/")
        self.staged = True

    def request(self, name: str, accelerator: str, **changes) -> str:
        if not self.staged:
            self.stage()
        body = {
            "schema_version": 1, "request_id": name, "bundle": self.bundle.name,
            "model_path": f"{self.dir}/{self.bundle.model_path.name}", "model_sha256": self.bundle.model_sha256,
            "accelerator": accelerator, "threads": 1, "warmup_runs": 2, "measured_runs": 10,
            "input_files": [f"{self.dir}/{p.name}" for p in self.bundle.golden_input_paths],
            "output_dir": f"{self.dir}/out/{name}", "result_path": f"{self.dir}/{name}.result.json",
        }
        body.update(changes)
        text = json.dumps(body).replace("'", "'\\''")
        self.sh(f"echo '{text}' > {STAGING_DIR}/{self.run_id}/{name}.request.json && "
                f"run-as {APP_PACKAGE} cp {STAGING_DIR}/{self.run_id}/{name}.request.json {self.dir}/")
        return f"{self.dir}/{name}.request.json"

    def start(self, *requests: str) -> str:
        return self.sh(f"am start -W -n {BENCHMARK_ACTIVITY} --esa requests {','.join(requests)}")

    def result(self, name: str, timeout: float = 60.0) -> dict | None:
        """The result JSON once it exists; None if the app process is gone (or time ran out) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.sh(f"run-as {APP_PACKAGE} cat {self.dir}/{name}.result.json 2>/dev/null || "
                           f"pidof {APP_PACKAGE} >/dev/null || echo GONE")
            if text.strip() == "GONE":
                return None
            if text.strip():
                return json.loads(text)
            time.sleep(0.05)
        return None

    def output(self, name: str, k: int, local_dir) -> np.ndarray:
        """An output file, brought out the way a harness must: run-as cat into staging, pull."""
        self.sh(f"run-as {APP_PACKAGE} cat {self.dir}/out/{name}/output_{k}.npy > {STAGING_DIR}/{self.run_id}/o.npy")
        self.device.pull(f"{STAGING_DIR}/{self.run_id}/o.npy", str(local_dir / f"{name}_{k}.npy"))
        return np.load(local_dir / f"{name}_{k}.npy", allow_pickle=False)


def test_benchmark_requests_on_a_real_bundle(adb_device, virtual_handset, digits, tmp_path):
    app = App(adb_device, digits)
    requests = [app.request(name, accel) for name, accel in (("c", "cpu"), ("x", "xnnpack"), ("g", "gpu"))]
    launch = app.start(*requests)
    assert "LaunchState: COLD" in launch and "Complete" in launch  # returns before the requests finish
    golden = [np.load(p) for p in digits.golden_output_paths]
    digits_ops = sum(parse_graph(digits.model_path.read_bytes()).operators.values())  # read from the file, not from LiteRT
    for name, accel in (("c", "cpu"), ("x", "xnnpack"), ("g", "gpu")):
        result = app.result(name)
        assert result is not None, virtual_handset.logcat.lines()[-20:]
        assert schemas.errors("bench-result", result) == []
        assert result["virtual"] is True and result["runner"] == "app" and result["status"] == "ok", result["errors"]
        assert result["device"]["model"] == "Virtual Handset" and result["device"]["sdk"] == 34
        assert result["model_sha256"] == digits.model_sha256
        latencies = result["latencies_ms"]
        assert len(latencies) == 10 and all(0 < v < 1000 for v in latencies)
        assert 0 < result["init_ms"] < 10_000 and 0 < result["first_inference_ms"] < 1000
        # the rise over the resident set just before loading (not Python's and LiteRT's own ~100 MB), and it says so
        assert result["peak_memory_measure"] == "rise_over_preload_baseline"
        assert result["peak_memory_kb"] is not None and 0 <= result["peak_memory_kb"] < 50_000
        assert result["accelerator"]["total_ops"] == digits_ops
        if result["accelerator"]["applied"] == "xnnpack":  # counted from the delegated graph (SHAPE, PACK, ... stay on the CPU kernels)
            assert 0 < result["accelerator"]["delegated_ops"] <= digits_ops and result["accelerator"]["ops_source"] == "delegate_graph"
        else:
            assert result["accelerator"]["delegated_ops"] == 0 and result["accelerator"]["ops_source"] == "no_delegate"
        # the same model on the same golden inputs gives the bundle's golden outputs, row for row: exactly on
        # XNNPACK, the host path that made them; the builtin `cpu` kernels may round a quantized output one
        # step the other way (as on a phone), never more
        assert result["output_files"] == [f"{app.dir}/out/{name}/output_{k}.npy" for k in range(len(golden))]
        for k, expected in enumerate(golden):
            got = app.output(name, k, tmp_path)
            if result["accelerator"]["applied"] == "cpu" and np.issubdtype(expected.dtype, np.integer):
                assert got.dtype == expected.dtype and got.shape == expected.shape
                assert np.abs(got.astype(np.int64) - expected.astype(np.int64)).max() <= 1
            else:
                np.testing.assert_array_equal(got, expected)
        if accel == "gpu":  # never claimed: it fell back, and says why
            assert result["accelerator"]["applied"] == "xnnpack"
            assert "gpu is not available" in result["accelerator"]["fallback_reason"]
        else:
            assert result["accelerator"]["applied"] == accel and result["accelerator"]["fallback_reason"] is None
    # results were written atomically: no temporary names left next to them
    assert sorted(app.sh(f"run-as {APP_PACKAGE} ls {app.dir}").split()) == sorted(
        [digits.model_path.name, *(p.name for p in digits.golden_input_paths), "out",
         *(f"{n}.request.json" for n in "cxg"), *(f"{n}.result.json" for n in "cxg")])
    log = app.sh(f"logcat -d -s {LOG_TAG}")
    assert "gpu delegate failed to apply" in log and "BenchmarkActivity: request" in log
    # the process stays cached: the next launch is warm and cheap
    pid = app.sh(f"pidof {APP_PACKAGE}").strip()
    assert pid.isdigit() and "TOTAL RSS" in app.sh(f"dumpsys meminfo {APP_PACKAGE}")
    again = app.request("again", "cpu", measured_runs=1, warmup_runs=0)
    started = time.perf_counter()
    assert "LaunchState: WARM" in app.start(again)
    assert app.result("again")["status"] == "ok" and time.perf_counter() - started < 2.0
    assert app.sh(f"pidof {APP_PACKAGE}").strip() == pid
    # force-stop ends the process without a crash
    app.sh(f"am force-stop {APP_PACKAGE}")
    assert app.sh(f"pidof {APP_PACKAGE} || echo stopped").strip() == "stopped"
    log = app.sh("logcat -d")
    assert f"Force stopping {APP_PACKAGE}" in log and "FATAL EXCEPTION" not in log


def test_bad_requests_give_error_results(adb_device, digits):
    app = App(adb_device, digits)
    wrong_sha = app.request("sha", "cpu", model_sha256="0" * 64)
    outside = app.request("outside", "cpu", model_path="/data/local/tmp/model.tflite")
    invalid = app.request("invalid", "cpu", threads=0)  # not allowed by the request schema
    app.start(wrong_sha, outside, invalid)
    for name, message in (("sha", "does not match"), ("outside", "outside its data folder"), ("invalid", "invalid request")):
        result = app.result(name)
        assert result["status"] == "error" and message in " ".join(result["errors"]), result["errors"]
        assert schemas.errors("bench-result", result) == [] and result["latencies_ms"] == []


def test_crashing_app_leaves_a_logcat_tail_and_no_result(adb_device, virtual_handset, digits):
    app = App(adb_device, digits)
    virtual_handset.faults.crash_app = True
    app.start(app.request("crash", "cpu"))
    assert app.result("crash", timeout=30) is None  # the process died without a result
    assert app.sh(f"pidof {APP_PACKAGE}; echo $?").strip() == "1"
    tail = app.sh("logcat -d -t 20")
    assert "E AndroidRuntime: FATAL EXCEPTION: main" in tail and f"Process: {APP_PACKAGE}, PID:" in tail
    assert f"Process {APP_PACKAGE} (pid" in tail and "has died" in tail
    # crash_once: the next launch starts a new (cold) process and works
    assert "LaunchState: COLD" in app.start(app.request("after", "cpu"))
    assert app.result("after")["status"] == "ok"
    # an app that crashes every time
    virtual_handset.faults.crash_app, virtual_handset.faults.crash_once = True, False
    app.start(app.request("again1", "cpu"))
    assert app.result("again1", timeout=30) is None
    app.start(app.request("again2", "cpu"))
    assert app.result("again2", timeout=30) is None
    assert app.sh("logcat -d -s AndroidRuntime").count("FATAL EXCEPTION") == 3


def test_missing_result_file(adb_device, virtual_handset, digits):
    app = App(adb_device, digits)
    virtual_handset.faults.missing_result = True
    app.start(app.request("lost", "cpu"))
    assert virtual_handset.app_idle(timeout=30)
    assert app.sh(f"pidof {APP_PACKAGE}").strip().isdigit()  # the app is alive and finished...
    assert app.sh(f"run-as {APP_PACKAGE} ls {app.dir}/lost.result.json; echo $?").strip().endswith("1")  # ...without a result


def test_missing_accelerator_is_reported_honestly(adb_device, virtual_handset, digits):
    app = App(adb_device, digits)
    virtual_handset.faults.missing_accelerators = {"xnnpack"}
    app.start(app.request("x", "xnnpack"), app.request("g", "gpu"))
    for name, requested in (("x", "xnnpack"), ("g", "gpu")):
        result = app.result(name)
        assert result["status"] == "ok" and result["accelerator"]["requested"] == requested
        assert result["accelerator"]["applied"] == "cpu" and result["accelerator"]["delegated_ops"] == 0
        assert f"{requested} is not available on this device" in result["accelerator"]["fallback_reason"]


def test_delegated_operators_are_counted_from_the_delegated_graph():
    """LiteRT's op list after XNNPACK took MUL and ADD, not CUMSUM, then TANH and ADD (as a converted
    relu(2x+1) -> cumsum -> tanh + 3 model lists it): 4 of 5 taken, and a partition's operators are
    found by walking back from its outputs to its inputs, not guessed from the DELEGATE count."""
    def op(i, name, ins, outs):
        return {"index": i, "op_name": name, "inputs": np.array(ins), "outputs": np.array(outs)}
    ops = [op(0, "MUL", [0, 4], [5]), op(1, "ADD", [5, 2], [6]), op(2, "CUMSUM", [6, 1], [7]), op(3, "TANH", [7], [8]),
           op(4, "ADD", [8, 3], [9]), op(5, "DELEGATE", [0, 2, 4], [6]), op(6, "DELEGATE", [3, 7], [9])]
    assert delegated_by_graph(ops) == (4, 5)
    assert delegated_by_graph(ops[:5]) == (0, 5)  # no delegate node: nothing taken
    assert delegated_by_graph(ops[:6]) == (2, 5)
