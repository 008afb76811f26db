"""Native crashes isolated (issue 14): a model that really crashes LiteRT (SIGSEGV in
allocate_tensors) is one line and exit 2 from `build` and `inspect`, nothing is written, and the
next model loads in a fresh worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from packager.errors import PackagerError
from tests.tflite_models import crashing_model


@pytest.fixture(scope="module")
def crash_model(digits_bundle, tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "crash.tflite"
    path.write_bytes(crashing_model((digits_bundle / "digits.tflite").read_bytes()))
    return path


def test_the_model_really_crashes_litert(crash_model):
    """The premise: loaded in a plain process, this model kills it with SIGSEGV."""
    code = ("import sys; from ai_edge_litert.interpreter import Interpreter as I; "
            "i = I(model_content=open(sys.argv[1], 'rb').read()); i.allocate_tensors()")
    ran = subprocess.run([sys.executable, "-c", code, str(crash_model)], capture_output=True, timeout=120)
    assert ran.returncode == -11, ran.returncode


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "packager.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", ["build", "inspect"])
def test_a_crash_is_one_line_exit_2_and_nothing_written(command, crash_model, tmp_path):
    out = tmp_path / "dist"
    args = ["build", str(crash_model), "--name", "crash", "-o", str(out)] if command == "build" else ["inspect", str(crash_model)]
    result = _cli(*args)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: LiteRT crashed loading {crash_model}: SIGSEGV") and "allocating its tensors" in lines[0]
    assert "re-export" in lines[0] and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_crashing_variant_names_the_variant_and_the_worker_comes_back(crash_model, digits_bundle):
    """sources.check_tflite is what every variant goes through after it is made."""
    from packager.runtime import isolation
    from packager.runtime.isolation import check_tflite

    with pytest.raises(isolation.LiteRTCrash) as err:
        check_tflite(crash_model.read_bytes(), "the int8 variant")
    assert err.value.one_line().startswith("LiteRT crashed loading the int8 variant: SIGSEGV")
    assert isinstance(err.value, PackagerError)
    probe = isolation.probe((digits_bundle / "digits.tflite").read_bytes(), "digits")  # a fresh worker
    assert probe.runs, probe
