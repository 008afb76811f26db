"""Which engine makes each variant: TF converter or ai-edge-quantizer, measured.

For the digits CNN (trained here, accuracy measurable) and MobileNetV2 (alpha 0.35, 96x96,
untrained: time and size), every variant is made by both engines from the same source and the
same calibration data; the table shows time, size, accuracy drop against float and whether
LiteRT can load the result. packager.quant.engines.DEFAULT_ENGINE records the choice.

Run: uv run python benchmarks/engine_choice.py [--json]
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

from benchmarks.common import write_photo_dataset  # noqa: E402
from packager import quiet  # noqa: E402

VARIANTS = ("fp16", "dynamic", "int8", "int16x8")


def measure(source: Path, calib: np.ndarray, evaluation, preprocessing) -> list[dict]:
    from packager.build import sources
    from packager.errors import PackagerError
    from packager.runtime.evaluate import ModelRunner
    from packager.quant.engines import AeqEngine, Recipe, tf_converter_variant

    src = sources.detect(source)
    converter = sources.Converter(src)
    started = time.perf_counter()
    float_model = converter.convert()
    convert_s = time.perf_counter() - started
    rows = []
    reference = None
    if evaluation is not None:
        reference = ModelRunner(float_model).predict(evaluation.inputs)[0].argmax(1)
    engine = AeqEngine(float_model)
    for variant in VARIANTS:
        for name in ("tf-converter", "ai-edge-quantizer"):
            recipe = Recipe(variant, io_dtype="int8" if variant == "int8" else "float32", engine=name)
            started = time.perf_counter()
            try:
                model = tf_converter_variant(converter, recipe, calib).model if name == "tf-converter" else engine.derive(recipe, calib).model
            except PackagerError as exc:
                rows.append({"variant": variant, "engine": name, "error": exc.one_line()})
                continue
            seconds = time.perf_counter() - started
            row = {"variant": variant, "engine": name, "seconds": seconds, "size_bytes": len(model), "loads": True}
            try:
                runner = ModelRunner(model)
            except Exception as exc:  # noqa: BLE001 - what LiteRT says is the result
                row.update(loads=False, error=str(exc).splitlines()[0][:120])
                rows.append(row)
                continue
            if evaluation is not None:
                out = runner.predict(evaluation.inputs)[0].argmax(1)
                row["accuracy_drop"] = ((reference == evaluation.labels).mean() - (out == evaluation.labels).mean()) * 100
            rows.append(row)
    for row in rows:
        row["float_conversion_s"] = convert_s
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet.import_tensorflow()
    import keras
    from rich.console import Console
    from rich.table import Table

    from packager import examples
    from packager.data.readers import load_dataset
    from packager.data.preprocess import Preprocessing

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        digits = examples.write_digits_dataset(tmp / "digits")
        model = examples.train_digits_cnn(digits)
        with quiet.captured_output():
            model.save(tmp / "digits.keras")
        pre = Preprocessing((8, 8), "GRAYSCALE", examples.DIGITS_MEAN, examples.DIGITS_STD)
        calib = load_dataset(digits.train_dir, pre, (8, 8, 1), limit=200).inputs
        evaluation = load_dataset(digits.test_dir, pre, (8, 8, 1), label_names=[str(i) for i in range(10)])
        results["digits CNN"] = measure(tmp / "digits.keras", calib, evaluation, pre)

        keras.utils.set_random_seed(0)
        mobilenet = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)
        with quiet.captured_output():
            mobilenet.save(tmp / "mobilenet.keras")
        photos = write_photo_dataset(tmp / "photos", 100)
        pre = Preprocessing((96, 96), "RGB", (127.5,), (127.5,))
        calib = load_dataset(photos, pre, (96, 96, 3), allow_resize=True).inputs
        results["MobileNetV2 0.35 96x96"] = measure(tmp / "mobilenet.keras", calib, None, pre)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    console = Console()
    for model_name, rows in results.items():
        table = Table(title=f"{model_name} (float conversion {rows[0]['float_conversion_s']:.1f} s)")
        for col in ("variant", "engine", "time", "size", "accuracy drop", "LiteRT loads it"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["variant"], r["engine"], f"{r['seconds']:.2f} s" if "seconds" in r else "–",
                          f"{r['size_bytes'] / 1024:.1f} KiB" if "size_bytes" in r else "–",
                          f"{r['accuracy_drop']:.2f} pt" if "accuracy_drop" in r else "–",
                          "yes" if r.get("loads") else f"no: {r.get('error', '')}")
        console.print(table)


if __name__ == "__main__":
    main()
