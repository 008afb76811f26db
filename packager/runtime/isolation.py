"""Native code isolated: a model's first load and run happens in a child process.

LiteRT is C++. A malformed model (an untrusted .tflite, or a variant a quantizer got wrong, e.g.
NaN scales) can crash it with SIGSEGV or SIGABRT inside `allocate_tensors` or `invoke`, which
kills the whole process with no word (exit 139; stderr is often captured at that moment). So
every model packager did not make, and every variant it makes, is first loaded, prepared and run
once on zero inputs in a worker process, with both op resolvers the app uses (LiteRT's default,
XNNPACK, and the builtin kernels alone). Only when it survives that does the model go into this
process. A crash becomes one PackagerError naming the model, the signal and the step.

The worker imports LiteRT and numpy only, never TensorFlow (about 0.5 s). One worker serves a
whole build: it is started in the background when the build starts (while TensorFlow loads in
this process) and reused for every model of the build; a crash costs one restart. A worker
whose parent dies reads end-of-file and exits. `benchmarks/bench_isolate.py` measures the cost.

Protocol (stdin/stdout of `python -m packager.runtime.isolation`): the parent writes an 8-byte
little-endian length and the model's bytes; the worker answers with JSON lines, one
`{"step": ...}` before each native step (so a crash is located) and `{"done": {...}}` at the end.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from packager import quiet
from packager.errors import PackagerError
from packager.tflite.flatbuffer import TFLITE_IDENTIFIER
from packager.tflite.input_sizes import fixed_shape

# A model that loops for ever on zero inputs (a WHILE whose condition never turns false) must
# not hang the build: one load-and-run gets this long, generous for a 2 GB model on a slow core.
PROBE_TIMEOUT_S = 300.0
RESOLVERS = ("XNNPACK", "builtin kernels")  # OpResolverType.AUTO and BUILTIN_WITHOUT_DEFAULT_DELEGATES


@dataclass(frozen=True)
class Probe:
    """What LiteRT said about a model in the worker (None: that step passed or was not reached)."""

    load_error: str | None = None  # the flatbuffer could not be loaded (corrupt, truncated, not TFLite)
    allocate_error: str | None = None  # loaded, but LiteRT cannot prepare it (custom ops, bad shapes)
    run_error: str | None = None  # prepared, but one run on zero inputs failed
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (name, shape signature: -1 where dynamic) per input, once loaded

    @property
    def runs(self) -> bool:
        return self.load_error is None and self.allocate_error is None and self.run_error is None


class LiteRTCrash(PackagerError):
    """LiteRT died (a signal) in the worker while loading or running a model."""


def _signal_name(code: int) -> str:
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"signal {-code}"
        return f"{sig.name} ({signal.strsignal(sig) or sig.name})"
    return f"exit code {code}"


class Worker:
    """One child process that loads models with LiteRT for the parent; see the module docstring.

    `command` and `runtime` make it another runtime's worker (packager/runtime/compat.py: the
    app's pinned TFLite or LiteRT in its own environment), speaking the same protocol."""

    def __init__(self, command: list[str] | None = None, runtime: str = "LiteRT", env: dict[str, str] | None = None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None  # stdin and stdout are pipes (start)
        self._stderr: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._registered = False
        self.command = command or [sys.executable, "-m", "packager.runtime.isolation"]
        self.runtime = runtime
        self.extra_env = env or {}
        self.hello: dict | None = None  # what a worker says once its runtime is imported (runtime_worker.py)
        self.exit_code: int | None = None  # how the last worker that died ended (negative: the signal)

    def start(self) -> Worker:
        if self.proc is not None and self.proc.poll() is None:
            return self

        env = dict(os.environ)
        if not quiet.is_verbose():
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if not self._registered:
            atexit.register(self.close)
            self._registered = True
        env.update(self.extra_env)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the worker's life, closed in close()
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, close_fds=True)
        return self

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None  # started with pipes
        try:
            proc.stdin.close()  # the worker reads end-of-file and exits
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read()[-4000:].decode("utf-8", "replace").splitlines()
                 if line.strip() and not line.startswith(("INFO:", "Fatal Python error", "Current thread", "  File", "Extension modules"))]
        return " ".join(lines[-1].split())[:200] if lines else ""

    def probe(self, model: bytes, what: str, timeout: float = PROBE_TIMEOUT_S) -> Probe:
        done = self.exchange(struct.pack("<Q", len(model)) + model, what, timeout)
        inputs = tuple((name, tuple(signature)) for name, signature in done.pop("inputs", ()))
        return Probe(**done, inputs=inputs)

    def exchange(self, message: bytes, what: str, timeout: float = PROBE_TIMEOUT_S) -> dict:
        """Send one job, return the worker's `done` answer; LiteRTCrash when the worker dies doing it."""
        with self._lock:
            self.start()
            proc = self.proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None  # start() made one, with pipes
            step, buffer = "loading it", b""
            done: dict[str, Any] | None = None
            try:
                proc.stdin.write(message)
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # died before reading: reported below
            deadline = time.monotonic() + timeout
            fd = proc.stdout.fileno()
            while done is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise PackagerError(f"{self.runtime} did not finish loading and running {what} within {timeout:g} s "
                                        f"(stuck {step})", "check the model: a loop that never ends on zero inputs cannot ship")
                ready, _, _ = select.select([fd], [], [], min(left, 1.0))
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    reply = json.loads(line)
                    step = reply.get("step", step)
                    self.hello = reply.get("hello", self.hello)
                    done = reply.get("done", done)
            if done is None:  # the worker died: the runtime crashed
                code = self.exit_code = proc.wait()
                tail = self._stderr_tail()
                self.close()
                raise LiteRTCrash(
                    f"{self.runtime} crashed loading {what}: {_signal_name(code)} while {step}{f' ({tail})' if tail else ''}; "
                    "nothing was written",
                    "the model is malformed in a way LiteRT does not check: re-export it with a TFLite converter, "
                    "or report it if packager made it (run with --verbose for the log)")
            return done


_worker = Worker()


def prestart() -> None:
    """Start the shared worker now, so its imports overlap with the caller's work."""
    _worker.start()


def probe(model: bytes, what: str) -> Probe:
    """Load, prepare and run `model` once in the shared worker; LiteRTCrash when LiteRT dies doing it."""
    return _worker.probe(model, what)


def shutdown() -> None:
    _worker.close()


# --- the worker process --------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split())[:300] if text else type(exc).__name__


def _serve() -> None:
    import numpy as np  # noqa: PLC0415
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes our stdin
    resolvers = {"XNNPACK": OpResolverType.AUTO, "builtin kernels": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    stdin, stdout = sys.stdin.buffer, sys.stdout

    def say(**message) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    while True:
        header = stdin.read(8)
        if len(header) < 8:
            return  # the parent is done (or gone)
        (size,) = struct.unpack("<Q", header)
        model = stdin.read(size)
        result: dict[str, object] = {"load_error": None, "allocate_error": None, "run_error": None, "inputs": []}
        for name in RESOLVERS:
            say(step=f"loading it ({name})")
            try:
                interpreter = Interpreter(model_content=model, experimental_op_resolver_type=resolvers[name])
            except Exception as exc:  # noqa: BLE001 - reported to the parent as text
                result["load_error"] = _first_line(exc)
                break
            result["inputs"] = [[d["name"], [int(x) for x in d.get("shape_signature", d["shape"])]] for d in interpreter.get_input_details()]
            say(step=f"allocating its tensors ({name})")
            try:
                interpreter.allocate_tensors()
            except Exception as exc:  # noqa: BLE001
                result["allocate_error"] = result["allocate_error"] or _first_line(exc)
                continue
            say(step=f"running it once on zero inputs ({name})")
            try:
                for detail in interpreter.get_input_details():
                    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
                interpreter.invoke()
            except Exception as exc:  # noqa: BLE001
                result["run_error"] = result["run_error"] or _first_line(exc)
            del interpreter
        say(done=result)


def check_tflite(data: bytes, what: str) -> None:
    """Fail clearly when bytes are not a TFLite model LiteRT can load (truncated, custom ops...)."""
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise PackagerError(f"{what} is not a TFLite model (no TFL3 identifier)", "pass a .tflite file made by a TFLite converter")
    # the first load and run of every model happens in a child process: a native crash there is
    # one line (LiteRTCrash), not the death of this process
    result = probe(data, what)
    if result.load_error is None:
        for name, signature in result.inputs:  # a dynamic input is not corruption: name it
            fixed_shape(name, signature, None, what)
    text = result.load_error or result.allocate_error
    if text is None and result.run_error is not None:
        raise PackagerError(f"{what} loads in LiteRT but one run on zero inputs fails ({result.run_error[:200].rstrip('.')}); "
                            "it is corrupt or malformed", "re-export the model with a TFLite converter")
    if text is not None:
        custom = sorted(set(re.findall(r"unresolved custom op: (\w+)", text, re.IGNORECASE)))
        if custom:
            raise PackagerError(
                f"{what} uses custom operators LiteRT cannot run here: {', '.join(custom)}",
                "rebuild the model with builtin ops, or register the custom ops' kernels",
            ) from None
        detail = text[:200]
        raise PackagerError(f"{what} cannot be loaded by LiteRT ({detail}); it is corrupt or truncated", "re-export the model") from None


if __name__ == "__main__":
    _serve()
