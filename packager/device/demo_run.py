"""The demo's device step: a bundle on a virtual handset, cpu and xnnpack, summed up in one line."""

from __future__ import annotations

from pathlib import Path


def run(bundle_path: Path) -> str:
    from packager.bundle_io import load_bundle  # noqa: PLC0415
    from packager.device.bench import bench  # noqa: PLC0415
    from packager.device.handset import Handset  # noqa: PLC0415
    from packager.device.virtual import VirtualHandset  # noqa: PLC0415

    bundle = load_bundle(bundle_path)
    with VirtualHandset() as virtual:
        handset = Handset.open(virtual.address, prefer="direct")
        try:
            results = bench(handset, [bundle], ["cpu", "xnnpack"], runs=50)
        finally:
            handset.close()
    parts = []
    for r in results.runs:
        if r.status != "ok" or r.latency is None:
            parts.append(f"{r.accelerator_requested} failed: {'; '.join(r.errors) or 'no reason given'}")
            continue
        ran = r.accelerator_applied if not r.fell_back else f"{r.accelerator_requested} (fell back to {r.accelerator_applied})"
        parity = f"top-1 agreement {r.parity.top1_agreement:.0%}" if r.parity else "no parity"
        parts.append(f"{ran} p50 {r.latency.p50:.3f} ms, p90 {r.latency.p90:.3f} ms, {parity}")
    return "; ".join(parts)
