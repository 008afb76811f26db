"""Keep TensorFlow's, the converter's and LiteRT's log noise off the terminal.

Environment variables must be set before TensorFlow is first imported; the converter and the
native runtimes also write straight to file descriptors 1 and 2 from C++, which only a
file-descriptor level redirect can catch. What is caught is kept, so an error can quote it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import Any

_verbose = False


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = verbose


def is_verbose() -> bool:
    return _verbose


def quiet_environment() -> None:
    """Set before importing TensorFlow: no C++ INFO/WARNING lines, no oneDNN banner."""
    if _verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # also makes float results reproducible


def quiet_python_loggers() -> None:
    if _verbose:
        return
    for name in ("tensorflow", "absl", "keras", "h5py", "ai_edge_quantizer", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|ai_edge_litert|ai_edge_quantizer|tflite_support)")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(experimental_preserve_all_tensors|Statistics for quantized inputs).*")
    try:
        import absl.logging  # noqa: PLC0415 - optional, present only with TensorFlow

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


class Captured:
    """What a noisy block wrote to stdout/stderr (file-descriptor level)."""

    def __init__(self) -> None:
        self.text = ""


class _Redirect:
    """One process-wide redirect of fds 1/2 (and sys.stdout/err), shared by nested or concurrent
    users: installed by the first, removed by the last (threads may overlap)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        # set while a redirect is installed (depth > 0), None otherwise
        self.sink: Any = None
        self.saved: Any = None
        self.saved_streams: Any = None
        self.text_sink: Any = None

    def enter(self) -> int:
        with self.lock:
            if self.depth == 0:
                sys.stdout.flush()
                sys.stderr.flush()
                self.sink = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - open while captured, closed on release
                self.saved = os.dup(1), os.dup(2)
                os.dup2(self.sink.fileno(), 1)
                os.dup2(self.sink.fileno(), 2)
                # Python-level writers (print, tqdm) may hold replaced sys.stdout/err objects
                self.text_sink = open(self.sink.fileno(), "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
                self.saved_streams = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = self.text_sink
            self.depth += 1
            self.text_sink.flush()
            return os.fstat(self.sink.fileno()).st_size

    def leave(self, start: int) -> str:
        with self.lock:
            self.text_sink.flush()
            end = os.fstat(self.sink.fileno()).st_size
            text = os.pread(self.sink.fileno(), max(end - start, 0), start).decode("utf-8", errors="replace")
            self.depth -= 1
            if self.depth == 0:
                sys.stdout, sys.stderr = self.saved_streams
                self.text_sink.close()
                os.dup2(self.saved[0], 1)
                os.dup2(self.saved[1], 2)
                os.close(self.saved[0])
                os.close(self.saved[1])
                self.sink.close()
                self.sink = self.text_sink = self.saved = self.saved_streams = None
            return text


_redirect = _Redirect()


@contextlib.contextmanager
def captured_output() -> Iterator[Captured]:
    """Redirect fds 1 and 2 into a temporary file for the duration (unless verbose).

    Used around native calls (conversion, quantization, interpreter creation) that print on
    their own; rich progress bars are not inside these blocks. Safe to nest and to use from
    several threads at once.
    """
    result = Captured()
    if _verbose:
        yield result
        return
    start = _redirect.enter()
    try:
        yield result
    finally:
        result.text = _redirect.leave(start)


# Optional integrations that `import tensorflow` pulls in through Keras and TF's legacy tf.keras,
# each behind `try: import X except ImportError`: Keras' scikit-learn wrappers (sklearn, and with
# it scipy.stats/sparse), its visualization helpers (matplotlib.pyplot), tf.keras v1 training's
# sparse inputs (scipy.sparse). packager uses none of them; hidden
# while TensorFlow is imported they cost nothing (2.5 s of CPU instead of 3.7 s here, from bytecode).
_HIDDEN_DURING_TF_IMPORT = ("sklearn", "scipy", "matplotlib")


class _HideOptional:
    """A meta-path finder that makes the optional packages unimportable for one thread only
    (the one importing TensorFlow), and only those not imported already."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = {n for n in names if n not in sys.modules}
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path=None, target=None):
        if threading.get_ident() == self.thread and fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is not imported while TensorFlow loads", name=fullname)
        return None


def import_tensorflow():
    """Import TensorFlow quietly and return the module (without its unused optional imports)."""
    if "tensorflow" in sys.modules and hasattr(sys.modules["tensorflow"], "lite"):
        return sys.modules["tensorflow"]
    quiet_environment()
    hider = _HideOptional(_HIDDEN_DURING_TF_IMPORT)
    sys.meta_path.insert(0, hider)
    try:
        with captured_output():
            import tensorflow as tf  # noqa: PLC0415 - deliberately lazy: a 6 s import
    finally:
        sys.meta_path.remove(hider)
    quiet_python_loggers()
    return tf
