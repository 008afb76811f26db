"""ruff (pycodestyle, pyflakes, import order, pyupgrade, bugbear, and a reason on every deferred
import) and mypy, both configured in pyproject.toml, on the package: they must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_passes_on_the_package():
    run = _run("ruff", "check", "--no-cache", "packager")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_mypy_passes_on_the_package():
    run = _run("mypy", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml"))
    assert run.returncode == 0, run.stdout[-6000:]


def test_ruff_sees_a_planted_violation(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\n\ndef f():\n    import json\n    return json\n")
    run = _run("ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(planted))
    assert run.returncode == 1 and "F401" in run.stdout and "PLC0415" in run.stdout, run.stdout
