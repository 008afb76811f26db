"""`packager demo`: the embedded example, end to end."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from packager import examples, progress
from packager.build.pipeline import build
from packager.build.spec import make_spec
from packager.bundle.reader import load_bundle
from packager.commands.common import json_option, print_json, variants_table, verbose_option
from packager.detection import example
from packager.device import virtual as virtual_kit
from packager.device.bench import bench
from packager.device.handset import Handset
from packager.text import console as plain_console
from packager.text import styled


@click.command("demo")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("dist"), show_default=True, help="Where the bundle goes.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the example's data and model here (default: a temporary folder).")
@click.option("--quant", default="fp32,fp16,dynamic,int8,int16x8", show_default=True, help="Variants to build and compare; int8 is bundled when it is among them, else the first.")
@click.option("--device/--no-device", default=True, help="Also run the bundle on a virtual handset.")
@click.option("--task", type=click.Choice(["image_classification", "object_detection"]), default="image_classification", show_default=True,
              help="object_detection: a small SSD trained on synthetic shapes (packager/detection/example.py) instead of the digits CNN.")
@json_option
@verbose_option
def demo(output, workdir, quant, device, task, json_output):
    """Train a small CNN on scikit-learn's digits (seconds), build it with every variant,
    bundle the int8 model and, with --device, benchmark it on a virtual handset.
    With --task object_detection: the same path for a small SSD detector on synthetic shapes."""

    console = plain_console()
    with tempfile.TemporaryDirectory(prefix="packager-demo-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        result = (_detection_demo if task == "object_detection" else _digits_demo)(root, output, quant)
        device_summary = run_on_virtual_handset(result.bundle) if device else None
    _show(console, result, device_summary, json_output)


def _trained(root: Path, data_step: tuple[str, Callable[[Path], Any], str], model_step: tuple[str, Callable[[Any], Any], str]):
    """The example's data written and its model trained and saved: (data, model path)."""
    (what_data, write, folder), (what_model, train, file) = data_step, model_step
    progress.status(what_data)
    data = write(root / folder)
    progress.status(what_model)
    model_path = root / file
    train(data).save(model_path)
    return data, model_path


def _build(name: str, model_path: Path, output: Path, quant: str, data, **options):
    """`packager build` of the example: int8 bundled when among the variants, else the first."""

    quant_list = [q.strip() for q in quant.split(",") if q.strip()]
    return build(make_spec(None, {
        "model": model_path, "name": name, "output": output, "quant": ",".join(quant_list), "select": "int8" if "int8" in quant_list else None,
        "calib_data": data.train_dir, "eval_data": data.test_dir, "labels": data.labels_file, **options,
        "author": "packager demo", "license": "Apache-2.0",
    }))


def _digits_demo(root: Path, output: Path, quant: str):
    """scikit-learn's digits and a small CNN trained on them (seconds)."""

    data, model_path = _trained(root, ("Writing scikit-learn's digits as image folders", examples.write_digits_dataset, "digits"),
                                ("Training a small CNN on the digits", examples.train_digits_cnn, "digits_cnn.keras"))
    return _build("digits", model_path, output, quant, data, mean=examples.DIGITS_MEAN, std=examples.DIGITS_STD, max_accuracy_drop=1.0,
                  description="Handwritten digit classifier (scikit-learn digits, 8x8 grayscale).")


def _detection_demo(root: Path, output: Path, quant: str):
    """The shapes data set and the SSD trained on it (about half a minute), built with --task object_detection."""

    data, model_path = _trained(
        root, ("Drawing shapes on crops of scikit-learn's sample photos (boxes.csv beside the test images)", example.write_shapes_dataset, "shapes"),
        ("Training a small SSD detector on the shapes", example.train_detector, "shapes_ssd.keras"))
    return _build("shapes", model_path, output, quant, data, task="object_detection", anchors=data.anchors_file, mean=example.MEAN,
                  std=example.STD, score_threshold=0.1,
                  description="Shapes detector (synthetic squares, circles, triangles, diamonds on photo crops, 64x64 RGB).")


def _show(console, result, device_summary, json_output) -> None:
    if json_output:
        print_json({"bundle": str(result.bundle), "chosen": result.chosen.name, "metrics": result.manifest.metrics.to_dict(), "device": device_summary})
        return

    console.print(variants_table(result.manifest))
    if device_summary:
        console.print(f"Virtual handset: {device_summary}")
    console.print(styled("[bold green]Bundle ready:[/] {}/  (report: {})", result.bundle.resolve(), result.bundle.resolve() / "report.html"))


def run_on_virtual_handset(bundle_path: Path) -> str:
    """The demo's device step: the bundle on a virtual handset, cpu and xnnpack, summed up in one line."""

    bundle = load_bundle(bundle_path)
    with contextlib.ExitStack() as stack:
        handset = Handset.open(virtual_kit.start(stack.callback).address, prefer="direct")
        stack.callback(handset.close)
        results = bench(handset, [bundle], ["cpu", "xnnpack"], runs=50)
    parts = []
    for r in results.runs:
        if not r.ran or r.latency is None:
            parts.append(f"{r.accelerator_requested} failed: {'; '.join(r.errors) or 'no reason given'}")
            continue
        ran = r.accelerator_applied if not r.fell_back else f"{r.accelerator_requested} (fell back to {r.accelerator_applied})"
        if r.parity is not None and r.parity.detection is not None:  # a detector: its boxes matched with the golden ones
            parity = f"detections matched with the host's {r.parity.detection.matched}/{r.parity.detection.reference_detections} (F1 {r.parity.top1_agreement:.0%})"
        else:
            parity = f"top-1 agreement {r.parity.top1_agreement:.0%}" if r.parity else "no parity"
        parts.append(f"{ran} p50 {r.latency.p50:.3f} ms, p90 {r.latency.p90:.3f} ms, {parity}")
    return "; ".join(parts)
