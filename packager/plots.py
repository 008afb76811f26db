"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes.

One colour for the chosen variant everywhere (CHOSEN), a quiet one for the rest.
"""

from __future__ import annotations

import io
from typing import Any

CHOSEN = "#d9480f"
OTHER = "#4c6ef5"
FLOAT = "#868e96"
MUTED = "#adb5bd"


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 110})
    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return buffer.getvalue()


def _colour(name: str, chosen: str, float_name: str) -> str:
    return CHOSEN if name == chosen else (FLOAT if name == float_name else OTHER)


def size_vs_accuracy(variants: list[dict[str, Any]], chosen: str, float_name: str) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    use_accuracy = all(v.get("accuracy") is not None for v in variants)
    ys = []
    for i, v in enumerate(sorted(variants, key=lambda v: v["size_bytes"])):
        y = (v["accuracy"] if use_accuracy else v["top1_agreement"]) * 100
        x = v["size_bytes"] / 1024
        ys.append(y)
        ax.scatter([x], [y], s=70 if v["name"] == chosen else 40, color=_colour(v["name"], chosen, float_name), zorder=3)
        # neighbours in size get their labels staggered so they do not overprint
        ax.annotate(v["name"], (x, y), textcoords="offset points", xytext=(6, 6 + 11 * (i % 3)), fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": MUTED, "linewidth": 0.6})
    low = min(ys)
    ax.set_ylim(max(0.0, low - max(2.0, (100 - low) * 0.5)), min(100.5, max(ys) + 1.5))
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("top-1 accuracy (%)" if use_accuracy else "top-1 agreement with float (%)")
    ax.set_title("Size against accuracy (up and left is better)")
    ax.grid(alpha=0.3)
    return _png(fig)


def per_class_change(variants: list[dict[str, Any]], reference: dict[str, Any], labels: list[str], chosen: str) -> bytes | None:
    base = reference.get("per_class_accuracy")
    rows = [v for v in variants if v.get("per_class_accuracy") and v["name"] != reference["name"]]
    if not base or not rows:
        return None
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    classes = len(base)
    fig, ax = plt.subplots(figsize=(max(5.6, classes * 0.55), 3.2))
    width = 0.8 / len(rows)
    for i, v in enumerate(rows):
        change = [((a if a is not None else 0) - (b if b is not None else 0)) * 100 for a, b in zip(v["per_class_accuracy"], base)]
        ax.bar(np.arange(classes) + (i - (len(rows) - 1) / 2) * width, change, width,
               color=CHOSEN if v["name"] == chosen else OTHER, alpha=1.0 if v["name"] == chosen else 0.45, label=v["name"])
    ax.axhline(0, color="black", linewidth=0.8)
    if not any(ax.patches[i].get_height() for i in range(len(ax.patches))):
        ax.text(0.5, 0.75, "no class changed: every variant matches float on every class", transform=ax.transAxes, ha="center", color=FLOAT)
    ax.set_xticks(range(classes), [str(l)[:10] for l in (labels or range(classes))][:classes], rotation=45 if classes > 10 else 0, ha="right" if classes > 10 else "center")
    ax.set_ylabel("accuracy change vs float (points)")
    ax.set_title("Per-class accuracy change against the float model")
    ax.legend(fontsize=7, ncols=min(len(rows), 5), frameon=False)
    return _png(fig)


def short_op_name(name: str, limit: int = 48) -> str:
    """TFLite tensor names are long ('model/block_3/conv/Relu;model/block_3/...'): keep the layer."""
    first = name.split(";")[0]
    parts = [p for p in first.split("/") if p]
    text = "/".join(parts[-2:]) if len(parts) > 1 else first
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def operator_errors(sensitivity: list[dict[str, Any]], float_ops: list[str], top: int = 15) -> bytes | None:
    if not sensitivity:
        return None
    plt = _pyplot()
    rows = sensitivity[:top][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(rows) + 1.2))
    colours = [CHOSEN if r["op"] in float_ops else OTHER for r in rows]
    ax.barh([f"{short_op_name(r['op'])} ({r.get('op_type', '')})" for r in rows], [r["error"] for r in rows], color=colours)
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("output error with only this operator in int8 (relative RMS)")
    ax.set_title("Per-operator quantization error (orange: kept in float)")
    return _png(fig)


def _p50_bars(ax, x: list, p50: list[float], p90: list[float], colours: list[str]) -> None:
    """Bars at p50 with a whisker up to p90."""
    ax.bar(x, p50, color=colours)
    ax.errorbar(x, p50, yerr=[[0] * len(p50), [max(b - a, 0) for a, b in zip(p50, p90)]], fmt="none", ecolor="black", capsize=3, linewidth=0.8)


def host_latency(variants: list[dict[str, Any]], chosen: str, float_name: str) -> bytes | None:
    rows = [v for v in variants if v.get("latency")]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    names = [v["name"] for v in rows]
    p50 = [v["latency"]["p50_ms"] for v in rows]
    p90 = [v["latency"]["p90_ms"] for v in rows]
    _p50_bars(ax, names, p50, p90, [_colour(n, chosen, float_name) for n in names])
    ax.set_ylabel("host latency, batch 1 (ms): p50, whisker to p90")
    ax.set_title("Host latency (LiteRT on this machine's CPU)")
    return _png(fig)


def device_latency(runs: list[dict[str, Any]]) -> bytes | None:
    rows = [r for r in runs if r.get("latency")]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.6, 0.7 * len(rows) + 2), 3.3))
    labels = []
    for r in rows:
        accel = r["accelerator_requested"] if r["accelerator_applied"] == r["accelerator_requested"] else f"{r['accelerator_requested']}→{r['accelerator_applied']}"
        labels.append(f"{r['device'].get('model', '?')[:14]}\n{r['bundle'][:14]}\n{accel}")
    p50 = [r["latency"]["p50"] for r in rows]
    p90 = [r["latency"]["p90"] for r in rows]
    colours = [MUTED if r["accelerator_applied"] != r["accelerator_requested"] else OTHER for r in rows]
    _p50_bars(ax, list(range(len(rows))), p50, p90, colours)
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("latency (ms): p50, whisker to p90")
    ax.set_title("On-device latency (grey: the accelerator fell back)")
    return _png(fig)


def apk_breakdown(apks: list[dict[str, Any]]) -> bytes | None:
    rows = [a for a in apks if a.get("breakdown")]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 0.5 * len(rows) + 1.8))
    order = ("models", "native", "dex", "resources", "assets", "other")
    palette = {"models": CHOSEN, "native": "#5c7cfa", "dex": "#20c997", "resources": "#fab005", "assets": "#845ef7", "other": MUTED}
    for i, apk in enumerate(rows):
        left = 0.0
        for cat in order:
            mb = apk["breakdown"]["categories"][cat] / 1e6
            ax.barh([i], [mb], left=left, color=palette[cat], label=cat if i == 0 else None)
            left += mb
    ax.set_yticks(range(len(rows)), [f"{a['package']}\n{a['serial']}" for a in rows], fontsize=7)
    ax.set_xlabel("MB in the APK")
    ax.set_title("APK make-up")
    ax.legend(fontsize=7, ncols=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    return _png(fig)
