"""The runtime target: which runtime, at which version, runs each accelerator path of the app.

Declared once. By default it is the bundled demo app's: android_app/gradle/libs.versions.toml
(`tensorflowLite`: TFLite's Interpreter for cpu and nnapi, and the app's signature reading for
every path; `litert`: LiteRT's CompiledModel for xnnpack, gpu and npu; see the app's
RuntimeChoice.apiFor). An installed wheel carries that file as packager/runtime/app_catalog.toml.
A user's own app declares its own with `--runtime` (repeatable) or a config's [runtime] section;
that replaces the demo app's set. The build proves every variant on each target
(packager/runtime/compat.py) and the manifest records the targets.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packager.errors import PackagerError

RuntimeKind = Literal["tflite", "litert"]
# The Python wheel whose interpreter is the same code as the app's runtime of that version.
WHEELS: dict[RuntimeKind, str] = {"tflite": "tensorflow-cpu", "litert": "ai-edge-litert"}
# What each runtime is called in the app's catalog, and the accelerator paths it serves there.
CATALOG_KEYS: dict[RuntimeKind, str] = {"tflite": "tensorflowLite", "litert": "litert"}
APP_PATHS: dict[RuntimeKind, tuple[str, ...]] = {"tflite": ("cpu", "nnapi"), "litert": ("xnnpack", "gpu", "npu")}
# The kernels a host can run of each path: an accelerator the host lacks (gpu, nnapi, npu) is
# proved on the runtime's CPU kernels, the ones the app falls back to.
Kernels = Literal["builtin", "xnnpack"]
RESOLVER: dict[RuntimeKind, Kernels] = {"tflite": "builtin", "litert": "xnnpack"}  # the app: Interpreter with XNNPACK off; CompiledModel on CPU = XNNPACK
ALIASES: dict[str, RuntimeKind] = {"tflite": "tflite", "tensorflow-lite": "tflite", "tensorflowlite": "tflite", "tensorflow-cpu": "tflite",
           "litert": "litert", "ai-edge-litert": "litert"}
_VERSION = re.compile(r"\d+\.\d+(\.\d+)?([a-z]+\d+)?")  # fullmatch: "2.16.1\n" is not a version
REPO_CATALOG = Path(__file__).resolve().parents[2] / "android_app" / "gradle" / "libs.versions.toml"
PACKAGED_CATALOG = Path(__file__).resolve().parent / "app_catalog.toml"


@dataclass(frozen=True)
class RuntimeTarget:
    kind: RuntimeKind
    version: str
    accelerators: tuple[str, ...]  # the app's paths this runtime serves
    source: str  # where the declaration came from

    @property
    def name(self) -> str:
        return f"{self.kind} {self.version}"

    @property
    def wheel(self) -> str:
        """The pip requirement of the Python wheel built from the same sources."""
        return f"{WHEELS[self.kind]}=={self.version}"

    @property
    def resolver(self) -> Kernels:
        return RESOLVER[self.kind]

    @property
    def env_name(self) -> str:
        return f"{self.kind}-{self.version}"


def parse_runtime(text: str, source: str = "--runtime") -> RuntimeTarget:
    """'tflite 2.14', 'litert=2.3.0', 'tensorflow-lite:2.16.1'; 'tflite 2.16.1 cpu,nnapi' names the paths it serves."""
    parts = [p for p in re.split(r"[\s=:@]+", text.strip()) if p]
    if len(parts) not in (2, 3):
        raise PackagerError(f"{source} {text!r} is not a runtime and a version", "write e.g. --runtime 'tflite 2.16.1' or --runtime litert=2.3.0")
    kind = ALIASES.get(parts[0].lower())
    if kind is None:
        raise PackagerError(f"{source} {text!r}: unknown runtime {parts[0]!r}", "use tflite (TensorFlow Lite's Interpreter) or litert (LiteRT)")
    version = parts[1].lstrip("v")
    if not _VERSION.fullmatch(version):
        raise PackagerError(f"{source} {text!r}: {parts[1]!r} is not a version", "write a release number, e.g. 2.16.1")
    paths = APP_PATHS[kind]
    if len(parts) == 3:
        paths = tuple(dict.fromkeys(p.strip().lower() for p in parts[2].split(",") if p.strip()))
        known = {p for ps in APP_PATHS.values() for p in ps}
        bad = sorted(set(paths) - known)
        if bad or not paths:
            raise PackagerError(f"{source} {text!r}: unknown accelerator {', '.join(bad) or repr(parts[2])}", f"use {', '.join(sorted(known))}")
    return RuntimeTarget(kind, version, paths, source)


def declared(texts: tuple[str, ...] | list[str], source: str = "--runtime") -> tuple[RuntimeTarget, ...]:
    targets = [parse_runtime(t, source) for t in texts]
    kinds = [t.kind for t in targets]
    twice = sorted({k for k in kinds if kinds.count(k) > 1})
    if twice:
        raise PackagerError(f"{source} names {', '.join(twice)} more than once", "give one version per runtime")
    return tuple(targets)


def catalog_path() -> Path:
    for path in (REPO_CATALOG, PACKAGED_CATALOG):
        if path.is_file():
            return path
    raise PackagerError("the demo app's runtime versions (android_app/gradle/libs.versions.toml) are not in this installation",
                        "declare your app's runtimes with --runtime, e.g. --runtime 'tflite 2.16.1' --runtime 'litert 2.2.0'")


def app_targets(path: Path | None = None) -> tuple[RuntimeTarget, ...]:
    """The demo app's runtimes, read from its Gradle version catalog."""
    path = path or catalog_path()
    try:
        versions = tomllib.loads(path.read_text(encoding="utf-8")).get("versions", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackagerError(f"cannot read the app's version catalog {path}: {exc}", "restore it from git") from None
    found = {kind: str(versions[key]) for kind, key in CATALOG_KEYS.items() if key in versions}
    if not found:
        raise PackagerError(f"{path} names neither {' nor '.join(CATALOG_KEYS.values())}", "declare the runtimes with --runtime")
    if len(found) == 1:  # one runtime serves every path
        kind = next(iter(found))
        return (RuntimeTarget(kind, found[kind], tuple(p for ps in APP_PATHS.values() for p in ps), _shown(path)),)
    return tuple(RuntimeTarget(kind, version, APP_PATHS[kind], _shown(path)) for kind, version in found.items())


def _shown(path: Path) -> str:
    return "android_app/gradle/libs.versions.toml" if path == REPO_CATALOG else f"{path.name} (the demo app's catalog, packaged)"


def resolve(given: tuple[str, ...] | list[str], source: str = "--runtime") -> tuple[RuntimeTarget, ...]:
    """The build's targets: what the user declared, else the demo app's."""
    return declared(given, source) if given else app_targets()


def for_accelerator(targets: tuple[RuntimeTarget, ...], accelerator: str) -> RuntimeTarget | None:
    return next((t for t in targets if accelerator in t.accelerators), None)
