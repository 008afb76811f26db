"""One cached Python environment per pinned runtime, made by uv, reused by every build.

<cache>/runtimes/<kind>-<version>/ (cache: $PACKAGER_CACHE_DIR, else $XDG_CACHE_HOME/packager,
else ~/.cache/packager) is a venv of this Python holding the runtime's wheel
(tensorflow-cpu==X, ai-edge-litert==Y) and what that wheel requires (numpy 1.26 for TF 2.16).
It is made with `uv venv` + `uv pip install`, under an exclusive lock (concurrent builds wait
for the one making it), and is ready once its marker file is written, last; a half-made one is
made again. A build never installs into an environment that is ready. Offline (UV_OFFLINE=1, or
PyPI unreachable) a runtime not cached yet is one line, exit 2; scripts/setup.sh makes the app's
ahead of time.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from packager import progress
from packager.errors import PackagerError
from packager.runtime.targets import RuntimeTarget

MARKER = ".packager-runtime.json"
INSTALL_TIMEOUT_S = 1800.0  # tensorflow-cpu is about 250 MB


class RuntimeUnavailable(PackagerError):
    """A runtime's environment is not cached and cannot be made (offline, no uv)."""


def cache_dir() -> Path:
    if os.environ.get("PACKAGER_CACHE_DIR"):
        return Path(os.environ["PACKAGER_CACHE_DIR"])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "packager"


def env_dir(target: RuntimeTarget) -> Path:
    return cache_dir() / "runtimes" / target.env_name


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def ready(target: RuntimeTarget) -> Path | None:
    """The environment's Python when it is made, else None."""
    env = env_dir(target)
    return python_of(env) if (env / MARKER).is_file() and python_of(env).exists() else None


def _uv() -> str:
    for candidate in (shutil.which("uv"), str(Path(sys.executable).parent / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeUnavailable("uv is needed to make the runtime environments and is not installed",
                             "pip install uv (or run scripts/setup.sh), or pass --skip-runtime-check")


def _why(stderr: str) -> str:
    """uv's reason, one line: its 'cause:' line, else its last error line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("cause:"):
            return line[len("cause:"):].strip()
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1][len("error:"):].strip() if errors else lines[-1] if lines else "no output")[:300]


def ensure(target: RuntimeTarget, create: bool = True) -> Path:
    """The Python of `target`'s environment, made first if it is not cached (and `create`)."""
    python = ready(target)
    if python is not None:
        return python
    if not create:
        raise RuntimeUnavailable(f"the {target.name} runtime ({target.wheel}) is not set up in {env_dir(target)}",
                                 "run scripts/setup.sh or `packager runtimes setup`, or pass --skip-runtime-check")
    env = env_dir(target)
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / f".{target.env_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build making it: wait, then use it
        python = ready(target)
        if python is not None:
            return python
        _make(target, env)
    return python_of(env)


def _make(target: RuntimeTarget, env: Path) -> None:
    uv = _uv()
    shutil.rmtree(env, ignore_errors=True)  # a half-made one
    offline = os.environ.get("UV_OFFLINE", "").lower() in ("1", "true", "yes")
    progress.status(f"Making the {target.name} runtime environment ({target.wheel}, {'offline' if offline else 'from PyPI'}; once, cached)")
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = ([uv, "venv", "--quiet", "--python", base, str(env)],
             [uv, "pip", "install", "--quiet", "--python", str(python_of(env)), target.wheel])
    for command in steps:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            shutil.rmtree(env, ignore_errors=True)
            raise RuntimeUnavailable(f"installing {target.wheel} took over {INSTALL_TIMEOUT_S:g} s", "retry, or pass --skip-runtime-check") from None
        if done.returncode != 0:
            shutil.rmtree(env, ignore_errors=True)
            raise _failure(target, _why(done.stderr), offline) from None
    freeze = subprocess.run([uv, "pip", "freeze", "--python", str(python_of(env))], capture_output=True, text=True)
    packages = dict(line.split("==", 1) for line in freeze.stdout.splitlines() if "==" in line)
    (env / MARKER).write_text(json.dumps({"kind": target.kind, "version": target.version, "wheel": target.wheel,
                                          "python": sys.version.split()[0], "packages": packages}, indent=1) + "\n")


def _failure(target: RuntimeTarget, why: str, offline: bool) -> PackagerError:
    if "network was disabled" in why or "not found in the cache" in why or offline:
        return RuntimeUnavailable(f"the {target.name} runtime ({target.wheel}) is not cached in {env_dir(target)} and cannot be "
                                  f"downloaded offline ({why})",
                                  "run scripts/setup.sh (or this build once) with PyPI reachable, or pass --skip-runtime-check")
    if "there is no version" in why or "no wheels" in why or "not found in the package registry" in why:
        return PackagerError(f"--runtime {target.name}: there is no {target.wheel} for this Python ({why})",
                             "give a released version: pip index versions " + target.wheel.split("==")[0])
    if "connect" in why.lower() or "dns" in why.lower() or "network" in why.lower():
        return RuntimeUnavailable(f"the {target.name} runtime ({target.wheel}) is not cached and PyPI cannot be reached ({why})",
                                  "retry online, or pass --skip-runtime-check")
    return PackagerError(f"cannot install {target.wheel} for the {target.name} runtime ({why})", "check the version, or pass --skip-runtime-check")


def installed(target: RuntimeTarget) -> dict:
    """The marker of a made environment: the packages and versions it holds."""
    try:
        return json.loads((env_dir(target) / MARKER).read_text())
    except (OSError, ValueError):
        return {}
