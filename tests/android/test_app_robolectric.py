"""The app's own code run on the JVM under Robolectric 4.17 (android_app/app/src/test), on the real
Android framework (android-all at minSdk) and the real AndroidX/coroutines jars.

Two real bundles (`packager build` of the digits classifier and the shapes detector) are installed
into a copy of the app with `packager bundle`; the Kotlin tests read them from the app's assets as
the app does. The runtime is the one stand-in (ReplayRuntimes: the bundle's golden outputs for its
golden inputs, nothing else), because Robolectric cannot load Android .so files. What the screen
shows (top classes, boxes) is compared with what Python computes from the same golden files, and
BenchmarkActivity's result files are validated against the device kit's schema and compared with
the golden outputs the way the device kit compares a phone's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from packager import schemas
from packager.cli import main
from packager.data.arrays import load_array
from packager.device.results import parity
from packager.fileio import loads_json
from packager.manifest import Manifest
from tests.android import robolectric_inputs
from tests.android.kotlin import APP, compile_app, compile_app_tests, robolectric_command

CLASSES = ["dev.packager.demo.ClassifierViewModelTest", "dev.packager.demo.BenchmarkActivityTest"]


def _assets_apk(app_dir: Path, dest: Path) -> Path:
    """The app's assets as an APK carries them: assets/ entries, .tflite stored (noCompress), with
    the manifest entry the framework's AssetManager checks for (its text: it is only looked for)."""
    main_dir = app_dir / "app" / "src" / "main"
    with zipfile.ZipFile(dest, "w") as apk:
        apk.write(main_dir / "AndroidManifest.xml", "AndroidManifest.xml", zipfile.ZIP_DEFLATED)
        for path in sorted((main_dir / "assets").rglob("*")):
            if path.is_file():
                stored = path.suffix == ".tflite"
                apk.write(path, "assets/" + path.relative_to(main_dir / "assets").as_posix(), zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    return dest


@pytest.fixture(scope="module")
def robolectric_run(tmp_path_factory, core_jar, digits_bundle, shapes_build):
    root = tmp_path_factory.mktemp("robolectric")
    app_dir = root / "android_app"
    shutil.copytree(APP.parent, app_dir, ignore=shutil.ignore_patterns("build", ".gradle", "models", ".kotlin"))
    for bundle in (digits_bundle, shapes_build.bundle):
        result = CliRunner().invoke(main, ["bundle", str(bundle), "--app", str(app_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    cache = tmp_path_factory.getbasetemp().parent
    app = compile_app(core_jar, cache)
    assert app.errors == [], "\n".join(app.errors)
    tests = compile_app_tests(app, cache)
    out = root / "out"
    expected = root / "expected.json"
    expected.write_text(json.dumps(robolectric_inputs.expected(app_dir, digits_bundle, shapes_build.bundle, out)))
    config = root / "config"
    (config / "com" / "android" / "tools").mkdir(parents=True)
    (config / "com" / "android" / "tools" / "test_config.properties").write_text(
        f"android_merged_manifest={APP / 'src' / 'main' / 'AndroidManifest.xml'}\n"
        f"android_merged_assets={app_dir / 'app' / 'src' / 'main' / 'assets'}\n"
        "android_custom_package=dev.packager.demo\n")
    properties = {"packager.expected": str(expected), "packager.assets.apk": str(_assets_apk(app_dir, root / "assets.apk"))}
    command = robolectric_command(app, tests, config, CLASSES, properties)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=root)
    (root / "junit.txt").write_text(proc.stdout + proc.stderr)  # JUnit's own report, "Time: <s>" included
    return proc, out, digits_bundle


def test_the_app_s_tests_pass_under_robolectric(robolectric_run):
    proc, _, _ = robolectric_run
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    ran = re.search(r"^OK \((\d+) tests\)", proc.stdout, re.MULTILINE)
    assert ran and int(ran.group(1)) == 7, proc.stdout[-3000:]


def test_benchmark_results_are_what_the_device_kit_reads(robolectric_run):
    """BenchmarkActivity's result files, read back as the device kit reads a phone's: schema-valid,
    with the fallback said, and outputs equal to the golden outputs (parity 100 %)."""
    proc, out, digits = robolectric_run
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifest = Manifest.from_dict(json.loads((digits / "manifest.json").read_text()))
    golden = [np.load(digits / g.file) for g in manifest.golden.outputs]
    for name, applied, fallback in (("r1", "xnnpack", None), ("r2", "xnnpack", "gpu: gpu refused by the test's runtime")):
        request = loads_json((out / f"{name}.request.json").read_text())
        schemas.validate("bench-request", request)
        result = loads_json((out / f"{name}.result.json").read_text())
        schemas.validate("bench-result", result)
        assert result["request_id"] == request["request_id"] and result["status"] == "ok" and result["errors"] == []
        assert result["accelerator"]["requested"] == request["accelerator"]
        assert result["accelerator"]["applied"] == applied and result["accelerator"]["fallback_reason"] == fallback
        assert result["runner"] == "app" and result["virtual"] is False and len(result["latencies_ms"]) == 3
        assert result["device"]["sdk"] == 26  # Robolectric's framework at minSdk: Build.VERSION.SDK_INT as the app read it
        outputs = [load_array(out / f"{name}.output_{k}.npy", "output") for k in range(len(result["output_files"]))]
        p = parity(outputs, golden, [o.quantization for o in manifest.outputs])
        assert p.samples == 8 and p.max_abs_error == 0.0 and p.top1_agreement == 1.0
