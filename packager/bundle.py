"""Writing a bundle (docs/CONTRACTS.md, contract 1) atomically.

dist/<name>/ is assembled in a temporary sibling folder and renamed into place only when every
file is written and the manifest validates, so a failed build never leaves a half-written bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from packager import schemas
from packager.errors import PackagerError
from packager.fileio import sha256_bytes


@dataclass
class BundleFiles:
    """Everything that goes into dist/<name>/ besides the manifest."""

    name: str
    model: bytes
    labels: list[str]
    golden_inputs: list[np.ndarray]
    golden_outputs: list[np.ndarray]
    golden_images: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, bytes)
    reports: dict[str, str] = field(default_factory=dict)  # file name -> text


def check_writable(output: Path) -> None:
    """Fail before any heavy work when the output folder cannot be written."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PackagerError(f"output folder {output} cannot be written ({exc.strerror or exc})", "choose another folder with --output") from None


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_bundle(output: Path, files: BundleFiles, manifest: dict[str, Any], render_reports=None) -> Path:
    """Write dist/<name>/ atomically and return its path.

    `manifest` gets its file entries (model, labels, golden) filled in here; `render_reports`,
    if given, is called with (manifest, staging folder) and returns {file name: text}.
    """
    final = output / files.name
    staging = Path(tempfile.mkdtemp(prefix=f".{files.name}.", suffix=".partial", dir=output))
    try:
        model_file = f"{files.name}.tflite"
        (staging / model_file).write_bytes(files.model)
        if files.labels:  # no empty labels.txt: the manifest then says labels.file = null
            (staging / "labels.txt").write_text("".join(f"{label}\n" for label in files.labels), encoding="utf-8")
        golden = staging / "golden"
        golden.mkdir()
        inputs, outputs = [], []
        for kind, arrays, entries, tensors in (
            ("input", files.golden_inputs, inputs, manifest["inputs"]),
            ("output", files.golden_outputs, outputs, manifest["outputs"]),
        ):
            for k, (array, tensor) in enumerate(zip(arrays, tensors)):
                name = f"golden/{kind}_{k}.npy"
                (staging / name).write_bytes(_npy_bytes(array))
                entries.append({"file": name, "tensor": tensor["name"], "index": tensor["index"], "dtype": array.dtype.name, "shape": list(array.shape)})
        images = []
        if files.golden_images:
            (golden / "images").mkdir()
            for image_name, data in files.golden_images:
                (golden / "images" / image_name).write_bytes(data)
                images.append(f"golden/images/{image_name}")
        manifest["model"] = {"file": model_file, "sha256": sha256_bytes(files.model), "size_bytes": len(files.model)}
        manifest["labels"]["file"] = "labels.txt" if files.labels else None
        manifest["golden"] = {"count": int(files.golden_inputs[0].shape[0]), "inputs": inputs, "outputs": outputs}
        if images:
            manifest["golden"]["images"] = images
        reports = dict(files.reports)
        if render_reports is not None:
            reports.update(render_reports(manifest, staging))
        if reports:
            manifest["reports"] = {Path(n).suffix.lstrip(".") or n: n for n in reports}
        schemas.validate("manifest", manifest, what="the bundle manifest")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        for report_name, text in reports.items():
            (staging / report_name).write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700; a bundle is a normal folder
        _replace_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_folder(staging: Path, final: Path) -> None:
    """Move staging to final; an existing bundle is swapped out, then removed."""
    if final.exists():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(final, old)
        try:
            os.replace(staging, final)
        except OSError:
            os.replace(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
