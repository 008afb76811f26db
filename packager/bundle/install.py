"""Installing a bundle into an Android app's assets (`packager bundle DIST --app android_app`).

The bundle's app-side files (model, manifest, labels, golden files) go to
`<app>/<module>/src/main/assets/models/<name>/`, and `assets/models/index.json` lists the
installed bundles for the app (android_app/core's BundleIndex reads it). Installing is idempotent:
a file whose sha256 already matches is not touched, so a second run changes no byte and no mtime.
Every write goes through a temporary name and a rename. Reports stay out of the APK.

`.tflite` files must be stored uncompressed in the APK (LiteRT memory-maps them from the APK);
the app's build file is checked for `noCompress += "tflite"` and the line is added when missing.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packager.bundle import reader
from packager.errors import PackagerError
from packager.fileio import DocumentError, current_umask, linked_component, open_regular, read_json, replace_folder, sha256_bytes, sha256_file, write_atomic
from packager.manifest import Manifest
from packager.runtime import isolation
from packager.tflite import flatbuffer

INDEX_NAME = "index.json"
INDEX_SCHEMA_VERSION = 1
BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # manifest.schema.json $defs/bundle_name
NO_COMPRESS_LINE = re.compile(r"noCompress[^\n]*[\"']\.?tflite[\"']")
GRADLE_FILES = ("build.gradle.kts", "build.gradle")
# Stored, not deflated, in the APK: models (noCompress) and what the APK packager never recompresses.
STORED_SUFFIXES = (".tflite", ".png", ".jpg", ".jpeg", ".gif")


@dataclass(frozen=True)
class InstalledFile:
    """One file of the bundle in the app: where it went, its size, and its size inside an APK."""

    path: str  # relative to the assets folder, e.g. models/digits/digits.tflite
    size_bytes: int
    apk_bytes: int  # zip entry cost: local header + data (stored or deflated) + central directory entry
    stored: bool  # True when kept uncompressed in the APK (.tflite, and images the packager never deflates)
    changed: bool


@dataclass
class InstallReport:
    bundle: str
    version: str
    app: str
    assets_dir: str
    destination: str
    files: list[InstalledFile] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    index_path: str = ""
    index_changed: bool = False
    no_compress: str = ""  # "present", "added"
    gradle_file: str = ""
    apk_bytes: int = 0

    @property
    def changed(self) -> bool:
        return self.index_changed or self.no_compress == "added" or bool(self.removed) or any(f.changed for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed"] = self.changed
        data["size_bytes"] = sum(f.size_bytes for f in self.files)
        return data


def install_bundle(dist: str | Path, app: str | Path, module: str = "app") -> InstallReport:
    """Install the bundle at `dist` into the Android app at `app`; see the module docstring.

    Everything is checked first (the manifest, golden files, the model loaded in LiteRT's isolated
    worker, the index, the build file, no symbolic link on the way into the app's assets). The
    bundle's folder is then staged beside its destination with the new index and build file
    written to temporary names, and only renames remain: a full disk or any failure before them
    leaves the app as it was, nothing half-installed, no Gradle edit."""
    dist = Path(dist)
    _check_name_before_loading(dist)
    ref = reader.load_bundle(dist)
    name = ref.name
    module_dir = _module_dir(Path(app), module)
    assets = module_dir / "src" / "main" / "assets"
    models = assets / "models"
    link = linked_component(module_dir, Path("src", "main", "assets", "models", name))
    if link is None and (models / name).is_dir():
        link = next((p for p in (models / name).rglob("*") if p.is_symlink()), None)
    if link is not None:
        raise PackagerError(f"{link} is a symbolic link; `packager bundle` writes only into the app's own folders, never through a link",
                            "replace the link by a plain folder (or remove it) and run again")
    destination = _inside(models, name)

    index_path = models / INDEX_NAME
    read_index(index_path)  # a broken index stops us before anything is written
    _check_model(ref)
    gradle_file, no_compress, gradle_text = plan_no_compress(module_dir)
    report = InstallReport(bundle=name, version=ref.manifest.version, app=str(app), assets_dir=str(assets),
                           destination=str(destination), gradle_file=str(gradle_file), no_compress=no_compress)

    wanted = app_files(ref.manifest)
    sources = {}
    for relative in wanted:
        source = _inside(ref.path.resolve(), relative, what=f"bundle file {relative}")
        data = _read_regular(source)
        target = destination / relative
        changed = not (target.is_file() and sha256_file(target) == sha256_bytes(data))
        sources[relative] = (data, changed)
        stored = relative.lower().endswith(STORED_SUFFIXES)
        report.files.append(InstalledFile(f"models/{name}/{relative}", len(data), _zip_entry_cost(f"assets/models/{name}/{relative}", data, stored), stored, changed))
    report.removed = _stale(destination, set(wanted))
    report.apk_bytes = sum(f.apk_bytes for f in report.files)
    report.index_path = str(index_path)
    index_data = _index_bytes(index_path, models, ref.manifest, sum(f.size_bytes for f in report.files), name)
    report.index_changed = not (index_path.is_file() and index_path.read_bytes() == index_data)
    if not report.changed:
        return report  # idempotent: not one byte or mtime changes
    try:
        _commit(models, destination, sources, index_path if report.index_changed else None, index_data,
                gradle_file if gradle_text is not None else None, gradle_text)
    except OSError as exc:
        raise _install_error(app, exc) from None
    return report


def _read_regular(path: Path) -> bytes:
    with open_regular(path) as fh:
        return fh.read()


def _install_error(app: str | Path, exc: OSError) -> PackagerError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PackagerError(f"the disk is full: cannot install into {app} ({exc.strerror})",
                             "free space and run again; the app is unchanged")
    if exc.errno == errno.EROFS:
        return PackagerError(f"{app} is on a read-only file system ({exc.strerror})", "install into a writable copy of the app; it is unchanged")
    return PackagerError(f"cannot install into {app} ({exc.strerror or exc})", "check the app folder's permissions and space; it is unchanged")


def _commit(models: Path, destination: Path, sources: dict[str, tuple[bytes, bool]], index_path: Path | None, index_data: bytes,
            gradle: Path | None, gradle_text: str | None) -> None:
    """Stage, then rename: the bundle folder in a temporary sibling (unchanged files hard-linked, so
    they keep their mtime), the index and the build file under temporary names. Failing before the
    renames removes what was staged and any folder created here."""
    created = []
    for folder in (models.parent, models):
        if not folder.exists():
            created.append(folder)
    models.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=models))
    temporaries: list[tuple[Path, Path]] = []
    try:
        for relative, (data, changed) in sources.items():
            target, old = staging / relative, destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if not changed:
                try:
                    os.link(old, target, follow_symlinks=False)
                    continue
                except OSError:
                    pass  # e.g. a file system without hard links: copy it
            target.write_bytes(data)
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it 0700; an asset folder is a normal folder
        if index_path is not None:
            temporaries.append((_write_temporary(index_path, index_data), index_path))
        if gradle is not None and gradle_text is not None:  # given together
            temporaries.append((_write_temporary(gradle, gradle_text.encode("utf-8")), gradle))
        replace_folder(staging, destination)
        for temporary, final in temporaries:
            os.replace(temporary, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for temporary, _ in temporaries:
            temporary.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _write_temporary(path: Path, data: bytes) -> Path:
    """`data` written and synced under a temporary name beside `path` (same folder: the rename is atomic)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def check_bundle(dist: str | Path) -> reader.BundleRef:
    """`packager bundle`'s checks without an app: a safe name, a valid manifest, every file present,
    and the model the manifest describes. For whoever ships a bundle elsewhere (a device farm package)."""
    dist = Path(dist)
    _check_name_before_loading(dist)
    ref = reader.load_bundle(dist)
    _check_model(ref)
    return ref


def _check_model(ref: reader.BundleRef) -> None:
    """The app must get the model the manifest describes: the same bytes (sha256) and a readable
    .tflite with the manifest's inputs and outputs; anything else would install and fail on the phone."""

    try:  # hashed first, streaming: a changed model (junk appended, a byte flipped) is named as such
        changed = sha256_file(ref.model_path) != ref.manifest.model.sha256
    except OSError:
        changed = False  # read_model_file says what is wrong with the path
    data = b"" if changed else flatbuffer.read_model_file(ref.model_path)
    if changed or sha256_bytes(data) != ref.manifest.model.sha256:
        raise PackagerError(f"{ref.model_path} does not match its manifest (sha256 differs): the bundle was changed after it was built",
                            "rebuild the bundle with `packager build`")
    graph = flatbuffer.parse_graph(data, what=str(ref.model_path))
    if (len(graph.inputs), len(graph.outputs)) != (len(ref.manifest.inputs), len(ref.manifest.outputs)):
        raise PackagerError(f"{ref.model_path} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs, its manifest "
                            f"{len(ref.manifest.inputs)} and {len(ref.manifest.outputs)}", "rebuild the bundle with `packager build`")
    # loaded, prepared and run once in LiteRT's isolated worker: a model that crashes LiteRT or
    # cannot be prepared would install and fail on the phone (LiteRTCrash is one line here too)
    result = isolation.probe(data, str(ref.model_path))
    problem = result.load_error or result.allocate_error or result.run_error
    if problem is not None:
        raise PackagerError(f"{ref.model_path} does not load and run in LiteRT ({' '.join(problem.split())[:200]})",
                            "rebuild the bundle with `packager build`")


def app_files(manifest: Manifest) -> list[str]:
    """The bundle files the app needs (reports stay on the host), relative to the bundle folder."""
    golden = manifest.golden
    files = [manifest.model.file, "manifest.json"]
    if manifest.labels.file:
        files.append(manifest.labels.file)
    files += [g.file for g in golden.inputs] + [g.file for g in golden.outputs] + list(golden.images)
    return list(dict.fromkeys(files))


def ensure_no_compress(module_dir: Path) -> tuple[Path, str]:
    """Make sure the module's build file keeps .tflite uncompressed; returns (file, "present"|"added")."""
    gradle, status, text = plan_no_compress(module_dir)
    if text is not None:
        write_atomic(gradle, text.encode("utf-8"))
    return gradle, status


def plan_no_compress(module_dir: Path) -> tuple[Path, str, str | None]:
    """(build file, "present"|"added", its new text when the noCompress line must be added)."""
    gradle = next((module_dir / n for n in GRADLE_FILES if (module_dir / n).is_file()), None)
    if gradle is None:
        raise PackagerError(f"{module_dir} has no build.gradle.kts or build.gradle", "point --app at an Android Studio project")
    try:
        with open_regular(gradle) as fh:
            text = fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackagerError(f"cannot read {gradle} ({exc})", "check the app's build file") from None
    if NO_COMPRESS_LINE.search(_strip_comments(text)):
        return gradle, "present", None
    match = re.search(r"^android\s*\{[^\n]*\n", text, flags=re.MULTILINE)
    if match is None:
        raise PackagerError(
            f"{gradle} has no top-level android {{ }} block, so .tflite files may be compressed in the APK",
            'add androidResources { noCompress += "tflite" } to its android block',
        )
    kotlin_dsl = gradle.name.endswith(".kts")
    quote = '"' if kotlin_dsl else "'"
    block = f"    // Added by `packager bundle`: LiteRT memory-maps models, so they must stay uncompressed.\n" \
            f"    androidResources {{\n        noCompress += {quote}tflite{quote}\n    }}\n\n"
    return gradle, "added", text[: match.end()] + block + text[match.end():]


def read_index(index_path: Path) -> dict[str, Any]:
    """assets/models/index.json, or an empty index when there is none yet."""
    if not index_path.is_file():
        return {"schema_version": INDEX_SCHEMA_VERSION, "bundles": []}
    try:
        data = read_json(index_path)
    except (OSError, DocumentError) as exc:
        raise PackagerError(f"{index_path} cannot be read as JSON ({exc})", "delete it; `packager bundle` writes a new one") from None
    if not isinstance(data, dict) or data.get("schema_version") != INDEX_SCHEMA_VERSION or not isinstance(data.get("bundles"), list):
        raise PackagerError(f"{index_path} is not a bundle index (version {INDEX_SCHEMA_VERSION})", "delete it; `packager bundle` writes a new one")
    return data


# --- helpers ------------------------------------------------------------------------------------

def _check_name_before_loading(dist: Path) -> None:
    """A clearer error than the schema's for the one field that decides where files are written."""
    try:
        manifest = read_json(dist / "manifest.json")
    except (OSError, ValueError):
        return  # load_bundle explains what is wrong with the folder
    if not isinstance(manifest, dict):
        return  # the same
    name = manifest.get("name")
    if isinstance(name, str) and not (BUNDLE_NAME.match(name) and ".." not in name):
        raise PackagerError(f"bundle name {name!r} is not a safe folder name and could escape the app's assets folder",
                            "rebuild the bundle with a name of letters, digits, '_', '.' and '-'")


def _module_dir(app: Path, module: str) -> Path:
    if not app.is_dir():
        raise PackagerError(f"app folder {app} does not exist", "pass --app with the Android Studio project (for example android_app)")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", module):
        raise PackagerError(f"module name {module!r} is not a plain folder name", "pass --module app")
    module_dir = app / module
    if not (module_dir / "src" / "main" / "AndroidManifest.xml").is_file():
        raise PackagerError(f"{app} is not an Android app: {module}/src/main/AndroidManifest.xml is missing",
                            "pass --app with an Android Studio project (and --module if the app module is not 'app')")
    return module_dir


def _inside(root: Path, relative: str, what: str = "bundle name") -> Path:
    """root/relative, refusing anything that resolves outside root (.., absolute paths, symlinks)."""
    root_resolved = root.resolve()
    target = (root / relative).resolve()
    if target == root_resolved or root_resolved not in target.parents:
        raise PackagerError(f"{what} {relative!r} would leave {root}", "rebuild the bundle with safe names")
    return root / relative


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", "", text)


def _zip_entry_cost(name: str, data: bytes, stored: bool) -> int:
    """Size of one entry in a zip: what a file adds to an APK (alignment padding of a few bytes aside)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name, date_time=(1981, 1, 1, 1, 1, 2))
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        archive.writestr(info, data, compresslevel=None if stored else 6)  # zlib's default level
    return buffer.tell() - 22  # minus the end-of-central-directory record every zip has once


def _stale(destination: Path, wanted: set[str]) -> list[str]:
    """Files of an earlier install of this bundle that the new one does not have (they go with the
    old folder when the staged one replaces it)."""
    if not destination.is_dir():
        return []
    return [p.relative_to(destination).as_posix() for p in sorted(destination.rglob("*"), reverse=True)
            if (p.is_file() or p.is_symlink()) and p.relative_to(destination).as_posix() not in wanted]


def _index_bytes(index_path: Path, models: Path, manifest: Manifest, size_bytes: int, name: str) -> bytes:
    """The index with this bundle's entry added or replaced; entries whose folder is gone dropped."""
    index = read_index(index_path)
    folder = f"models/{name}"
    entry = {
        "name": name,
        "version": manifest.version,
        "task": manifest.task,
        "folder": folder,
        "manifest": f"{folder}/manifest.json",
        "model": f"{folder}/{manifest.model.file}",
        "model_sha256": manifest.model.sha256,
        "size_bytes": size_bytes,
    }
    kept = [b for b in index["bundles"]
            if isinstance(b, dict) and b.get("name") != name and isinstance(b.get("name"), str)
            and BUNDLE_NAME.match(b["name"]) and (models / b["name"] / "manifest.json").is_file()]
    index = {"schema_version": INDEX_SCHEMA_VERSION, "bundles": sorted([*kept, entry], key=lambda b: b["name"])}
    return (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8")
