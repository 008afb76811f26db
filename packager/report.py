"""The bundle's report: report.md (and report.html), rendered from the manifest alone."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def _kb(size: int | None) -> str:
    return "–" if size is None else f"{size / 1024:.1f} KiB"


def _ms(latency: dict[str, Any] | None) -> str:
    return "–" if not latency else f"{latency['p50_ms']:.3f} ms"


def variant_rows(manifest: dict[str, Any]) -> list[list[str]]:
    metrics = manifest["metrics"]
    rows = []
    for m in [metrics["float"], *[v for v in metrics["variants"] if v["name"] != metrics["float"]["name"]]]:
        rows.append([
            m["name"] + (" ✓" if m["name"] == manifest["selection"]["chosen"] else ""),
            m.get("engine", ""), _kb(m["size_bytes"]), _pct(m["accuracy"]), _pct(m["top1_agreement"]),
            f"{m['max_abs_error']:.4g}", f"{m['mean_abs_error']:.4g}", _ms(m.get("latency")),
        ])
    return rows


HEADERS = ["variant", "engine", "size", "top-1 acc", "agreement", "max err", "mean err", "host p50"]


def render_markdown(manifest: dict[str, Any]) -> str:
    pre = manifest.get("preprocessing")
    lines = [
        f"# {manifest['name']} {manifest['version']}",
        "",
        manifest.get("description", ""),
        "",
        f"- task: {manifest['task']}",
        f"- source: `{Path(manifest['source']['path']).name}` ({manifest['source']['format']}, {_kb(manifest['source']['size_bytes'])})",
        f"- chosen: **{manifest['selection']['chosen']}** ({manifest['recipe']['engine']}) — {manifest['selection'].get('reason', '')}",
        f"- model: `{manifest['model']['file']}` {_kb(manifest['model']['size_bytes'])}, sha256 `{manifest['model']['sha256'][:16]}…`",
    ]
    if pre:
        lines.append(f"- preprocessing: {pre['size'][0]}x{pre['size'][1]} {pre['color_space']}, mean {pre['mean']}, std {pre['std']}, {pre['resize_method']} resize")
    lines += ["", "## Variants", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in variant_rows(manifest)]
    evaluated = manifest["metrics"].get("eval_samples", 0)
    lines += ["", f"Evaluated on {evaluated} samples" + (f" from `{manifest['metrics']['eval_data']}`." if manifest["metrics"].get("eval_data") else " (random inputs: no evaluation data).")]
    return "\n".join(lines) + "\n"


def render_html(manifest: dict[str, Any]) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in variant_rows(manifest))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(manifest['name'])} report</title></head><body>"
        f"<h1>{html.escape(manifest['name'])} {html.escape(manifest['version'])}</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>\n"
    )


def render_all(manifest: dict[str, Any], bundle_dir: Path | None = None) -> dict[str, str]:
    return {"report.md": render_markdown(manifest), "report.html": render_html(manifest)}
