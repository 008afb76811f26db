"""The device kit as its own wheel, `android-model-packager-device`, built from this package's files.

A farm host runs the kit's pytest plugin against its handset; it needs neither TensorFlow nor
LiteRT (hundreds of MB). `pip install android-model-packager` stays complete (README: it gives
`packager build`), so the light install is a second distribution of the same source tree rather
than an extra of the first: the modules in DEVICE_MODULES (tests/device/test_farm.py checks they
are closed under imports, deferred ones included, and that a venv holding only this wheel imports
them while `import tensorflow` fails), the schemas, the `packager` command and the pytest11 entry
point. The two distributions hold the same `packager` package: install one or the other.

The wheel is written directly (PEP 427: a zip with the files, METADATA, WHEEL, entry_points.txt
and RECORD), with fixed timestamps, so the same sources give the same bytes and nothing has to
be fetched to build it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from importlib import metadata
from pathlib import Path

import packager
from packager.errors import PackagerError

DISTRIBUTION = "android-model-packager-device"
# what the device side imports (the kit, the plugin, the report, the CLI's device and report commands)
DEVICE_MODULES = (
    "packager", "packager.cli", "packager.errors", "packager.fileio", "packager.manifest", "packager.progress", "packager.quiet",
    "packager.schemas", "packager.text", "packager.pytest_plugin",
    "packager.commands", "packager.commands.common", "packager.commands.device", "packager.commands.device_farm", "packager.commands.report",
    "packager.bundle", "packager.bundle.reader",
    "packager.data", "packager.data.arrays", "packager.data.dataset", "packager.data.preprocess",
    "packager.segmentation", "packager.segmentation.masks",
    "packager.detection", "packager.detection.anchors", "packager.detection.decode", "packager.detection.draw", "packager.detection.metrics",
    "packager.device", "packager.device.apk", "packager.device.bench", "packager.device.budgets", "packager.device.cleanup",
    "packager.device.contract", "packager.device.handset", "packager.device.results", "packager.device.runner", "packager.device.transport",
    "packager.device.farm", "packager.device.farm.aws", "packager.device.farm.firebase", "packager.device.farm.kit_wheel",
    "packager.report", "packager.report.content", "packager.report.device", "packager.report.document", "packager.report.fleet",
    "packager.report.plots", "packager.report.regenerate",
)
# imported by modules above only for what needs the full install (writing a farm package checks each
# bundle's model with packager.tflite), which says so when it is missing
FULL_INSTALL_ONLY = ("packager.bundle.install",)
# the full distribution's requirements the device side needs (their bounds are read from it)
DEVICE_REQUIREMENTS = ("numpy", "click", "rich", "jsonschema", "matplotlib", "pillow", "adb-shell", "adbutils", "libusb-package", "libusb1",
                       "cryptography", "pytest", "pytest-xdist")
TAG = "py3-none-any"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements() -> list[str]:
    """The device side's requirements with the full distribution's bounds (the [pytest] extra's
    pytest and pytest-xdist become plain requirements: the plugin is the point of this wheel)."""
    try:
        declared = metadata.requires(packager.DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise PackagerError(f"{packager.DISTRIBUTION} is not installed here, so the device kit's requirements are unknown",
                            "run this from an installed android-model-packager (pip install, or uv sync in a checkout)") from None
    chosen: dict[str, str] = {}
    for line in declared:
        spec = line.split(";")[0].strip()
        name = _name(spec)
        if name in DEVICE_REQUIREMENTS:
            chosen.setdefault(name, spec)
    missing = [n for n in DEVICE_REQUIREMENTS if n not in chosen]
    if missing:
        raise PackagerError(f"{packager.DISTRIBUTION}'s metadata does not declare {', '.join(missing)}", "reinstall android-model-packager")
    return [chosen[n] for n in DEVICE_REQUIREMENTS]


def module_file(module: str) -> Path:
    root = Path(packager.__file__).resolve().parent
    parts = module.split(".")[1:]
    package = root.joinpath(*parts, "__init__.py")
    return package if package.is_file() else root.joinpath(*parts[:-1], f"{parts[-1]}.py") if parts else root / "__init__.py"


def _files() -> list[tuple[str, bytes]]:
    root = Path(packager.__file__).resolve().parent
    out = []
    for module in DEVICE_MODULES:
        path = module_file(module)
        out.append((path.relative_to(root.parent).as_posix(), path.read_bytes()))
    for schema in sorted((root / "schemas").glob("*.schema.json")):
        out.append((schema.relative_to(root.parent).as_posix(), schema.read_bytes()))
    return out


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_name(version: str) -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-{TAG}.whl"


def build(out_dir: Path) -> Path:
    """Write the device kit's wheel into out_dir; returns its path."""
    version = packager.__version__
    reqs = requirements()
    dist_info = f"{DISTRIBUTION.replace('-', '_')}-{version}.dist-info"
    meta = "\n".join([
        "Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {version}",
        "Summary: The device kit of android-model-packager alone: ADB, benchmark bundles on handsets, the pytest plugin, reports "
        "(no TensorFlow, no LiteRT)",
        "Requires-Python: >=3.11", "License: Apache-2.0", *(f"Requires-Dist: {r}" for r in reqs), "",
    ])
    files = [*_files(),
             (f"{dist_info}/METADATA", meta.encode()),
             (f"{dist_info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: packager.device.farm.kit_wheel\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode()),
             (f"{dist_info}/entry_points.txt", b"[console_scripts]\npackager = packager.cli:entry\n\n[pytest11]\npackager = packager.pytest_plugin\n"),
             (f"{dist_info}/top_level.txt", b"packager\n")]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files) + f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel_name(version)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    partial.replace(target)
    return target
