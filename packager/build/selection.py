"""Choosing among the variants measured: --select (else the first of --quant), and the accuracy
budget (--max-accuracy-drop) the chosen one must keep."""

from __future__ import annotations

from collections.abc import Sequence

from packager.build.spec import BuildSpec
from packager.errors import PackagerError
from packager.manifest import Candidate, Selection, VariantMetrics
from packager.quant.engines import Variant
from packager.runtime.evaluate import slower_note
from packager.runtime.judge import loss_points


def choose(spec: BuildSpec, variants: list[Variant], float_metrics: VariantMetrics, metrics: list[VariantMetrics]
           ) -> tuple[Variant, VariantMetrics, Selection]:
    """--select, else the first variant of --quant."""
    wanted = spec.select or spec.quant[0]
    by_name = {v.name: (v, m) for v, m in zip(variants, metrics)}
    if wanted not in by_name:
        raise PackagerError(f"--select {wanted} is not one of the built variants ({', '.join(by_name)})", "add it to --quant")
    variant, chosen = by_name[wanted]
    candidates = [
        Candidate(name=m.name, accepted=m.name == wanted, size_bytes=m.size_bytes, accuracy=m.accuracy,
                  accuracy_drop=m.accuracy_drop(float_metrics), top1_agreement=m.top1_agreement,
                  reason="selected" if m.name == wanted else "built for comparison")
        for m in metrics
    ]
    reason = ("selected with --select" if spec.select else "the first variant of --quant") + slower_note(chosen, float_metrics)
    return variant, chosen, Selection(mode="explicit", chosen=wanted, max_accuracy_drop=spec.max_accuracy_drop, reason=reason,
                                      candidates=candidates)


def check_budget(spec: BuildSpec, chosen: VariantMetrics, reference: VariantMetrics, measured: Sequence[VariantMetrics] = ()) -> None:
    """The chosen variant keeps --max-accuracy-drop (the judge's loss rule and per-kind figure), or the
    build stops, naming the measured variants that would have kept it (never a more lossy one)."""
    if spec.max_accuracy_drop is None:
        return
    drop, what = loss_points(chosen, reference)
    if drop > spec.max_accuracy_drop + 1e-9:
        raise PackagerError(
            f"{chosen.name} loses {drop:.2f} percentage points of {what}, more than --max-accuracy-drop {spec.max_accuracy_drop:g}",
            within_budget(spec.max_accuracy_drop, chosen, reference, measured),
        )


def within_budget(budget: float, chosen: VariantMetrics, reference: VariantMetrics, measured: Sequence[VariantMetrics]) -> str:
    """What to do instead: the measured variants that stay within the budget, smallest first, each with its
    loss; or that none of them does."""
    fits = sorted(((loss_points(m, reference)[0], m) for m in measured if m.name != chosen.name), key=lambda t: t[1].size_bytes)
    fits = [(d, m) for d, m in fits if d <= budget + 1e-9]
    if fits:
        named = ", ".join(f"{m.name} ({d:.2f} points lost, {m.size_bytes / 1024:.0f} KiB)" for d, m in fits)
        return f"within the budget: {named}; --select one of them, or try --quant auto"
    tried = ", ".join(m.name for m in measured if m.name != chosen.name)
    return ((f"none of the other variants measured ({tried}) stays within it either" if tried else "no other variant was measured")
            + ": try fp16 or dynamic, more calibration data, --quant auto, or a larger budget")
