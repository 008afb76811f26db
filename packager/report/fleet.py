"""Many handsets in one report: what a device farm (or a hub) measured, device by device.

Per device, a table by bundle and accelerator (latency, parity with the host, fallback, status)
under the device's model, SoC, API level and the runtime (and version) that measured it; a figure
per bundle comparing the devices; and, when budgets are given, each device's verdict. The
budgets are checked by the caller (packager.device.budgets) and passed in as sentences per run,
so the report stays a reader of the data model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packager.fileio import write_atomic
from packager.manifest import DeviceResults, DeviceRun
from packager.report import plots
from packager.report.content import DASH, _err, _latency_box, _pct, unit_for
from packager.report.document import Document, Facts, Figure, Paragraph, Section, Table, to_html, to_markdown

FILES = {"md": "fleet-report.md", "html": "fleet-report.html"}
PLOTS = "fleet-plots"


@dataclass
class Verdicts:
    """Budget problems per run (index into results.runs); `checked` says whether budgets were given."""

    checked: bool = False
    problems: dict[int, list[str]] = field(default_factory=dict)


def _device_key(run: DeviceRun) -> str:
    return run.device.serial


def device_label(run: DeviceRun) -> str:
    return f"{run.device.manufacturer} {run.device.model}".strip()


def _runtime(runs: list[DeviceRun]) -> str:
    versions = sorted({r.runtime or f"{r.runner} (runtime not reported)" for r in runs})
    return "; ".join(versions)


def build(results: DeviceResults, verdicts: Verdicts | None = None, title: str = "Device farm report") -> Document:
    verdicts = verdicts or Verdicts()
    runs = results.runs
    serials = list(dict.fromkeys(_device_key(r) for r in runs))
    bundles = list(dict.fromkeys(r.bundle for r in runs))
    overview_rows, sections, figures = [], [], []
    for serial in serials:
        mine = [(i, r) for i, r in enumerate(runs) if _device_key(r) == serial]
        d = mine[0][1].device
        problems = [p for i, _ in mine for p in verdicts.problems.get(i, [])]
        verdict = (DASH if not verdicts.checked else "within budget" if not problems else f"{len(problems)} over budget")
        statuses = [r.status for _, r in mine]
        overview_rows.append([device_label(mine[0][1]), d.soc or DASH, str(d.sdk) if d.sdk is not None else DASH, _runtime([r for _, r in mine]),
                              f"{statuses.count('ok')} ok, {statuses.count('fallback')} fallback, {statuses.count('error')} error", verdict])
        unit = unit_for([r.latency.max if r.latency else None for _, r in mine])
        rows, warn = [], set()
        for k, (i, r) in enumerate(mine):
            lat, p = r.latency, r.parity
            over = verdicts.problems.get(i, [])
            rows.append([r.bundle, r.accelerator, unit(lat.p50) if lat and lat.p50 is not None else DASH,
                         unit(lat.p90) if lat and lat.p90 is not None else DASH, unit(lat.mean) if lat else DASH,
                         _pct(p.top1_agreement, 1) if p else DASH, _err(p.max_abs_error) if p else DASH, r.status,
                         (r.fallback_reason or "fell back") if r.fell_back else DASH,
                         DASH if not verdicts.checked else ("; ".join(over) if over else "ok")])
            if r.status != "ok":
                warn.add((k, 7))
            if over:
                warn.add((k, 9))
        facts = Facts([("model", device_label(mine[0][1])), ("SoC", d.soc or "not reported"),
                       ("API level", str(d.sdk) if d.sdk is not None else "not reported"), ("Android", d.android_version or "not reported"),
                       ("ABI", d.abi), ("runtime", _runtime([r for _, r in mine])), ("serial", d.serial)]
                      + ([("virtual", "yes: the virtual handset, the host's LiteRT")] if d.virtual else []))
        table = Table(["bundle", "accelerator", f"p50 ({unit.name})", f"p90 ({unit.name})", f"mean ({unit.name})", "top-1 agreement",
                       "max abs error", "status", "fallback", "budgets"], rows, warn=warn, text_columns={0, 1, 7, 8, 9}, wrap_columns={8, 9})
        sections.append(Section(f"{device_label(mine[0][1])} · {serial}", [facts, table], level=3))
    for bundle in bundles:
        timed = [r for r in runs if r.bundle == bundle and r.latency]
        devices = list(dict.fromkeys(_device_key(r) for r in timed))
        if len(devices) < 2:
            continue
        labels = {s: f"{device_label(next(r for r in timed if _device_key(r) == s))}\n{s}" for s in devices}
        unit = unit_for([r.latency.max for r in timed if r.latency])  # all of them
        accelerators = list(dict.fromkeys(r.accelerator_requested for r in timed))
        cells = {(labels[_device_key(r)], r.accelerator_requested): _latency_box(r, r.accelerator.replace(" ", ""), unit, True) for r in timed}
        png = plots.device_overview([labels[s] for s in devices], accelerators, cells, unit.name)
        if png:
            figures.append(Figure(f"fleet-{''.join(c if c.isalnum() else '-' for c in bundle)}", png,
                                  f"{bundle}: latency per device and requested accelerator (p50, whiskers p5–p95)"))
    intro = (f"{len(runs)} runs of {len(bundles)} bundle(s) on {len(serials)} device(s). An accelerator that did not apply shows as "
             "'requested → applied' and its status is 'fallback': falling back is not success. Parity compares each device's "
             "outputs with the bundle's golden host outputs.")
    if verdicts.checked:
        over_budget = sum(1 for row in overview_rows if row[-1] != "within budget")
        intro += f" Budgets: {len(serials) - over_budget} of {len(serials)} device(s) within budget."
    overview = Table(["device", "SoC", "API level", "runtime", "runs", "budgets"], overview_rows, text_columns={0, 1, 3, 4, 5}, wrap_columns={3})
    return Document(title, f"{len(serials)} devices", [Section("Devices", [Paragraph(intro), overview, *figures], anchor="devices"),
                                                       Section("Per device", [], anchor="per-device"), *sections])


def write(results: DeviceResults, out_dir: Path, verdicts: Verdicts | None = None) -> dict[str, Path]:
    """fleet-report.md, fleet-report.html and fleet-plots/*.png in out_dir (each written atomically)."""
    doc = build(results, verdicts)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_files = {}
    if doc.figures():
        (out_dir / PLOTS).mkdir(exist_ok=True)
    for fig in doc.figures():
        relative = f"{PLOTS}/{fig.name}.png"
        write_atomic(out_dir / relative, fig.png)
        figure_files[fig.name] = relative
    written = {"md": out_dir / FILES["md"], "html": out_dir / FILES["html"]}
    write_atomic(written["md"], to_markdown(doc, figure_files))
    write_atomic(written["html"], to_html(doc))
    return written
