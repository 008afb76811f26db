"""`packager inspect MODEL.tflite`: a thin command over packager.tflite.inspect."""

from __future__ import annotations

from pathlib import Path

import click

from packager.commands.common import InputPath, json_option, print_json, verbose_option
from packager.text import console as plain_console
from packager.text import styled
from packager.tflite.inspect import inspect_model
from packager.tflite.metadata import extract_associated_files


@click.command("inspect")
@click.argument("model", type=InputPath())
@click.option("--extract", type=click.Path(path_type=Path), metavar="DIR",
              help="Also write the files packed in the model (labels.txt, ...) into DIR.")
@json_option
@verbose_option
def inspect(model: Path, extract: Path | None, json_output: bool) -> None:
    """Show MODEL's input/output tensors, metadata, packed files, operators and size.

    Works on any .tflite file, including ones without metadata, with custom ops or with
    several subgraphs."""

    report = inspect_model(model)
    written: list[Path] = []
    if extract is not None:

        written = extract_associated_files(model.read_bytes(), extract)
    if json_output:
        data = report.to_dict()
        if extract is not None:
            data["extracted"] = [str(p) for p in written]
        print_json(data)
        return

    console = plain_console()
    for renderable in _render(report):
        console.print(renderable)
    if extract is not None:
        console.print(styled("[bold green]Extracted[/] {} file(s) into {}/" + "\n  {}" * len(written), len(written), extract,
                             *(p.name for p in written)))


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values) if values else ""


def _render(report):
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415


    g = report.graph
    ops = sum(g.operators.values())
    head = Text.assemble((report.path, "bold"), f"  {_size(report.size_bytes)}  ·  TFLite schema v{g.schema_version}  ·  ",
                         f"{len(g.subgraphs)} subgraph{'s' if len(g.subgraphs) != 1 else ''}, {ops} operators")
    if g.description:
        head.append(f"  ·  {g.description}", style="dim")
    yield head

    for title, tensors in (("Inputs", g.inputs), ("Outputs", g.outputs)):
        table = Table(title=title, title_justify="left")
        for column in ("name", "index", "shape", "dtype", "scale", "zero point"):
            table.add_column(column, justify="right" if column in ("index", "scale", "zero point") else "left",
                             overflow="fold" if column == "name" else "ellipsis")
        for t in tensors:
            shape = t.shape_signature if t.shape_signature is not None else t.shape
            scale = f"{t.scale:.6g}" if t.scale is not None else (f"{len(t.scales)} per-axis" if t.scales else "")
            zero = str(t.zero_point) if t.zero_point is not None else ""
            table.add_row(t.name, str(t.index), "[" + ", ".join(str(d) for d in shape) + "]", t.dtype, scale, zero)
        yield table
    if report.detection_outputs is not None:
        standard = report.detection_outputs == ("location", "category", "score", "number of detections")
        yield Text("Detection outputs (TFLite_Detection_PostProcess): " + ", ".join(f"{i} {role}" for i, role in enumerate(report.detection_outputs))
                   + ("" if standard else "  (not the order the TFLite ObjectDetector expects: location, category, score, number of detections)"),
                   style="green" if standard else "yellow")

    md = report.metadata
    if md is None:
        yield Text("Metadata: none (no TFLITE_METADATA entry)", style="yellow")
    else:
        table = Table(title="Metadata", title_justify="left", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        rows = [("name", md.name), ("version", md.version), ("description", md.description), ("author", md.author),
                ("license", md.license)]
        if md.color_space:
            rows.append(("color space", md.color_space))
        if md.normalization:
            rows.append(("normalization", f"mean [{_numbers(md.normalization[0])}], std [{_numbers(md.normalization[1])}]"))
        if md.labels is not None:
            preview = ", ".join(md.labels[:5]) + (", ..." if len(md.labels) > 5 else "")
            rows.append(("labels", f"{len(md.labels)} ({preview})"))
        for i, t in enumerate(md.inputs):
            rows.append((f"input {i}", f"{t.name or ''}: {t.description or ''}".strip(": ")))
        for i, t in enumerate(md.outputs):
            rows.append((f"output {i}", f"{t.name or ''}: {t.description or ''}".strip(": ")))
        for key, value in rows:
            if value:
                table.add_row(key, str(value))
        yield table

    if report.associated_files:
        table = Table(title="Associated files", title_justify="left")
        table.add_column("name")
        table.add_column("size", justify="right")
        table.add_column("type")
        for f in report.associated_files:
            table.add_row(f.name, _size(f.size_bytes), f.type or "")
        yield table

    table = Table(title="Operators", title_justify="left")
    table.add_column("operator")
    table.add_column("count", justify="right")
    for name, count in g.operators.items():
        table.add_row(styled("{} [yellow](custom)[/]", name) if name in g.custom_ops else name, str(count))
    yield table

    if len(g.subgraphs) > 1:
        table = Table(title="Subgraphs", title_justify="left")
        for column in ("index", "name", "operators", "tensors", "inputs", "outputs"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for s in g.subgraphs:
            table.add_row(str(s.index), s.name, str(s.operators), str(s.tensors), str(len(s.inputs)), str(len(s.outputs)))
        yield table

    cov = report.accelerators
    if cov is not None:
        table = Table(title="Accelerators (predicted from the delegates' rules, not run)", title_justify="left")
        for column in ("accelerator", "API levels", "delegation", "not delegated (why)"):
            table.add_column(column)
        for name, apis, entry in [("GPU", "any", cov.gpu)] + [(f"NNAPI {levels}", apis, e) for apis, levels, e in cov.nnapi_rows()]:
            table.add_row(name, apis, entry.summary(cov.operators), entry.reasons() or "")
        yield table
        for hint in cov.hints:
            yield Text(f"hint: {hint}", style="yellow")

    if report.runs_on_litert:
        yield Text("LiteRT: loads, prepares and runs once on this host (XNNPACK and builtin kernels)", style="green")
    else:
        yield Text(f"LiteRT: loads, but does not run as is: {report.litert_error}", style="yellow")
