"""`packager device farm ...`: device farms (docs/DEVICE_FARMS.md), thin commands over packager.device.farm."""

from __future__ import annotations

from pathlib import Path

import click

from packager.commands.common import json_option, print_json
from packager.errors import PackagerError


@click.group("farm")
def farm() -> None:
    """Device farms: an AWS Device Farm test package, Firebase Test Lab game loops, one report for many handsets."""


def _accelerators(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


@farm.command("aws-package")
@click.argument("bundles", nargs=-1, type=click.Path(path_type=Path))
@click.option("--budgets", type=click.Path(path_type=Path), help="budgets.toml: limits checked on every handset.")
@click.option("-a", "--accelerator", default="cpu,xnnpack", show_default=True, help="cpu, xnnpack, gpu, nnapi, npu (comma-separated).")
@click.option("--runs", default=20, show_default=True, type=click.IntRange(1, 100000), help="Measured runs per bundle x accelerator.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="The test package to write (.zip).")
@json_option
def aws_package_cmd(bundles, budgets, accelerator, runs, out, json_output) -> None:
    """Write an AWS Device Farm test package (custom environment) that benchmarks BUNDLES on the farm's handsets."""
    from packager.device.farm.aws import write_package  # noqa: PLC0415 - pip and zip only when asked

    package = write_package(list(bundles), out, budgets, _accelerators(accelerator), runs)
    if json_output:
        print_json(package.to_dict())
        return
    click.echo(f"{out}: {package.size_bytes / 1e6:.1f} MB, bundles {', '.join(package.bundles)}, {len(package.wheels)} wheels "
               f"({'from the cache' if package.wheelhouse_cached else f'downloaded in {package.wheelhouse_seconds:.0f} s'}); "
               "upload it as an Appium Python test package with testspec.yml as the custom test spec")


@farm.command("report")
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
@click.option("--budgets", type=click.Path(path_type=Path), help="budgets.toml: each device's runs checked against it.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Folder for fleet-report.md/.html and its plots.")
@json_option
def report_cmd(results, budgets, out, json_output) -> None:
    """One report from the device results of many handsets (RESULTS: device-results JSON files)."""
    from packager.device.budgets import Budgets  # noqa: PLC0415
    from packager.manifest import DeviceResults  # noqa: PLC0415
    from packager.report import fleet  # noqa: PLC0415

    if not results:
        raise PackagerError("no device results to report", "pass device-results JSON files (packager device bench --out, the plugin, farm ingest)")
    merged = DeviceResults()
    for path in results:
        merged.extend(DeviceResults.load(path))
    verdicts = fleet.Verdicts(checked=budgets is not None)
    if budgets is not None:
        limits = Budgets.load(budgets)
        apk = {a.serial: a.installed_bytes for a in merged.apks}
        for i, run in enumerate(merged.runs):
            problems = limits.violations(run, apk.get(run.device.serial))
            if problems:
                verdicts.problems[i] = problems
    written = fleet.write(merged, out, verdicts)
    devices = len({r.device.serial for r in merged.runs})
    over = sorted({merged.runs[i].device.serial for i in verdicts.problems})
    if json_output:
        print_json({"report": {k: str(v) for k, v in written.items()}, "devices": devices, "runs": len(merged.runs),
                    "budgets_checked": verdicts.checked, "devices_over_budget": over,
                    "problems": [p for i in sorted(verdicts.problems) for p in verdicts.problems[i]]})
        return
    click.echo(f"{written['html']}: {len(merged.runs)} runs on {devices} device(s)"
               + (f"; over budget on {len(over)} device(s): {', '.join(over)}" if over else ("; every device within budget" if budgets else "")))
