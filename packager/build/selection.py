"""Choosing among the variants measured: --select (else the first of --quant), and the accuracy
budget (--max-accuracy-drop) the chosen one must keep."""

from __future__ import annotations

from packager.build.spec import BuildSpec
from packager.errors import PackagerError
from packager.manifest import Candidate, Selection, VariantMetrics
from packager.quant.engines import Variant
from packager.runtime.evaluate import slower_note


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


def loss_points(chosen: VariantMetrics, reference: VariantMetrics) -> tuple[float, str]:
    """Percentage points lost; top-1 disagreement stands in when there are no labels."""
    drop = chosen.accuracy_drop(reference)
    if chosen.detection is not None:
        if drop is not None:
            return drop, "mAP@0.5"
        return (1.0 - (chosen.top1_agreement or 0.0)) * 100.0, "detection agreement with float (F1 of boxes matched at IoU >= 0.5, no ground truth)"
    if drop is not None:
        return drop, "top-1 accuracy"
    return (1.0 - (chosen.top1_agreement or 0.0)) * 100.0, "top-1 agreement with float (no labels)"


def check_budget(spec: BuildSpec, chosen: VariantMetrics, reference: VariantMetrics) -> None:
    if spec.max_accuracy_drop is None:
        return
    drop, what = loss_points(chosen, reference)
    if drop > spec.max_accuracy_drop + 1e-9:
        raise PackagerError(
            f"{chosen.name} loses {drop:.2f} percentage points of {what}, more than --max-accuracy-drop {spec.max_accuracy_drop:g}",
            "choose a less aggressive variant (fp16, dynamic), more calibration data, or --quant auto",
        )
