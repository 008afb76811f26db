"""`packager report DIST`: regenerate a bundle's report, merging device results."""

from __future__ import annotations

import json
from pathlib import Path

import click

from packager.commands.common import json_option, print_json, verbose_option
from packager.errors import PackagerError


@click.command("report")
@click.argument("dist", type=click.Path(path_type=Path))
@click.option("-r", "--device-results", "results", multiple=True, type=click.Path(path_type=Path),
              help="Device results JSON (from `packager device bench --out` or the pytest plugin); repeatable.")
@json_option
@verbose_option
def report(dist: Path, results: tuple[Path, ...], json_output: bool) -> None:
    """Regenerate DIST/report.md and DIST/report.html from the manifest; device results given
    here are kept in DIST/device/ so later regenerations include them."""
    from packager import report as reporting  # noqa: PLC0415
    from packager.bundle_io import load_bundle  # noqa: PLC0415
    from packager.device.results import DeviceResults  # noqa: PLC0415
    from packager.fileio import sha256_bytes, write_atomic  # noqa: PLC0415

    bundle = load_bundle(dist)
    merged = []
    for path in results:
        data = DeviceResults.load(path).to_dict()  # validates against device-results.schema.json
        runs = [r for r in data["runs"] if r["bundle_sha256"] == bundle.model_sha256 or r["bundle"] == bundle.name]
        if not runs:
            raise PackagerError(f"{path} has no runs of bundle {bundle.name}", "pass the results of a run of this bundle")
        folder = bundle.path / reporting.DEVICE_FOLDER
        try:
            folder.mkdir(exist_ok=True)
            text = json.dumps(data, indent=2) + "\n"
            target = folder / f"{Path(path).stem}-{sha256_bytes(text.encode())[:8]}.json"
            write_atomic(target, text)
        except OSError as exc:
            raise PackagerError(f"cannot write into {folder} ({exc.strerror or exc})", "check the bundle folder's permissions") from None
        merged.append(str(target))
    written = []
    for name, text in reporting.render_all(bundle.manifest, bundle.path).items():
        write_atomic(bundle.path / name, text)
        written.append(str(bundle.path / name))
    if json_output:
        print_json({"bundle": str(bundle.path), "reports": written, "device_results": merged})
        return
    for path in merged:
        click.echo(f"merged {path}")
    for path in written:
        click.echo(f"wrote {path}")
