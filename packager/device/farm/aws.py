"""An AWS Device Farm test package: the kit's pytest plugin as a custom-environment test.

The zip holds what Device Farm's custom environment expects of a Python test (requirements.txt,
tests/, wheelhouse/ with every dependency as a wheel, installed offline on the farm's Linux
x86_64 host) and testspec.yml (version 0.1; install / pre_test / test / post_test; artifacts),
plus the bundles and the budgets. The test phase runs the plugin against $DEVICEFARM_DEVICE_UDID
and leaves device-results.json, junit.xml and the report under $DEVICEFARM_LOG_DIR. The
wheelhouse holds the device kit's own wheel (kit_wheel: no TensorFlow, no LiteRT) and its
dependencies, downloaded once per requirement set into a cache folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packager.device.contract import ACCELERATORS, APP_PACKAGE
from packager.device.farm import kit_wheel
from packager.errors import PackagerError

# the farm's Android host: Amazon Linux 2, x86_64; CPython 3.11 through devicefarm-cli. manylinux2014
# (glibc 2.17) wheels install on it; pip picks, per requirement, the newest release that has one.
PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")
PYTHON = "3.11"
VENV = "$DEVICEFARM_TEST_PACKAGE_PATH/.venv"
TEST_FILE = '''"""Run on AWS Device Farm by testspec.yml: every bundle x accelerator on the farm's handset, with
the budgets as assertions (the `packager` pytest plugin; see docs/DEVICE_FARMS.md)."""


def test_on_device(device_run, budgets):
    budgets.check(device_run)
'''


@dataclass(frozen=True)
class AwsPackage:
    path: Path
    bundles: list[str]
    wheels: list[str]
    size_bytes: int
    wheelhouse_cached: bool
    wheelhouse_seconds: float

    def to_dict(self) -> dict:
        return {"path": str(self.path), "bundles": self.bundles, "wheels": self.wheels, "size_bytes": self.size_bytes,
                "wheelhouse_cached": self.wheelhouse_cached, "wheelhouse_seconds": round(self.wheelhouse_seconds, 2)}


def cache_root() -> Path:
    base = os.environ.get("PACKAGER_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "packager")
    return Path(base)


def _pip() -> list[str]:
    """pip, which downloads for another platform (uv does not): this environment's, the interpreter's
    it was made from (a uv venv has none of its own), or one on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if base.is_file() and subprocess.run([str(base), "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return [str(base), "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise PackagerError("no pip to download the farm's wheels with", "install pip (python -m ensurepip) or put pip on PATH")


def _built_pure_wheel(requirement: str, into: Path) -> None:
    """A requirement published only as a source archive (adb-shell): built here with `pip wheel
    --no-deps`; only a pure-Python result (py3-none-any) is taken, since it must install on the farm."""
    before = set(into.glob("*.whl"))
    proc = subprocess.run([*_pip(), "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "--wheel-dir", str(into), requirement],
                          capture_output=True, text=True)
    made = set(into.glob("*.whl")) - before
    if proc.returncode != 0 or not made:
        why = (proc.stderr.strip().splitlines() or ["pip wheel failed"])[-1]
        raise PackagerError(f"{requirement} has no wheel for Linux x86_64 / CPython {PYTHON} and building one failed: {why}",
                            "check the connection to PyPI")
    impure = [w.name for w in made if not w.name.endswith("-none-any.whl")]
    if impure:
        raise PackagerError(f"{requirement} has no manylinux2014 wheel and builds only for this machine ({impure[0]})",
                            "pin a release of it that publishes a manylinux2014 wheel")


def _missing(stderr: str) -> str | None:
    """The requirement pip found no wheel for ("No matching distribution found for adb-shell[usb]>=0.4.4")."""
    marker = "No matching distribution found for "
    line = next((x for x in stderr.splitlines() if marker in x), None)
    return line.split(marker, 1)[1].strip() if line else None


def dependency_wheels(requirements: list[str], cache: Path | None = None) -> tuple[list[Path], bool, float]:
    """The wheels of `requirements` and everything they need, for the farm's platform: from the cache
    when this requirement set was downloaded before (keyed by its content), else with `pip download
    --only-binary=:all:` into a temporary folder renamed into the cache when complete. A requirement
    with no wheel on the index is built once as a pure-Python wheel and offered to pip from there."""
    key = hashlib.sha256(json.dumps({"requirements": requirements, "platform": PLATFORM}).encode()).hexdigest()[:16]
    folder = (cache or cache_root()) / "farm-wheelhouse" / key
    started = time.perf_counter()
    if folder.is_dir():
        return sorted(folder.glob("*.whl")), True, time.perf_counter() - started
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    try:
        built: set[str] = set()
        while True:
            proc = subprocess.run([*_pip(), "download", "--only-binary=:all:", *PLATFORM, "--find-links", str(partial), "--dest", str(partial),
                                   "--quiet", "--disable-pip-version-check", *requirements], capture_output=True, text=True)
            if proc.returncode == 0:
                break
            missing = _missing(proc.stderr)
            if missing is None or missing in built or len(built) > 8:
                why = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
                raise PackagerError(f"downloading the device kit's wheels for Linux x86_64 / CPython {PYTHON} failed: {why}",
                                    "check the connection to PyPI, or that every requirement has a manylinux2014 or pure-Python wheel")
            built.add(missing)
            _built_pure_wheel(missing, partial)
        try:
            partial.rename(folder)
        except OSError:  # another process finished first: its copy is as good
            shutil.rmtree(partial, ignore_errors=True)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return sorted(folder.glob("*.whl")), False, time.perf_counter() - started


def testspec(bundles: list[str], accelerators: list[str], runs: int, budgets: bool) -> str:
    """testspec.yml. Each command stands alone (its own `cd`, absolute venv paths), whether or not
    the farm runs a phase's commands in one shell."""
    q = shlex.quote
    pytest_args = ["tests", "-p", "no:cacheprovider", "--device", '"$DEVICEFARM_DEVICE_UDID"',
                   *(a for b in bundles for a in ("--bundle", q(f"bundles/{b}"))), "--accelerator", q(",".join(accelerators)),
                   "--device-runs", str(runs), *(("--budgets", "budgets.toml") if budgets else ()),
                   "--device-results", '"$DEVICEFARM_LOG_DIR/device-results.json"', "--junitxml", '"$DEVICEFARM_LOG_DIR/junit.xml"']
    report_args = ['"$DEVICEFARM_LOG_DIR/device-results.json"', *(("--budgets", "budgets.toml") if budgets else ()),
                   "-o", '"$DEVICEFARM_LOG_DIR/report"']
    pkg = '"$DEVICEFARM_TEST_PACKAGE_PATH"'
    phases = {
        "install": [
            f"if command -v devicefarm-cli >/dev/null; then devicefarm-cli use python {PYTHON}; fi",
            f'python3 -m venv "{VENV}"',
            f'"{VENV}/bin/python" -m pip install --no-index --no-compile --find-links {pkg}/wheelhouse -r {pkg}/requirements.txt',
        ],
        "pre_test": [f'adb -s "$DEVICEFARM_DEVICE_UDID" shell pm path {APP_PACKAGE}'],  # the app under test is installed
        "test": [f'cd {pkg} && "{VENV}/bin/python" -m pytest ' + " ".join(pytest_args)],
        "post_test": [f'cd {pkg} && "{VENV}/bin/packager" device farm report ' + " ".join(report_args)],
    }
    lines = ["# AWS Device Farm custom environment (written by `packager device farm aws-package`; docs/DEVICE_FARMS.md)",
             "version: 0.1", "android_test_host: amazon_linux_2", "phases:"]
    for phase, commands in phases.items():
        lines += [f"  {phase}:", "    commands:", *(f"      - {json.dumps(c)}" for c in commands)]
    lines += ["artifacts:", "  - $DEVICEFARM_LOG_DIR", ""]
    return "\n".join(lines)


def write_package(bundle_dirs: list[Path], out: Path, budgets: Path | None = None, accelerators: tuple[str, ...] = ("cpu", "xnnpack"),
                  runs: int = 20, cache: Path | None = None) -> AwsPackage:
    """Check everything, then write the zip through a temporary name: a failure leaves nothing."""
    from packager.device.budgets import Budgets  # noqa: PLC0415

    try:
        from packager.bundle.install import app_files, check_bundle  # noqa: PLC0415 - the model check reads the .tflite (full install)
    except ModuleNotFoundError:
        raise PackagerError("writing a farm package checks each bundle's model, which needs the full android-model-packager",
                            "run it where `packager build` runs (pip install android-model-packager), not from the device kit alone") from None

    if not bundle_dirs:
        raise PackagerError("no bundles to package", "pass one or more dist/<name>/ folders made by `packager build`")
    unknown = [a for a in accelerators if a not in ACCELERATORS]
    if unknown or not accelerators:
        raise PackagerError(f"unknown accelerator {', '.join(unknown) or '(none)'}", f"use {', '.join(ACCELERATORS)}")
    refs = [check_bundle(d) for d in bundle_dirs]
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise PackagerError(f"two bundles are named {next(n for n in names if names.count(n) > 1)!r}", "package each bundle once")
    if budgets is not None:
        Budgets.load(budgets)  # a bad budgets file stops here, not on the farm
    if out.suffix != ".zip":
        raise PackagerError(f"{out} does not end in .zip", "AWS Device Farm takes the test package as a .zip file")
    requirements = kit_wheel.requirements()
    deps, cached, seconds = dependency_wheels(requirements, cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kit = kit_wheel.build(Path(tmp))
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("requirements.txt", f"{kit_wheel.DISTRIBUTION}=={kit.name.split('-')[1]}\n")
                zf.writestr("testspec.yml", testspec(names, list(accelerators), runs, budgets is not None))
                zf.writestr("tests/test_on_device.py", TEST_FILE)
                if budgets is not None:
                    zf.write(budgets, "budgets.toml")
                for ref in refs:
                    for relative in app_files(ref.manifest):
                        zf.write(ref.path / relative, f"bundles/{ref.name}/{relative}")
                for wheel in [kit, *deps]:
                    zf.write(wheel, f"wheelhouse/{wheel.name}")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return AwsPackage(out, names, [kit.name, *(d.name for d in deps)], out.stat().st_size, cached, seconds)
