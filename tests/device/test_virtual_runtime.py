"""The virtual handset runs each accelerator path on the runtime version the app ships for it
(issue 24): the int16x8 GELU model that the host's LiteRT runs fails `cpu` on the app's TFLite
2.16.1 with that runtime's own reason, and runs `xnnpack` on the app's LiteRT 2.2.0."""

from __future__ import annotations

import pytest

from tests.test_runtime import LITERT, TFLITE, build_model, make_gelu_model


@pytest.fixture(scope="module")
def gelu_model(tmp_path_factory):
    return make_gelu_model(tmp_path_factory.mktemp("gelu"))


def test_the_virtual_handset_fails_cpu_with_the_runtimes_reason(gelu_model, tmp_path, kit_handset):
    """The issue's journey: built with --skip-runtime-check, the int16x8 GELU bundle is benchmarked:
    `cpu` runs on the app's TFLite and fails with its reason; `xnnpack` runs on the app's LiteRT."""
    from packager.bundle.reader import load_bundle
    from packager.device.bench import bench

    model, calib = gelu_model
    built = build_model(model, calib, tmp_path / "dist", "int16x8", skip_runtime_check=True)
    assert built.manifest.runtimes.skipped and "NOT CHECKED" in (built.bundle / "report.md").read_text()
    results = bench(kit_handset, [load_bundle(built.bundle)], ["cpu", "xnnpack"], runs=3, warmup=1)
    runs = {r.accelerator_requested: r for r in results.runs}
    cpu, xnnpack = runs["cpu"], runs["xnnpack"]
    assert cpu.status == "error" and cpu.runtime == TFLITE.name and cpu.latency is None, cpu
    assert "Only float32, int8 and uint8 supported currently, got INT16" in cpu.errors[0] and "(GELU)" in cpu.errors[0]
    assert f"{TFLITE.name}, {TFLITE.wheel}, builtin kernels" in cpu.errors[0]
    # LiteRT's XNNPACK takes no int16 operator: LiteRT 2.2.0's builtin kernels ran it, and the run says so
    assert xnnpack.status == "fallback" and xnnpack.accelerator_applied == "cpu" and "XNNPACK took no operator" in xnnpack.fallback_reason
    assert xnnpack.runtime == LITERT.name and xnnpack.parity.top1_agreement == 1.0 and xnnpack.latency.count == 3
