"""The bundle's report: report.html (self-contained: inline CSS, plots as data URIs, no script)
and report.md (the same facts as tables), rendered from the manifest and, once they exist, the
device results kept in the bundle's device/ folder."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from packager import plots

DEVICE_FOLDER = "device"
HEADERS = ["variant", "engine", "KiB", "top-1", "agree", "max err", "mean err", "p50 ms"]


# --- numbers ------------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def _kib(size: int | None) -> str:
    return "–" if size is None else f"{size / 1024:.1f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else (f"{value:.2f}" if value < 100 else f"{value:.0f}")


def _err(value: float | None) -> str:
    return "–" if value is None else ("0" if value == 0 else f"{value:.2g}")


def _engine(name: str) -> str:
    return {"ai-edge-quantizer": "AEQ", "tf-converter": "TF", "none": "–"}.get(name, name)


def variants_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The float model first, then every variant built or tried (no duplicates)."""
    metrics = manifest["metrics"]
    seen, out = set(), []
    for v in [metrics["float"], *metrics["variants"]]:
        if v["name"] not in seen:
            seen.add(v["name"])
            out.append(v)
    return out


def variant_rows(manifest: dict[str, Any]) -> list[list[str]]:
    chosen = manifest["selection"]["chosen"]
    rows = []
    for m in variants_of(manifest):
        latency = m.get("latency")
        rows.append([
            m["name"] + (" ✓" if m["name"] == chosen else ""), _engine(m.get("engine", "")), _kib(m["size_bytes"]),
            _pct(m["accuracy"]), _pct(m["top1_agreement"]), _err(m["max_abs_error"]), _err(m["mean_abs_error"]),
            _ms(latency["p50_ms"]) if latency else "–",
        ])
    return rows


# --- device results -------------------------------------------------------------------------------------
def device_results(manifest: dict[str, Any], bundle_dir: Path | None) -> dict[str, Any] | None:
    """Runs of this bundle (by model sha256) from every results file in <bundle>/device/."""
    if bundle_dir is None or not (Path(bundle_dir) / DEVICE_FOLDER).is_dir():
        return None
    runs, apks = [], {}
    for path in sorted((Path(bundle_dir) / DEVICE_FOLDER).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        mine = [r for r in data["runs"] if r["bundle_sha256"] == manifest["model"]["sha256"]] or \
            [r for r in data["runs"] if r["bundle"] == manifest["name"]]
        runs += mine
        serials = {r["device"].get("serial") for r in mine}
        for apk in data["apks"]:
            if apk["serial"] in serials or not mine:
                apks[(apk["serial"], apk["package"])] = apk
    if not runs:
        return None
    return {"runs": runs, "apks": list(apks.values())}


def _device_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in runs:
        lat = r.get("latency") or {}
        applied = r["accelerator_applied"] or "none"
        accel = r["accelerator_requested"] if applied == r["accelerator_requested"] else f"{r['accelerator_requested']} → {applied} (fallback)"
        parity = r.get("parity")
        rows.append([
            f"{r['device'].get('manufacturer', '')} {r['device'].get('model', '?')}{' (virtual)' if r.get('virtual') else ''}",
            accel, _ms(r.get("init_ms")), _ms(r.get("first_inference_ms")), _ms(lat.get("mean")), _ms(lat.get("std")),
            _ms(lat.get("p50")), _ms(lat.get("p90")), _ms(lat.get("p99")), _ms(lat.get("min")), _ms(lat.get("max")),
            "–" if r.get("peak_memory_kb") is None else f"{r['peak_memory_kb'] / 1024:.0f}",
            "–" if not parity else f"{parity['top1_agreement'] * 100:.1f}%", "–" if not parity else _err(parity["max_abs_error"]),
            r["status"] + (f": {r['errors'][0]}" if r.get("errors") else ""),
        ])
    return rows


DEVICE_HEADERS = ["device", "accelerator", "init", "1st", "mean", "std", "p50", "p90", "p99", "min", "max", "MiB", "top-1 agree", "max err", "status"]


def _apk_rows(apks: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for a in apks:
        b = a.get("breakdown") or {}
        cats = b.get("categories", {})
        total = b.get("total_bytes") or 1
        rows.append([
            a["serial"], a["package"], "–" if a.get("installed_bytes") is None else f"{a['installed_bytes'] / 1e6:.2f}",
            *(f"{cats.get(k, 0) / total:.0%}" for k in ("dex", "native", "models", "assets", "resources", "other")),
            ", ".join(f"{abi} {n / 1e6:.1f} MB" for abi, n in b.get("native_by_abi", {}).items()) or "–",
            f"{b.get('model_share', 0):.1%}" if b else "–",
        ])
    return rows


APK_HEADERS = ["serial", "package", "installed MB", "dex", "native", "models", "assets", "res", "other", "native by ABI", "model share"]


# --- markdown ----------------------------------------------------------------------------------------------
def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers), *("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)]


def _facts(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    pre = manifest.get("preprocessing")
    sel = manifest["selection"]
    sizes = manifest["sizes"]
    facts = [
        ("task", manifest["task"]),
        ("source", f"{Path(manifest['source']['path']).name} ({manifest['source']['format']}, {_kib(manifest['source']['size_bytes'])} KiB)"),
        ("chosen", f"{sel['chosen']} ({manifest['recipe']['engine']}, {sel['mode']})"),
        ("why", sel.get("reason", "")),
        ("sizes", f"source {_kib(sizes['source_bytes'])} KiB → float {_kib(sizes['float_bytes'])} KiB → chosen {_kib(sizes['chosen_bytes'])} KiB "
                  f"({sizes['chosen_bytes'] / sizes['float_bytes']:.0%} of float)"),
        ("model", f"{manifest['model']['file']}, sha256 {manifest['model']['sha256']}"),
        ("inputs", ", ".join(f"{t['name']} {t['dtype']}{t['shape']}" + (f" q={t['quantization']['scale']:.4g}/{t['quantization']['zero_point']}" if t["quantization"] else "") for t in manifest["inputs"])),
        ("outputs", ", ".join(f"{t['name']} {t['dtype']}{t['shape']} ({t['semantics']})" for t in manifest["outputs"])),
    ]
    if pre:
        facts.append(("preprocessing", f"{pre['size'][0]}x{pre['size'][1]} {pre['color_space']}, mean {pre['mean']}, std {pre['std']}, {pre['resize_method']} resize"))
    if manifest["selection"].get("max_accuracy_drop") is not None:
        facts.append(("accuracy budget", f"{manifest['selection']['max_accuracy_drop']:.2f} points of top-1 accuracy"))
    facts.append(("tools", ", ".join(f"{k} {v}" for k, v in manifest["tools"].items() if v)))
    return facts


def _candidate_rows(manifest: dict[str, Any]) -> list[list[str]]:
    return [[c["name"], "✓" if c["accepted"] else "✗", _kib(c.get("size_bytes")), _pct(c.get("accuracy")),
             "–" if c.get("accuracy_drop") is None else f"{c['accuracy_drop']:.2f}", _pct(c.get("top1_agreement")),
             str(len(c.get("float_ops", []))) if c.get("float_ops") else "–", c.get("reason", "")]
            for c in manifest["selection"].get("candidates", [])]


CANDIDATE_HEADERS = ["candidate", "", "KiB", "top-1", "drop (pt)", "agree", "ops in float", "why"]


def render_markdown(manifest: dict[str, Any], bundle_dir: Path | None = None) -> str:
    lines = [f"# {manifest['name']} {manifest['version']}", "", manifest.get("description", ""), ""]
    lines += [f"- **{k}**: {v}" for k, v in _facts(manifest)]
    lines += ["", "## Variants", "", *_md_table(HEADERS, variant_rows(manifest))]
    evaluated = manifest["metrics"].get("eval_samples", 0)
    source = manifest["metrics"].get("eval_data")
    lines += ["", f"Evaluated on {evaluated} samples" + (f" from `{source}`." if source else " (seeded random inputs: no evaluation data).")
              + " Errors are absolute output differences from the float model; host latency is LiteRT on the build machine, batch 1."]
    if manifest["selection"]["mode"] == "auto":
        lines += ["", "## How the variant was chosen", "", *_md_table(CANDIDATE_HEADERS, _candidate_rows(manifest))]
        sens = manifest["selection"].get("operator_sensitivity") or []
        if sens:
            lines += ["", "Most quantization-sensitive operators (output error with only that operator in int8):", ""]
            lines += _md_table(["operator", "type", "error", "top-1 changes"],
                               [[plots.short_op_name(s["op"]), s.get("op_type", ""), f"{s['error']:.3g}", _pct(s.get("top1_disagreement"))] for s in sens[:10]])
    device = device_results(manifest, bundle_dir)
    if device:
        lines += ["", "## On device", "", "Latency in ms, memory in MiB; parity against the bundle's golden host outputs.", ""]
        lines += _md_table(DEVICE_HEADERS, _device_rows(device["runs"]))
        if device["apks"]:
            lines += ["", *_md_table(APK_HEADERS, _apk_rows(device["apks"]))]
    lines += ["", "Plots: see report.html."]
    return "\n".join(lines) + "\n"


# --- html ----------------------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#212529;background:#f8f9fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
.lead{color:#495057;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:10px 12px}
.card .k{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#868e96}.card .v{font-size:20px;font-weight:600}
.card.chosen .v{color:#d9480f}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #e9ecef;padding:5px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.text,th.text{text-align:left}td.wrap{white-space:normal;text-align:left}
tr.chosen td{background:#fff4e6;font-weight:600}tr.bad td{color:#c92a2a}td.fallback{color:#e67700;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:12px;font-size:13px}
dt{color:#868e96}dd{margin:0;word-break:break-all}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}
.scroll{overflow-x:auto}
figure{margin:0;background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:8px}figure img{width:100%;height:auto}
figcaption{font-size:12px;color:#868e96;padding:4px}
.note{font-size:12px;color:#868e96}
"""


def _img(png: bytes | None, caption: str) -> str:
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _html_table(headers: list[str], rows: list[list[str]], row_class=None, cell_class=None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_class(i, row) if row_class else ""
        cells = "".join(f'<td class="{cell_class(j, c) if cell_class else ""}">{html.escape(str(c))}</td>' for j, c in enumerate(row))
        body.append(f'<tr class="{cls}">{cells}</tr>')
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def render_html(manifest: dict[str, Any], bundle_dir: Path | None = None) -> str:
    sel = manifest["selection"]
    chosen_name = sel["chosen"]
    variants = variants_of(manifest)
    float_metrics = manifest["metrics"]["float"]
    chosen = manifest["metrics"]["chosen"]
    drop = None if chosen["accuracy"] is None or float_metrics["accuracy"] is None else (float_metrics["accuracy"] - chosen["accuracy"]) * 100
    cards = [
        ("chosen", chosen_name, "chosen"), ("model size", f"{manifest['model']['size_bytes'] / 1024:.1f} KiB", ""),
        ("of float size", f"{manifest['sizes']['chosen_bytes'] / manifest['sizes']['float_bytes']:.0%}", ""),
        ("top-1 accuracy", _pct(chosen["accuracy"]), ""), ("accuracy drop", "–" if drop is None else f"{drop:.2f} pt", ""),
        ("agreement with float", _pct(chosen["top1_agreement"]), ""),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(manifest['name'])} {html.escape(manifest['version'])}: packager report</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{html.escape(manifest['name'])} <small>{html.escape(manifest['version'])}</small></h1>",
        f"<p class='lead'>{html.escape(manifest.get('description', ''))}</p>",
        "<div class='cards'>" + "".join(f"<div class='card {c}'><div class='k'>{html.escape(k)}</div><div class='v'>{html.escape(v)}</div></div>" for k, v, c in cards) + "</div>",
        "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in _facts(manifest)) + "</dl>",
        "<h2>Variants side by side</h2>",
        _html_table(HEADERS, variant_rows(manifest), row_class=lambda i, row: "chosen" if row[0].endswith("✓") else ""),
        f"<p class='note'>Evaluated on {manifest['metrics'].get('eval_samples', 0)} samples. Errors are absolute output differences from the float model. "
        "Host latency: LiteRT on the build machine, batch 1. Engines: TF = TensorFlow Lite converter, AEQ = ai-edge-quantizer.</p>",
        "<div class='plots'>",
        _img(plots.size_vs_accuracy(variants, chosen_name, float_metrics["name"]), "Size against accuracy per variant; orange is the chosen one"),
        _img(plots.per_class_change([v for v in variants if v["name"] != float_metrics["name"]], float_metrics, manifest["labels"]["values"], chosen_name),
             "Per-class accuracy change against the float model"),
        _img(plots.host_latency(variants, chosen_name, float_metrics["name"]), "Host latency per variant"),
    ]
    if sel["mode"] == "auto" and sel.get("operator_sensitivity"):
        parts.append(_img(plots.operator_errors(sel["operator_sensitivity"], manifest["recipe"].get("float_ops", [])),
                          "Per-operator quantization error; operators kept in float in orange"))
    parts.append("</div>")
    if sel["mode"] == "auto":
        parts += ["<h2>How the variant was chosen</h2>",
                  f"<p>Budget: at most {sel['max_accuracy_drop']:g} points of top-1 accuracy lost. Candidates are tried from the most compressed; the first within budget wins.</p>",
                  _html_table(CANDIDATE_HEADERS, _candidate_rows(manifest), row_class=lambda i, row: "chosen" if row[1] == "✓" else "",
                              cell_class=lambda j, c: "wrap" if j == 7 else "")]
    device = device_results(manifest, bundle_dir)
    if device:
        parts += ["<h2>On device</h2>", "<p class='note'>Latency and times in ms, peak memory in MiB (the app process); parity against the bundle's golden host outputs. "
                  "A requested accelerator that did not apply is shown as a fallback.</p>",
                  _html_table(DEVICE_HEADERS, _device_rows(device["runs"]),
                              row_class=lambda i, row: "bad" if not row[-1].startswith("ok") else "",
                              cell_class=lambda j, c: "fallback" if j == 1 and "fallback" in c else ("text" if j in (0, 14) else ""))]
        parts.append("<div class='plots'>" + _img(plots.device_latency(device["runs"]), "On-device latency per device and accelerator")
                     + _img(plots.apk_breakdown(device["apks"]), "What the APK is made of") + "</div>")
        if device["apks"]:
            parts.append(_html_table(APK_HEADERS, _apk_rows(device["apks"]), cell_class=lambda j, c: "text" if j < 2 else ""))
    parts.append(f"<p class='note'>Made by packager {html.escape(str(manifest['tools'].get('packager')))} on {html.escape(manifest['created'])}.</p></main></body></html>\n")
    return "".join(parts)


def render_all(manifest: dict[str, Any], bundle_dir: Path | None = None) -> dict[str, str]:
    return {"report.md": render_markdown(manifest, bundle_dir), "report.html": render_html(manifest, bundle_dir)}
