"""The report's figures, drawn with matplotlib (Agg, imported lazily) and returned as PNG bytes.

Every function takes plain data (no manifest dicts) and returns None when there is nothing to
draw, so the report shows a section only when it has data. One colour marks the chosen variant
everywhere (CHOSEN); the float reference is grey, other variants a quiet blue.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packager.text import PLOT_RC, plain

if TYPE_CHECKING:  # numpy is imported with matplotlib, when a figure is drawn
    import numpy as np

CHOSEN = "#d9480f"
OTHER = "#4c6ef5"
FLOAT = "#868e96"
MUTED = "#ced4da"
INK = "#343a40"
DPI = 144  # crisp on high-density screens at the report's ~560 CSS px figure width

# roles of a variant in the figures
ROLE_CHOSEN, ROLE_FLOAT, ROLE_OTHER = "chosen", "float", "other"
_ROLE_COLOUR = {ROLE_CHOSEN: CHOSEN, ROLE_FLOAT: FLOAT, ROLE_OTHER: OTHER}


def _pyplot():
    import matplotlib  # noqa: PLC0415 - costs ~0.5 s; only reports need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.spines.top": False,
        "axes.spines.right": False, "axes.edgecolor": "#adb5bd", "axes.labelcolor": INK, "xtick.color": INK,
        "ytick.color": INK, "figure.dpi": DPI, "savefig.dpi": DPI, "svg.fonttype": "none",
        **PLOT_RC,  # labels are device, class and variant names: text, never math text or TeX
    })
    return plt


def _png(fig) -> bytes:
    from matplotlib.text import Text  # noqa: PLC0415

    for artist in fig.findobj(Text):  # every label, title and annotation, however it was made
        artist.set_text(plain(artist.get_text()))
        artist.set_parse_math(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.12, facecolor="white")
    _pyplot().close(fig)
    return buffer.getvalue()


def _ms_text(value: float) -> str:
    return f"{value:.3g}"


# --- size against accuracy -------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    name: str
    size_kib: float
    value: float  # percent
    role: str = ROLE_OTHER
    rejected: bool = False  # an auto-mode candidate outside the budget


def _place_labels(ax, points: list[Point]) -> None:
    """Annotate each point where its label overlaps neither another label nor a marker."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    taken = []
    from matplotlib.transforms import Bbox  # noqa: PLC0415

    for p in points:  # markers are obstacles too
        x, y = to_px((p.size_kib, p.value))
        taken.append(Bbox.from_extents(x - 5, y - 5, x + 5, y + 5))
    right = [(7, 5), (7, -13), (7, 19), (7, -27), (7, 33), (7, -41)]
    left = [(-dx, dy) for dx, dy in right]
    for p in sorted(points, key=lambda p: (p.role != ROLE_CHOSEN, p.size_kib)):
        # in a cluster, the leftmost point's label goes left and the others' right, so labels do not cross
        x, y = to_px((p.size_kib, p.value))
        near = [q for q in points if q is not p and abs(to_px((q.size_kib, q.value))[1] - y) < 20 and abs(to_px((q.size_kib, q.value))[0] - x) < 40]
        go_left = bool(near) and all(to_px((q.size_kib, q.value))[0] >= x for q in near)
        label = None
        for dx, dy in [item for pair in zip(left, right) for item in pair] if go_left else [*right[:2], *left[:2], *right[2:], *left[2:]]:
            if label is not None:
                label.remove()
            far = abs(dy) > 13
            label = ax.annotate(
                p.name, (p.size_kib, p.value), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top",
                color=CHOSEN if p.role == ROLE_CHOSEN else INK, fontweight="bold" if p.role == ROLE_CHOSEN else "normal",
                arrowprops={"arrowstyle": "-", "color": "#adb5bd", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3} if far else None,
            )
            box = label.get_window_extent(renderer).expanded(1.04, 1.12)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(t) for t in taken):
                break
        assert label is not None  # the loop above placed it at least once
        taken.append(label.get_window_extent(renderer))


def _finite(value: float, instead: float) -> float:
    return value if math.isfinite(value) else instead


def size_vs_accuracy(points: list[Point], ylabel: str, floor: float | None = None) -> bytes | None:
    """Annotated scatter: every variant's size against its accuracy; `floor` is the budget line."""
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for p in points:
        colour = _ROLE_COLOUR[p.role]
        if p.rejected:
            ax.scatter([p.size_kib], [p.value], marker="X", s=60, color=colour, alpha=0.85, zorder=3, linewidths=0)
        else:
            ax.scatter([p.size_kib], [p.value], s=90 if p.role == ROLE_CHOSEN else 50, color=colour, zorder=4,
                       edgecolors="white", linewidths=0.8)
    values = [p.value for p in points] + ([floor] if floor is not None else [])
    low, high = min(values), max(values)
    pad = max(0.6, (high - low) * 0.18)
    ax.set_ylim(max(0.0, low - pad), min(100.0, high) + pad)
    sizes = [p.size_kib for p in points]
    span = max(sizes) - min(sizes) or max(sizes) * 0.2
    ax.set_xlim(max(0.0, min(sizes) - span * 0.22), max(sizes) + span * 0.25)  # room for labels on both sides
    if floor is not None:
        ax.axhline(floor, color=CHOSEN, linestyle="--", linewidth=0.9, alpha=0.7)
        ax.annotate("accuracy budget floor", (1.0, floor), xycoords=("axes fraction", "data"), xytext=(-4, -3),
                    textcoords="offset points", ha="right", va="top", fontsize=7, color=CHOSEN)
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel(ylabel)
    title = "Size against accuracy: up and to the left is better"
    if any(p.rejected for p in points):
        title += "\n(× rejected candidates)"
    ax.set_title(title)
    ax.grid(alpha=0.25)
    _place_labels(ax, points)
    return _png(fig)


# --- per-class accuracy change ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassChange:
    variant: str
    changes: list[float]  # points, one per class shown
    role: str = ROLE_OTHER


def per_class_change(classes: list[str], series: list[ClassChange], title: str) -> bytes | None:
    """Grouped bars: each variant's per-class accuracy minus float's, in points."""
    if not classes or not series:
        return None
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    n = len(classes)
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.2, n * 0.45 + 1.5)), 3.4))
    width = 0.8 / len(series)
    for i, s in enumerate(series):
        chosen = s.role == ROLE_CHOSEN
        ax.bar(np.arange(n) + (i - (len(series) - 1) / 2) * width, s.changes, width * 0.95,
               color=CHOSEN if chosen else OTHER, alpha=1.0 if chosen else 0.25 + 0.5 * (i + 1) / len(series),
               label=s.variant + (" (chosen)" if chosen else ""), zorder=3)
    ax.axhline(0, color=INK, linewidth=0.8)
    ax.set_xticks(range(n), [c if len(c) <= 12 else c[:11] + "…" for c in classes],
                  rotation=40 if n > 8 or max(len(c) for c in classes) > 6 else 0, ha="right" if n > 8 else "center")
    ax.set_ylabel("accuracy change vs float (points)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.25, zorder=0)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="variant", title_fontsize=7)
    return _png(fig)


# --- per-operator error -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OperatorBar:
    label: str
    error: float
    disagreement: float | None
    kept_in_float: bool


def operator_errors(rows: list[OperatorBar]) -> bytes | None:
    """Horizontal bars, most sensitive at the top; operators kept in float in the chosen colour."""
    if not rows:
        return None
    plt = _pyplot()
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(6.2, 0.3 * len(rows) + 1.3))
    # a log axis has no zero: an operator with no measurable error gets a stub at a tenth of the smallest error
    positive = [r.error for r in rows if r.error > 0 and math.isfinite(r.error)]  # an inf error (a LOG of zero) is drawn at the top
    floor = min(positive) / 10 if positive else 1e-6
    bars = ax.barh(range(len(rows)), [max(_finite(r.error, max(positive or [floor]) * 10), floor) for r in rows], color=[CHOSEN if r.kept_in_float else OTHER for r in rows], zorder=3)
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8)
    ax.set_xscale("log")
    for bar, r in zip(bars, rows):
        text = f"{r.error:.2g}"
        if r.disagreement:
            text += f", top-1 changes on {r.disagreement:.0%}"
        ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=7, color=INK)
    ax.set_xlim(floor / 2, max(positive or [floor]) * 80)  # room for the annotations
    ax.set_xlabel("output error with only this operator in int8 (RMS, relative to float; log scale)")
    ax.set_title("Per-operator quantization error" + (" (orange: kept in float)" if any(r.kept_in_float for r in rows) else ""))
    ax.grid(axis="x", alpha=0.25, zorder=0)
    return _png(fig)


# --- quantization debugger -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorErrorPoint:
    label: str  # shortened tensor name
    accumulated: float
    added: float
    worst: bool  # one of the reported worst tensors


def tensor_errors(points: list[TensorErrorPoint]) -> bytes | None:
    """Accumulated error tensor by tensor through the graph (line) with each operator's added error
    (bars); the worst tensors labelled."""
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 3.6))
    x = range(len(points))
    # a non-finite error (a variant's -inf) would make no axis: drawn at the largest finite one
    top = max([v for p in points for v in (p.accumulated, p.added) if math.isfinite(v)], default=1.0)
    points = [TensorErrorPoint(p.label, _finite(p.accumulated, top), _finite(p.added, top), p.worst) for p in points]
    ax.bar(x, [p.added for p in points], color=[CHOSEN if p.worst else OTHER for p in points], zorder=3, width=0.7, label="added by the operator")
    ax.plot(x, [p.accumulated for p in points], color=INK, linewidth=1.2, marker=".", markersize=3, zorder=4, label="accumulated")
    for i, p in enumerate(points):
        if p.worst:
            ax.annotate(p.label, (i, p.added), xytext=(0, 3), textcoords="offset points", rotation=60, fontsize=6, color=INK, ha="left", va="bottom")
    ax.set_xlabel("tensors in graph order")
    ax.set_ylabel("error, RMS relative to float's RMS")
    ax.set_ylim(0, max(max(p.accumulated for p in points), max(p.added for p in points)) * 1.5 or 1)
    ax.set_title("Quantization error through the network (orange: the worst operators)")
    ax.grid(axis="y", alpha=0.25, zorder=0)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return _png(fig)


# --- latency --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyBar:
    name: str
    p50: float
    p90: float
    role: str = ROLE_OTHER


def host_latency(rows: list[LatencyBar], title: str, unit: str = "ms") -> bytes | None:
    """Bars at p50 with a whisker to p90, value on top."""
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 3.4))
    x = range(len(rows))
    p50 = [r.p50 for r in rows]
    bars = ax.bar(x, p50, color=[_ROLE_COLOUR[r.role] for r in rows], zorder=3, width=0.6)
    ax.errorbar(x, p50, yerr=[[0] * len(rows), [max(r.p90 - r.p50, 0) for r in rows]], fmt="none", ecolor=INK, capsize=3, linewidth=0.8, zorder=4)
    for bar, r in zip(bars, rows):
        ax.annotate(_ms_text(r.p50), (bar.get_x() + bar.get_width() / 2, r.p90), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=7, color=INK)
    ax.set_xticks(list(x), [r.name for r in rows], rotation=20 if len(rows) > 5 else 0, ha="right" if len(rows) > 5 else "center")
    ax.set_ylabel(f"latency per inference ({unit})")
    ax.set_ylim(0, max(r.p90 for r in rows) * 1.18 or 1)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.25, zorder=0)
    return _png(fig)


@dataclass(frozen=True)
class LatencyBox:
    """One device x bundle x accelerator: every measured latency, or (benchmark_model) a summary."""

    label: str
    samples: list[float] = field(default_factory=list)  # every measured latency, when the runner kept them
    mean: float | None = None  # otherwise the summary (benchmark_model prints mean/min/max only)
    minimum: float | None = None
    maximum: float | None = None
    fell_back: bool = False
    highlight: bool = True  # this bundle's runs; runs of other bundles are quieter

    def spread(self) -> tuple[float, float, float, bool]:
        """(centre, low, high, from single runs): p50 with p5-p95, or mean with min-max."""
        import numpy as np  # noqa: PLC0415

        if self.samples:
            p5, p50, p95 = np.percentile(np.asarray(self.samples, dtype=float), [5, 50, 95])
            return float(p50), float(p5), float(p95), True
        assert self.mean is not None  # a box without single runs is a summary, which has a mean
        mean = float(self.mean)
        return mean, float(self.minimum if self.minimum is not None else mean), float(self.maximum if self.maximum is not None else mean), False


def _bar_colour(b: LatencyBox) -> str:
    return MUTED if b.fell_back else (OTHER if b.highlight else "#a5b4fc")


def device_latency(boxes: list[LatencyBox], title: str, unit: str = "ms") -> bytes | None:
    """One device: a bar per bundle x accelerator at p50, whiskers p5-p95, and every measured run as
    a dot, so the spread shows even when it is tiny next to the bar; fallbacks hatched grey."""
    boxes = [b for b in boxes if b.samples or b.mean is not None]
    if not boxes:
        return None
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.2, 1.1 * len(boxes) + 1.5)), 3.5))
    rng = np.random.default_rng(0)  # fixed jitter: the same results draw the same figure
    top = 0.0
    for i, b in enumerate(boxes):
        centre, low, high, single = b.spread()
        ax.bar([i], [centre], width=0.6, color=_bar_colour(b), edgecolor=INK if b.fell_back else "none", linewidth=0.6,
               hatch="///" if b.fell_back else None, zorder=3)
        ax.errorbar([i], [centre], yerr=[[centre - low], [high - centre]], fmt="none", ecolor=INK, capsize=4, linewidth=0.9, zorder=5)
        if b.samples:
            ax.scatter(i + rng.uniform(-0.2, 0.2, len(b.samples)), b.samples, s=5, color=INK, alpha=0.35, linewidths=0, zorder=4)
        peak = max([high, *b.samples])
        top = max(top, peak)
        ax.annotate(f"{'p50' if single else 'mean'} {_ms_text(centre)}", (i, peak), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=7, color=INK)
    ax.set_xticks(range(len(boxes)), [b.label for b in boxes], fontsize=7)
    ax.set_xlim(-0.6, len(boxes) - 0.4)
    ax.set_ylim(0, top * 1.18 or 1)
    ax.set_ylabel(f"latency per inference ({unit})")
    note = "bar: p50, whiskers: p5–p95, dots: single runs"
    if any(not b.samples for b in boxes):
        note += " (mean and min–max where the runner kept no single runs)"
    if any(b.fell_back for b in boxes):
        note += "; hatched grey: the accelerator fell back"
    ax.set_title(title, pad=16)
    ax.annotate(note, (0.5, 1.0), xycoords="axes fraction", xytext=(0, 4), textcoords="offset points", ha="center", va="bottom",
                fontsize=7, color=FLOAT)
    ax.grid(axis="y", alpha=0.25, zorder=0)
    return _png(fig)


def device_overview(devices: list[str], accelerators: list[str], cells: dict[tuple[str, str], LatencyBox], unit: str = "ms") -> bytes | None:
    """Several devices side by side: grouped bars (one group per device, one bar per requested
    accelerator) at p50, whiskers p5-p95; fallbacks hatched grey and labelled with what ran."""
    if len(devices) < 2 or not cells:
        return None
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.2, 0.55 * len(devices) * len(accelerators) + 2.0)), 3.6))
    width = 0.8 / len(accelerators)
    shades = [OTHER, "#20c997", "#fab005", "#845ef7", "#15aabf"]
    top = 0.0
    for j, acc in enumerate(accelerators):
        colour = shades[j % len(shades)]
        for i, device in enumerate(devices):
            b = cells.get((device, acc))
            if b is None or not (b.samples or b.mean is not None):
                continue
            centre, low, high, _ = b.spread()
            x = i + (j - (len(accelerators) - 1) / 2) * width
            ax.bar([x], [centre], width * 0.92, color=MUTED if b.fell_back else colour, hatch="///" if b.fell_back else None,
                   edgecolor=INK if b.fell_back else "none", linewidth=0.6, zorder=3, label=None if b.fell_back else acc)
            ax.errorbar([x], [centre], yerr=[[centre - low], [high - centre]], fmt="none", ecolor=INK, capsize=2, linewidth=0.8, zorder=4)
            ax.annotate(_ms_text(centre) + (f"\n{b.label}" if b.fell_back else ""), (x, high), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6, color=INK)
            top = max(top, high)
    ax.set_xticks(np.arange(len(devices)), devices, fontsize=8)
    ax.set_ylim(0, top * 1.25 or 1)
    ax.set_ylabel(f"latency per inference, p50 ({unit})")
    ax.set_title("Latency per device and accelerator", pad=16)
    ax.annotate("whiskers: p5–p95; hatched grey: the requested accelerator fell back", (0.5, 1.0), xycoords="axes fraction",
                xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7, color=FLOAT)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend([unique[a] for a in accelerators if a in unique], [a for a in accelerators if a in unique], title="requested",
              fontsize=7, title_fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.25, zorder=0)
    return _png(fig)


# --- APK make-up ------------------------------------------------------------------------------------------
APK_CATEGORIES = ("models", "native", "dex", "resources", "assets", "other")
APK_COLOURS = {"models": CHOSEN, "native": "#5c7cfa", "dex": "#20c997", "resources": "#fab005", "assets": "#845ef7", "other": MUTED}


@dataclass(frozen=True)
class ApkBar:
    label: str
    categories: dict[str, int]  # bytes per APK_CATEGORIES


def apk_breakdown(rows: list[ApkBar]) -> bytes | None:
    """One stacked bar per APK, MB per category, shares written on the larger pieces."""
    rows = [r for r in rows if sum(r.categories.values())]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 0.55 * len(rows) + 1.6))
    for i, r in enumerate(rows):
        total = sum(r.categories.values())
        left = 0.0
        for cat in APK_CATEGORIES:
            mb = r.categories.get(cat, 0) / 1e6
            ax.barh([i], [mb], left=left, color=APK_COLOURS[cat], label=cat if i == 0 else None, height=0.55, zorder=3)
            share = r.categories.get(cat, 0) / total
            if share >= 0.08:
                ax.text(left + mb / 2, i, f"{cat} {share:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if cat != "resources" else INK)
            left += mb
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8)
    ax.set_xlabel("size in the APK file (MB)")
    ax.set_title("What the APK is made of")
    ax.grid(axis="x", alpha=0.25, zorder=0)
    ax.legend(fontsize=7, ncols=len(APK_CATEGORIES), frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3 - 0.05 / len(rows)))
    return _png(fig)


# --- a segmenter's masks ------------------------------------------------------------------------------
# class 0 (background in the usual label sets) dark grey, then distinct colours; more classes cycle
MASK_COLOURS = ("#343a40", "#e64980", "#4c6ef5", "#fab005", "#12b886", "#be4bdb", "#fd7e14", "#15aabf", "#82c91e", "#f03e3e")


@dataclass(frozen=True)
class MaskSample:
    image: np.ndarray | None  # [H, W, 3] uint8 pixels, or None when the sample has no image
    float_mask: np.ndarray  # [h, w] class indices
    chosen_mask: np.ndarray


def segmentation_masks(samples: list[MaskSample], labels: list[str], chosen_name: str) -> bytes | None:
    """A row per golden sample: its input image, the float model's mask and `chosen_name`'s, side by side,
    the pixels where the two masks differ outlined in white on the chosen one; a legend of the classes shown."""
    if not samples:
        return None
    import numpy as np  # noqa: PLC0415 - with matplotlib, only for reports
    from matplotlib.colors import ListedColormap  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    plt = _pyplot()
    classes = max(len(labels), 1 + max(int(np.max(s.float_mask)) for s in samples), 1 + max(int(np.max(s.chosen_mask)) for s in samples))
    colours = ListedColormap([MASK_COLOURS[i % len(MASK_COLOURS)] for i in range(classes)])
    fig, axes = plt.subplots(len(samples), 3, figsize=(6.4, 2.1 * len(samples)), squeeze=False)
    shown: set[int] = set()
    for row, s in zip(axes, samples):
        f, c = np.asarray(s.float_mask), np.asarray(s.chosen_mask)
        if s.image is not None:
            row[0].imshow(np.asarray(s.image))
        agree = float((f == c).mean())
        row[1].imshow(f, cmap=colours, vmin=0, vmax=classes - 1, interpolation="nearest")
        row[2].imshow(c, cmap=colours, vmin=0, vmax=classes - 1, interpolation="nearest")
        differ = np.ma.masked_where(f == c, np.ones_like(f))
        row[2].imshow(differ, cmap=ListedColormap(["white"]), alpha=0.85, interpolation="nearest")
        row[1].set_title("float", fontsize=8)
        row[2].set_title(f"{chosen_name}: {agree:.1%} of pixels agree", fontsize=8)
        row[0].set_title("input", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        shown |= {int(v) for v in np.unique(f)} | {int(v) for v in np.unique(c)}
    names = [labels[i] if i < len(labels) else str(i) for i in range(classes)]
    handles = [Patch(color=MASK_COLOURS[i % len(MASK_COLOURS)], label=names[i]) for i in sorted(shown)]
    handles.append(Patch(facecolor="white", edgecolor=INK, label="differs from float"))
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 4), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return _png(fig)
