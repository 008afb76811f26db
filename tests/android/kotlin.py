"""Compiling android_app/core with kotlinc (npm kotlin-compiler) and running it on the JVM.

core's main and test sources are compiled together, once, by a single kotlinc call into a jar
kept under pytest's temporary root, keyed by a hash of the sources (so pytest-xdist workers
share one compile, guarded by a file lock). Gson, JUnit 4 and Hamcrest come from Debian's jars
(scripts/setup.sh installs them); the Gradle build gets the same libraries from Maven Central.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "android_app" / "core"
SOURCES = [CORE / "src" / "main" / "kotlin", CORE / "src" / "test" / "kotlin"]
KOTLINC = REPO / "tools" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
KOTLIN_LIB = KOTLINC.parent.parent / "lib"
SYSTEM_JARS = [Path("/usr/share/java") / n for n in ("gson.jar", "junit4.jar", "hamcrest.jar")]
CLI_MAIN = "dev.packager.core.cli.CoreCliKt"


def _missing_tools() -> list[str]:
    return [str(p) for p in [KOTLINC, *SYSTEM_JARS] if not p.exists()]


def source_files() -> list[Path]:
    return sorted(p for root in SOURCES for p in root.rglob("*.kt"))


def junit_classes() -> list[str]:
    """Fully qualified names of the JUnit classes in core's test sources."""
    names = []
    for path in sorted((CORE / "src" / "test" / "kotlin").rglob("*Test.kt")):
        text = path.read_text(encoding="utf-8")
        package = re.search(r"^package\s+([\w.]+)", text, re.MULTILINE).group(1)
        names += [f"{package}.{m}" for m in re.findall(r"^class\s+(\w+Test)\b", text, re.MULTILINE)]
    return names


@dataclass(frozen=True)
class CoreJar:
    jar: Path

    @property
    def classpath(self) -> str:
        return ":".join(str(p) for p in [self.jar, KOTLIN_LIB / "kotlin-stdlib.jar", *SYSTEM_JARS])

    def java(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", self.classpath, *args], capture_output=True, text=True, timeout=timeout)

    def batch(self, jobs: list[dict], workdir: Path) -> list[dict | None]:
        """Run core CLI jobs in one JVM; returns each job's JSON answer (None for jobs that write .npy)."""
        jobs_file = workdir / f"jobs-{hashlib.sha1(json.dumps(jobs).encode()).hexdigest()[:10]}.jsonl"
        jobs_file.write_text("".join(json.dumps(j) + "\n" for j in jobs), encoding="utf-8")
        proc = self.java(CLI_MAIN, "batch", str(jobs_file))
        assert proc.returncode == 0, f"core CLI failed:\n{proc.stdout}\n{proc.stderr}"
        answers = []
        for job in jobs:
            out = Path(job["out"])
            answers.append(json.loads(out.read_text()) if out.suffix == ".json" else None)
        return answers


def compile_core(cache_root: Path) -> CoreJar:
    missing = _missing_tools()
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run scripts/setup.sh (make test does)")
    digest = hashlib.sha256()
    for tool in [KOTLINC.parent.parent / "package.json", *SYSTEM_JARS]:  # a new compiler or library means a new jar
        digest.update(tool.read_bytes())
    for path in source_files():
        digest.update(path.relative_to(CORE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    cache = cache_root / "kotlin-core"
    cache.mkdir(parents=True, exist_ok=True)
    jar = cache / f"core-{digest.hexdigest()[:16]}.jar"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not jar.exists():
            partial = jar.with_suffix(".partial.jar")
            classpath = ":".join(str(p) for p in SYSTEM_JARS)
            proc = subprocess.run(
                [str(KOTLINC), *map(str, SOURCES), "-cp", classpath, "-jvm-target", "17", "-d", str(partial)],
                capture_output=True, text=True, timeout=600,
                # C1 only and the serial GC: kotlinc is a short-lived batch job here, about 2x faster this way.
                env={**os.environ, "JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"},
            )
            errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error:" in line]
            if proc.returncode != 0 or errors:
                raise RuntimeError(f"kotlinc failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            partial.rename(jar)
    return CoreJar(jar)


# The app (android_app/app) compiled against tests/android/stubs: declarations of exactly the
# Android SDK, AndroidX/Compose, LiteRT and TFLite APIs it calls, each stub naming its upstream.
APP_SOURCES = REPO / "android_app" / "app" / "src" / "main" / "kotlin"
STUBS = Path(__file__).resolve().parent / "stubs"
COROUTINES_JAR = KOTLIN_LIB / "kotlinx-coroutines-core-jvm.jar"  # the real kotlinx.coroutines, shipped with kotlinc


def app_source_files() -> list[Path]:
    return sorted(APP_SOURCES.rglob("*.kt"))


def stub_files() -> list[Path]:
    return sorted(p for p in STUBS.rglob("*") if p.suffix in (".kt", ".java"))


def kotlinc_errors(sources: list[Path], classpath: list[Path], out: Path) -> list[str]:
    """kotlinc's error lines for compiling [sources] (files or folders); [] when it compiled."""
    proc = subprocess.run(
        [str(KOTLINC), *map(str, sources), "-cp", ":".join(map(str, classpath)), "-jvm-target", "17", "-d", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"},
    )
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error:" in line]
    if proc.returncode != 0 and not errors:
        errors = [f"kotlinc exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"]
    return errors


def compile_app(core: CoreJar, cache_root: Path, sources: Path = APP_SOURCES) -> list[str]:
    """Errors of compiling the app's sources with core and the stubs; cached by content when clean."""
    digest = hashlib.sha256(core.jar.name.encode())
    for path in [*sorted(sources.rglob("*.kt")), *stub_files()]:
        digest.update(path.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    cache = cache_root / "kotlin-app"
    cache.mkdir(parents=True, exist_ok=True)
    ok = cache / f"app-{digest.hexdigest()[:16]}.ok"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ok.exists():
            return []
        errors = kotlinc_errors([sources, STUBS], [core.jar, COROUTINES_JAR, *SYSTEM_JARS[:1]], cache / "out.jar")
        if not errors:
            ok.touch()
        return errors
