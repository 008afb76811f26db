"""packager as a user installs it: the wheel, in a fresh virtual environment outside the checkout,
used from an empty folder (no repository files on any path the installed code could reach).

Plain pip resolves the wheel from PyPI alone (a dry run: the whole resolution, nothing
installed); the installation then used uses `uv pip install` (the same resolution of the wheel's
own metadata: no `[tool.uv]` setting of this project applies, since it runs with --no-config from
an empty folder) rather than plain pip, which would re-download about 700 MB of wheels on every
run (6 min here; pip's cache keeps none of them); uv installs from its warm cache in seconds. Set PACKAGER_TEST_WHEEL=/path/to.whl to test a wheel built elsewhere
(for example the one of an older commit: that one fails here, it holds no schemas and does not
resolve).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import signal
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SCHEMAS = sorted(p.name for p in (REPO / "packager" / "schemas").glob("*.schema.json"))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalize(re.split(r"[\s<>=!~;\[(@]", r, maxsplit=1)[0]) for r in requirements}


def _declared() -> set[str]:
    project = PYPROJECT["project"]
    names = _requirement_names(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        names |= _requirement_names(extra)
    return names


def _imported_modules() -> dict[str, str]:
    """Top-level third-party modules imported anywhere in packager/ -> the first file doing it."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "packager").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "packager" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_imported_module_is_declared():
    """What deptry checks: each third-party module the code imports comes from a distribution the
    wheel declares (a dependency or an extra), so a plain install never lacks one."""
    providers = importlib.metadata.packages_distributions()
    declared = _declared()
    imported = _imported_modules()
    assert {"tensorflow", "keras", "cryptography", "usb1", "absl", "pytest", "xdist"} <= set(imported)
    missing = {module: (where, providers.get(module)) for module, where in imported.items()
               if not declared & {_normalize(d) for d in providers.get(module, [])}}
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
    unused_heavy = {"tf-keras", "tensorflow"} & declared  # full TF beside tensorflow-cpu: 1.8 GB, CUDA warnings
    assert unused_heavy == set()
    assert "override-dependencies" not in PYPROJECT.get("tool", {}).get("uv", {}), "an override does not travel with the wheel"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("PACKAGER_TEST_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel-dist")
    subprocess.run(["uv", "build", "--wheel", "--quiet", "-o", str(out), str(REPO)], check=True, capture_output=True, timeout=120)
    (path,) = out.glob("*.whl")
    return path


def _clean_env(venv: Path) -> dict[str, str]:
    """The user's shell: the venv's bin first, nothing of this test session (pytest, xdist, uv, the repo)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "UV_", "VIRTUAL_ENV", "PYTHON", "COV_")) and k not in ("PWD", "OLDPWD")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _pypi_only_env(venv: Path) -> dict[str, str]:
    """A user's shell where pip knows only PyPI: no pip configuration file of this machine (extra
    indexes, find-links, constraints), no PIP_* index settings; the CA bundle setting is kept."""
    env = {k: v for k, v in _clean_env(venv).items() if not (k.startswith("PIP_") and k not in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # pip then reads no configuration file at all
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def pip_dry_run(wheel, tmp_path_factory):
    """Plain pip (the one a fresh venv comes with), PyPI only, resolving `<wheel>[pytest]` as a
    real install would, every requirement of every dependency, without installing (--dry-run).

    It waits on the network most of the time (a minute or more here), so it is started in the
    background as soon as the wheel exists and the uv install below runs meanwhile. A full
    plain-pip install would re-download about 700 MB on every run (6 min here: pip's cache keeps
    none of it), hence the dry run for pip and the installation from uv's cache for use."""
    root = tmp_path_factory.mktemp("pip")
    venv, report = root / "venv", root / "report.json"
    command = (f"{shlex.quote(sys.executable)} -m venv {shlex.quote(str(venv))} && "
               f"{shlex.quote(str(venv / 'bin' / 'python'))} -m pip install --dry-run --ignore-installed --quiet "
               f"--report {shlex.quote(str(report))} --index-url https://pypi.org/simple "
               f"{shlex.quote(f'android-model-packager[pytest] @ {wheel.resolve().as_uri()}')}")
    with open(root / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(["sh", "-c", command], cwd=root, env=_pypi_only_env(venv), stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)
    yield proc, report
    if proc.poll() is None:  # not waited for (the test did not run or failed first): stop sh and pip
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
@pytest.mark.usefixtures("pip_dry_run")  # resolving in the background meanwhile
def test_the_installed_wheel_works_from_an_empty_folder(wheel, tmp_path_factory, digits_data, digits_sources):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"packager/schemas/{s}" for s in SCHEMAS} <= names, "the wheel must carry the JSON Schemas"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "packager/runtime/app_catalog.toml" in names, "the wheel must carry the demo app's runtime versions"

    root = tmp_path_factory.mktemp("user")
    assert REPO not in root.parents
    venv, empty = root / "venv", root / "work"
    empty.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = subprocess.run(
        ["uv", "pip", "install", "--no-config", "--python", str(python), f"android-model-packager[pytest] @ {wheel.resolve().as_uri()}"],
        cwd=empty, env=_clean_env(venv), capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]

    env = _clean_env(venv)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(list(args), cwd=empty, env=env, capture_output=True, text=True, timeout=240)
        if ok:
            assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
            assert "Traceback" not in result.stderr
        return result

    installed = {_normalize(d) for d in run(str(python), "-c", "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))").stdout.split()}
    assert {"android-model-packager", "tensorflow-cpu", "tflite-support"} <= installed
    assert not {"tensorflow", "tf-keras"} & installed  # no full TensorFlow unpacked over tensorflow-cpu
    imported = run(str(python), "-c", "import sys, packager, packager.pytest_plugin; print(packager.__file__); print(*sorted(sys.modules))").stdout.split()
    assert Path(imported[0]).is_relative_to(venv)  # the installed copy, not the checkout
    assert not {"numpy", "jsonschema", "tensorflow"} & set(imported[1:])  # the plugin stays light until a fixture is used

    assert "inspect" in run("packager", "--help").stdout
    assert PYPROJECT["project"]["version"] in run("packager", "--version").stdout

    bad = run("packager", "build", "missing.keras", ok=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr, bad.stderr

    run("packager", "build", str(digits_sources["keras"]), "--name", "digits", "--quant", "int8,fp16", "--calib-data", str(digits_data.train_dir),
        "--calib-samples", "64", "--eval-data", str(digits_data.test_dir), "--labels", str(digits_data.labels_file),
        "--mean", "0", "--std", "255", "--no-latency")
    bundle = empty / "dist" / "digits"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["tools"]["packager"] == PYPROJECT["project"]["version"]
    # no android_app/ beside the installed package: the app's runtimes come from the catalog the wheel carries
    assert {t["source"] for t in manifest["runtimes"]["targets"]} == {"app_catalog.toml (the demo app's catalog, packaged)"}
    assert all(c["status"] == "runs" for c in manifest["runtimes"]["checks"])

    inspected = json.loads(run("packager", "inspect", str(bundle / "digits.tflite"), "--json").stdout)
    assert inspected["metadata"]["labels_count"] == 10

    run("packager", "device", "bench", "--virtual", str(bundle), "-a", "cpu", "--runs", "5", "-o", "results.json")
    runs = json.loads((empty / "results.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok"]

    run("packager", "report", str(bundle), "-r", "results.json")
    assert "virtual" in (bundle / "report.md").read_text().lower()

    app = empty / "android_app"
    shutil.copytree(REPO / "android_app", app, ignore=shutil.ignore_patterns("build", ".gradle", "models", ".kotlin"))
    run("packager", "bundle", str(bundle), "--app", str(app))
    assert (app / "app" / "src" / "main" / "assets" / "models" / "digits" / "digits.tflite").is_file()

    (empty / "test_on_device.py").write_text("def test_on_device(device_run, budgets):\n    budgets.check(device_run)\n")
    suite = run(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_on_device.py", "--virtual-device",
                "--bundle", str(bundle), "--accelerator", "cpu", "--device-runs", "5", ok=False)
    assert suite.returncode == 0 and "1 passed" in suite.stdout, suite.stdout[-3000:] + suite.stderr[-2000:]


@pytest.mark.slow
def test_plain_pip_resolves_the_wheel_from_pypi_with_no_override(pip_dry_run):
    """The ResolutionImpossible of a wheel whose dependencies needed an override is what a user
    of plain pip met first; this wheel resolves, to tensorflow-cpu 2.19 with protobuf 3.20."""
    proc, report = pip_dry_run
    assert proc.wait(timeout=900) == 0, (report.parent / "stderr.txt").read_text()[-3000:]
    resolved = {_normalize(item["metadata"]["name"]): item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    assert resolved["android-model-packager"] == PYPROJECT["project"]["version"]
    assert resolved["tensorflow-cpu"].startswith("2.19.") and resolved["tflite-support"] == "0.4.4"
    assert resolved["protobuf"].startswith("3.20.")
    assert {"ai-edge-litert", "ai-edge-quantizer", "keras", "pytest", "pytest-xdist"} <= set(resolved)
    assert not {"tensorflow", "tf-keras"} & set(resolved)  # no full TensorFlow beside tensorflow-cpu
