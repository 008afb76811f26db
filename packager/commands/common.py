"""Options and output helpers shared by the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from packager import progress, quiet
from packager.fileio import NotRegularFile, refuse_special
from packager.report import HEADERS, variant_rows


class InputPath(click.Path):
    """A path the command reads: a FIFO, device or socket is refused here, before anything opens it
    (reading one blocks for ever). Every readable path option uses it; readers check again on open."""

    def __init__(self, **kwargs):
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        try:
            refuse_special(path)
        except NotRegularFile as exc:
            self.fail(f"{exc}; pass a regular file or folder", param, ctx)
        return path


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        progress.set_enabled(False)
    return value


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    quiet.set_verbose(value)
    return value


json_option = click.option("--json", "json_output", is_flag=True, callback=_set_json, is_eager=True, help="Print machine-readable JSON on stdout.")
verbose_option = click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_set_verbose, is_eager=True,
                              help="Show TensorFlow's and the converter's own log output.")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def variants_table(manifest):
    """The variants side by side, as a rich Table that fits 80 columns."""
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415


    primary = manifest.metrics.chosen.primary_output
    on = f" on output {primary!r} (the primary one of {len(manifest.outputs)}; --primary-output to choose)" if primary else ""
    measures = "acc = top-1 accuracy; agree and errors against float"
    if manifest.task == "object_detection":  # packager/detection/metrics.py
        measures = ("acc = mAP@0.5 against boxes.csv; agree = F1 of detections matched with float's (IoU >= 0.5, same class); "
                    "errors = score errors of the matched boxes")
    table = Table(title=f"{manifest.name}: float model and variants (✓ chosen)", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  padding=(0, 1), caption=f"eng (engine): TF = TFLite converter, AEQ = ai-edge-quantizer; {measures}{on}; p50 = host latency",
                  caption_justify="left")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i < 2 else "right", no_wrap=True)
    chosen = manifest.selection.chosen
    for row in variant_rows(manifest):
        style = "bold green" if row[0] == f"{chosen} ✓" else None
        table.add_row(*row, style=style)
    return table
