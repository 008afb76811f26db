"""What an APK is made of: compressed bytes by category, and the model's share."""

from __future__ import annotations

import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packager.errors import PackagerError

MODEL_SUFFIXES = (".tflite", ".litertlm", ".task")


@dataclass
class ApkBreakdown:
    file: str
    total_bytes: int
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("dex", "native", "models", "assets", "resources", "other"), 0))
    native_by_abi: dict[str, int] = field(default_factory=dict)
    model_bytes: int = 0
    model_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def category(name: str) -> str:
    if name.endswith(".dex"):
        return "dex"
    if name.startswith("lib/") and name.endswith(".so"):
        return "native"
    if name.startswith("assets/"):
        return "models" if name.endswith(MODEL_SUFFIXES) else "assets"
    if name.startswith("res/") or name == "resources.arsc":
        return "resources"
    return "other"


def breakdown(apk: Path) -> ApkBreakdown:
    """Bytes each entry occupies in the APK (its compressed size plus its local header)."""
    apk = Path(apk)
    try:
        archive = zipfile.ZipFile(apk)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackagerError(f"{apk} is not an APK ({exc})", "pass the .apk file the build produced") from None
    result = ApkBreakdown(apk.name, apk.stat().st_size)
    with archive:
        for info in archive.infolist():
            size = info.compress_size + 30 + len(info.filename.encode()) + len(info.extra)
            kind = category(info.filename)
            result.categories[kind] += size
            if kind == "native":
                abi = info.filename.split("/")[1]
                result.native_by_abi[abi] = result.native_by_abi.get(abi, 0) + size
            if kind == "models":
                result.model_bytes += size
    result.model_share = result.model_bytes / result.total_bytes if result.total_bytes else 0.0
    return result
