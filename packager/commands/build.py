"""`packager build`: a thin command over packager.build.pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from packager.build.pipeline import build as run_build
from packager.build.spec import load_config, make_spec
from packager.commands.common import InputPath, json_option, print_json, variants_table, verbose_option
from packager.errors import PackagerError
from packager.runtime.coverage import one_line
from packager.text import console, styled


def _floats(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError:
        raise PackagerError(f"{text!r} is not a list of numbers", "write e.g. 127.5 or 123.7,116.3,103.5") from None


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.lower().replace("x", ",").split(",")
    try:
        height, width = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (int(parts[0]), int(parts[0]))
    except (ValueError, IndexError):
        raise PackagerError(f"--size {text!r} is not HEIGHTxWIDTH", "write e.g. 224x224, or NAME=224x224 for one input") from None
    return height, width


def _sizes(values: tuple[str, ...]) -> tuple[tuple[int, int] | None, tuple[tuple[str, tuple[int, ...]], ...] | None]:
    """--size HxW (once) and --size NAME=AxB... (per input, repeatable)."""
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        raise PackagerError(f"--size is given {len(plain)} times without an input name ({', '.join(plain)})",
                            "give HxW once, and NAME=HxW for each other input")
    named = []
    for value in values:
        if "=" in value:
            name, _, dims = value.partition("=")
            try:
                named.append((name.strip(), tuple(int(d) for d in dims.lower().replace("x", ",").split(","))))
            except ValueError:
                raise PackagerError(f"--size {value!r} is not NAME=AxB...", "write e.g. --size input_1=96x96") from None
            if not name.strip():
                raise PackagerError(f"--size {value!r} names no input", "write e.g. --size input_1=96x96")
    return _size(plain[0]) if plain else None, tuple(named) or None


def _labels(text: str | None) -> tuple[Path | None, str | None]:
    """--labels PATH or --labels OUTPUT=PATH (an existing file whose name holds '=' is a path)."""
    if text is None:
        return None, None
    name, sep, path = text.partition("=")
    if sep and name and path and not Path(text).exists():
        return Path(path), name
    return Path(text), None


@click.command("build")
@click.argument("model", required=False, type=InputPath())
@click.option("-c", "--config", type=InputPath(), help="TOML config file (flags override it).")
@click.option("-n", "--name", help="Bundle name (default: the model's file name).")
@click.option("--version", "version_", help="Model version recorded in metadata and manifest.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Folder receiving <name>/ (default dist).")
@click.option("-q", "--quant", help="Variants to build and compare: fp32,fp16,dynamic,int8,int16x8, or auto.")
@click.option("--select", help="Variant to bundle (default: the first of --quant).")
@click.option("--max-accuracy-drop", type=float, help="Fail if the chosen variant loses more than P points of top-1 accuracy.")
@click.option("--calib-data", type=InputPath(), help="Calibration data, no labels needed: a folder of images (directly or at any depth; "
              "subfolders are not classes) or .npy/.npz.")
@click.option("--eval-data", type=InputPath(), help="Evaluation data, labelled: a folder with one subfolder per class (names are labels) or "
              ".npz with y; images directly in the folder give agreement-with-float metrics only.")
@click.option("--calib-samples", type=click.IntRange(min=1), help="Calibration samples to use (default 200).")
@click.option("--eval-samples", type=click.IntRange(min=1), help="Evaluation samples to use (default all).")
@click.option("--resize/--no-resize", default=None, help="Resize images of another size instead of refusing them.")
@click.option("--size", "size_", multiple=True, metavar="[NAME=]HxW",
              help="Input size HEIGHTxWIDTH (default: the model's); fixes dynamic dimensions (a fully convolutional model). "
                   "NAME=AxB... for one input (repeatable): its dimensions after the batch.")
@click.option("--color-space", type=click.Choice(["RGB", "GRAYSCALE"], case_sensitive=False))
@click.option("--mean", help="Normalization mean in 0-255 pixel units, one or per channel.")
@click.option("--std", help="Normalization std in 0-255 pixel units, one or per channel.")
@click.option("--resize-method", type=click.Choice(["bilinear", "nearest"]))
@click.option("--labels", metavar="[OUTPUT=]PATH", help="labels.txt, one label per output class; OUTPUT=PATH attaches it to a named output.")
@click.option("--labels-output", metavar="NAME", help="The output the labels belong to (several outputs; default the first).")
@click.option("--primary-output", metavar="NAME", help="The output whose agreement and errors head the table and the budget "
              "(several outputs; default: the labels' output, else the first probability output).")
@click.option("--output-kind", type=click.Choice(["classes", "segmentation", "probability_map", "sequence", "values"]),
              help="What the primary output is, for measuring it against float (default: from the graph and metadata): "
                   "segmentation per pixel, sequence per step, probability_map same side of 0.5.")
@click.option("--replace-metadata", is_flag=True, default=None,
              help="A .tflite's own metadata (tensor names, labels files, process units) is kept and what you give is merged in; "
                   "this replaces it with packager's instead.")
@click.option("--description")
@click.option("--author")
@click.option("--license", "license_")
@click.option("--int8-io", type=click.Choice(["int8", "uint8", "float32"]), help="Input/output type of int8 variants (default int8).")
@click.option("--int16-io", type=click.Choice(["float32", "int16"]), help="Input/output type of int16x8 variants (default float32).")
@click.option("--engine", type=click.Choice(["auto", "tf-converter", "ai-edge-quantizer"]), help="Quantization engine for every variant.")
@click.option("--task", type=click.Choice(["auto", "image_classification", "object_detection", "segmentation", "generic"]))
@click.option("--anchors", type=InputPath(), help="object_detection: the raw detector's anchors, .npy [N, 4] or .csv "
              "(y_center,x_center,height,width, normalized); or [detection] anchor_grid in the config file.")
@click.option("--box-scales", help="object_detection: box coder scales y,x,h,w (default 10,10,5,5).")
@click.option("--score-threshold", type=float, help="object_detection: NMS score threshold (default 0.3).")
@click.option("--iou-threshold", type=float, help="object_detection: NMS IoU threshold (default 0.5).")
@click.option("--max-detections", type=int, help="object_detection: detections kept (default 10).")
@click.option("--boxes-output", metavar="NAME", help="object_detection: the raw output holding the box encodings [1, N, 4].")
@click.option("--scores-output", metavar="NAME", help="object_detection: the raw output holding the class scores [1, N, K].")
@click.option("--box-coder", type=click.Choice(["tflite", "mediapipe"]),
              help="object_detection: how the box outputs encode boxes: tflite (y,x,h,w; sizes as exp, the default) or mediapipe "
                   "(x,y,w,h in the first four values per anchor, keypoints after; sizes linear; scores are logits).")
@click.option("--background-class/--no-background-class", default=None, help="object_detection: column 0 of the class scores is the background (default yes).")
@click.option("--custom-objects", "custom_objects", multiple=True, metavar="MODULE:ATTR",
              help="A class a subclassed Keras model needs to load (repeatable): package.module:Class, path/to/file.py:Class, "
                   "or a module/file to take all its classes.")
@click.option("--golden-samples", type=click.IntRange(1, 256), help="Host inputs/outputs kept for device parity (default 8).")
@click.option("--runtime", "runtimes", multiple=True, metavar="'KIND VERSION'",
              help="A runtime your app runs models with (repeatable): 'tflite 2.16.1' (org.tensorflow:tensorflow-lite) or "
                   "'litert 2.2.0' (com.google.ai.edge.litert). Every variant is run there before it is chosen (docs/RUNTIMES.md). "
                   "Default: the demo app's, from android_app/gradle/libs.versions.toml.")
@click.option("--skip-runtime-check", is_flag=True, default=None,
              help="Do not run the variants in the app's runtimes (offline with none cached); the report and manifest say so.")
@click.option("--latency/--no-latency", default=True, help="Measure host latency of each variant.")
@json_option
@verbose_option
def build(model, config, json_output, **flags):
    """Convert MODEL once, derive quantized variants, evaluate them against the float model,
    embed metadata and write an app-ready bundle to dist/<name>/."""

    labels_path, labels_named_output = _labels(flags["labels"])
    if flags["labels_output"] and labels_named_output and flags["labels_output"] != labels_named_output:
        raise PackagerError(f"--labels names output {labels_named_output!r} but --labels-output says {flags['labels_output']!r}",
                            "give the output once: --labels NAME=PATH or --labels PATH --labels-output NAME")
    values = {
        "model": model, "name": flags["name"], "version": flags["version_"], "output": flags["output"], "quant": flags["quant"],
        "select": flags["select"], "max_accuracy_drop": flags["max_accuracy_drop"], "calib_data": flags["calib_data"],
        "eval_data": flags["eval_data"], "calib_samples": flags["calib_samples"], "eval_samples": flags["eval_samples"],
        "resize": flags["resize"], "size": _sizes(flags["size_"])[0], "input_sizes": _sizes(flags["size_"])[1], "color_space": flags["color_space"] and flags["color_space"].upper(),
        "mean": _floats(flags["mean"]), "std": _floats(flags["std"]), "resize_method": flags["resize_method"], "labels": labels_path,
        "labels_output": flags["labels_output"] or labels_named_output, "primary_output": flags["primary_output"],
        "output_kind": flags["output_kind"],
        "replace_metadata": flags["replace_metadata"],
        "description": flags["description"], "author": flags["author"], "license": flags["license_"], "int8_io": flags["int8_io"],
        "int16_io": flags["int16_io"], "engine": flags["engine"], "task": flags["task"], "golden_samples": flags["golden_samples"],
        "measure_latency": None if flags["latency"] else False, "custom_objects": flags["custom_objects"] or None,
        "anchors": flags["anchors"], "box_scales": _floats(flags["box_scales"]), "score_threshold": flags["score_threshold"],
        "iou_threshold": flags["iou_threshold"], "max_detections": flags["max_detections"], "boxes_output": flags["boxes_output"],
        "scores_output": flags["scores_output"], "background_class": flags["background_class"],
        "box_coder": flags["box_coder"], "runtimes": flags["runtimes"] or None, "skip_runtime_check": flags["skip_runtime_check"],
    }
    spec = make_spec(load_config(config) if config else None, values)

    result = run_build(spec)
    if json_output:
        print_json({
            "bundle": str(result.bundle), "chosen": result.chosen.name, "model": str(result.bundle / result.manifest.model.file),
            "size_bytes": result.manifest.model.size_bytes, "metrics": result.manifest.metrics.to_dict(),
            "selection": result.manifest.selection.to_dict(), "timings_s": result.timings,
            "runtimes": result.manifest.runtimes.to_dict() if result.manifest.runtimes else None,
        })
        return


    out = console()
    out.print(variants_table(result.manifest))
    m = result.manifest
    out.print(styled("[bold green]Bundle[/] {}/  ({}, {} KiB, chosen [bold]{}[/]): {}", result.bundle, m.model.file,
                     f"{m.model.size_bytes / 1024:.1f}", m.selection.chosen, m.selection.reason or ""))
    chosen = m.accelerator_coverage.of(m.selection.chosen) if m.accelerator_coverage else None
    if chosen is not None:

        out.print(f"Accelerators (predicted from the delegates' rules): {one_line(chosen)}", highlight=False)
        for hint in chosen.hints:
            out.print(styled("[yellow]hint:[/] {}", hint), highlight=False)
    if m.runtimes is not None:
        out.print(runtimes_line(m), highlight=False)
    out.print(f"Report: {result.bundle / 'report.html'}")


def runtimes_line(m) -> str:
    """'Runs in the app's runtimes: int8 in tflite 2.16.1 (cpu, nnapi) and litert 2.2.0 (xnnpack, gpu, npu), same top-1 as the host
    on 8/8 golden inputs; not bundled, fails there: int16x8 (tflite 2.16.1)', or the loud skip note."""
    rt = m.runtimes
    if rt.skipped:
        return f"warning: {rt.skipped}"
    where = " and ".join(f"{t.kind} {t.version} ({', '.join(t.accelerators)})" for t in rt.targets)
    mine = rt.for_variant(m.selection.chosen)
    agree = min((c.top1_agreement for c in mine if c.top1_agreement is not None), default=None)
    line = f"Runs in the app's runtimes: {m.selection.chosen} in {where}"
    if agree is not None:
        line += f", top-1 as the host's on {agree:.0%} of {mine[0].samples} golden inputs"
    failing = sorted({c.variant for c in rt.checks if c.status == "fails"})
    if failing:
        line += "; fail there (not bundled): " + ", ".join(
            f"{v} ({', '.join(c.runtime for c in rt.for_variant(v) if c.status == 'fails')})" for v in failing)
    return line
