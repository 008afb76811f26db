"""The bundle meets the runtime the phone runs (issue 24): every variant is loaded, allocated and
run in the exact TFLite and LiteRT versions the app ships (their Python wheels, in environments
scripts/setup.sh made), and what does not run there is never chosen, fails an explicit build
with one line, and fails on the virtual handset's `cpu` with the runtime's own reason.

The model the host runs and the app's TFLite 2.16.1 does not is real: Dense -> GELU -> Dense on a
16x32 input. In int16x8 its GELU has no INT16 kernel in TFLite 2.16.1 ("Only float32, int8 and
uint8 supported currently, got INT16"), and the TF 2.19 converter's dynamic-range variant uses
FULLY_CONNECTED version 12, which TFLite 2.16.1 does not have ("Didn't find op for builtin opcode
'FULLY_CONNECTED' version '12'"); both run on the host's LiteRT and on LiteRT 2.2.0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from packager.errors import PackagerError
from packager.manifest import Manifest
from packager.runtime import envs, targets
from packager.runtime.compat import GoldenRun, RuntimeWorker, host_run

ROOT = Path(__file__).resolve().parents[1]
APP_TARGETS = targets.app_targets()
TFLITE = next(t for t in APP_TARGETS if t.kind == "tflite")
LITERT = next(t for t in APP_TARGETS if t.kind == "litert")


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "packager.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def make_gelu_model(folder: Path) -> tuple[Path, Path]:
    """(a .keras Dense -> GELU -> Dense classifier on 16x32 inputs, its calibration .npy); seeded, untrained."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((16, 32))
    x = tf.keras.layers.Dense(64, activation="gelu")(inputs)
    x = tf.keras.layers.Flatten()(tf.keras.layers.Dense(32)(x))
    tf.keras.Model(inputs, tf.keras.layers.Dense(5, activation="softmax")(x)).save(folder / "gelu.keras")
    np.save(folder / "calib.npy", np.random.default_rng(0).random((64, 16, 32), dtype=np.float32))
    return folder / "gelu.keras", folder / "calib.npy"


@pytest.fixture(scope="module")
def gelu_model(tmp_path_factory) -> tuple[Path, Path]:
    return make_gelu_model(tmp_path_factory.mktemp("gelu"))


def build_model(model: Path, calib: Path, output: Path, quant: str, **flags):
    from packager.build import build
    from packager.build.spec import make_spec

    return build(make_spec(None, {"model": model, "calib_data": calib, "output": output, "quant": quant, "task": "generic",
                                  "golden_samples": 4, **flags}))


# --- the declared target ---------------------------------------------------------------------------------
def test_the_target_is_the_apps_catalog():
    versions = tomllib.loads((ROOT / "android_app/gradle/libs.versions.toml").read_text())["versions"]
    assert (TFLITE.version, LITERT.version) == (versions["tensorflowLite"], versions["litert"])
    # the app's RuntimeChoice.apiFor: cpu and nnapi on TFLite's Interpreter, the rest on LiteRT's CompiledModel
    assert TFLITE.accelerators == ("cpu", "nnapi") and LITERT.accelerators == ("xnnpack", "gpu", "npu")
    assert TFLITE.wheel == f"tensorflow-cpu=={TFLITE.version}" and LITERT.wheel == f"ai-edge-litert=={LITERT.version}"
    # setup.sh made both, and each really holds that version (the worker says what it imported)
    for target in APP_TARGETS:
        assert envs.ready(target) is not None, f"{target.name}: run scripts/setup.sh"
        assert envs.installed(target)["packages"][target.wheel.split("==")[0]] == target.version


def test_the_runtimes_command_lists_the_target_and_its_environments(tmp_path):
    listed = json.loads(_cli("runtimes", "--json").stdout)["runtimes"]
    assert [(r["runtime"], r["wheel"], r["cached"]) for r in listed] == [(t.name, t.wheel, True) for t in APP_TARGETS]
    assert next(r for r in listed if r["runtime"] == TFLITE.name)["numpy"].startswith("1.")  # tensorflow-cpu 2.16.1 needs numpy < 2
    mine = json.loads(_cli("runtimes", "--runtime", "tflite 2.14.1", "--json", env={"PACKAGER_CACHE_DIR": str(tmp_path)}).stdout)["runtimes"]
    assert [(r["runtime"], r["cached"], r["environment"]) for r in mine] == [("tflite 2.14.1", False, str(tmp_path / "runtimes/tflite-2.14.1"))]


def test_declared_runtimes_and_the_packaged_catalog(tmp_path, monkeypatch):
    assert [(t.kind, t.version) for t in targets.resolve(["tflite 2.14", "litert=2.3.0"])] == [("tflite", "2.14"), ("litert", "2.3.0")]
    assert targets.parse_runtime("tensorflow-lite:2.16.1 cpu").accelerators == ("cpu",)
    # an installed wheel has no android_app/: the catalog rides along as package data
    copy = tmp_path / "app_catalog.toml"
    copy.write_text('[versions]\nlitert = "9.8.7"\n')
    monkeypatch.setattr(targets, "REPO_CATALOG", tmp_path / "missing.toml")
    monkeypatch.setattr(targets, "PACKAGED_CATALOG", copy)
    (only,) = targets.app_targets()
    assert (only.kind, only.version, only.accelerators) == ("litert", "9.8.7", ("cpu", "nnapi", "xnnpack", "gpu", "npu"))
    monkeypatch.setattr(targets, "PACKAGED_CATALOG", tmp_path / "gone.toml")
    with pytest.raises(PackagerError) as missing:
        targets.app_targets()
    assert "--runtime" in missing.value.one_line()


def test_the_config_file_declares_runtimes(tmp_path):
    from packager.build.spec import load_config, make_spec

    config = tmp_path / "build.toml"
    config.write_text('model = "m.keras"\n[runtime]\ntflite = "2.14.1"\nlitert = "2.3.0"\nskip_check = true\n')
    spec = make_spec(load_config(config), {})
    assert spec.runtimes == ("tflite 2.14.1", "litert 2.3.0") and spec.skip_runtime_check
    config.write_text('model = "m.keras"\n[runtime]\ntflite = "newest"\n')
    with pytest.raises(PackagerError, match="runtime"):
        load_config(config)


@pytest.mark.parametrize("runtime, words", [("foo 1.0", "unknown runtime 'foo'"), ("tflite abc", "'abc' is not a version"),
                                             ("tflite 2.16.1 tpu", "unknown accelerator tpu")])
def test_a_bad_runtime_is_one_line(runtime, words, tmp_path):
    result = _cli("build", str(tmp_path / "m.keras"), "--runtime", runtime, "-o", str(tmp_path / "dist"))
    assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "dist").exists()


def test_a_version_with_no_wheel_is_one_line(gelu_model, tmp_path):
    """PyPI is asked (one resolution, nothing downloaded): there is no tensorflow-cpu 2.99."""
    model, calib = gelu_model
    result = _cli("build", str(model), "--runtime", "tflite 2.99", "--calib-data", str(calib), "-o", str(tmp_path / "dist"),
                  env={"PACKAGER_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2 and "there is no tensorflow-cpu==2.99" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "dist").exists()
    assert not (tmp_path / "cache/runtimes/tflite-2.99").exists()  # nothing half-made is left


def test_offline_without_a_cached_runtime_is_one_line_and_can_be_skipped(gelu_model, tmp_path):
    model, calib = gelu_model
    offline = {"PACKAGER_CACHE_DIR": str(tmp_path / "empty"), "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "uv-empty")}
    result = _cli("build", str(model), "--quant", "fp16", "--calib-data", str(calib), "-o", str(tmp_path / "dist"), env=offline)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and f"the {TFLITE.name} runtime" in line and "offline" in line and "--skip-runtime-check" in line
    assert not (tmp_path / "dist").exists()
    skipped = _cli("build", str(model), "--quant", "fp16", "--calib-data", str(calib), "-o", str(tmp_path / "dist"),
                   "--skip-runtime-check", env=offline)
    assert skipped.returncode == 0, skipped.stderr
    assert "NOT CHECKED" in skipped.stderr and "warning: NOT CHECKED" in skipped.stdout  # loud on the terminal, first and last
    manifest = Manifest.from_json((tmp_path / "dist/gelu/manifest.json").read_text())
    assert manifest.runtimes.skipped.startswith("NOT CHECKED") and manifest.runtimes.checks == []
    assert "NOT CHECKED" in (tmp_path / "dist/gelu/report.md").read_text()


# --- what the pinned runtime cannot run -------------------------------------------------------------------
def test_a_variant_the_apps_tflite_cannot_run_fails_the_build_with_one_line(gelu_model, tmp_path):
    model, calib = gelu_model
    result = _cli("build", str(model), "--quant", "int16x8,int8", "--task", "generic", "--calib-data", str(calib),
                  "-o", str(tmp_path / "dist"))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    # the operator, its tensor type, the runtime (and the app's paths on it), the runtime's own words, the remedy
    assert f"int16x8 does not run in {TFLITE.name} (the app's cpu, nnapi): operator GELU on INT16 tensors fails at invoke" in line
    assert "Only float32, int8 and uint8 supported currently, got INT16" in line
    assert "--select int8" in line and f"it runs in {LITERT.name}" in line
    assert not (tmp_path / "dist").exists()


def test_an_operator_version_the_runtime_lacks_is_named_with_its_version(gelu_model, tmp_path):
    model, calib = gelu_model
    result = _cli("build", str(model), "--quant", "dynamic", "--engine", "tf-converter", "--task", "generic",
                  "--calib-data", str(calib), "-o", str(tmp_path / "dist"))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert f"dynamic does not run in {TFLITE.name}" in line and "operator FULLY_CONNECTED version 12 is not in it" in line
    assert "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in line and "--quant auto" in line


def test_auto_never_chooses_what_a_runtime_cannot_run(gelu_model, tmp_path):
    model, calib = gelu_model
    result = build_model(model, calib, tmp_path / "dist", "auto", engine="tf-converter", max_accuracy_drop=5.0)
    candidates = {c.name: c for c in result.manifest.selection.candidates}
    # dynamic is within the budget but uses FULLY_CONNECTED v12: rejected, and fp16 (next) is bundled
    assert not candidates["dynamic"].accepted and "FULLY_CONNECTED version 12" in candidates["dynamic"].reason
    assert f"does not run in the app's {TFLITE.name}" in candidates["dynamic"].reason
    assert result.manifest.selection.chosen == "fp16"
    checks = result.manifest.runtimes.checks
    chosen = [c for c in checks if c.variant == "fp16"]
    assert {c.runtime for c in chosen} == {TFLITE.name, LITERT.name} and all(c.status == "runs" for c in chosen)
    failed = [c for c in checks if c.variant == "dynamic" and c.status == "fails"]
    assert [(c.runtime, c.operator, c.operator_version, c.stage) for c in failed] == [(TFLITE.name, "FULLY_CONNECTED", 12, "load")]


# --- what the app's runtimes must run ---------------------------------------------------------------------
def test_the_demo_bundles_run_on_every_pinned_runtime(digits_build):
    runtimes = digits_build.manifest.runtimes
    assert [(t.kind, t.version) for t in runtimes.targets] == [(t.kind, t.version) for t in APP_TARGETS]
    assert {t.kind: t.kernels for t in runtimes.targets} == {"tflite": "builtin", "litert": "xnnpack"}
    variants = {v.name for v in digits_build.manifest.metrics.variants}
    assert variants == {"int8", "fp32", "fp16", "dynamic", "int16x8"}
    for variant in variants:
        checks = runtimes.for_variant(variant)
        assert {c.runtime for c in checks} == {t.name for t in APP_TARGETS}, variant
        for c in checks:
            assert c.status == "runs" and c.samples == 8, (variant, c)
            # the same golden inputs give the host's answers: the same top-1 class on every sample
            assert c.top1_agreement == 1.0 and c.max_abs_diff < 0.05, (variant, c)
    report = (digits_build.bundle / "report.md").read_text()
    assert "The app's runtimes" in report and f"tensorflow-cpu=={TFLITE.version}" in report


def test_a_native_crash_in_the_runtime_is_contained(digits_build, digits_bundle):
    """A model that kills LiteRT's XNNPACK path with SIGSEGV: the variant fails with the signal, the
    build's process lives, and the next model gets a new worker."""
    from tests.tflite_models import crashing_model

    good = (digits_bundle / "digits.tflite").read_bytes()
    crash = crashing_model(good)
    worker = RuntimeWorker(LITERT, envs.ensure(LITERT, create=False))
    try:
        zeros = [[np.zeros((1, 8, 8, 1), np.int8)]]
        outcome = worker.check(crash, GoldenRun(zeros, [], []), "the crash model")
        assert not outcome.runs and outcome.failure.stage == "crash" and "SIGSEGV" in outcome.failure.message
        images = np.random.default_rng(0).random((4, 8, 8, 1))
        again = worker.check(good, host_run(good, images, 4), "the digits model")
        assert again.runs and again.samples == 4 and again.top1_agreement == 1.0
    finally:
        worker.close()
