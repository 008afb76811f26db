"""Budgets: limits from a config file that become assertions on device runs.

```toml
[default]                 # applies to every run
p90_ms = 50.0
min_top1_agreement = 0.99
max_abs_error = 0.05
max_apk_bytes = 40_000_000
require_accelerator = true   # fail when the requested accelerator fell back
allow_fallback = true        # measure a run that fell back against these budgets (default: the test is skipped, saying why)

[accelerator.gpu]         # overrides for one accelerator
p90_ms = 20.0

[bundle.digits]           # overrides for one bundle
p90_ms = 2.0
```
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from packager import schemas


@dataclass(frozen=True)
class Limits:
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    init_ms: float | None = None
    peak_memory_mb: float | None = None
    min_top1_agreement: float | None = None
    max_abs_error: float | None = None
    max_apk_bytes: int | None = None
    require_accelerator: bool = False
    allow_fallback: bool = False

    def merged(self, overrides: dict[str, Any]) -> Limits:
        return replace(self, **overrides)


@dataclass(frozen=True)
class Budgets:
    default: Limits
    per_accelerator: dict[str, dict[str, Any]]
    per_bundle: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path) -> Budgets:
        data = schemas.load_toml("budgets", path, "budgets file", "check --budgets")
        return cls(Limits(**data.get("default", {})), data.get("accelerator", {}), data.get("bundle", {}))

    def limits_for(self, bundle: str, accelerator: str) -> Limits:
        limits = self.default.merged(self.per_accelerator.get(accelerator, {}))
        return limits.merged(self.per_bundle.get(bundle, {}))

    def violations(self, run, apk_bytes: int | None = None) -> list[str]:
        """What a DeviceRun breaks, as sentences (empty when within budget)."""
        limits = self.limits_for(run.bundle, run.accelerator_requested)
        where = f"{run.bundle} on {run.device.model} ({run.accelerator_requested})"
        problems = []
        if not run.ran:
            return [f"{where}: the run failed: {'; '.join(run.errors) or 'no reason given'}"]
        lat = run.latency

        def over(name: str, value: float | None, limit: float | None, unit: str = "ms") -> None:
            if limit is None:
                return
            if value is None:  # a budget that cannot be checked must not pass silently
                problems.append(f"{where}: {name} was not measured by the {run.runner} runner, so its budget {limit:g} {unit} "
                                "cannot be checked")
            elif value > limit:
                problems.append(f"{where}: {name} {value:.3f} {unit} > budget {limit:g} {unit}")

        if lat is not None:
            over("p90 latency", lat.p90, limits.p90_ms)
            over("p99 latency", lat.p99, limits.p99_ms)
            over("mean latency", lat.mean, limits.mean_ms)
        over("init time", run.init_ms, limits.init_ms)
        over("peak memory", None if run.peak_memory_kb is None else run.peak_memory_kb / 1024, limits.peak_memory_mb, "MiB")
        if run.parity is not None:
            if limits.min_top1_agreement is not None and run.parity.top1_agreement < limits.min_top1_agreement:
                problems.append(f"{where}: top-1 agreement with the host {run.parity.top1_agreement:.3f} < budget {limits.min_top1_agreement:g}")
            over("max abs output error", run.parity.max_abs_error, limits.max_abs_error, "")
        if limits.max_apk_bytes is not None and apk_bytes is not None and apk_bytes > limits.max_apk_bytes:
            problems.append(f"{where}: installed APK {apk_bytes} bytes > budget {limits.max_apk_bytes} bytes")
        if limits.require_accelerator and run.accelerator_applied != run.accelerator_requested:
            problems.append(f"{where}: {run.accelerator_requested} was requested but {run.accelerator_applied} ran it ({run.fallback_reason})")
        return problems


LIMIT_FIELDS = [f.name for f in fields(Limits)]
