"""Device farms (issue 29): the device kit's own wheel, the AWS Device Farm package run as the farm
would run it, the merged report of many handsets, Firebase Test Lab game loops.

The farms themselves cannot be reached from here; what is real: the zip, its wheelhouse installed
offline into a fresh virtual environment, testspec.yml's commands run by bash with the DEVICEFARM_*
variables set, the kit in that environment driving a virtual handset through a real adb server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from packager.cli import main
from packager.device.farm import kit_wheel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_architecture import _external_imports, _imports, _modules

BUDGETS = "[default]\nmin_top1_agreement = 0.9\np90_ms = 1000.0\n"


def test_the_device_wheel_holds_every_module_the_device_side_imports():
    """DEVICE_MODULES is closed under packager imports, deferred ones included (only the virtual
    handset, which needs LiteRT, is left out), and nothing in it imports the build stack except
    packager.quiet's TensorFlow helpers, which only the build calls."""
    modules = _modules()
    known = set(modules)
    wanted = set(kit_wheel.DEVICE_MODULES)
    assert wanted <= known
    reached = {t for m in wanted for t in _imports(modules[m], m, known, top_level_only=False)}
    missing = sorted(t for t in reached - wanted - set(kit_wheel.FULL_INSTALL_ONLY) if not t.startswith("packager.device.virtual"))
    assert not missing, f"the device wheel lacks {missing}"
    heavy = ("tensorflow", "ai_edge_litert", "ai_edge_quantizer", "tflite_support", "keras", "sklearn")
    offenders = sorted((m, e) for m in wanted for e in _external_imports(modules[m], top_level_only=False)
                       if e.split(".")[0] in heavy and m != "packager.quiet")
    assert not offenders, offenders


def _wait_for(adb, serial: str) -> None:
    deadline = time.time() + 15
    while time.time() < deadline and f"{serial}\tdevice" not in adb("devices").stdout:
        time.sleep(0.1)
    assert f"{serial}\tdevice" in adb("devices").stdout


@pytest.mark.slow
def test_aws_package_runs_as_the_farm_runs_it(digits_bundle, virtual_handset, adb, tmp_path):
    from packager.bundle.reader import load_bundle
    from packager.device.bench import bench
    from packager.device.farm.aws import write_package
    from packager.device.handset import Handset
    from packager.manifest import DeviceResults

    budgets = tmp_path / "budgets.toml"
    budgets.write_text(BUDGETS)
    started = time.perf_counter()
    package = write_package([digits_bundle], tmp_path / "out" / "farm.zip", budgets, ("cpu", "xnnpack"), runs=5)
    packaged_s = time.perf_counter() - started
    names = zipfile.ZipFile(package.path).namelist()
    assert {"requirements.txt", "testspec.yml", "tests/test_on_device.py", "budgets.toml", "bundles/digits/manifest.json"} <= set(names)
    wheels = [n for n in names if n.startswith("wheelhouse/")]
    assert all(n.endswith(".whl") for n in wheels) and any(n.startswith("wheelhouse/android_model_packager_device-") for n in wheels)
    assert not [n for n in wheels if any(heavy in n.lower() for heavy in ("tensorflow", "litert", "keras", "tflite_support"))]

    # the farm's side: an empty folder, the zip unpacked, the testspec's phases in order
    root = tmp_path / "farm-host"
    root.mkdir()
    zipfile.ZipFile(package.path).extractall(root)
    spec = yaml.safe_load((root / "testspec.yml").read_text())
    assert spec["version"] == 0.1 and list(spec["phases"]) == ["install", "pre_test", "test", "post_test"]
    assert spec["artifacts"] == ["$DEVICEFARM_LOG_DIR"]
    adb("connect", virtual_handset.address)
    _wait_for(adb, virtual_handset.address)
    logs = tmp_path / "logs"
    logs.mkdir()
    project_bin = str(Path(sys.executable).parent)
    # `devicefarm-cli use python 3.11` on the farm: here python3 is the interpreter the project's venv was made from
    host_bin = tmp_path / "host-bin"
    host_bin.mkdir()
    (host_bin / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3.11")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=os.pathsep.join([str(host_bin), *(p for p in env["PATH"].split(os.pathsep) if p != project_bin)]),  # not the project's venv
               DEVICEFARM_DEVICE_UDID=virtual_handset.address, DEVICEFARM_LOG_DIR=str(logs), DEVICEFARM_TEST_PACKAGE_PATH=str(root),
               DEVICEFARM_DEVICE_PLATFORM_NAME="Android", PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_NO_CACHE_DIR="1")
    timings = {}
    for phase, body in spec["phases"].items():
        t0 = time.perf_counter()
        for command in body["commands"]:
            ran = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600)
            assert ran.returncode == 0, f"{phase}: {command}\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        timings[phase] = time.perf_counter() - t0
    print(f"packaged in {packaged_s:.1f} s (wheelhouse {'cached' if package.wheelhouse_cached else 'downloaded'}); phases: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    # the fresh environment has the device kit and not the build stack
    python = root / ".venv" / "bin" / "python"
    kit = subprocess.run([python, "-c", "import packager, packager.device.bench, packager.pytest_plugin, packager.report.fleet; "
                          "print(packager.INSTALLED, packager.__file__)"], capture_output=True, text=True, env=env, cwd=root)
    assert kit.returncode == 0, kit.stderr
    installed, where = kit.stdout.split()
    assert installed == "android-model-packager-device" and where.startswith(str(root / ".venv"))
    for heavy in ("tensorflow", "ai_edge_litert", "tflite_support", "packager.build", "packager.device.virtual.handset"):
        gone = subprocess.run([python, "-c", f"import {heavy}"], capture_output=True, text=True, env=env, cwd=root)
        assert gone.returncode == 1 and "ModuleNotFoundError" in gone.stderr, heavy

    # what the farm leaves under $DEVICEFARM_LOG_DIR: the results, the JUnit file, the report
    farm = DeviceResults.load(logs / "device-results.json")
    assert 'failures="0"' in (logs / "junit.xml").read_text() and 'tests="2"' in (logs / "junit.xml").read_text()
    assert "Virtual Handset" in (logs / "report" / "fleet-report.html").read_text()
    assert "within budget" in (logs / "report" / "fleet-report.md").read_text()

    # ... equal to a direct `packager device bench` of the same bundle on the same handset
    handset = Handset.open(virtual_handset.address)
    try:
        direct = bench(handset, [load_bundle(digits_bundle)], ["cpu", "xnnpack"], runs=5)
    finally:
        handset.close()

    def key(results):
        return sorted((r.device.model, r.device.sdk, r.bundle, r.bundle_sha256, r.accelerator_requested, r.accelerator_applied, r.status,
                       r.parity.samples, r.parity.top1_agreement, r.parity.max_abs_error, r.latency.count) for r in results.runs)

    assert key(farm) == key(direct) and len(farm.runs) == 2


def test_aws_package_bad_input_is_one_line_and_writes_nothing(digits_bundle, tmp_path):
    import shutil

    out = tmp_path / "pkg.zip"
    broken = tmp_path / "broken"
    shutil.copytree(digits_bundle, broken)
    model = next(broken.glob("*.tflite"))
    model.write_bytes(model.read_bytes()[:-8] + b"\0" * 8)  # changed after the build: `packager bundle` refuses it
    bad_budgets = tmp_path / "bad.toml"
    bad_budgets.write_text("[default]\np90 = 'fast'\n")
    cases = [
        ([], "no bundles to package"),
        ([str(tmp_path / "nothing")], "does not exist"),
        ([str(broken)], "does not match its manifest"),
        ([str(digits_bundle), "--budgets", str(bad_budgets)], "budgets"),
        ([str(digits_bundle), "-a", "tpu"], "unknown accelerator tpu"),
    ]
    for args, needle in cases:
        result = CliRunner().invoke(main, ["device", "farm", "aws-package", *args, "-o", str(out)])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.output, (args, result.stderr)
        assert list(tmp_path.glob("*.zip")) == [] and list(tmp_path.glob(".*partial")) == []


def _adb_until(adb, serial: str, probe: str, deadline_s: float = 60) -> None:
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if adb("-s", serial, "shell", f"ls {probe}").returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{probe} never appeared")


@pytest.mark.slow
def test_game_loop_as_test_lab_runs_it(digits_bundle, virtual_handset, adb, tmp_path):
    """The app's scenarios and bundle in its assets, the APK installed with the real adb client, the
    game-loop intent started as Test Lab starts it, the results laid out as gcloud's results folder,
    ingested and compared with a direct `packager device bench`; then one report for both sources."""
    import json
    import shutil

    from packager.bundle.install import install_bundle
    from packager.bundle.reader import load_bundle
    from packager.device.bench import bench
    from packager.device.farm.firebase import ACTION, GAME_LOOP_ACTIVITY, OUTPUTS_DIR
    from packager.device.handset import Handset
    from packager.device.virtual.apk import demo_apk
    from packager.manifest import DeviceResults

    project = tmp_path / "android_app"
    (project / "app").mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "android_app" / "app" / "build.gradle.kts", project / "app" / "build.gradle.kts")
    (project / "app" / "src" / "main").mkdir(parents=True)
    (project / "app" / "src" / "main" / "AndroidManifest.xml").write_text('<manifest package="dev.packager.demo"/>\n')
    install_bundle(digits_bundle, project)
    assets = project / "app" / "src" / "main" / "assets"
    made = CliRunner().invoke(main, ["device", "farm", "game-loop", str(digits_bundle), "-a", "cpu,xnnpack", "-d", "model=oriole,version=33",
                                     "-d", "model=a52sxq,version=31", "--assets", str(assets), "--app", "app-debug.apk", "--runs", "5", "--json"])
    assert made.exit_code == 0, made.output
    answer = json.loads(made.stdout)
    assert answer["gcloud"] == ("gcloud firebase test android run --type game-loop --app app-debug.apk --scenario-numbers 1,2 "
                                "--device model=oriole,version=33 --device model=a52sxq,version=31 "
                                f"--directories-to-pull {OUTPUTS_DIR} --timeout 15m")
    assert [(s["scenario"], s["accelerator"]) for s in answer["scenarios"]] == [(1, "cpu"), (2, "xnnpack")]

    apk = tmp_path / "app-debug.apk"
    apk.write_bytes(demo_apk({p.relative_to(assets).as_posix(): p.read_bytes() for p in assets.rglob("*") if p.is_file()}))
    serial = virtual_handset.address
    adb("connect", serial)
    _wait_for(adb, serial)
    installed = adb("-s", serial, "install", "-r", str(apk))
    assert "Success" in installed.stdout, installed.stdout + installed.stderr

    # Test Lab's launch, one per scenario; it then uploads the results file and the pulled directory
    device_dir = tmp_path / "testlab" / "virtual-34-en-portrait"
    for n in (1, 2):
        results = f"/sdcard/game_loop_results/results_scenario_{n}.json"
        started = adb("-s", serial, "shell", f"am start -W -a {ACTION} -n {GAME_LOOP_ACTIVITY} --ei scenario {n} -d file://{results}")
        assert started.returncode == 0 and "Error" not in started.stdout, started.stdout
        _adb_until(adb, serial, results)
        (device_dir / "game_loop_results").mkdir(parents=True, exist_ok=True)
        adb("-s", serial, "pull", results, str(device_dir / "game_loop_results" / f"results_scenario_{n}.json"), check=True)
    pulled = device_dir / "artifacts" / "sdcard" / "Android" / "data" / "dev.packager.demo" / "files"
    pulled.mkdir(parents=True)
    adb("-s", serial, "pull", OUTPUTS_DIR, str(pulled), check=True)

    out = tmp_path / "game-loop-results.json"
    ingested = CliRunner().invoke(main, ["device", "farm", "ingest", str(tmp_path / "testlab"), "--scenarios",
                                         str(assets / "packager" / "game-loop-scenarios.json"), "-b", str(digits_bundle), "-o", str(out)])
    assert ingested.exit_code == 0, ingested.output
    game_loop = DeviceResults.load(out)
    handset = Handset.open(serial)
    try:
        direct = bench(handset, [load_bundle(digits_bundle)], ["cpu", "xnnpack"], runs=5)
    finally:
        handset.close()

    def key(results):
        return sorted((r.device.model, r.device.sdk, r.bundle, r.accelerator_requested, r.accelerator_applied, r.status,
                       r.parity.samples, r.parity.top1_agreement, r.parity.max_abs_error, r.latency.count) for r in results.runs)

    assert key(game_loop) == key(direct) and {r.device.serial for r in game_loop.runs} == {"virtual-34-en-portrait"}

    # both sources in one report: two "devices", a table each, the comparison figure, budgets per device
    direct_file = direct.write(tmp_path / "direct.json")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[default]\nmin_top1_agreement = 0.9\n\n[accelerator.xnnpack]\np90_ms = 0.000001\n")
    report = CliRunner().invoke(main, ["device", "farm", "report", str(out), str(direct_file), "--budgets", str(budgets),
                                       "-o", str(tmp_path / "report"), "--json"])
    assert report.exit_code == 0, report.output
    summary = json.loads(report.stdout)
    assert summary["devices"] == 2 and sorted(summary["devices_over_budget"]) == sorted(["virtual-34-en-portrait", serial])
    assert all("xnnpack" in p and "p90 latency" in p for p in summary["problems"]) and len(summary["problems"]) == 2
    md = (tmp_path / "report" / "fleet-report.md").read_text()
    assert md.count("API level") >= 3 and "fleet-plots/fleet-digits.png" in md
    assert all(r.runtime and r.runtime in md for r in game_loop.runs)  # the runtime and version that measured each run
    assert (tmp_path / "report" / "fleet-plots" / "fleet-digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_game_loop_bad_input_is_one_line(digits_bundle, tmp_path):
    (tmp_path / "not-testlab" / "device" / "logs").mkdir(parents=True)
    (tmp_path / "not-testlab" / "device" / "logs" / "results_scenario_1.json").write_text("{}")
    scenarios = tmp_path / "s.json"
    scenarios.write_text('{"kind": "something else"}')
    cases = [
        (["ingest", str(tmp_path / "not-testlab"), "--scenarios", str(scenarios), "-b", str(digits_bundle), "-o", str(tmp_path / "r.json")],
         "not a Test Lab game-loop results folder"),
        (["game-loop", "-d", "model=oriole,version=33", "--assets", str(tmp_path)], "no bundles"),
        (["game-loop", str(digits_bundle), "-d", "oriole 33", "--assets", str(tmp_path)], "is not KEY=VALUE"),
        (["game-loop", str(digits_bundle), "-d", "model=oriole,version=33", "--assets", str(tmp_path)], "is not installed"),
        (["report", "-o", str(tmp_path / "rep")], "no device results"),
    ]
    for args, needle in cases:
        result = CliRunner().invoke(main, ["device", "farm", *args])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (args, result.output)
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "packager").exists() and not (tmp_path / "rep").exists()
