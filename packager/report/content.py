"""What the bundle's report says, from the manifest and the device results kept beside it.

`render_all(manifest, bundle_dir)` returns {"report.md": ..., "report.html": ...}. The content is
assembled once as a packager.report.document.Document (sections of facts, tables and figures) and
rendered twice, so both files say the same. Figures are embedded in the HTML; when a bundle
folder is given they are also written as PNG files beside report.md (report-plots/), which
`packager bundle` leaves on the host like the reports themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from packager.detection.draw import comparison
from packager.fileio import current_umask, replace_folder
from packager.manifest import SLOWER_MARGIN, DeviceRun, Manifest, Tensor, VariantMetrics
from packager.report import plots
from packager.report.device import DEVICE_FOLDER, DeviceData, load_kept
from packager.report.document import Block, Cards, Document, Facts, Figure, Paragraph, Section, Table, to_html, to_markdown

PLOTS_FOLDER = "report-plots"
REPORT_FILES = {"md": "report.md", "html": "report.html"}  # what render_all writes, as the manifest lists it
DASH = "–"
# what a device run's peak memory figure is (contract 2's peak_memory_measure), shown beside it
_MEASURE = {"rise_over_preload_baseline": " (rise over pre-load)", "fresh_process_peak": " (own process)"}


# --- numbers as text ------------------------------------------------------------------------------
def _pct(fraction: float | None, digits: int = 2) -> str:
    return DASH if fraction is None else f"{fraction * 100:.{digits}f}%"


def _points(value: float | None) -> str:
    return DASH if value is None else f"{value:+.2f}".replace("-", "−")


def _kib(size: int | None) -> str:
    return DASH if size is None else f"{size / 1024:.1f}"


def _size(size: int | None) -> str:
    if size is None:
        return DASH
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _mb(size: int | None) -> str:
    return DASH if size is None else f"{size / 1e6:.2f}"


def _ms(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else (f"{value:.2f}" if value >= 1 else f"{value:.3g}")


@dataclass(frozen=True)
class TimeUnit:
    """Milliseconds, or microseconds when every value of a table is under one (small models, fast chips)."""

    name: str
    per_ms: float

    def __call__(self, ms: float | None) -> str:
        return _ms(None if ms is None else ms * self.per_ms)

    @overload
    def scale(self, ms: float) -> float: ...
    @overload
    def scale(self, ms: None) -> None: ...
    @overload
    def scale(self, ms: float | None) -> float | None: ...
    def scale(self, ms: float | None) -> float | None:
        return None if ms is None else ms * self.per_ms


MS, US = TimeUnit("ms", 1.0), TimeUnit("µs", 1000.0)


def unit_for(values: list[float | None]) -> TimeUnit:
    return MS if any(v is not None and v >= 1 for v in values) else US


def _duration(ms: float) -> str:
    """For headline numbers: µs below a millisecond."""
    return f"{ms * 1000:.3g} µs" if ms < 1 else f"{_ms(ms)} ms"


def _err(value: float | None) -> str:
    return DASH if value is None else ("0" if value == 0 else f"{value:.2g}")


ENGINES = {"ai-edge-quantizer": "AEQ", "tf-converter": "TF", "none": DASH}
ENGINE_NAMES = {"ai-edge-quantizer": "ai-edge-quantizer", "tf-converter": "the TFLite converter"}


# --- the variants -----------------------------------------------------------------------------------------
def _p50(m: VariantMetrics) -> float | None:
    return m.latency.p50 if m.latency else None


def _p90(m: VariantMetrics) -> float | None:
    return m.latency.p90 if m.latency else None


def role_of(manifest: Manifest, m: VariantMetrics) -> str:
    """How a variant is drawn (plots.ROLE_*): the chosen one, the float reference, or another."""
    if m.name == manifest.selection.chosen:
        return plots.ROLE_CHOSEN
    return plots.ROLE_FLOAT if m.name == manifest.metrics.reference.name else plots.ROLE_OTHER


def variants_of(manifest: Manifest) -> list[VariantMetrics]:
    """The float reference first, then every variant built or tried (once each)."""
    metrics = manifest.metrics
    seen, out = set(), []
    for m in [metrics.reference, *metrics.variants]:
        if m.name in seen:
            continue
        seen.add(m.name)
        out.append(m)
    return out


# The terminal table (`packager build`, `packager demo`): short headers, fits 80 columns.
HEADERS = ["variant", "eng", "KiB", "acc %", "agree %", "max err", "mean err", "p50 ms"]


def variant_rows(manifest: Manifest) -> list[list[str]]:
    def role(m: VariantMetrics) -> str:
        return role_of(manifest, m)

    def pct(v: float | None) -> str:
        return DASH if v is None else f"{v * 100:.2f}"

    return [[v.name + (" ✓" if role(v) == plots.ROLE_CHOSEN else ""), ENGINES.get(v.engine, v.engine), _kib(v.size_bytes),
             pct(v.accuracy), pct(v.top1_agreement), _err(v.max_abs_error), _err(v.mean_abs_error), _ms(_p50(v))]
            for v in variants_of(manifest)]


# --- operator names ------------------------------------------------------------------------------------------
_OP_HINTS = {
    "CONV_2D": ("conv",), "DEPTHWISE_CONV_2D": ("depthwise", "dwconv", "conv"), "TRANSPOSE_CONV": ("transpose", "deconv"),
    "FULLY_CONNECTED": ("dense", "matmul", "fc", "linear", "logits", "classifier"), "MAX_POOL_2D": ("pool",),
    "AVERAGE_POOL_2D": ("pool",), "SOFTMAX": ("softmax",), "ADD": ("add",), "MUL": ("mul",), "CONCATENATION": ("concat",),
}


def short_op_name(name: str, op_type: str = "", limit: int = 36) -> str:
    """A readable name for a TFLite operator, which is named after its output tensor: TensorFlow
    joins the names of every fused op ('model/re_lu_2/Relu;model/batch_normalization_2/...;
    model/conv2d_2/convolution'). Keep the layer doing the op's work and count the fused rest."""
    layers: list[str] = []
    for part in filter(None, name.split(";")):
        segments = [s for s in part.split("/") if s]
        layer = segments[1] if len(segments) >= 3 else segments[0]  # model/layer/op[/...] or layer/op
        if layer not in layers:
            layers.append(layer)
    if not layers:
        return name[:limit]
    hints = _OP_HINTS.get(op_type, ())
    primary = next((layer for hint in hints for layer in layers if hint in layer.lower()), layers[0])
    text = primary + (f" (+{len(layers) - 1} fused)" if len(layers) > 1 else "")
    return text if len(text) <= limit else text[: limit // 2 - 1] + "…" + text[-(limit - limit // 2):]


# --- sections ---------------------------------------------------------------------------------------------
class _Report:
    """Builds the Document from one manifest (and the device results kept with it)."""

    def __init__(self, manifest: Manifest, bundle_dir: Path | None):
        self.m = manifest
        self.sel = manifest.selection
        self.variants = variants_of(manifest)
        self.reference = self.variants[0]
        self.chosen = next((v for v in self.variants if v.name == manifest.selection.chosen), manifest.metrics.chosen)
        self.labelled = self.reference.accuracy is not None
        self.device = load_kept(bundle_dir, manifest.name, manifest.model.sha256)
        self.bundle_dir = bundle_dir

    # what "agreement with float" is for this model's output kind (packager.runtime.kinds), as measured
    _AGREEMENT = {
        "segmentation": "Agreement is the per-pixel class agreement with the reference (the argmax over the class axis at every "
                        "pixel); mean IoU is that of the two class maps, over the classes either has.",
        "sequence": "Agreement is the per-step class agreement with the reference (the argmax over the class axis at every step).",
        "probability_map": "Agreement is the share of pixels on the same side of 0.5 as the reference's; correlation is Pearson's "
                           "over every value.",
        "detections": "Agreement is the F1 of the detections matched with the reference's at IoU >= 0.5 with the same class.",
        "values": "Agreement is the share of inputs whose argmax over the whole flattened output matches the reference's "
                  "(a regression output: read the errors).",
    }

    @property
    def agreement_figure(self) -> str:
        """What the agreement and the budget count, in words (the chosen variant's figure, as measured)."""
        kind = self.chosen.output_kind
        return self.chosen.figure if kind not in (None, "classes", "values") and self.chosen.figure else "top-1 agreement with float"

    @property
    def agreement_text(self) -> str:
        return self._AGREEMENT.get(self.chosen.output_kind or "", "Agreement is the share of inputs whose top-1 class matches the reference's.") \
            + (f" The figure: {self.chosen.figure}." if self.chosen.output_kind not in (None, "classes") and self.chosen.figure else "")

    def role(self, m: VariantMetrics) -> str:
        return role_of(self.m, m)

    def document(self) -> Document:
        sections = [self.header(), self.variants_section(), self.runtimes_section(), self.detection_section(),
                    self.segmentation_section(), self.outputs_section(), self.per_class_section(), self.auto_section(),
                    self.engine_choice_section(), self.operator_section(), self.debug_section(), self.accelerator_section(), *self.device_sections()]
        m = self.m
        footer = (f"Generated by packager {m.tools.get('packager') or '?'} from manifest.json (bundle built {m.created}). "
                  "Regenerate with: packager report <bundle folder>.")
        return Document(f"{m.name} {m.version}", m.description or "", [s for s in sections if s and s.blocks], footer)

    # header ------------------------------------------------------------------------------------------
    def header(self) -> Section:
        m, chosen, ref = self.m, self.chosen, self.reference
        sizes = m.sizes
        cards = [("chosen variant", chosen.name), ("model size", f"{_size(m.model.size_bytes)}"),
                 ("of float size", f"{sizes.chosen_bytes / sizes.float_bytes:.0%}")]
        if ref.accuracy is not None:  # self.labelled
            drop = None if chosen.accuracy is None else (chosen.accuracy - ref.accuracy) * 100
            cards += [("top-1 accuracy", _pct(chosen.accuracy)), ("change vs float", f"{_points(drop)} pt")]
        cards.append(("agreement with float", _pct(chosen.top1_agreement)))
        p50 = _p50(chosen)
        if p50 is not None:
            cards.append(("host latency p50", _duration(p50)))
        return Section("", [Cards(cards, highlight=0), Facts(self.facts())])

    def facts(self) -> list[tuple[str, str]]:
        m, sel = self.m, self.sel
        recipe, src, sizes = m.recipe, m.source, m.sizes
        labels = m.labels.values
        task = m.task.replace("_", " ") + (f", {len(labels)} classes" if labels else "")
        how = (f"{recipe.quant} model, bundled as it is" if recipe.engine == "none"
               else f"{recipe.quant} by {ENGINE_NAMES.get(recipe.engine, recipe.engine)}")
        if recipe.io_dtype:
            how += f", {recipe.io_dtype} input and output"
        if recipe.calibration_samples:
            how += f", calibrated on {recipe.calibration_samples} samples"
        facts = [
            ("task", task),
            ("source", f"{src.path} ({src.format}, {_size(src.size_bytes)}), sha256 {src.sha256}"),
            ("chosen variant", f"{recipe.name}: {how}"),
        ]
        if m.custom_ops:
            facts.append(("custom operators", f"{', '.join(m.custom_ops)}: not LiteRT builtins; the app's LiteRT build must "
                                              "provide (register) their kernels, a stock Android build may not"))
        if m.state is not None:
            facts.append(("state", f"{m.state.variables} resource variable(s) ({', '.join(m.state.operators)}): {m.state.note}"))
        if recipe.float_ops:
            facts.append(("kept in float", ", ".join(short_op_name(op) for op in recipe.float_ops)))
        narrowed = recipe.options.get("int32_bias_ops")
        if narrowed:
            kept = recipe.options.get("int64_bias_ops") or 0
            facts.append(("int16 biases", f"{narrowed} op(s) on 32-bit biases, provably overflow-free, for LiteRT's optimized kernels"
                          + (f"; {kept} kept at 64 bits" if kept else "")))
        facts.append(("why chosen", f"{sel.reason or DASH} ({sel.mode} mode)"))
        if sel.max_accuracy_drop is not None:
            what = "top-1 accuracy" if self.labelled else self.agreement_figure
            facts.append(("accuracy budget", f"at most {_pt(sel.max_accuracy_drop)} of {what} lost"))
        facts += [
            ("sizes", f"source {_size(sizes.source_bytes)} → float TFLite {_size(sizes.float_bytes)} → chosen "
                      f"{_size(sizes.chosen_bytes)} ({sizes.chosen_bytes / sizes.float_bytes:.0%} of float, metadata included)"),
            ("model file", f"{m.model.file}, sha256 {m.model.sha256}"),
            ("inputs", "; ".join(_tensor(t) for t in m.inputs)),
            ("outputs", "; ".join(_tensor(t) for t in m.outputs)),
        ]
        if labels:
            facts.append(("labels", ", ".join(labels[:12]) + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")))
        pre = m.preprocessing
        facts.append(("preprocessing", DASH + " (arrays fed as they are)" if not pre else
                      f"convert to {pre.color_space}, resize to {pre.size[0]}x{pre.size[1]} ({pre.resize_method}), "
                      f"(x − mean {_nums(pre.mean)}) / std {_nums(pre.std)} on 0–255 pixel values, {pre.layout}"))
        metrics = m.metrics
        samples = metrics.eval_samples or 0
        if samples and metrics.eval_data:
            measured = f"{samples} samples from {metrics.eval_data}"
        elif metrics.measured_on == "calibration data":
            measured = f"{metrics.reference.samples} samples of the calibration data (no evaluation data): agreement and errors only"
        else:
            measured = "seeded random inputs (no evaluation data): agreement and errors only"
        facts.append(("evaluated on", measured))
        budget = m.golden.budget
        if budget is not None:
            stored = ", ".join(sorted(set(budget.outputs_stored)))
            facts.append(("golden files", f"{_size(budget.bytes)} for {budget.kept} of the {budget.requested} samples asked for "
                          f"(budget {_size(budget.budget_bytes)}: {budget.max_share:.0%} of model + golden files"
                          + ("" if budget.within_budget else "; one sample alone is over it") + f"), outputs stored as {stored.replace('_', ' ')}"))
        facts.append(("tools", ", ".join(f"{k.replace('_', '-')} {v}" for k, v in m.tools.items() if v)))
        facts.append(("built", m.created))
        return facts

    # variants ------------------------------------------------------------------------------------------
    def variants_section(self) -> Section:
        vs, ref = self.variants, self.reference
        timed = any(_p50(v) is not None for v in vs)
        ref_p50 = _p50(ref)
        slow = [v.name for v in vs if timed and v is not ref and (p50 := _p50(v)) is not None and ref_p50 is not None
                and p50 > ref_p50 * SLOWER_MARGIN]
        named_by_quant = all(v.quant in ("", v.name) for v in vs)  # else show the quantization column
        headers = ["variant", *([] if named_by_quant else ["quantization"]), "engine", "size (KiB)", "of float"]
        if self.labelled:
            headers += ["top-1 accuracy", "change (pt)"]
        iou, corr = any(v.mean_iou is not None for v in vs), any(v.correlation is not None for v in vs)
        headers += ["agreement with float", *(["mean IoU with float"] if iou else []), *(["correlation with float"] if corr else []),
                    "max abs error", "mean abs error"]
        unit = unit_for([_p90(v) for v in vs] + [_p50(v) for v in vs])
        if timed:
            headers += [f"host p50 ({unit.name})", f"host p90 ({unit.name})"]
        rows = []
        for v in vs:
            row = [v.name, *([] if named_by_quant else [v.quant or DASH]), ENGINES.get(v.engine, v.engine), _kib(v.size_bytes),
                   f"{v.size_bytes / ref.size_bytes:.0%}"]
            if ref.accuracy is not None:  # self.labelled
                row += [_pct(v.accuracy), _points(None if v.accuracy is None else (v.accuracy - ref.accuracy) * 100)]
            row += [_pct(v.top1_agreement), *([_pct(v.mean_iou)] if iou else []),
                    *([DASH if v.correlation is None else f"{v.correlation:.4f}"] if corr else []), _err(v.max_abs_error), _err(v.mean_abs_error)]
            if timed:
                row += [unit(_p50(v)) + (" (slower than float)" if v.name in slow else ""), unit(_p90(v))]
            rows.append(row)
        highlight = {i for i, v in enumerate(vs) if self.role(v) == plots.ROLE_CHOSEN}
        blocks: list[Block | None] = [
            Table(headers, rows, highlight=highlight, text_columns={0, 1} if named_by_quant else {0, 1, 2}),
            Paragraph(f"{ref.name} is the reference ({'the float model' if ref.quant in ('', 'fp32') else 'the model as given'}); "
                      f"the chosen variant is highlighted. {self.agreement_text} "
                      "Errors are absolute differences of the outputs from the reference's. "
                      + ("Host latency: LiteRT on the build machine's CPU, batch 1. " if timed else "")
                      + "Engines: AEQ = ai-edge-quantizer, TF = TFLite converter. Sizes are the variants as evaluated, "
                      "before metadata is embedded.", note=True),
        ]
        broken = [f"{v.name}: {v.non_finite}" for v in vs if v.non_finite]
        if broken:  # the errors in the table leave these values out
            blocks.append(Paragraph(f"Non-finite outputs where {ref.name}'s are finite ({'; '.join(broken)}): the errors above are over the "
                                    "finite values only. A LOG or division in the graph met a value quantization rounded to zero."))
        if slow:
            blocks.append(Paragraph(f"Slower than {ref.name} on this host: {', '.join(slow)}. Smaller is not faster everywhere: LiteRT "
                                    "runs float on XNNPACK, while dynamic-range and int16x8 kernels (and int8 on a small model) may "
                                    "take slower paths; measure on the phone (packager device bench) before choosing for speed."))
        floor = None
        if self.sel.max_accuracy_drop is not None:
            base = ref.accuracy if self.labelled else 1.0
            floor = None if base is None else base * 100 - self.sel.max_accuracy_drop
        rejected = {c.name for c in self.sel.candidates if not c.accepted} if self.sel.mode == "auto" else set()
        points = [plots.Point(v.name, v.size_bytes / 1024, ((v.accuracy if self.labelled else v.top1_agreement) or 0) * 100, self.role(v), v.name in rejected)
                  for v in vs]
        ylabel = "top-1 accuracy (%)" if self.labelled else f"{self.agreement_figure} (%)"
        blocks.append(_figure("size-vs-accuracy", plots.size_vs_accuracy(points, ylabel, floor),
                              "Size against accuracy per variant; the chosen one in orange"
                              + ("; dashed: the accuracy budget" if floor is not None else "")))
        if timed:
            bars = [plots.LatencyBar(v.name, unit.scale(p50), unit.scale(p90 if (p90 := _p90(v)) is not None else p50), self.role(v))
                    for v in vs if (p50 := _p50(v)) is not None]
            blocks.append(_figure("host-latency", plots.host_latency(bars, "Host latency per variant (LiteRT, CPU, batch 1)", unit.name),
                                  "Host latency per variant: bar at p50, whisker to p90"))
        return Section("Variants side by side", [b for b in blocks if b], anchor="variants")

    # the app's runtimes ---------------------------------------------------------------------------------
    def runtimes_section(self) -> Section | None:
        """Each variant in each runtime the app ships (packager/runtime): runs, fails (why), parity with the host."""
        rt = self.m.runtimes
        if rt is None:
            return None
        targets = "; ".join(f"{t.kind} {t.version} ({t.wheel}, {t.kernels} kernels) for {', '.join(t.accelerators)}" for t in rt.targets)
        section = Section("The app's runtimes", anchor="runtimes")
        if rt.skipped:
            section.blocks.append(Paragraph(f"⚠ {rt.skipped}. Target: {targets}."))
            return section
        rows, warn = [], set()
        for i, c in enumerate(rt.checks):
            if c.status == "runs":
                parity = (f"identical on {c.samples} golden inputs" if c.identical else
                          f"top-1 {_pct(c.top1_agreement)}, max abs diff {_err(c.max_abs_diff)} on {c.samples} golden inputs")
            else:
                parity = DASH
                warn |= {(i, 2), (i, 3)}
            rows.append([c.variant + (" (chosen)" if c.variant == self.m.selection.chosen else ""), c.runtime, c.status,
                         c.reason or DASH, parity])
        section.blocks += [
            Paragraph(f"Every variant was loaded, allocated and run on the golden inputs in the exact runtime versions the app "
                      f"uses, each from its own Python wheel, and its outputs compared with the host's (LiteRT "
                      f"{self.m.tools.get('ai_edge_litert') or '?'}). Target (from {rt.targets[0].source if rt.targets else '?'}): {targets}."),
            Table(["variant", "runtime", "status", "why it fails", "parity with the host"], rows, warn=warn, text_columns={0, 1, 2, 3, 4},
                  wrap_columns={3}),
        ]
        return section

    # per output -----------------------------------------------------------------------------------------
    def detection_section(self) -> Section | None:
        """A detector: how its detections compare with float's, and the golden samples drawn (packager/detection)."""
        info, chosen = self.m.detection, self.m.metrics.chosen.detection
        if info is None or chosen is None:
            return None
        section = Section("Detections")
        settings = info.settings
        text = (f"TFLite_Detection_PostProcess {info.postprocess}" + (
            f" ({settings.anchors} anchors, box scales {_nums(settings.box_scales)}, score threshold {settings.score_threshold:g}, "
            f"NMS IoU {settings.iou_threshold:g}, at most {settings.max_detections} detections)" if settings else "") +
            f". {self.chosen.name}'s detections against float's, matched at IoU >= {info.iou_match_threshold:g} with the same class: "
            f"precision {_pct(chosen.precision)}, recall {_pct(chosen.recall)}, agreement (F1) {_pct(chosen.agreement)}, "
            f"score error of matched boxes mean {chosen.score_error_mean:.4f}, max {chosen.score_error_max:.4f}")
        reference = self.m.metrics.reference.detection
        if chosen.map50 is not None and reference is not None and reference.map50 is not None:
            text += f"; mAP@0.5 against {chosen.ground_truth_boxes} ground-truth boxes: float {_pct(reference.map50)}, {self.chosen.name} {_pct(chosen.map50)}"
        section.blocks.append(Paragraph(text + "."))
        if self.bundle_dir is not None and info.samples:

            figure = _figure("detections", comparison(info.samples, self.bundle_dir, self.m.golden.images, self.chosen.name),
                             f"Golden samples: float's detections (blue) beside {self.chosen.name}'s (red), label and score")
            if figure:
                section.blocks.append(figure)
        return section

    def segmentation_section(self) -> Section | None:
        """A segmenter: the golden samples' inputs, float's masks and the bundled model's side by side."""
        golden = self.m.golden
        if self.m.task != "segmentation" or self.bundle_dir is None or golden.float_masks is None:
            return None
        try:  # the bundle's own files, written by the build (never pickled objects)
            float_masks = np.load(self.bundle_dir / golden.float_masks, allow_pickle=False)
            chosen_masks = np.load(self.bundle_dir / golden.outputs[0].file, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if chosen_masks.ndim == 4:  # scores (not stored as a mask): their argmax over the class axis
            chosen_masks = chosen_masks.argmax(axis=-1)
        images = [_rgb(self.bundle_dir / name) for name in golden.images] or [None] * len(float_masks)
        samples = [plots.MaskSample(img, f, c) for img, f, c in zip(images, float_masks, chosen_masks)][:MASK_ROWS]
        labels = list(self.m.labels.values or [])
        agree = float((float_masks == chosen_masks).mean()) if float_masks.shape == chosen_masks.shape else None
        section = Section("Segmentation masks", [Paragraph(
            f"The class at every pixel is the argmax over the output's class axis. On the {len(samples)} golden samples "
            f"{_pct(agree)} of {self.chosen.name}'s pixels have float's class. The golden output is stored as "
            + ("this mask (uint8), " if golden.outputs[0].dtype in ("uint8", "uint16") else "the raw scores, ")
            + "and the device's parity is its masks against it.")])
        info = self.m.segmentation
        if info is not None:
            ref, chosen = info.reference, info.chosen
            text = (f"On the {info.samples} evaluation samples, {_pct(chosen.pixel_agreement)} of {self.chosen.name}'s pixels have float's "
                    f"class; mean IoU of the two masks {chosen.mean_iou:.4f}.")
            if info.labelled_masks and ref.pixel_accuracy is not None and chosen.pixel_accuracy is not None:
                text += (f" Against the {info.labelled_masks} labelled masks: pixel accuracy float {_pct(ref.pixel_accuracy)}, "
                         f"{self.chosen.name} {_pct(chosen.pixel_accuracy)}; mean IoU float {ref.truth_mean_iou:.4f}, "
                         f"{self.chosen.name} {chosen.truth_mean_iou:.4f}.")
            section.blocks.append(Paragraph(text))
        figure = _figure("segmentation", plots.segmentation_masks(samples, labels, self.chosen.name),
                         f"The first {len(samples)} golden samples: the input, float's mask and {self.chosen.name}'s; white: pixels where they differ")
        if figure:
            section.blocks.append(figure)
        return section

    def outputs_section(self) -> Section | None:
        """Several outputs: every output of every variant against float (agreement for probability
        outputs, error and correlation for the rest); the primary one heads the table above."""
        metrics = self.m.metrics
        seen, rows = set(), []
        for m in [*metrics.variants, metrics.chosen]:
            if m.name in seen or not m.outputs:
                continue
            seen.add(m.name)
            for o in m.outputs:
                rows.append([m.name, o.name + (" (primary)" if o.name == m.primary_output else ""), o.kind,
                             _pct(o.top1_agreement), _err(o.max_abs_error), _err(o.mean_abs_error),
                             DASH if o.correlation is None else f"{o.correlation:.4f}"])
        if not rows:
            return None
        primary = metrics.chosen.primary_output or metrics.reference.primary_output
        return Section("Outputs", [
            Table(["variant", "output", "kind", "agreement with float", "max abs error", "mean abs error", "correlation"], rows,
                  text_columns={0, 1, 2}),
            Paragraph(f"The model has several outputs; the table above shows {primary!r}, the primary one "
                      "(the labels' output, else the first class-probability output; packager build --primary-output NAME chooses). "
                      "Agreement is given for probability and class outputs (same top class; one score: same side of 0.5), "
                      "correlation (Pearson, every value) for all.", note=True),
        ], anchor="outputs")

    # per class ------------------------------------------------------------------------------------------
    def per_class_section(self) -> Section | None:
        ref, labels = self.reference, self.m.labels.values
        if not ref.per_class_accuracy:
            return None
        n = len(ref.per_class_accuracy)
        names = labels if len(labels) == n else [str(i) for i in range(n)]
        series = []
        for v in self.variants[1:]:
            if not v.per_class_accuracy or len(v.per_class_accuracy) != n:
                continue
            changes = [None if a is None or b is None else (a - b) * 100 for a, b in zip(v.per_class_accuracy, ref.per_class_accuracy)]
            series.append((v, changes))
        if not series:
            return None
        changed = [(v, c) for v, c in series if any(x for x in c)]
        section = Section("Per-class accuracy against float", anchor="per-class")
        if not changed:
            section.blocks.append(Paragraph(f"No variant changes the accuracy of any class: every variant is as accurate as {ref.name} "
                                            f"on each of the {n} classes."))
            return section
        # the classes that change most (all of them when there are few)
        worst = sorted(range(n), key=lambda k: -max(abs(c[k] or 0) for _, c in changed))
        shown = sorted(worst[:20]) if n > 20 else list(range(n))
        title = "Per-class accuracy change against float" + (f" (the {len(shown)} classes that change most, of {n})" if n > 20 else "")
        bars = [plots.ClassChange(v.name, [c[k] or 0.0 for k in shown], self.role(v)) for v, c in changed]
        figure = _figure("per-class-change", plots.per_class_change([names[k] for k in shown], bars, title),
                         "Accuracy change per class against the float model, in percentage points; below zero is worse")
        if figure is not None:
            section.blocks.append(figure)
        unchanged = [v.name for v, c in series if not any(x for x in c)]
        if unchanged:
            section.blocks.append(Paragraph(f"Unchanged on every class: {', '.join(unchanged)}.", note=True))
        rows_at = [k for k in worst if any(c[k] for _, c in changed)][:50]
        rows = [[names[k], _pct(ref.per_class_accuracy[k], 1), *(_points(c[k]) for _, c in changed)] for k in sorted(rows_at)]
        section.blocks.append(Table(["class", f"{ref.name} accuracy", *(f"{v.name} (pt)" for v, _ in changed)], rows,
                                    collapsed=f"Per-class numbers ({len(rows)} classes that change)"))
        return section

    # auto mode ------------------------------------------------------------------------------------------
    def auto_section(self) -> Section | None:
        sel = self.sel
        if sel.mode != "auto" or not sel.candidates:
            return None
        what = "top-1 accuracy" if self.labelled else "top-1 agreement with float"
        budget = sel.max_accuracy_drop
        assert budget is not None  # auto mode always has a budget (the spec gives it 1 point when none is set)
        intro = (f"--quant auto tries candidates from the most compressed (full int8; int8 with the most quantization-sensitive "
                 f"operators kept in float, as few as the budget needs; dynamic range; fp16; fp32) and keeps the smallest that "
                 f"loses at most {_pt(budget)} of {what}: a mixed variant larger than dynamic range stands only if dynamic range "
                 "fails the budget. Every candidate tried, in order:")
        headers = ["candidate", "verdict", "size (KiB)", "top-1 accuracy", "loss (pt)", "agreement with float", "kept in float", "why"]
        rows, highlight, warn, hover = [], set(), set(), {}
        for i, c in enumerate(sel.candidates):
            chosen = c.name == sel.chosen
            verdict = "chosen" if chosen else ("within budget" if c.accepted else "rejected")
            ops = c.float_ops
            rows.append([c.name, verdict, _kib(c.size_bytes), _pct(c.accuracy),
                         DASH if c.accuracy_drop is None else f"{c.accuracy_drop:.2f}", _pct(c.top1_agreement),
                         ", ".join(short_op_name(op) for op in ops) or DASH, c.reason or ""])
            if ops:
                hover[(i, 6)] = "\n".join(ops)
            if chosen:
                highlight.add(i)
            elif not c.accepted:
                warn.add((i, 1))
        return Section("How the variant was chosen", [Paragraph(intro), Table(headers, rows, highlight, warn, hover, {0, 1, 6}, {7})],
                       anchor="auto")

    def engine_choice_section(self) -> Section | None:
        choice = self.sel.engine_choice or []
        if not choice:
            return None
        what = "top-1 accuracy" if self.labelled else "top-1 agreement with float"
        intro = ("Each variant whose engine was not fixed was made every way packager can and measured against float on the same "
                 f"data; the one that loses least {what} is kept (lower mean error breaks ties). Calibration: the activation-range "
                 "method (minmax, percentile, mse, or the TF converter's own); +cle: cross-layer equalization first; +bc: biases "
                 "corrected by the mean error each layer adds on the calibration data."
                 + (f" Judged on {self.sel.engine_choice_data}." if self.sel.engine_choice_data else ""))
        headers = ["variant", "engine", "calibration", "verdict", "size (KiB)", "loss (pt)", "agreement with float", "max abs err",
                   "mean abs err", "note"]
        rows, highlight, warn = [], set(), set()
        for i, c in enumerate(choice):
            rows.append([c.variant, c.engine, c.calibration or DASH, "chosen" if c.chosen else ("failed" if c.error else "lost"),
                         _kib(c.size_bytes), DASH if c.loss_points is None else f"{c.loss_points:.2f}", _pct(c.top1_agreement),
                         _err(c.max_abs_error), _err(c.mean_abs_error), c.error or ""])
            if c.chosen:
                highlight.add(i)
            elif c.error:
                warn.add((i, 3))
        return Section("Engine and calibration per variant", [Paragraph(intro), Table(headers, rows, highlight, warn, {}, {0, 1, 2, 3}, {9},
                                                                                       collapsed=f"Every candidate ({len(rows)})")],
                       anchor="engine-choice")

    def operator_section(self) -> Section | None:
        sens = self.sel.operator_sensitivity or []
        if not sens:
            return None
        kept = set(self.m.recipe.float_ops)
        ranked = sorted(sens, key=lambda s: -s.error)[:15]
        bars = [plots.OperatorBar(short_op_name(s.op, s.op_type or "") + (f" · {s.op_type}" if s.op_type else ""),
                                  s.error, s.top1_disagreement, s.op in kept) for s in ranked]
        rows = [[short_op_name(s.op, s.op_type or ""), s.op_type or DASH, f"{s.error:.3g}", _pct(s.top1_disagreement, 1),
                 "yes" if s.op in kept else ""] for s in ranked]
        hover = {(i, 0): s.op for i, s in enumerate(ranked)}
        highlight = {i for i, s in enumerate(ranked) if s.op in kept}
        blocks: list[Block | None] = [
            Paragraph("Each operator quantized to int8 alone, everything else in float, on calibration samples: the error of the "
                      "model's output (RMS, relative to float's) and how often its top-1 class changes. The most sensitive ones "
                      "are the candidates for staying in float in a mixed variant."),
            _figure("operator-error", plots.operator_errors(bars), "Per-operator quantization error, most sensitive first"
                    + ("; orange: kept in float in the chosen variant" if kept else "")),
            Table(["operator", "type", "output error", "top-1 changes", "kept in float"], rows, highlight, set(), hover, {0, 1, 4},
                  collapsed=f"Per-operator numbers ({len(rows)} most sensitive operators)"),
        ]
        return Section("Per-operator quantization error", [b for b in blocks if b], anchor="operators")

    def debug_section(self) -> Section | None:
        dbg = self.m.quantization_debug
        if not dbg or not dbg.worst:
            return None
        worst = dbg.worst
        names = {w.tensor for w in worst}
        graph = dbg.through_graph
        intro = (f"The float model and {dbg.variant} side by side on {dbg.samples} calibration samples, tensor by tensor: "
                 "the error that reaches each tensor (accumulated), the part its operator adds (accumulated minus the largest "
                 "accumulated error of its inputs), the error of quantizing the float tensor alone into its range (rounding and "
                 "clipping) and the share of float values outside that range. All RMS, relative to the float tensor's RMS. "
                 f"{dbg.tensors_compared} tensors compared; the {len(worst)} that add the most:")
        blocks: list = [Paragraph(intro)]
        if graph:
            points = [plots.TensorErrorPoint(short_op_name(g.tensor), g.accumulated, g.added, g.tensor in names) for g in graph]
            blocks.append(_figure("tensor-error", plots.tensor_errors(points), "Error through the network: accumulated (line) and added per operator (bars)"))
        rows = [[short_op_name(w.tensor, w.op_type), w.op_type or DASH, f"{w.added:.3g}", f"{w.accumulated:.3g}",
                 f"{w.range_error:.3g}", _pct(w.clipped, 2),
                 DASH if w.range is None else f"[{w.range[0]:.3g}, {w.range[1]:.3g}]", w.calibration or DASH] for w in worst]
        hover = {(i, 0): w.tensor for i, w in enumerate(worst)}
        blocks.append(Table(["tensor", "op", "added", "accumulated", "range error", "clipped", "range", "calibrated by"], rows,
                            set(), set(), hover, {0, 1, 7}))
        return Section("Quantization error per tensor", [b for b in blocks if b], anchor="qdebug")

    # device ------------------------------------------------------------------------------------------
    def accelerator_section(self) -> Section | None:
        cov = self.m.accelerator_coverage
        if cov is None or not cov.variants:
            return None
        low, high = cov.api_levels
        intro = (f"Which operators of each variant the GPU delegate and NNAPI would take, at every Android API level the app "
                 f"supports (API {low} to {high}), and into how many partitions the rest splits the graph: what runs on the "
                 "CPU between partitions costs a copy each way. This is a static prediction from the delegates' own rules "
                 "(the operator's type, version, shapes and options), made at build time; nothing was run on a GPU or an NNAPI "
                 "driver. A phone's driver may still refuse operators the rules accept, and on a phone whose NNAPI has no "
                 "accelerator the app's NNAPI path takes nothing. The measured truth is `packager device bench` on the phone.")
        headers = ["variant", "accelerator", "API levels", "delegation", "partitions", "not delegated (why)"]

        def table(variants, collapsed: str | None = None) -> Table:
            rows: list[list[str]] = []
            warn: set[tuple[int, int]] = set()
            for v in variants:
                for accelerator, apis, e in [("GPU", f"{low}-{high}", v.gpu)] + [(f"NNAPI {lv}", api, e) for api, lv, e in v.nnapi_rows()]:
                    if e.delegated < v.operators:
                        warn.add((len(rows), 3))
                    kind, count = e.summary(v.operators).split(": ", 1)
                    rows.append([v.variant, accelerator, apis, f"{kind}: {count.split(',')[0]}",
                                 f"{e.partitions}" + (f" (largest {e.max_partitions} delegated)" if e.partitions > e.max_partitions else ""),
                                 e.reasons(limit=6) or DASH])
            return Table(headers, rows, set(), warn, {}, {0, 1, 2, 3, 5}, {5}, collapsed=collapsed)

        chosen = [v for v in cov.variants if v.variant == self.chosen.name]
        others = [v for v in cov.variants if v.variant != self.chosen.name]
        rules = "; ".join(f"{name.upper()}: {source}" for name, source in cov.rules.items())
        hints = {h: [v.variant for v in cov.variants if h in v.hints] for v in cov.variants for h in v.hints}
        return Section("Accelerator coverage (predicted)", [
            Paragraph(intro), *([table(chosen)] if chosen else []),
            *([table(others, f"The other variants ({len(others)})")] if others else []),
            *(Paragraph(f"Hint ({', '.join(names)}): {hint}.") for hint, names in hints.items()),
            Paragraph(f"Rules taken from {rules}. packager's docs/ACCELERATORS.md says what is simplified.", note=True)],
            anchor="accelerators")

    def device_sections(self) -> list[Section]:
        data = self.device
        if data is None:
            return []
        devices = list(dict.fromkeys(r.device.serial for r in data.runs))
        intro = (f"{len(data.runs)} runs on {len(devices)} device{'s' if len(devices) != 1 else ''}, from the results kept in "
                 f"{DEVICE_FOLDER}/ ({', '.join(data.files)}). Init is loading the model and applying the "
                 "accelerator's delegate; latency is per inference, batch 1, after warm-up. Parity compares the device's outputs "
                 "with the bundle's golden host outputs. An accelerator that did not apply shows as 'requested → applied'.")
        if data.superseded:
            intro += f" {data.superseded} older run(s) of the same device, bundle and accelerator are left out."
        sections = [Section("On device", [Paragraph(intro), *self.device_overview(data, devices)], anchor="device")]
        for serial in devices:
            runs = [r for r in data.runs if r.device.serial == serial]
            sections.append(self.device_section(runs))
        if data.apks:
            sections.append(self.apk_section(data))
        return sections

    def device_overview(self, data: DeviceData, serials: list[str]) -> list[Figure]:
        """With two or more devices, this bundle's latency on each, side by side."""
        mine = [r for r in data.runs if r.bundle_sha256 == self.m.model.sha256 and r.latency]
        serials = [s for s in serials if any(r.device.serial == s for r in mine)]
        if len(serials) < 2:
            return []
        models = [next(r.device for r in mine if r.device.serial == s).model for s in serials]
        names = {s: (m if models.count(m) == 1 else f"{m}\n{s}") for s, m in zip(serials, models)}
        unit = unit_for([r.latency.max for r in mine if r.latency])  # all of them
        accelerators = list(dict.fromkeys(r.accelerator_requested for r in mine))
        cells = {(names[r.device.serial], r.accelerator_requested): _latency_box(r, r.accelerator.replace(" ", ""), unit, True) for r in mine}
        figure = _figure("device-overview", plots.device_overview([names[s] for s in serials], accelerators, cells, unit.name),
                         f"Latency of {self.m.name} per device and requested accelerator (p50, whiskers p5–p95"
                         + ("; mean and min–max where the runner kept no single runs)" if any(not r.latencies_ms for r in mine) else ")"))
        return [figure] if figure else []

    def _bundle_label(self, run: DeviceRun) -> str:
        if run.bundle_sha256 == self.m.model.sha256:
            return run.bundle
        if run.bundle == self.m.name:
            return f"{run.bundle} (earlier build {run.bundle_sha256[:8]})"
        return run.bundle

    def _predicted(self, run: DeviceRun) -> str:
        """What the build's accelerator coverage predicted this run's delegate would take ('9 of 12'), for GPU and NNAPI
        runs of this bundle on a device whose API level is known."""
        cov = self.m.accelerator_coverage
        variant = cov.of(self.chosen.name) if cov is not None and run.bundle_sha256 == self.m.model.sha256 else None
        accelerator = run.accelerator_requested
        if variant is None or accelerator not in ("gpu", "nnapi"):
            return DASH
        if accelerator == "gpu":
            return f"{variant.gpu.delegated} of {variant.operators}"
        entry = next((e for e in variant.nnapi if run.device.sdk in e.api_levels), None)
        return f"{entry.delegated} of {variant.operators} (API {run.device.sdk})" if entry is not None else DASH

    def device_section(self, runs: list[DeviceRun]) -> Section:
        device = runs[0].device
        mine = self.m.model.sha256
        others = any(r.bundle_sha256 != mine for r in runs)
        highlight = {i for i, r in enumerate(runs) if r.bundle_sha256 == mine} if others else set()
        timing, quality, warn_t, warn_q = [], [], set(), set()
        unit = unit_for([x for r in runs for x in (r.init_ms, r.first_inference_ms, r.latency.max if r.latency else None)])
        for i, r in enumerate(runs):
            lat = r.latency

            def get(key: str, lat=lat) -> float | None:
                return None if lat is None else getattr(lat, key)

            timing.append([self._bundle_label(r), r.accelerator, f"{r.runner}{f' ({r.runtime})' if r.runtime else ''}, {r.threads} thread{'s' if r.threads != 1 else ''}",
                           *(unit(x) for x in (r.init_ms, r.first_inference_ms, get("mean"), get("std"), get("p50"), get("p90"),
                                               get("p99"), get("min"), get("max"))), str(lat.count) if lat else DASH])
            p = r.parity
            notes = [f"fell back: {r.fallback_reason}" if r.fell_back and r.fallback_reason else ("fell back" if r.fell_back else ""),
                     *r.errors]
            memory = DASH if r.peak_memory_kb is None else f"{r.peak_memory_kb / 1024:.1f}" + _MEASURE.get(r.peak_memory_measure or "", "")
            quality.append([self._bundle_label(r), r.accelerator, r.operators, self._predicted(r), memory,
                            _err(p.max_abs_error) if p else DASH, _err(p.mean_abs_error) if p else DASH,
                            _pct(p.top1_agreement, 1) if p else DASH, str(p.samples) if p else DASH, r.status,
                            "; ".join(n for n in notes if n) or DASH])
            if r.fell_back:
                warn_t.add((i, 1))
                warn_q.add((i, 1))
            if r.status != "ok":
                warn_q.add((i, 9))
            if p is not None and p.top1_agreement < 1.0:
                warn_q.add((i, 7))
        boxes = [_latency_box(r, (f"{r.bundle}\n" if others else "") + r.accelerator.replace(" ", ""), unit, r.bundle_sha256 == mine)
                 for r in runs if r.latency]
        key = "".join(ch if ch.isalnum() else "-" for ch in device.serial)
        blocks: list[Block | None] = [
            Paragraph(f"{device.details}. Times in {unit.name}."),
            Table(["bundle", "accelerator", "runner", "init", "1st inference", "mean", "std", "p50", "p90", "p99", "min", "max", "runs"],
                  timing, highlight, warn_t, text_columns={0, 1, 2}),
            Table(["bundle", "accelerator", "operators it took", "predicted", "peak memory (MiB)", "max abs error", "mean abs error",
                   "top-1 agreement", "samples", "status", "notes"], quality, highlight, warn_q, text_columns={0, 1, 2, 3, 9},
                  wrap_columns={10}),
            _figure(f"device-latency-{key}", plots.device_latency(boxes, f"{device.title}: latency per accelerator", unit.name),
                    f"Latency on {device.title} per bundle and accelerator"),
        ]
        return Section(f"{device.title} · {device.serial}", [b for b in blocks if b], level=3)

    def apk_section(self, data: DeviceData) -> Section:
        names = {r.device.serial: r.device.model for r in data.runs}
        cats = plots.APK_CATEGORIES
        rows, bars, hover = [], [], {}
        for i, a in enumerate(data.apks):
            b = a.breakdown
            categories = b.categories if b else {}
            total = (b.total_bytes if b else 0) or sum(categories.values()) or 0
            shares = [f"{categories.get(c, 0) / total:.0%}" if total else DASH for c in cats]
            if b and b.native_by_abi and total:
                shares[cats.index("native")] += " (" + ", ".join(b.native_by_abi) + ")"
                hover[(i, 4 + cats.index("native"))] = ", ".join(f"{abi}: {_mb(n)} MB" for abi, n in b.native_by_abi.items())
            rows.append([names.get(a.serial, a.serial), a.package, _mb(a.installed_bytes), _mb(b.total_bytes if b else None), *shares,
                         DASH if b is None else f"{_mb(b.model_bytes)} MB ({b.model_share:.1%})"])
            if categories:
                bars.append(plots.ApkBar(f"{a.package}\n{names.get(a.serial, a.serial)}", categories))
        blocks: list[Block | None] = [
            Paragraph("Installed size is what the device reports for the app; the breakdown is of the APK file by category, "
                      "with the share taken by models."),
            Table(["device", "package", "installed MB", "APK MB", *(f"{c} %" for c in cats), "models in the APK"], rows,
                  hover=hover, text_columns={0, 1}),
            _figure("apk-breakdown", plots.apk_breakdown(bars), "APK make-up by category"),
        ]
        return Section("APK size", [b for b in blocks if b], level=3)


def _latency_box(run: DeviceRun, label: str, unit: TimeUnit, highlight: bool) -> plots.LatencyBox:
    lat = run.latency
    assert lat is not None  # called for runs with a latency only
    return plots.LatencyBox(label, [unit.scale(x) for x in run.latencies_ms], unit.scale(lat.mean), unit.scale(lat.min), unit.scale(lat.max),
                            run.fell_back, highlight)


def _tensor(t: Tensor) -> str:
    text = f"{t.name} {t.dtype} {t.shape} ({t.semantics})"
    q = t.quantization
    if q:
        text += f", scale {q.scale:.4g}, zero point {q.zero_point}"
    return text


def _pt(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _nums(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


MASK_ROWS = 4  # golden samples drawn in a segmenter's figure


def _rgb(path: Path):
    """A golden sample image as RGB pixels for a figure (None when it cannot be read)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - Pillow only for a segmenter's figure

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError):
        return None


def _figure(name: str, png: bytes | None, caption: str) -> Figure | None:
    return Figure(name, png, caption) if png else None


# --- entry points -----------------------------------------------------------------------------------------
def build_document(manifest: Manifest, bundle_dir: Path | None = None) -> Document:
    return _Report(manifest, None if bundle_dir is None else Path(bundle_dir)).document()


def write_figures(doc: Document, bundle_dir: Path) -> dict[str, str]:
    """The figures as PNG files in <bundle>/report-plots/: written into a fresh folder that then
    replaces it (so stale figures go, and a report-plots that is a symbolic link is replaced as a
    link: nothing is written or deleted where it points)."""
    folder = Path(bundle_dir) / PLOTS_FOLDER
    figures = doc.figures()
    if not figures and not os.path.lexists(folder):
        return {}
    staging = Path(tempfile.mkdtemp(prefix=f".{PLOTS_FOLDER}.", suffix=".partial", dir=bundle_dir))
    try:
        files = {}
        for fig in figures:
            (staging / f"{fig.name}.png").write_bytes(fig.png)
            files[fig.name] = f"{PLOTS_FOLDER}/{fig.name}.png"
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it 0700; the plots are a normal folder
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files



def render_all(manifest: Manifest, bundle_dir: Path | None = None) -> dict[str, str]:
    """{file name: text} of the reports (REPORT_FILES). With a bundle folder, device results kept
    in it are included and the figures are written beside report.md."""
    doc = build_document(manifest, bundle_dir)
    figure_files = write_figures(doc, Path(bundle_dir)) if bundle_dir is not None else {}
    return {REPORT_FILES["md"]: to_markdown(doc, figure_files), REPORT_FILES["html"]: to_html(doc)}
