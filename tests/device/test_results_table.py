"""The device table as a CI log or an 80-column terminal shows it: every run's status and the
runtime that produced its figures stay readable (nothing cut to "fal…")."""

from __future__ import annotations

import io

from packager.device.results import table
from packager.manifest import DeviceResults
from packager.text import console


def _run(accelerator: str, applied: str, status: str, runtime: str) -> dict:
    return {"device": {"serial": "R5X", "manufacturer": "Google", "model": "Pixel 8", "soc": "Tensor G3", "abi": "arm64-v8a", "sdk": 34,
                       "virtual": False},
            "bundle": "a_rather_long_bundle_name", "bundle_sha256": "0" * 64, "recipe": "int8", "runner": "app", "virtual": False,
            "status": status, "accelerator_requested": accelerator, "accelerator_applied": applied,
            "fallback_reason": "GPU delegate refused" if status == "fallback" else None, "threads": 4, "init_ms": 31.25,
            "first_inference_ms": 12.5, "latency": {"count": 3, "mean": 2.0, "std": 0.8, "p50": 2.125, "p90": 2.875, "p99": 3.0,
                                                     "min": 1.0, "max": 3.0},
            "peak_memory_kb": 4096, "parity": None, "errors": [], "latencies_ms": [1.0, 2.0, 3.0], "runtime": runtime}


def test_the_status_and_runtime_survive_80_columns():
    document = {"schema_version": 1, "kind": "packager-device-results", "created": "2026-01-01T00:00:00Z", "packager": "0.9.0",
                "transfers": {"bytes_pushed": 0, "bytes_skipped": 0}, "apks": [],
                "runs": [_run("cpu", "cpu", "ok", "tflite 2.16.1"), _run("gpu", "xnnpack", "fallback", "litert 2.2.0")]}
    out = io.StringIO()
    console(file=out, width=80).print(table(DeviceResults.from_dict(document)))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    text = out.getvalue()
    assert "fallback" in text and "gpu→xnnpack" in text and "tflite 2.16.1" in text and "litert 2.2.0" in text, text
    assert "…" not in text, text
