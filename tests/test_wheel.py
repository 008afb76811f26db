"""packager as a user installs it: the wheel, in a fresh virtual environment outside the checkout,
used from an empty folder (no repository files on any path the installed code could reach).

The installation uses `uv pip install` (pip's resolution of the wheel's own metadata: no
`[tool.uv]` setting of this project applies, since it runs with --no-config from an empty folder)
rather than plain pip, which would re-download TensorFlow on every run; uv installs from its
warm cache in seconds. Set PACKAGER_TEST_WHEEL=/path/to.whl to test a wheel built elsewhere
(for example the one of an older commit: that one fails here, it holds no schemas and does not
resolve).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
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


@pytest.mark.slow
def test_the_installed_wheel_works_from_an_empty_folder(wheel, tmp_path_factory, digits_data, digits_sources):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"packager/schemas/{s}" for s in SCHEMAS} <= names, "the wheel must carry the JSON Schemas"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

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
