"""The data model (packager/manifest.py): typed values whose JSON is the files' format, checked both ways."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from packager.errors import PackagerError
from packager.manifest import DeviceResults, Latency, Manifest


def test_a_built_manifest_reads_and_writes_back_to_the_same_text(digits_bundle, outlier_builds):
    """What the build wrote is what the model reads and writes again, byte for byte: the types
    hold every key the files have (explicit and auto selections, float ops, sensitivity, images)."""
    for folder in (digits_bundle, outlier_builds[1].bundle):
        text = (folder / "manifest.json").read_text(encoding="utf-8")
        manifest = Manifest.from_json(text)
        assert manifest.to_json() == text
        assert manifest.metrics.reference.name == json.loads(text)["metrics"]["float"]["name"]  # key "float", field reference
    auto_text = (outlier_builds[1].bundle / "manifest.json").read_text(encoding="utf-8")
    auto = Manifest.from_json(auto_text)
    assert auto.selection.mode == "auto" and auto.selection.operator_sensitivity
    # float ops and the losing candidates, whichever variant auto chose (it may need none kept in float)
    assert auto.recipe.float_ops == json.loads(auto_text)["recipe"].get("float_ops", [])
    assert len(auto.selection.candidates) >= 2


def test_validated_on_read_and_on_write(digits_bundle):
    data = json.loads((digits_bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest = Manifest.from_dict(data)
    wrong = dict(data, task="speech_recognition")
    with pytest.raises(PackagerError, match="task"):
        Manifest.from_dict(wrong)
    with pytest.raises(PackagerError, match="task"):
        dataclasses.replace(manifest, task="speech_recognition").to_json()
    unknown = dict(data, colour="blue")
    with pytest.raises(PackagerError, match="colour"):
        Manifest.from_dict(unknown)


def test_an_optional_field_is_left_out_while_unset(digits_bundle):
    data = json.loads((digits_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert "custom_ops" not in data  # the digits model has none
    manifest = Manifest.from_dict(data)
    assert manifest.custom_ops == [] and "custom_ops" not in manifest.to_dict()
    with_ops = dataclasses.replace(manifest, custom_ops=["Mfcc"])
    assert Manifest.from_json(with_ops.to_json()).custom_ops == ["Mfcc"]


def test_latency_has_one_type_and_two_forms():
    latency = Latency.of([1.0, 2.0, 3.0, 4.0], threads=2)
    assert latency.to_host_dict() == {"mean_ms": 2.5, "p50_ms": 2.5, "p90_ms": latency.p90, "runs": 4, "threads": 2}
    assert set(latency.to_dict()) == {"count", "mean", "std", "p50", "p90", "p99", "min", "max"}  # the device-results form
    host = Latency.from_host_dict(latency.to_host_dict())
    assert (host.mean, host.p50, host.p90, host.count, host.threads) == (2.5, 2.5, latency.p90, 4, 2)


def test_device_results_round_trip_and_refuse_a_bad_document(tmp_path):
    document = {
        "schema_version": 1, "kind": "packager-device-results", "created": "2026-01-01T00:00:00Z", "packager": "0.9.0",
        "transfers": {"bytes_pushed": 10, "bytes_skipped": 0},
        "apks": [{"serial": "R5X", "package": "dev.packager.app", "installed_bytes": 5, "breakdown": None}],
        "runs": [{"device": {"serial": "R5X", "manufacturer": "samsung", "model": "SM-S911B", "soc": None, "abi": "arm64-v8a", "sdk": 34,
                             "virtual": False},
                  "bundle": "digits", "bundle_sha256": "0" * 64, "recipe": "int8", "runner": "app", "virtual": False, "status": "ok",
                  "accelerator_requested": "gpu", "accelerator_applied": "xnnpack", "fallback_reason": "no GPU", "threads": 1,
                  "init_ms": 3.0, "first_inference_ms": 2.0, "latency": Latency.of([1.0, 2.0]).to_dict(), "peak_memory_kb": None,
                  "parity": {"samples": 8, "max_abs_error": 0.0, "mean_abs_error": 0.0, "top1_agreement": 1.0},
                  "errors": [], "latencies_ms": [1.0, 2.0], "delegated_ops": 9, "total_ops": 12, "ops_source": "delegate_log",
                  "peak_memory_measure": "rise_over_preload_baseline"}],
    }
    results = DeviceResults.from_dict(document)
    run = results.runs[0]
    assert run.fell_back and run.accelerator == "gpu → xnnpack" and run.device.title == "samsung SM-S911B"
    assert run.operators == "9 of 12 (delegate_log)"
    assert results.to_dict() == document  # the writer's version kept, every key as it was
    path = results.write(tmp_path / "results.json")
    assert DeviceResults.load(path).to_dict() == document
    document["runs"][0]["status"] = "maybe"
    with pytest.raises(PackagerError, match="status"):
        DeviceResults.from_dict(document)


def test_the_model_imports_no_numpy_or_jsonschema():
    code = ("import sys, packager.manifest; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'jsonschema', 'tensorflow', 'ai_edge_litert'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
