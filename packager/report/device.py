"""Device results for the report: kept in <bundle>/device/ and read back as typed values.

`packager device bench --out` and the pytest plugin write results JSON valid against
packager/schemas/device-results.schema.json; it is parsed once, by
packager.manifest.DeviceResults, and the report reads its `DeviceRun` and `ApkInfo` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packager.errors import PackagerError
from packager.fileio import DocumentError, own_folder, read_json, sha256_bytes, write_atomic
from packager.manifest import ApkInfo, DeviceResults, DeviceRun

DEVICE_FOLDER = "device"
# A session of a few hundred runs with their latencies is a few MB; parsing JSON numbers costs about
# 30 bytes of memory and a microsecond and a half each, so 5 million latencies (20 MB) took 7.5 s and
# 600 MB before the latency bound (manifest.MAX_RUN_LATENCIES) could refuse them.
MAX_RESULTS_FILE_BYTES = 16 << 20


@dataclass
class DeviceData:
    runs: list[DeviceRun]
    apks: list[ApkInfo]
    files: list[str]
    superseded: int = 0  # older runs of the same device x bundle x accelerator left out


def read_results_file(path: Path) -> DeviceResults:
    """Read and validate one results file; PackagerError when it is not one."""
    try:
        data = read_json(path, MAX_RESULTS_FILE_BYTES)
    except FileNotFoundError:
        raise PackagerError(f"device results file {path} does not exist", "check the --device-results path") from None
    except (OSError, DocumentError) as exc:
        raise PackagerError(f"cannot read device results {path} ({exc})", "pass a file written by `packager device bench --out`") from None
    if not isinstance(data, dict):
        raise PackagerError(f"{path} is not a device results file (a JSON object is expected)", "pass a file written by `packager device bench --out`")
    return DeviceResults.from_dict(data, what=f"device results {path}")


def is_run_of(run: DeviceRun, name: str, sha256: str) -> bool:
    return run.bundle_sha256 == sha256 or run.bundle == name


# --- kept results -------------------------------------------------------------------------------------------
def keep(bundle_dir: Path, results: DeviceResults, origin: Path) -> tuple[Path, bool]:
    """Copy validated results into <bundle>/device/ (atomically, named by content so merging the
    same file twice keeps one copy). Returns (path, newly written)."""
    folder = Path(bundle_dir) / DEVICE_FOLDER
    text = results.to_json()
    target = folder / f"{Path(origin).stem}-{sha256_bytes(text.encode())[:10]}.json"
    if target.is_file() and not folder.is_symlink():
        return target, False
    try:
        own_folder(folder)  # a device/ that is a symbolic link is refused, never written through
        write_atomic(target, text)
    except OSError as exc:
        raise PackagerError(f"cannot write into {folder} ({exc.strerror or exc})", "check the bundle folder's permissions") from None
    return target, True


def load_kept(bundle_dir: Path | None, name: str, sha256: str) -> DeviceData | None:
    """Every run kept in <bundle>/device/: this bundle's first, then older builds and other bundles
    measured in the same sessions. The newest run of each device x bundle x accelerator wins."""
    folder = None if bundle_dir is None else Path(bundle_dir) / DEVICE_FOLDER
    if folder is None or not folder.is_dir() or folder.is_symlink():
        return None  # a linked device/ is not the bundle's: `keep` refuses to write through it
    documents = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = read_json(path)
        except (OSError, DocumentError) as exc:
            raise PackagerError(f"kept device results {path} cannot be read ({exc})", "delete it and merge the results again") from None
        documents.append((path.name, DeviceResults.from_dict(data, what=str(path))))
    documents.sort(key=lambda d: (d[1].created, d[0]))
    latest: dict[tuple, DeviceRun] = {}
    apks: dict[tuple[str, str], ApkInfo] = {}
    total = 0
    for _, results in documents:
        total += len(results.runs)
        for run in results.runs:
            latest[(run.device.serial, run.bundle_sha256, run.accelerator_requested, run.runner, run.threads)] = run
        for apk in results.apks:
            apks[(apk.serial, apk.package)] = apk
    if not latest:
        return None

    def order(run: DeviceRun) -> tuple:
        kind = 0 if run.bundle_sha256 == sha256 else (1 if run.bundle == name else 2)
        return kind, run.bundle, run.device.serial

    runs = sorted(latest.values(), key=order)  # stable: accelerators keep their measured order
    serials = {r.device.serial for r in runs}
    return DeviceData(runs, [a for a in apks.values() if a.serial in serials], [d[0] for d in documents], total - len(runs))
