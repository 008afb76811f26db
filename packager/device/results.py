"""Device results: statistics, parity with the host, and the results JSON of one session.

One `RunRecord` per device x bundle x accelerator; a `DeviceResults` gathers a session's runs
with the APK size of each device and what was transferred. It is written as JSON valid against
packager/schemas/device-results.schema.json, shown as a terminal table, and merged into the report.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from packager import schemas
from packager.fileio import DocumentError, read_json, write_atomic
from packager.preprocess import dequantize


@dataclass(frozen=True)
class DeviceProps:
    """A handset as `Handset.props()` reads it (getprop) and as the report shows it; sdk and
    android_version are None only when a results file written elsewhere leaves them out."""

    serial: str
    manufacturer: str
    model: str
    soc: str | None
    abi: str
    sdk: int | None
    android_version: str | None
    virtual: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return f"{self.manufacturer} {self.model} ({self.serial})"

    @property
    def title(self) -> str:
        name = f"{self.manufacturer} {self.model}".strip()
        return f"{name} (virtual handset)" if self.virtual and "virtual" not in name.lower() else name

    @property
    def details(self) -> str:
        parts = [f"serial {self.serial}"]
        if self.soc:
            parts.append(f"SoC {self.soc}")
        parts.append(f"ABI {self.abi}")
        if self.android_version or self.sdk:
            parts.append(f"Android {self.android_version or '?'} (SDK {self.sdk if self.sdk is not None else '?'})")
        if self.virtual:
            parts.append("runs the benchmark contract with the host's LiteRT")
        return ", ".join(parts)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds. Percentiles: numpy's default (linear); std: population. Percentiles are None
    when the runner reports no single runs (benchmark_model prints mean, std, min and max only)."""

    count: int
    mean: float
    std: float
    p50: float | None
    p90: float | None
    p99: float | None
    min: float
    max: float

    @classmethod
    def of(cls, latencies_ms: list[float]) -> "LatencyStats | None":
        if not latencies_ms:
            return None
        a = np.asarray(latencies_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        return cls(len(a), float(a.mean()), float(a.std()), float(p50), float(p90), float(p99), float(a.min()), float(a.max()))

    @classmethod
    def of_summary(cls, summary: dict[str, Any]) -> "LatencyStats":
        """benchmark_model prints no single runs: mean/std/min/max only; percentiles stay unknown."""
        mean = float(summary["mean_ms"])
        return cls(int(summary["count"]), mean, float(summary.get("std_ms", 0.0)), None, None, None,
                   float(summary.get("min_ms", mean)), float(summary.get("max_ms", mean)))


@dataclass(frozen=True)
class Parity:
    """The device's outputs against the bundle's golden host outputs (both dequantized)."""

    samples: int
    max_abs_error: float
    mean_abs_error: float
    top1_agreement: float


def parity(device_outputs: list[np.ndarray], golden_outputs: list[np.ndarray], quantization: list[dict | None]) -> Parity:
    diffs, agree, samples = [], None, 0
    for k, (got, want) in enumerate(zip(device_outputs, golden_outputs)):
        q = quantization[k] if k < len(quantization) else None
        scale, zero = (q["scale"], q["zero_point"]) if q else (None, None)
        a = dequantize(got, scale, zero).astype(np.float64)
        b = dequantize(want, scale, zero).astype(np.float64)
        if a.shape != b.shape:
            raise ValueError(f"output {k}: device shape {a.shape} != golden {b.shape}")
        diffs.append(np.abs(a - b).ravel())
        if k == 0:
            samples = len(a)
            agree = float((a.reshape(samples, -1).argmax(1) == b.reshape(samples, -1).argmax(1)).mean())
    diff = np.concatenate(diffs) if diffs else np.zeros(1)
    return Parity(samples, float(diff.max()), float(diff.mean()), agree if agree is not None else 0.0)


@dataclass
class RunRecord:
    device: dict[str, Any]
    bundle: str
    bundle_sha256: str
    recipe: str
    runner: str
    virtual: bool
    status: str
    accelerator_requested: str
    accelerator_applied: str | None
    fallback_reason: str | None
    threads: int
    init_ms: float | None
    first_inference_ms: float | None
    latency: LatencyStats | None
    peak_memory_kb: int | None
    parity: Parity | None
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    # contract 2's accelerator.delegated_ops/total_ops/ops_source and peak_memory_measure
    # (results written before these fields: unknown)
    delegated_ops: int | None = None
    total_ops: int | None = None
    ops_source: str = "unknown"
    peak_memory_measure: str | None = None

    @property
    def fell_back(self) -> bool:
        return self.accelerator_applied != self.accelerator_requested

    @property
    def ran(self) -> bool:
        """Every measured run ran (on the accelerator requested, or on a fallback)."""
        return self.status in ("ok", "fallback")

    def fallback_line(self) -> str:
        """'digits on Pixel 8 (gpu): gpu fell back to xnnpack (reason)'."""
        why = f" ({self.fallback_reason})" if self.fallback_reason else ""
        return (f"{self.bundle} on {self.device.get('model', '?')} ({self.device.get('serial', '?')}): "
                f"{self.accelerator_requested} fell back to {self.accelerator_applied or 'nothing'}{why}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latency"] = None if self.latency is None else asdict(self.latency)
        out["parity"] = None if self.parity is None else asdict(self.parity)
        return out


@dataclass
class ApkInfo:
    serial: str
    package: str
    installed_bytes: int | None
    breakdown: dict[str, Any] | None = None


@dataclass
class DeviceResults:
    runs: list[RunRecord] = field(default_factory=list)
    apks: list[ApkInfo] = field(default_factory=list)
    bytes_pushed: int = 0
    bytes_skipped: int = 0
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"))

    def extend(self, other: "DeviceResults") -> None:
        self.runs += other.runs
        known = {(a.serial, a.package) for a in self.apks}
        self.apks += [a for a in other.apks if (a.serial, a.package) not in known]
        self.bytes_pushed += other.bytes_pushed
        self.bytes_skipped += other.bytes_skipped

    def to_dict(self) -> dict[str, Any]:
        from packager import __version__  # noqa: PLC0415

        return {
            "schema_version": 1,
            "kind": "packager-device-results",
            "created": self.created,
            "packager": __version__,
            "transfers": {"bytes_pushed": self.bytes_pushed, "bytes_skipped": self.bytes_skipped},
            "apks": [asdict(a) for a in self.apks],
            "runs": [r.to_dict() for r in self.runs],
        }

    def write(self, path: Path) -> Path:
        data = self.to_dict()
        schemas.validate("device-results", data, what="device results")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeviceResults":
        schemas.validate("device-results", data, what="device results")
        runs = []
        for r in data["runs"]:
            r = dict(r)
            r["latency"] = LatencyStats(**r["latency"]) if r["latency"] else None
            r["parity"] = Parity(**r["parity"]) if r["parity"] else None
            runs.append(RunRecord(**r))
        return cls(runs=runs, apks=[ApkInfo(**a) for a in data["apks"]], bytes_pushed=data["transfers"]["bytes_pushed"],
                   bytes_skipped=data["transfers"]["bytes_skipped"], created=data["created"])

    @classmethod
    def load(cls, path: Path) -> "DeviceResults":
        from packager.errors import PackagerError  # noqa: PLC0415

        try:
            data = read_json(path)
        except (OSError, DocumentError) as exc:
            raise PackagerError(f"cannot read device results {path} ({exc})", "pass a file written by `packager device bench --out`") from None
        return cls.from_dict(data)


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def table(results: DeviceResults):
    """Rich tables (fit 80 columns), one per device: a row per bundle x accelerator."""
    from rich import box  # noqa: PLC0415
    from rich.console import Group  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    tables = []
    devices = list(dict.fromkeys(r.device.get("serial", "?") for r in results.runs))
    for serial in devices:
        runs = [r for r in results.runs if r.device.get("serial", "?") == serial]
        d = runs[0].device
        title = f"{d.get('manufacturer', '')} {d.get('model', '?')} ({serial}, Android {d.get('android_version', '?')}, {d.get('abi', '?')})"
        if runs[0].virtual:
            title += " — virtual handset, host LiteRT"
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  caption="ms; parity: top-1 agreement / max abs error against the host's golden outputs", caption_justify="left")
        for name in ("bundle", "accel", "init", "1st", "p50", "p90", "MiB", "parity", "status"):
            text = name in ("bundle", "accel", "status")
            t.add_column(name, justify="left" if text else "right", no_wrap=name != "status")
        for r in runs:
            accel = r.accelerator_requested if not r.fell_back else f"{r.accelerator_requested}→{r.accelerator_applied or 'none'}"
            lat = r.latency
            parity_text = "–" if r.parity is None else f"{r.parity.top1_agreement:.0%}/{r.parity.max_abs_error:.2g}"
            status = r.status if not r.errors else f"{r.status}: {r.errors[0][:40]}"
            t.add_row(
                r.bundle, f"[yellow]{accel}[/]" if r.fell_back else accel, _ms(r.init_ms), _ms(r.first_inference_ms),
                _ms(lat.p50 if lat else None), _ms(lat.p90 if lat else None),
                "–" if r.peak_memory_kb is None else f"{r.peak_memory_kb / 1024:.0f}", parity_text,
                status if r.status == "ok" else (f"[yellow]{status}[/]" if r.status == "fallback" else f"[red]{status}[/]"),
            )
        tables.append(t)
    return Group(*tables)
