"""Device results: parity with the host, and a session's results as a terminal table.

The types (`DeviceResults`, a `DeviceRun` per device x bundle x accelerator, `Latency`, `Parity`,
`DeviceProps`, `ApkInfo`) are in packager.manifest, the project's data model, with their JSON
form (packager/schemas/device-results.schema.json).
"""

from __future__ import annotations

import numpy as np

from packager.data.preprocess import dequantize
from packager.detection.decode import decode_all
from packager.detection.metrics import measure
from packager.manifest import DeviceResults, Parity, Quantization, SegmentationParity
from packager.segmentation import masks as seg_masks
from packager.text import styled


def parity(device_outputs: list[np.ndarray], golden_outputs: list[np.ndarray], quantization: list[Quantization | None],
           detection_classes: int | None = None, segmentation: bool = False) -> Parity:
    """The device's outputs against the golden ones; a detector's (detection_classes given) by its
    detections matched at IoU >= 0.5 with the same class (packager.detection.metrics); a segmenter's
    by its class masks (segmentation_parity)."""
    if detection_classes is not None:
        return detection_parity(device_outputs, golden_outputs, quantization, detection_classes)
    if segmentation:
        return segmentation_parity(device_outputs, golden_outputs, quantization)
    diffs, agree, samples = [], None, 0
    for k, (got, want) in enumerate(zip(device_outputs, golden_outputs)):
        q = quantization[k] if k < len(quantization) else None
        scale, zero = (q.scale, q.zero_point) if q else (None, None)
        a = dequantize(got, scale, zero).astype(np.float64)
        b = dequantize(want, scale, zero).astype(np.float64)
        if a.shape != b.shape:
            raise ValueError(f"output {k}: device shape {a.shape} != golden {b.shape}")
        diffs.append(np.abs(a - b).ravel())
        if k == 0:
            samples = len(a)
            agree = float((a.reshape(samples, -1).argmax(1) == b.reshape(samples, -1).argmax(1)).mean())
    diff = np.concatenate(diffs) if diffs else np.zeros(1)
    return Parity(samples=samples, max_abs_error=float(diff.max()), mean_abs_error=float(diff.mean()),
                  top1_agreement=agree if agree is not None else 0.0)


def detection_parity(device_outputs: list[np.ndarray], golden_outputs: list[np.ndarray], quantization: list[Quantization | None],
                     classes: int) -> Parity:

    def read(outputs: list[np.ndarray], what: str) -> list[np.ndarray]:
        if len(outputs) != 4:
            raise ValueError(f"{what}: {len(outputs)} outputs, not a detector's four")
        out = []
        for k, o in enumerate(outputs):
            q = quantization[k] if k < len(quantization) else None
            out.append(dequantize(o, q.scale if q else None, q.zero_point if q else None).astype(np.float64))
        return out

    got, want = read(device_outputs, "device"), read(golden_outputs, "golden")
    for k, (a, b) in enumerate(zip(got, want)):
        if a.shape != b.shape:
            raise ValueError(f"output {k}: device shape {a.shape} != golden {b.shape}")
    found = measure(decode_all(got), decode_all(want), None, classes)
    return Parity(samples=len(want[2]), max_abs_error=found.score_error_max, mean_abs_error=found.score_error_mean,
                  top1_agreement=found.agreement, detection=found)


def segmentation_parity(device_outputs: list[np.ndarray], golden_outputs: list[np.ndarray], quantization: list[Quantization | None]) -> Parity:
    """A segmenter's class masks against the host's golden masks: the share of pixels of the same class
    and the mean IoU. The golden output is stored compactly as the host's class mask ([N, H, W] uint8,
    packager.build.golden) or, from an older bundle, as the raw scores [N, H, W, C]; the device returns
    raw scores, whose mask is their argmax over the class axis (no dequantization needed: a positive
    scale keeps the order). Score errors are counted only when the golden file holds the scores; with a
    compact golden they cannot be, and are reported as 0 beside the agreement that replaces them."""
    if len(device_outputs) != 1 or len(golden_outputs) != 1:
        raise ValueError(f"a segmenter has one output: device {len(device_outputs)}, golden {len(golden_outputs)}")
    got, want = np.asarray(device_outputs[0]), np.asarray(golden_outputs[0])
    device_masks = seg_masks.class_masks(got)
    golden_masks = want if want.ndim == 3 else seg_masks.class_masks(want)
    if device_masks.shape != golden_masks.shape:
        raise ValueError(f"device masks {list(device_masks.shape)} != golden masks {list(golden_masks.shape)}")
    classes = int(got.shape[-1])
    max_error = mean_error = 0.0
    if want.ndim == 4:  # the scores themselves are golden: their errors too
        q = quantization[0] if quantization else None
        diff = np.abs(dequantize(got, q.scale if q else None, q.zero_point if q else None).astype(np.float64)
                      - dequantize(want, q.scale if q else None, q.zero_point if q else None).astype(np.float64))
        max_error, mean_error = float(diff.max()), float(diff.mean())
    agreement = seg_masks.pixel_agreement(device_masks, golden_masks)
    return Parity(samples=len(golden_masks), max_abs_error=max_error, mean_abs_error=mean_error, top1_agreement=agreement,
                  segmentation=SegmentationParity(pixel_agreement=agreement, mean_iou=seg_masks.mean_iou(device_masks, golden_masks, classes),
                                                  compact_golden=want.ndim == 3))


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def table(results: DeviceResults):
    """Rich tables (fit 80 columns), one per device: a row per bundle x accelerator."""
    from rich import box  # noqa: PLC0415
    from rich.console import Group  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415


    tables = []
    devices = list(dict.fromkeys(r.device.serial for r in results.runs))
    for serial in devices:
        runs = [r for r in results.runs if r.device.serial == serial]
        d = runs[0].device
        title = f"{d.manufacturer} {d.model} ({serial}, Android {d.android_version or '?'}, {d.abi})"
        if runs[0].virtual:
            title += " — virtual handset, the app's runtime versions"
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False,
                  caption="ms; parity: top-1 agreement / max abs error against the host's golden outputs", caption_justify="left")
        for name in ("bundle", "accel", "init", "1st", "p50", "p90", "MiB", "parity", "status"):
            text = name in ("bundle", "accel", "status")
            # the words fold, the figures and the status never wrap: in 80 columns a long bundle name
            # folds onto two lines rather than "fallback" being cut to "fal…"
            t.add_column(name, justify="left" if text else "right", no_wrap=not text or name == "status",
                         overflow="fold", min_width={"status": 8, "accel": 13, "bundle": 6}.get(name))
        for r in runs:
            accel = r.accelerator_requested if not r.fell_back else f"{r.accelerator_requested}→{r.accelerator_applied or 'none'}"
            lat = r.latency
            parity_text = "–" if r.parity is None else f"{r.parity.top1_agreement:.0%}/{r.parity.max_abs_error:.2g}"
            status = r.status if not r.errors else f"{r.status}: {r.errors[0][:40]}"
            t.add_row(
                r.bundle,
                # which runtime and version produced the figures, under the accelerator
                (styled("[yellow]{}[/]", accel) if r.fell_back else accel) + (f"\n{r.runtime}" if r.runtime else ""),
                _ms(r.init_ms), _ms(r.first_inference_ms),
                _ms(lat.p50 if lat else None), _ms(lat.p90 if lat else None),
                "–" if r.peak_memory_kb is None else f"{r.peak_memory_kb / 1024:.0f}", parity_text,
                status if r.status == "ok" else styled("[yellow]{}[/]" if r.status == "fallback" else "[red]{}[/]", status),
            )
        tables.append(t)
    return Group(*tables)
