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


@farm.command("game-loop")
@click.argument("bundles", nargs=-1, type=click.Path(path_type=Path))
@click.option("-a", "--accelerator", default="cpu,xnnpack", show_default=True, help="cpu, xnnpack, gpu, nnapi, npu (comma-separated).")
@click.option("-d", "--device", "devices", multiple=True, help="A Test Lab device as gcloud takes it: model=MODEL,version=API (repeatable).")
@click.option("--assets", type=click.Path(path_type=Path), default=Path("android_app/app/src/main/assets"), show_default=True,
              help="The app's assets folder: the bundles must be installed there (packager bundle); the scenarios file is written there.")
@click.option("--app", "apk", default="android_app/app/build/outputs/apk/debug/app-debug.apk", show_default=True, help="The APK gcloud uploads.")
@click.option("--runs", default=20, show_default=True, type=click.IntRange(1, 100000), help="Measured runs per scenario.")
@json_option
def game_loop_cmd(bundles, accelerator, devices, assets, apk, runs, json_output) -> None:
    """Write the app's game-loop scenarios (one per bundle x accelerator) and print the gcloud line that runs them on Test Lab."""
    from packager.bundle.install import check_bundle  # noqa: PLC0415
    from packager.device.farm import firebase  # noqa: PLC0415
    from packager.fileio import read_json, write_atomic  # noqa: PLC0415

    refs = [check_bundle(b) for b in bundles]
    scenarios = firebase.scenarios_for(refs, list(_accelerators(accelerator)), runs=runs)
    line = firebase.gcloud_line(apk, scenarios, list(devices))
    for ref in refs:
        installed = assets / "models" / ref.name / "manifest.json"
        try:
            found = read_json(installed)
            same = isinstance(found, dict) and found["model"]["sha256"] == ref.model_sha256
        except Exception:  # noqa: BLE001 - missing, unreadable or not a manifest: all mean "not installed"
            same = False
        if not same:
            raise PackagerError(f"bundle {ref.name} is not installed in {assets} as built",
                                f"run `packager bundle {ref.path}` first, so the app carries the model the scenarios name")
    target = assets / firebase.SCENARIOS_ASSET
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, firebase.scenarios_json(scenarios))
    if json_output:
        print_json({"scenarios_file": str(target), "scenarios": [s.to_dict() for s in scenarios], "gcloud": line})
        return
    for s in scenarios:
        click.echo(f"scenario {s.scenario}: {s.bundle} on {s.accelerator}", err=True)
    click.echo(f"wrote {target}; rebuild the app, then run:", err=True)
    click.echo(line)


@farm.command("ingest")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--scenarios", "scenarios_file", required=True, type=click.Path(path_type=Path), help="The scenarios file the app carried.")
@click.option("-b", "--bundle", "bundle_dirs", multiple=True, required=True, type=click.Path(path_type=Path), help="The bundles it ran (repeatable).")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="The device results JSON to write.")
@json_option
def ingest_cmd(folder, scenarios_file, bundle_dirs, out, json_output) -> None:
    """Read a downloaded Firebase Test Lab game-loop results FOLDER into the kit's device results."""
    from packager.device.farm import firebase  # noqa: PLC0415

    results = firebase.ingest(folder, scenarios_file, list(bundle_dirs))
    results.write(out)
    if json_output:
        print_json(results.to_dict())
        return
    devices = sorted({r.device.serial for r in results.runs})
    click.echo(f"{out}: {len(results.runs)} runs on {len(devices)} device(s) ({', '.join(devices)}); "
               f"`packager device farm report {out}` makes the report")
