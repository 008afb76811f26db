"""`packager bundle DIST --app android_app`: a thin command over packager.bundle.install."""

from __future__ import annotations

from pathlib import Path

import click

from packager.bundle.install import install_bundle
from packager.commands.common import InputPath, json_option, print_json
from packager.text import console as plain_console
from packager.text import styled


@click.command("bundle")
@click.argument("dist", type=InputPath())
@click.option("--app", "app", type=click.Path(path_type=Path), default=Path("android_app"), show_default=True,
              help="The Android Studio project to install into.")
@click.option("--module", default="app", show_default=True, help="The app module inside the project.")
@json_option
def bundle(dist: Path, app: Path, module: str, json_output: bool) -> None:
    """Install the bundle DIST (a dist/<name>/ folder) into the app's assets.

    Copies the model, manifest, labels and golden files to
    <app>/<module>/src/main/assets/models/<name>/, updates assets/models/index.json, makes sure
    .tflite files stay uncompressed in the APK, and prints what the bundle adds to the APK.
    Re-running with the same bundle changes nothing."""

    report = install_bundle(dist, app, module)
    if json_output:
        print_json(report.to_dict())
        return
    _print(report)


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def _print(report) -> None:
    from rich.table import Table  # noqa: PLC0415


    console = plain_console()
    table = Table(title=f"{report.bundle} {report.version} → {report.destination}", title_justify="left")
    table.add_column("file")
    table.add_column("size", justify="right")
    table.add_column("in APK", justify="right")
    table.add_column("stored as")
    table.add_column("status")
    for f in report.files:
        table.add_row(f.path, _size(f.size_bytes), _size(f.apk_bytes), "uncompressed" if f.stored else "deflated",
                      styled("[green]copied[/]") if f.changed else styled("[dim]unchanged[/]"))
    console.print(table)
    for removed in report.removed:
        console.print(styled("[yellow]removed[/] {} (not in this version of the bundle)", removed))
    if report.no_compress == "added":
        console.print(styled('[yellow]added[/] androidResources {{ noCompress += "tflite" }} to {}', report.gradle_file))
    else:
        console.print(styled("[dim].tflite stays uncompressed ({} has noCompress \"tflite\")[/]", report.gradle_file))
    console.print(styled("[dim]index: {} ({})[/]", report.index_path, "updated" if report.index_changed else "unchanged"))
    state = "installed" if report.changed else "already installed, nothing changed"
    console.print(styled("[bold green]{}[/] {}; it adds [bold]{}[/] ({} bytes) to the APK.", report.bundle, state, _size(report.apk_bytes), report.apk_bytes))
