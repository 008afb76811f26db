"""The real jars the app is compiled and run against, from Maven Central, at the versions the app pins.

The app's own build files are the declaration: the `implementation(libs.X)` lines of
android_app/app/build.gradle.kts, resolved through gradle/libs.versions.toml. Every one Maven Central
serves at its pinned version is fetched with Maven (`dependency:build-classpath` on a pom written
here, `--strict-checksums`: a jar whose .sha1 does not match fails the fetch), into ~/.m2 as usual.
What Maven Central does not serve (LiteRT 2.x: Google's repository only) is listed in UNSERVED and
stays a stub (tests/android/stubs). Robolectric (the catalog's `robolectric`) and the framework
jars it runs (android-all-instrumented) and the app compiles against (android-all, at minSdk and
targetSdk) come the same way.

`python -m tests.android.jars` (scripts/setup.sh) fetches everything once and writes the resolved
paths to a JSON file under ~/.cache/packager-android keyed by a hash of the build files; a rerun
whose JSON and jars are all present starts no Maven at all. AARs are unpacked to their classes.jar
(and libs/*.jar) beside that JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "android_app"
CATALOG = APP / "gradle" / "libs.versions.toml"
APP_GRADLE = APP / "app" / "build.gradle.kts"
CACHE = Path(os.environ.get("PACKAGER_ANDROID_JARS", Path.home() / ".cache" / "packager-android"))

# Catalog aliases Maven Central does not serve at any version the app could pin (checked with
# `mvn dependency:get`, December 2026): LiteRT 2.x is published to Google's repository only.
UNSERVED = {"litert": "com.google.ai.edge.litert:litert (LiteRT 2.x): Google's Maven repository only"}
# Robolectric's framework jars for an API level (Robolectric 4.17, DefaultSdkProvider: the
# android-all version per SDK, and the instrumented jar's suffix "i7"; SDK 35+ need Java 21+).
ANDROID_ALL = {26: "8.0.0_r4-robolectric-r1", 36: "16-robolectric-13921718"}
INSTRUMENTED_SUFFIX = "i7"


@dataclass(frozen=True)
class Coordinate:
    group: str
    artifact: str
    version: str | None  # None: managed by a BOM
    packaging: str = "jar"

    @property
    def text(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


@dataclass(frozen=True)
class Jars:
    """Resolved paths: what the app compiles against, and what Robolectric runs with."""

    app: list[Path]            # the app's dependencies (AARs as their classes.jar), without the framework
    robolectric: list[Path]    # Robolectric 4.17 and JUnit, with their dependencies
    android_all: dict[int, Path]  # plain framework jars by API level, for compiling
    instrumented_dir: Path     # robolectric.dependency.dir: the instrumented framework jars Robolectric loads offline
    run_sdk: int               # the API level the Robolectric tests run at

    def to_dict(self) -> dict:
        return {"app": [str(p) for p in self.app], "robolectric": [str(p) for p in self.robolectric],
                "android_all": {str(k): str(v) for k, v in self.android_all.items()},
                "instrumented_dir": str(self.instrumented_dir), "run_sdk": self.run_sdk}

    @staticmethod
    def from_dict(d: dict) -> Jars:
        return Jars([Path(p) for p in d["app"]], [Path(p) for p in d["robolectric"]],
                    {int(k): Path(v) for k, v in d["android_all"].items()}, Path(d["instrumented_dir"]), d["run_sdk"])

    def missing(self) -> list[Path]:
        paths = [*self.app, *self.robolectric, *self.android_all.values(), self.instrumented_dir]
        return [p for p in paths if not p.exists()]


def catalog() -> dict:
    return tomllib.loads(CATALOG.read_text(encoding="utf-8"))


def sdk_levels() -> tuple[int, int]:
    """(minSdk, targetSdk) as app/build.gradle.kts sets them."""
    text = APP_GRADLE.read_text(encoding="utf-8")
    return int(re.search(r"minSdk = (\d+)", text).group(1)), int(re.search(r"targetSdk = (\d+)", text).group(1))


def app_aliases(configuration: str = "implementation") -> list[str]:
    """Catalog aliases of app/build.gradle.kts's `implementation(libs.a.b)` / `(platform(libs.a.b))` lines, as `a-b`."""
    text = APP_GRADLE.read_text(encoding="utf-8")
    found = re.findall(rf"^\s*{configuration}\((?:platform\()?libs\.([\w.]+)\)", text, re.MULTILINE)
    return [name.replace(".", "-") for name in found]


def library(alias: str, cat: dict | None = None) -> Coordinate:
    cat = cat or catalog()
    entry = cat["libraries"][alias]
    version = entry.get("version")  # tomllib reads `version.ref = "x"` as {"version": {"ref": "x"}}
    if isinstance(version, dict):
        version = cat["versions"][version["ref"]]
    return Coordinate(entry["group"], entry["name"], version)


def _m2(c: Coordinate, ext: str) -> Path:
    return Path.home() / ".m2" / "repository" / c.group.replace(".", "/") / c.artifact / c.version / f"{c.artifact}-{c.version}.{ext}"


def _pom(name: str, deps: list[Coordinate], boms: list[Coordinate], extra: str = "") -> str:
    def dep(c: Coordinate, more: str = extra) -> str:
        version = f"<version>{c.version}</version>" if c.version else ""
        kind = f"<type>{c.packaging}</type>" if c.packaging != "jar" else ""
        return f"<dependency><groupId>{c.group}</groupId><artifactId>{c.artifact}</artifactId>{version}{kind}{more}</dependency>"
    managed = "".join(dep(b, "<type>pom</type><scope>import</scope>") for b in boms)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>dev.packager.tests</groupId><artifactId>{name}</artifactId><version>1</version><packaging>pom</packaging>"
        f"<dependencyManagement><dependencies>{managed}</dependencies></dependencyManagement>"
        f"<dependencies>{''.join(dep(d) for d in deps)}</dependencies></project>"
    )


class MavenFailed(RuntimeError):
    pass


def _mvn(*args: str, cwd: Path) -> None:
    # --strict-checksums: a download whose .sha1 does not match fails instead of warning.
    proc = subprocess.run(["mvn", "-B", "-q", "--strict-checksums", *args], cwd=cwd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise MavenFailed(f"mvn {' '.join(args[:1])} failed in {cwd}:\n{tail}")


def _download(coords: list[Coordinate], workdir: Path, name: str) -> list[Path]:
    """Fetch exactly these artifacts (no transitive ones) in one Maven run; their paths in ~/.m2."""
    todo = [c for c in coords if not _m2(c, c.packaging).exists()]
    if todo:
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        none = "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
        (folder / "pom.xml").write_text(_pom(name, todo, [], extra=none), encoding="utf-8")
        _mvn("dependency:resolve", cwd=folder)
    return [_m2(c, c.packaging) for c in coords]


_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _text(node, path: str) -> str | None:
    found = node.find(path, _NS)
    return found.text.strip() if found is not None and found.text else None


def _pom_info(c: Coordinate) -> tuple[str, list[tuple[str, str, str]], dict]:
    """(packaging, [(group, artifact, version)] of its compile/runtime non-optional deps, managed versions)."""
    root = ET.parse(_m2(c, "pom")).getroot()
    props = {"project.version": c.version}
    for prop in root.findall("m:properties/*", _NS):
        props[prop.tag.split("}")[1]] = (prop.text or "").strip()
    managed = {(_text(d, "m:groupId"), _text(d, "m:artifactId")): _text(d, "m:version")
               for d in root.findall("m:dependencyManagement/m:dependencies/m:dependency", _NS)}
    deps = []
    for d in root.findall("m:dependencies/m:dependency", _NS):
        if _text(d, "m:scope") in ("test", "provided", "system") or _text(d, "m:optional") == "true":
            continue
        g, a = _text(d, "m:groupId"), _text(d, "m:artifactId")
        v = _text(d, "m:version") or managed.get((g, a))
        if v is None:
            raise RuntimeError(f"{c.text}: no version for its dependency {g}:{a} (a parent POM's; not handled here)")
        v = re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), v)
        deps.append((g, a, re.sub(r"[\[\]]", "", v).split(",")[0]))  # "[1.8.2]", "[1.8.2,1.8.2]": strict
    return _text(root, "m:packaging") or "jar", deps, managed


# Left out of the app's set: the Kotlin standard library comes with kotlinc (the catalog's kotlin,
# which is also what the Kotlin Gradle plugin raises it to).
_PROVIDED = {("org.jetbrains.kotlin", "kotlin-stdlib"), ("org.jetbrains.kotlin", "kotlin-stdlib-jdk7"),
             ("org.jetbrains.kotlin", "kotlin-stdlib-jdk8"), ("org.jetbrains.kotlin", "kotlin-stdlib-common"),
             ("org.jetbrains", "annotations")}


def _version_key(v: str) -> list:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", v)]


def _gradle_like(direct: list[Coordinate], boms: list[Coordinate], workdir: Path) -> list[Path]:
    """The runtime classpath Gradle would resolve: every module once, at the highest version asked for
    (a BOM's versions count as requests too), jar or aar as its own POM says. Maven's own resolver
    cannot do this for androidx: its Gradle-written POMs omit <type>aar</type> and pin strict ranges
    that disagree, which Maven fails on and Gradle (with the module metadata) resolves."""
    _download([Coordinate(b.group, b.artifact, b.version, "pom") for b in boms], workdir, "boms")
    wanted: dict[tuple[str, str], str] = {}
    for bom in boms:
        for key, v in _pom_info(Coordinate(bom.group, bom.artifact, bom.version, "pom"))[2].items():
            wanted[key] = v
    constraints = dict(wanted)
    chosen: dict[tuple[str, str], str] = {}
    queue = []
    for c in direct:
        key = (c.group, c.artifact)
        queue.append((key, c.version or constraints[key]))
    rounds = 0
    packaging: dict[tuple[str, str, str], str] = {}
    while queue:
        rounds += 1
        if rounds > 50:
            raise RuntimeError("dependency graph did not settle")
        for key, v in queue:
            best = max([v, chosen.get(key, v), constraints.get(key, v)], key=_version_key)
            chosen[key] = best
        fresh = [(k, v) for k, v in chosen.items() if (k[0], k[1], v) not in packaging]
        queue = []
        _download([Coordinate(k[0], k[1], v, "pom") for k, v in fresh], workdir, f"poms-{rounds}")
        for (g, a), v in fresh:
            kind, deps, _ = _pom_info(Coordinate(g, a, v, "pom"))
            packaging[(g, a, v)] = kind
            queue += [((dg, da), dv) for dg, da, dv in deps if (dg, da) not in _PROVIDED]
    final = [Coordinate(g, a, v, packaging[(g, a, v)]) for (g, a), v in sorted(chosen.items()) if packaging[(g, a, v)] in ("jar", "aar", "bundle")]
    final = [c if c.packaging != "bundle" else Coordinate(c.group, c.artifact, c.version, "jar") for c in final]
    return _download(final, workdir, "artifacts")


def _classpath(workdir: Path, name: str, deps: list[Coordinate]) -> list[Path]:
    """Maven's own resolution (Robolectric and the framework jars: ordinary Maven POMs)."""
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pom.xml").write_text(_pom(name, deps, []), encoding="utf-8")
    out = folder / "classpath.txt"
    _mvn("dependency:build-classpath", f"-Dmdep.outputFile={out}", "-Dmdep.includeScope=runtime", cwd=folder)
    return [Path(p) for p in out.read_text().strip().split(os.pathsep) if p]


def _unpack_aars(paths: list[Path], dest: Path) -> list[Path]:
    """Each AAR as its classes.jar (and bundled libs/*.jar), unpacked once under dest."""
    jars: list[Path] = []
    for path in paths:
        if path.suffix != ".aar":
            jars.append(path)
            continue
        folder = dest / path.stem
        with zipfile.ZipFile(path) as aar:
            names = [n for n in aar.namelist() if n == "classes.jar" or (n.startswith("libs/") and n.endswith(".jar"))]
            for n in names:
                target = folder / n
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_suffix(".partial")
                    partial.write_bytes(aar.read(n))
                    partial.rename(target)
                jars.append(target)
    return jars


def _digest() -> str:
    h = hashlib.sha256()
    for f in (CATALOG, APP_GRADLE, Path(__file__)):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def resolved_file() -> Path:
    return CACHE / f"jars-{_digest()}.json"


def fetch() -> Jars:
    """Resolve and fetch everything (once: a present, complete result is returned as it is)."""
    out = resolved_file()
    if out.exists():
        jars = Jars.from_dict(json.loads(out.read_text()))
        if not jars.missing():
            return jars
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn not found: scripts/setup.sh installs Maven")
    print("\033[1m[setup]\033[0m mvn: the app's jars from Maven Central (tests/android/jars.py)", flush=True)
    cat = catalog()
    work = CACHE / f"work-{_digest()}"
    work.mkdir(parents=True, exist_ok=True)
    deps, boms = [], []
    platforms = set(re.findall(r"platform\(libs\.([\w.]+)\)", APP_GRADLE.read_text(encoding="utf-8")))
    for alias in app_aliases():
        if alias in UNSERVED:
            continue
        c = library(alias, cat)
        if alias.replace("-", ".") in platforms:
            boms.append(c)
        else:
            deps.append(c)
    app = _gradle_like(deps, boms, work)
    robolectric = _classpath(work, "robolectric", [library("robolectric", cat), library("junit", cat)])
    android_all = {}
    min_sdk, target_sdk = sdk_levels()
    for sdk in (min_sdk, target_sdk):
        (path,) = _classpath(work, f"android-all-{sdk}", [Coordinate("org.robolectric", "android-all", ANDROID_ALL[sdk])])
        android_all[sdk] = path
    # Robolectric runs at minSdk: SDK 36's framework needs Java 21, and this machine's default Java is 17.
    run_sdk = min_sdk
    instrumented = f"{ANDROID_ALL[run_sdk]}-{INSTRUMENTED_SUFFIX}"
    (jar,) = _classpath(work, f"android-all-instrumented-{run_sdk}", [Coordinate("org.robolectric", "android-all-instrumented", instrumented)])
    # Robolectric's offline resolver looks for <artifactId>-<version>.jar in robolectric.dependency.dir.
    offline = CACHE / "robolectric-deps"
    offline.mkdir(parents=True, exist_ok=True)
    link = offline / jar.name
    if not link.exists():
        link.symlink_to(jar)
    jars = Jars(_unpack_aars(app, CACHE / "aar"), _unpack_aars(robolectric, CACHE / "aar"), android_all, offline, run_sdk)
    out.write_text(json.dumps(jars.to_dict(), indent=1))
    return jars


def load() -> Jars:
    """The resolved jars, as scripts/setup.sh fetched them; a clear error when it has not run."""
    out = resolved_file()
    if out.exists():
        jars = Jars.from_dict(json.loads(out.read_text()))
        if not jars.missing():
            return jars
    raise RuntimeError(f"the app's jars are not fetched ({out} missing or incomplete): run scripts/setup.sh (make test does)")


if __name__ == "__main__":
    try:
        fetch()
    except RuntimeError as e:
        print(f"setup: {e}", file=sys.stderr)
        sys.exit(1)
