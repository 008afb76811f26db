"""What the app's Robolectric tests (android_app/app/src/test) compare with: the Python side's
results for the bundles installed in the app's assets, written as one JSON file whose path the
tests read from the system property packager.expected.

Used by tests/android/test_app_robolectric.py and by the CI workflow before Gradle's unit tests:
    python -m tests.android.robolectric_inputs ANDROID_APP DIGITS_BUNDLE SHAPES_BUNDLE OUT_JSON
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from packager.data.preprocess import dequantize
from packager.detection.decode import decode_all

HELPER = Path(__file__).resolve().parents[2] / "android_app" / "app" / "src" / "main" / "kotlin" / "dev" / "packager" / "demo" / "ClassifierHelper.kt"
DIGITS_ROW = 3  # a golden image whose top class is not class 0 (the first sample shown)


def min_detection_score() -> float:
    return float(re.search(r"const val MIN_DETECTION_SCORE = ([\d.]+)", HELPER.read_text(encoding="utf-8")).group(1))


def expected(app_dir: Path, digits: Path, shapes: Path, out: Path) -> dict:
    """Top-3 of a digits golden row (numpy's stable argsort of the dequantized golden output) and the
    shapes golden row with the most detections over the app's threshold (packager.detection.decode)."""
    assets = app_dir / "app" / "src" / "main" / "assets"
    index = json.loads((assets / "models" / "index.json").read_text())
    d = json.loads((digits / "manifest.json").read_text())
    q = d["outputs"][0]["quantization"] or {}
    scores = dequantize(np.load(digits / d["golden"]["outputs"][0]["file"])[DIGITS_ROW], q.get("scale"), q.get("zero_point")).astype(np.float32)
    order = np.argsort(-scores, kind="stable")[:3]
    s = json.loads((shapes / "manifest.json").read_text())
    golden = [np.load(shapes / g["file"]).astype(np.float64) for g in s["golden"]["outputs"]]
    per_row = decode_all(golden, min_score=min_detection_score())
    row = max(range(len(per_row)), key=lambda i: len(per_row[i]))
    dets, labels = per_row[row], s["labels"]["values"]
    return {
        "out": str(out),
        "bundles": [b["name"] for b in index["bundles"]],
        "generic_samples": sorted(f"samples/{p.name}" for p in (assets / "samples").glob("*.png")),
        "digits": {"golden_images": [f"models/{d['name']}/{f}" for f in d["golden"]["images"]], "row": DIGITS_ROW,
                   "top": [{"index": int(i), "label": d["labels"]["values"][i], "score": float(scores[i])} for i in order]},
        "shapes": {"golden_images": [f"models/{s['name']}/{f}" for f in s["golden"]["images"]], "row": row,
                   "detections": [{"class": int(c), "label": labels[c], "score": float(sc), "box": [float(v) for v in b]}
                                  for b, c, sc in zip(dets.boxes, dets.classes, dets.scores)]},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    app_dir, digits, shapes, out_json = map(Path, argv)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(expected(app_dir, digits, shapes, out_json.parent / "robolectric-out")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
