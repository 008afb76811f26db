"""Start-up cost: what `packager` loads before it does anything, as real processes.

`packager --help` and `inspect` never import TensorFlow (tests/test_inspect.py checks inspect);
`packager build` prints its first line before TensorFlow is imported; and TensorFlow is imported
without the optional integrations Keras would pull in with it (scikit-learn, SciPy's statistics,
matplotlib: 1.2 s of CPU here), which stay importable afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile

# Runs the real CLI; stderr is teed so that each line written records whether TensorFlow was
# loaded at that moment. The first line ends the process: nothing after it matters here.
FIRST_LINE_PROBE = """
import os, sys
from packager import cli, progress

class Tee:
    def __init__(self, stream):
        self.stream = stream
    def write(self, text):
        if text.strip():
            print("tensorflow" in sys.modules, text.strip(), file=sys.__stdout__, flush=True)
            os._exit(0)
        return len(text)
    def flush(self):
        pass
    def isatty(self):
        return False

progress.set_enabled(True)  # as on a terminal
sys.stderr = Tee(sys.stderr)
cli.main(["build", "model.keras", "--quant", "int8", "--calib-data", "calib", "--mean", "0", "--std", "255"])
"""


def test_help_imports_neither_tensorflow_nor_numpy():
    probe = "import sys\ntry:\n    from packager import cli; cli.main(['--help'])\nexcept SystemExit:\n    print('MODULES', *sorted(sys.modules))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    usage, _, modules = run.stdout.partition("MODULES")
    assert run.returncode == 0 and "build" in usage and "inspect" in usage, run.stderr
    assert "click" in modules.split() and not {"tensorflow", "numpy", "keras", "ai_edge_litert"} & set(modules.split())


def test_build_prints_its_first_line_before_importing_tensorflow(tmp_path):
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:  # a .keras file by its form; never loaded here
        archive.writestr("config.json", "{}")
    (tmp_path / "calib").mkdir()
    run = subprocess.run([sys.executable, "-c", FIRST_LINE_PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    loaded, _, line = run.stdout.strip().partition(" ")
    assert "Converting model.keras (keras)" in line
    assert loaded == "False", "the first line waited for TensorFlow"


def test_tensorflow_is_imported_without_its_optional_integrations():
    probe = """
import sys
from packager import quiet
tf = quiet.import_tensorflow()
assert tf.lite.TFLiteConverter and "keras" in sys.modules
print(*sorted(name for name in ("sklearn", "scipy", "matplotlib") if name in sys.modules) or ["none"])
assert not [f for f in sys.meta_path if type(f).__name__ == "_HideOptional"], "the finder must be removed"
import sklearn.base, scipy.sparse, matplotlib.pyplot  # still importable once TensorFlow is in
print("importable")
"""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["none", "importable"]


def test_the_console_script_skips_tensorflow_teardown_but_not_what_exit_owes(tmp_path):
    """Once TensorFlow is loaded, `packager` exits without finalizing it (2-5 s here), yet joins
    its threads, runs atexit handlers and flushes output first, with the command's exit code."""
    probe = """
import atexit, sys, threading, time
from packager import cli, quiet
quiet.import_tensorflow()
atexit.register(lambda: print("atexit ran", flush=False))
threading.Thread(target=lambda: (time.sleep(0.5), open("thread-done", "w").write("yes"))).start()
print("buffered", end="")
sys.argv = ["packager", "inspect", "missing.tflite"]
cli.entry()
"""
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 2, run.stderr[-2000:]  # inspect's one-line error exit code, kept
    assert run.stdout == "bufferedatexit ran\n" and (tmp_path / "thread-done").read_text() == "yes"
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
