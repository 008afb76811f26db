"""Device results for the report: kept in <bundle>/device/, read through one small adapter.

`packager device bench --out` and the pytest plugin write results JSON valid against
packager/schemas/device-results.schema.json (packager.device.results). `runs_of` is the only function
that knows that format: it turns a results document into the flat rows the report shows, so a
change of format is matched in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packager.device.results import DeviceProps, Parity
from packager.device.results import LatencyStats as Latency
from packager.errors import PackagerError
from packager.fileio import DocumentError, read_json, sha256_bytes, write_atomic

DEVICE_FOLDER = "device"


@dataclass(frozen=True)
class DeviceRun:
    """One device x bundle x accelerator."""

    device: DeviceProps
    bundle: str
    bundle_sha256: str
    recipe: str
    runner: str
    threads: int
    requested: str
    applied: str | None
    fallback_reason: str | None
    status: str
    errors: tuple[str, ...]
    init_ms: float | None
    first_inference_ms: float | None
    latency: Latency | None
    samples: tuple[float, ...]
    peak_memory_kb: int | None
    parity: Parity | None
    created: str = ""
    delegated_ops: int | None = None
    total_ops: int | None = None
    ops_source: str = "unknown"
    peak_memory_measure: str | None = None

    @property
    def operators(self) -> str:
        """'9 of 12 (delegate_log)', '0 (no delegate)' or 'unknown': how much of the model the accelerator took."""
        if self.ops_source == "unknown" or self.delegated_ops is None:
            return "unknown"
        if self.ops_source == "no_delegate":
            return "0 (no delegate)"
        total = f" of {self.total_ops}" if self.total_ops is not None else ""
        return f"{self.delegated_ops}{total} ({self.ops_source})"

    @property
    def fell_back(self) -> bool:
        return self.applied != self.requested

    @property
    def accelerator(self) -> str:
        """'gpu', or 'gpu → xnnpack' / 'gpu → none' when it did not apply."""
        return self.requested if not self.fell_back else f"{self.requested} → {self.applied or 'none'}"


@dataclass(frozen=True)
class ApkSize:
    serial: str
    package: str
    installed_bytes: int | None
    file: str | None = None
    total_bytes: int | None = None
    categories: dict[str, int] = field(default_factory=dict)
    native_by_abi: dict[str, int] = field(default_factory=dict)
    model_bytes: int | None = None
    model_share: float | None = None


@dataclass
class DeviceData:
    runs: list[DeviceRun]
    apks: list[ApkSize]
    files: list[str]
    superseded: int = 0  # older runs of the same device x bundle x accelerator left out


# --- the adapter ----------------------------------------------------------------------------------------
def runs_of(data: dict[str, Any]) -> tuple[list[DeviceRun], list[ApkSize]]:
    """A validated device-results document -> report rows."""
    runs = []
    for r in data["runs"]:
        d = r["device"]
        device = DeviceProps(
            serial=d.get("serial", "?"), manufacturer=d.get("manufacturer", ""), model=d.get("model", "?"), soc=d.get("soc"),
            abi=d.get("abi", "?"), sdk=d.get("sdk"), android_version=d.get("android_version"), virtual=bool(r.get("virtual") or d.get("virtual")),
        )
        latency = Latency(**r["latency"]) if r.get("latency") else None
        parity = Parity(**r["parity"]) if r.get("parity") else None
        runs.append(DeviceRun(
            device=device, bundle=r["bundle"], bundle_sha256=r["bundle_sha256"], recipe=r.get("recipe", ""), runner=r["runner"],
            threads=r["threads"], requested=r["accelerator_requested"], applied=r["accelerator_applied"],
            fallback_reason=r.get("fallback_reason"), status=r["status"], errors=tuple(r.get("errors") or ()),
            init_ms=r.get("init_ms"), first_inference_ms=r.get("first_inference_ms"), latency=latency,
            samples=tuple(r.get("latencies_ms") or ()), peak_memory_kb=r.get("peak_memory_kb"), parity=parity,
            created=data.get("created", ""), delegated_ops=r.get("delegated_ops"), total_ops=r.get("total_ops"),
            ops_source=r.get("ops_source", "unknown"), peak_memory_measure=r.get("peak_memory_measure"),
        ))
    apks = []
    for a in data["apks"]:
        b = a.get("breakdown") or {}
        apks.append(ApkSize(
            serial=a["serial"], package=a["package"], installed_bytes=a.get("installed_bytes"), file=b.get("file"),
            total_bytes=b.get("total_bytes"), categories=dict(b.get("categories") or {}), native_by_abi=dict(b.get("native_by_abi") or {}),
            model_bytes=b.get("model_bytes"), model_share=b.get("model_share"),
        ))
    return runs, apks


def read_results_file(path: Path) -> dict[str, Any]:
    """Read and validate one results file; PackagerError when it is not one."""
    from packager.device.results import DeviceResults  # noqa: PLC0415 - the device kit owns the format

    try:
        data = read_json(path)
    except FileNotFoundError:
        raise PackagerError(f"device results file {path} does not exist", "check the --device-results path") from None
    except (OSError, DocumentError) as exc:
        raise PackagerError(f"cannot read device results {path} ({exc})", "pass a file written by `packager device bench --out`") from None
    if not isinstance(data, dict):
        raise PackagerError(f"{path} is not a device results file (a JSON object is expected)", "pass a file written by `packager device bench --out`")
    from packager import schemas  # noqa: PLC0415

    schemas.validate("device-results", data, what=f"device results {path}")
    DeviceResults.from_dict(data)  # and it loads as the device kit's own model
    return data


def is_run_of(run: DeviceRun, name: str, sha256: str) -> bool:
    return run.bundle_sha256 == sha256 or run.bundle == name


# --- kept results -------------------------------------------------------------------------------------------
def keep(bundle_dir: Path, data: dict[str, Any], origin: Path) -> tuple[Path, bool]:
    """Copy a validated results document into <bundle>/device/ (atomically, named by content so
    merging the same file twice keeps one copy). Returns (path, newly written)."""
    folder = Path(bundle_dir) / DEVICE_FOLDER
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    target = folder / f"{Path(origin).stem}-{sha256_bytes(text.encode())[:10]}.json"
    if target.is_file():
        return target, False
    try:
        folder.mkdir(exist_ok=True)
        write_atomic(target, text)
    except OSError as exc:
        raise PackagerError(f"cannot write into {folder} ({exc.strerror or exc})", "check the bundle folder's permissions") from None
    return target, True


def load_kept(bundle_dir: Path | None, name: str, sha256: str) -> DeviceData | None:
    """Every run kept in <bundle>/device/: this bundle's first, then older builds and other bundles
    measured in the same sessions. The newest run of each device x bundle x accelerator wins."""
    folder = None if bundle_dir is None else Path(bundle_dir) / DEVICE_FOLDER
    if folder is None or not folder.is_dir():
        return None
    documents = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = read_json(path)
        except (OSError, DocumentError) as exc:
            raise PackagerError(f"kept device results {path} cannot be read ({exc})", "delete it and merge the results again") from None
        from packager import schemas  # noqa: PLC0415

        schemas.validate("device-results", data, what=str(path))
        documents.append((data.get("created", ""), path.name, data))
    documents.sort(key=lambda d: (d[0], d[1]))
    latest: dict[tuple, DeviceRun] = {}
    apks: dict[tuple[str, str], ApkSize] = {}
    total = 0
    for _, _, data in documents:
        runs, sizes = runs_of(data)
        total += len(runs)
        for run in runs:
            latest[(run.device.serial, run.bundle_sha256, run.requested, run.runner, run.threads)] = run
        for apk in sizes:
            apks[(apk.serial, apk.package)] = apk
    if not latest:
        return None

    def order(run: DeviceRun) -> tuple:
        kind = 0 if run.bundle_sha256 == sha256 else (1 if run.bundle == name else 2)
        return kind, run.bundle, run.device.serial

    runs = sorted(latest.values(), key=order)  # stable: accelerators keep their measured order
    serials = {r.device.serial for r in runs}
    return DeviceData(runs, [a for a in apks.values() if a.serial in serials], [d[1] for d in documents], total - len(runs))
