"""Contract 2 as core implements it: requests the harness writes are read, results are schema-valid.

The app's BenchmarkActivity is a thin shell over core's BenchmarkRunner with LiteRT as the
SessionOpener. LiteRT's Android runtime cannot load on this JVM, so the runner is driven here with
a model stand-in whose output equals its input (the one fake: it stands for the phone's runtime).
Everything else is the real code path: request parsing, accelerator fallback, timing, .npy output,
atomic result writing, and the JSON checked against packager/schemas/bench-*.schema.json with jsonschema.
"""

from __future__ import annotations

import json

import numpy as np

from packager import schemas
from packager.manifest import BenchResult


def _request(tmp_path, **overrides):
    model = tmp_path / "files" / "packager" / "model.tflite"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"TFL3 stand-in model bytes")
    inputs = np.arange(3 * 8 * 8, dtype=np.int8).reshape(3, 8, 8, 1)
    np.save(model.parent / "input_0.npy", inputs)
    request = {
        "schema_version": 1, "request_id": "digits-int8.cpu.1", "bundle": "digits", "model_path": str(model),
        "accelerator": "cpu", "threads": 2, "warmup_runs": 1, "measured_runs": 7,
        "input_files": [str(model.parent / "input_0.npy")], "output_dir": str(model.parent / "out"),
        "result_path": str(model.parent / "result.json"),
    }
    request.update(overrides)
    schemas.validate("bench-request", request)
    path = model.parent / "request.json"
    path.write_text(json.dumps(request))
    return path, request, inputs


def _run(core_jar, tmp_path, request_path, unavailable=(), allowed_root=None):
    (answer,) = core_jar.batch([{"op": "bench", "request": str(request_path), "unavailable": list(unavailable),
                                 "allowed_root": str(allowed_root) if allowed_root else None, "out": str(tmp_path / "bench.json")}], tmp_path)
    return answer["result"]


def test_a_request_runs_and_the_result_is_schema_valid(core_jar, tmp_path):
    path, request, inputs = _request(tmp_path)
    written = _run(core_jar, tmp_path, path, allowed_root=tmp_path)
    assert written == request["result_path"]
    result = json.loads(open(written).read())
    schemas.validate("bench-result", result)
    assert result["status"] == "ok" and result["errors"] == []
    # the harness reads it as the typed record, and the record writes it back key for key
    record = BenchResult.from_dict(result, what="the Kotlin runner's result")
    assert record.to_dict() == result and record.session_status == "ok" and record.latency.count == 7
    assert result["accelerator"] == {"requested": "cpu", "applied": "cpu", "fallback_reason": None, "delegated_ops": None, "total_ops": None,
                                     "ops_source": "unknown", "ops_note": None}
    assert result["peak_memory_measure"] == "rise_over_preload_baseline"  # what peak_memory_kb is, in the result itself
    assert len(result["latencies_ms"]) == 7 and all(v >= 0 for v in result["latencies_ms"])
    assert result["init_ms"] >= 0 and result["first_inference_ms"] >= 0 and result["peak_memory_kb"] > 0
    assert result["runner"] == "app" and result["virtual"] is False
    assert result["output_files"] == [request["output_dir"] + "/output_0.npy"]
    np.testing.assert_array_equal(np.load(result["output_files"][0]), inputs)  # one row per input sample
    leftovers = [p.name for p in (tmp_path / "files" / "packager").rglob("*.tmp")]
    assert leftovers == []


def test_an_accelerator_that_fails_falls_back_and_says_so(core_jar, tmp_path):
    path, _, _ = _request(tmp_path, accelerator="gpu")
    result = json.loads(open(_run(core_jar, tmp_path, path, unavailable=["gpu"])).read())
    schemas.validate("bench-result", result)
    assert result["status"] == "ok"
    assert result["accelerator"]["requested"] == "gpu"
    assert result["accelerator"]["applied"] == "xnnpack"
    assert "gpu is not available" in result["accelerator"]["fallback_reason"]


def test_errors_are_reported_honestly(core_jar, tmp_path):
    path, request, _ = _request(tmp_path, model_sha256="0" * 64, accelerator="nnapi")
    result = json.loads(open(_run(core_jar, tmp_path, path)).read())
    schemas.validate("bench-result", result)
    assert result["status"] == "error"
    assert result["accelerator"]["applied"] is None and result["latencies_ms"] == [] and result["init_ms"] is None
    assert "sha256" in result["errors"][0]

    # nothing loads at all
    path, _, _ = _request(tmp_path, accelerator="npu")
    result = json.loads(open(_run(core_jar, tmp_path, path, unavailable=["npu", "xnnpack", "cpu"])).read())
    schemas.validate("bench-result", result)
    assert result["status"] == "error" and result["accelerator"]["applied"] is None
    assert "no accelerator could load the model" in result["errors"][0]


def test_an_invalid_request_still_gets_a_valid_error_result(core_jar, tmp_path):
    path, request, _ = _request(tmp_path)
    broken = dict(request, threads=0)
    path.write_text(json.dumps(broken))
    result = json.loads(open(_run(core_jar, tmp_path, path)).read())
    schemas.validate("bench-result", result)
    assert result["status"] == "error" and "invalid request" in result["errors"][0] and "threads" in result["errors"][0]


def test_files_outside_the_app_folder_are_refused(core_jar, tmp_path):
    outside = tmp_path / "outside" / "result.json"
    path, request, _ = _request(tmp_path, result_path=str(outside))
    assert _run(core_jar, tmp_path, path, allowed_root=tmp_path / "files") is None
    assert not outside.exists()
