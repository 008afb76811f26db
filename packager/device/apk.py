"""What an APK is made of: compressed bytes by category, and the model's share.

On a handset the kit reads only the end of each installed APK: a zip's central directory (names
and compressed sizes of every entry) sits at its end, so a few hundred kB tell the make-up of an
APK of any size, where pulling the whole file costs seconds over USB.
"""

from __future__ import annotations

import posixpath
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from packager.errors import PackagerError
from packager.manifest import ApkBreakdown

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.handset import Handset

MODEL_SUFFIXES = (".tflite", ".litertlm", ".task")
END_RECORD = b"PK\x05\x06"  # end of central directory: 22 bytes + a comment of up to 64 KiB
FIRST_READ = 256 * 1024  # the directory of a typical APK fits; a larger one costs a second read


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


def _tally(archive: zipfile.ZipFile, name: str, total_bytes: int) -> ApkBreakdown:
    """Bytes each entry occupies (compressed size plus its local header), from the directory alone."""
    result = ApkBreakdown(file=name, total_bytes=total_bytes)
    for info in archive.infolist():
        size = info.compress_size + 30 + len(info.filename.encode()) + len(info.extra)
        kind = category(info.filename)
        result.categories[kind] += size
        if kind == "native":
            abi = info.filename.split("/")[1]
            result.native_by_abi[abi] = result.native_by_abi.get(abi, 0) + size
        if kind == "models":
            result.model_bytes += size
    result.model_share = result.model_bytes / total_bytes if total_bytes else 0.0
    return result


def _open(source: Path | IO[bytes], what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackagerError(f"{what} is not an APK ({exc})", "pass the .apk file the build produced") from None


def breakdown(apk: Path) -> ApkBreakdown:
    """The make-up of an APK file on this computer."""
    apk = Path(apk)
    with _open(apk, str(apk)) as archive:
        return _tally(archive, apk.name, apk.stat().st_size)


def directory_start(tail: bytes, total_bytes: int) -> int:
    """Offset of the central directory, from the archive's last bytes (its end record)."""
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < 22:
        raise PackagerError("the file on the device is not an APK (no zip end record)", "reinstall the app")
    size, offset = struct.unpack_from("<II", tail, at + 12)
    if offset == 0xFFFFFFFF:  # zip64 (over 4 GiB, not an APK in practice): read it all
        return 0
    return min(offset, total_bytes - (len(tail) - at) - size)


def breakdown_from_tail(tail: bytes, total_bytes: int, name: str) -> ApkBreakdown:
    """The make-up of an APK from its last bytes (which must hold the whole central directory):
    they go at their place in a sparse file of the APK's size, which zipfile reads as the APK."""
    with tempfile.TemporaryFile() as sparse:
        sparse.truncate(total_bytes)
        sparse.seek(total_bytes - len(tail))
        sparse.write(tail)
        sparse.seek(0)
        with _open(sparse, name) as archive:
            return _tally(archive, name, total_bytes)


def installed_breakdown(handset: Handset, paths: list[str], sizes: list[int]) -> ApkBreakdown:
    """The make-up of an installed app (base APK and its splits, summed), reading each APK's end
    on the device (`tail -c`) rather than pulling it."""
    parts = []
    for path, size in zip(paths, sizes):
        tail = handset.read_tail(path, min(size, FIRST_READ))
        start = directory_start(tail, size)
        if size - start > len(tail):  # a large directory: read exactly as far back as it starts
            tail = handset.read_tail(path, size - start)
        parts.append(breakdown_from_tail(tail, size, posixpath.basename(path)))
    return merge(parts)


def merge(parts: list[ApkBreakdown]) -> ApkBreakdown:
    """One breakdown for an app installed as several APKs (base + config splits)."""
    if len(parts) == 1:
        return parts[0]
    total = ApkBreakdown(file=" + ".join(p.file for p in parts), total_bytes=sum(p.total_bytes for p in parts))
    for part in parts:
        for kind, size in part.categories.items():
            total.categories[kind] += size
        for abi, size in part.native_by_abi.items():
            total.native_by_abi[abi] = total.native_by_abi.get(abi, 0) + size
        total.model_bytes += part.model_bytes
    total.model_share = total.model_bytes / total.total_bytes if total.total_bytes else 0.0
    return total
