"""Writing a bundle (docs/CONTRACTS.md, contract 1) atomically.

dist/<name>/ is assembled in a temporary sibling folder and renamed into place only when every
file is written and the manifest validates, so a failed build never leaves a half-written bundle.
"""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from packager.errors import PackagerError
from packager.fileio import current_umask, replace_folder, sha256_bytes
from packager.manifest import Golden, GoldenBudget, GoldenFile, Manifest, ModelFile, Tensor


@dataclass
class BundleFiles:
    """Everything that goes into dist/<name>/ besides the manifest."""

    name: str
    model: bytes
    labels: list[str]
    golden_inputs: list[np.ndarray]
    golden_outputs: list[np.ndarray]
    golden_images: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, bytes)
    golden_budget: GoldenBudget | None = None  # packager.build.golden: the budget and what was stored
    golden_float_masks: np.ndarray | None = None  # a segmenter: the float model's masks of the golden samples
    reports: dict[str, str] = field(default_factory=dict)  # file name -> text


def check_writable(output: Path) -> list[Path]:
    """Fail before any heavy work when the output folder cannot be written. Returns the folders it
    had to create (outermost first), for `remove_created` when the build fails later."""
    created: list[Path] = []
    missing = Path(output).absolute()
    while not missing.exists() and missing.parent != missing:
        created.insert(0, missing)
        missing = missing.parent
    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PackagerError(f"output folder {output} cannot be written ({exc.strerror or exc})", "choose another folder with --output") from None
    return created


def remove_created(created: list[Path]) -> None:
    """A failed build leaves the output folder as it found it: folders it created go, if still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


# A build writes its staging folder in seconds (the bundle's files are all in memory by then); one
# older than this was left by a build that was killed (SIGKILL, power loss) and is never finished.
STALE_STAGING_S = 15 * 60
# tempfile.mkdtemp's random part, and the swap-out names of _replace_folder
_STAGING = re.compile(r"\.(?P<name>.+)\.(?:[a-z0-9_]{8}\.partial|[0-9a-f]{8}\.old)")


def remove_stale_staging(output: Path, name: str, now: float | None = None) -> list[Path]:
    """Remove `.<name>.<random>.partial/` and `.<name>.<hex>.old/` folders older than
    STALE_STAGING_S: ours by name, left by killed builds of this bundle. Returns what went."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(Path(output).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING.fullmatch(entry.name)
        if not match or match["name"] != name:
            continue
        try:
            if entry.is_symlink() or not entry.is_dir() or now - entry.stat().st_mtime < STALE_STAGING_S:
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


LABELS_FILE = "labels.txt"
FLOAT_MASKS_FILE = "golden/float_masks.npy"  # a segmenter's float masks of the golden samples (the report draws them)


def _golden_name(kind: str, k: int) -> str:
    return f"golden/{kind}_{k}.npy"


def describe_files(files: BundleFiles, inputs: list[Tensor], outputs: list[Tensor]) -> tuple[ModelFile, str | None, Golden]:
    """The manifest's entries for the files of a bundle (model, labels file, golden files), as
    `write_bundle` lays them out."""
    golden = {}
    for kind, arrays, tensors in (("input", files.golden_inputs, inputs), ("output", files.golden_outputs, outputs)):
        golden[kind] = [GoldenFile(file=_golden_name(kind, k), tensor=t.name, index=t.index, dtype=a.dtype.name, shape=list(a.shape))
                        for k, (a, t) in enumerate(zip(arrays, tensors))]
    model = ModelFile(file=f"{files.name}.tflite", sha256=sha256_bytes(files.model), size_bytes=len(files.model))
    images = [f"golden/images/{name}" for name, _ in files.golden_images]
    float_masks = FLOAT_MASKS_FILE if files.golden_float_masks is not None else None
    return model, (LABELS_FILE if files.labels else None), Golden(count=int(files.golden_inputs[0].shape[0]), inputs=golden["input"],
                                                                 outputs=golden["output"], images=images, budget=files.golden_budget,
                                                                 float_masks=float_masks)


def write_bundle(output: Path, files: BundleFiles, manifest: Manifest, render_reports=None) -> Path:
    """Write dist/<name>/ atomically and return its path.

    The manifest's file entries must be those of `files` (`describe_files`); `render_reports`,
    if given, is called with (manifest, staging folder) and returns {file name: text}, the files
    the manifest's `reports` lists.
    """
    model_file, labels_file, golden = describe_files(files, manifest.inputs, manifest.outputs)
    if (manifest.name, manifest.model, manifest.labels.file, manifest.golden) != (files.name, model_file, labels_file, golden):
        raise ValueError("the manifest's name and file entries are not those of the bundle's files (see bundle.describe_files)")
    final = output / files.name
    remove_stale_staging(output, files.name)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{files.name}.", suffix=".partial", dir=output))
    except OSError as exc:
        raise _write_error(final, exc) from None
    try:
        (staging / model_file.file).write_bytes(files.model)
        if files.labels:  # no empty labels.txt: the manifest then says labels.file = null
            (staging / LABELS_FILE).write_text("".join(f"{label}\n" for label in files.labels), encoding="utf-8")
        (staging / "golden").mkdir()
        for entry, array in zip([*golden.inputs, *golden.outputs], [*files.golden_inputs, *files.golden_outputs]):
            (staging / entry.file).write_bytes(_npy_bytes(array))
        if golden.float_masks is not None and files.golden_float_masks is not None:  # named when there are masks
            (staging / golden.float_masks).write_bytes(_npy_bytes(files.golden_float_masks))
        if files.golden_images:
            (staging / "golden" / "images").mkdir()
            for (_, data), image_file in zip(files.golden_images, golden.images):
                (staging / image_file).write_bytes(data)
        reports = dict(files.reports)
        if render_reports is not None:
            reports.update(render_reports(manifest, staging))
        listed = {Path(n).suffix.lstrip(".") or n: n for n in reports} or None
        if listed != manifest.reports:
            raise ValueError(f"the manifest lists the reports {manifest.reports}, but {listed} were rendered")
        text = manifest.to_json()  # validated against the schema
        (staging / "manifest.json").write_text(text, encoding="utf-8")
        for report_name, report_text in reports.items():
            (staging / report_name).write_text(report_text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it 0700; a bundle is a normal folder
        _replace_folder(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(final, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_error(final: Path, exc: OSError) -> PackagerError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PackagerError(f"the disk is full: cannot write the bundle {final} ({exc.strerror})",
                             f"free space on {final.parent} or choose another folder with --output; the previous bundle, if any, is unchanged")
    return PackagerError(f"cannot write the bundle {final} ({exc.strerror or exc})",
                         "check the output folder (permissions, space) or choose another with --output; the previous bundle, if any, is unchanged")



# Kept under its old name: tests and callers swap folders through it.
_replace_folder = replace_folder
