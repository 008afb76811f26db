"""`packager report DIST`: regenerate a bundle's report, merging device results."""

from __future__ import annotations

from pathlib import Path

import click

from packager.commands.common import InputPath, json_option, print_json, verbose_option
from packager.report import regenerate


@click.command("report")
@click.argument("dist", type=InputPath())
@click.option("-r", "--device-results", "results", multiple=True, type=InputPath(), metavar="FILE",
              help="Device results JSON (`packager device bench --out`, or the pytest plugin's session file); repeatable. "
                   "Kept in DIST/device/ so later regenerations include them.")
@click.option("--open", "open_report", is_flag=True, help="Open report.html in the desktop's browser afterwards.")
@json_option
@verbose_option
def report(dist: Path, results: tuple[Path, ...], open_report: bool, json_output: bool) -> None:
    """Regenerate DIST/report.md and DIST/report.html from the bundle's manifest and the device
    results kept with it."""

    outcome = regenerate(dist, list(results))
    if open_report:
        page = next(p for p in outcome.reports if p.endswith(".html"))
        # xdg-open / open / start; the report is written either way, so a missing browser is only a note
        if click.launch(page) != 0:
            click.echo(f"note: could not open a browser; open {page} yourself", err=True)
    if json_output:
        print_json(outcome.to_dict())
        return
    for path in outcome.merged:
        click.echo(f"merged  {path}")
    for path in outcome.already_kept:
        click.echo(f"kept    {path} (already merged)")
    for path in outcome.reports:
        click.echo(f"wrote   {path}")
    if outcome.plots:
        click.echo(f"plots   {len(outcome.plots)} PNG files in {Path(outcome.plots[0]).parent}")
