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
import warnings
from collections.abc import Iterator

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
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


class Captured:
    """What a noisy block wrote to stdout/stderr (file-descriptor level)."""

    def __init__(self) -> None:
        self.text = ""


@contextlib.contextmanager
def captured_output() -> Iterator[Captured]:
    """Redirect fds 1 and 2 into a temporary file for the duration (unless verbose).

    Rich progress bars write to sys.stderr's Python object; this redirect is only used around
    native calls (conversion, quantization) that run without progress output of their own.
    """
    result = Captured()
    if _verbose:
        yield result
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        # Python-level writers (print, tqdm) may hold replaced sys.stdout/err objects: swap those too
        text_sink = open(sink.fileno(), "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(text_sink), contextlib.redirect_stderr(text_sink):
                yield result
        finally:
            text_sink.flush()
            text_sink.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            result.text = sink.read().decode("utf-8", errors="replace")


def import_tensorflow():
    """Import TensorFlow quietly and return the module."""
    quiet_environment()
    with captured_output():
        import tensorflow as tf  # noqa: PLC0415 - deliberately lazy: 10 s import
    quiet_python_loggers()
    return tf
