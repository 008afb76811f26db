"""The same inputs through the Python packager and the Kotlin core must give the same answers.

Preprocessing (resize, color, normalization, quantization) is a contract written in float64 in
packager/data/preprocess.py; core reimplements it. Integer tensors must be identical, float ones
within 1e-6; top-k identical; latency statistics as numpy computes them; a manifest written by
`packager build` parses in core and core reproduces that bundle's golden inputs from its images.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from packager.data.preprocess import Preprocessing, dequantize, to_input_dtype
from tests.android import manifests

QUANT = {
    "float32": None,
    "float16": None,
    "int8": {"scale": 0.0123, "zero_point": -3},
    "uint8": {"scale": 1 / 128, "zero_point": 128},
    "int16": {"scale": 1 / 4096, "zero_point": 0},
}
CASES = [
    # (color, resize, (in_h, in_w), (out_h, out_w), mean, std)
    ("RGB", "bilinear", (37, 23), (16, 16), [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
    ("RGB", "bilinear", (5, 7), (12, 9), [127.5], [127.5]),  # upscaling
    ("RGB", "nearest", (31, 18), (10, 13), [0.0, 10.0, 20.0], [1.0, 2.0, 3.0]),
    ("GRAYSCALE", "bilinear", (8, 8), (8, 8), [0.0], [16.0]),  # same size: no resampling (the digits case)
    ("GRAYSCALE", "nearest", (9, 3), (4, 6), [100.0], [0.75]),
    ("GRAYSCALE", "bilinear", (13, 29), (7, 5), [3.5], [255.0]),
]


def _pixels(rng, n, shape, color):
    c = 3 if color == "RGB" else 1
    return rng.integers(0, 256, size=(n, *shape, c), dtype=np.uint8)


def _python_tensor(manifest, pixels):
    pre = Preprocessing.from_dict(manifest["preprocessing"])
    tensor = manifest["inputs"][0]
    q = tensor["quantization"] or {}
    return to_input_dtype(pre.apply(pixels), np.dtype(tensor["dtype"]), q.get("scale"), q.get("zero_point"))


def _compare(python, kotlin, what):
    assert kotlin.dtype == python.dtype, what
    assert kotlin.shape == python.shape, what
    if python.dtype.kind in "iu":
        np.testing.assert_array_equal(kotlin, python, err_msg=what)
    else:
        diff = np.abs(kotlin.astype(np.float64) - python.astype(np.float64)).max()
        assert diff <= 1e-6, f"{what}: max difference {diff}"


def test_preprocessing_matches_python(core_jar, tmp_path):
    rng = np.random.default_rng(7)
    jobs, expected = [], []
    for (case_no, (color, resize, in_size, out_size, mean, std)), dtype in itertools.product(enumerate(CASES), QUANT):
        pre = {"size": list(out_size), "color_space": color, "mean": mean, "std": std, "resize_method": resize, "layout": "NHWC"}
        manifest = manifests.make_manifest(f"case{case_no}-{dtype}", pre, dtype, QUANT[dtype])
        pixels = _pixels(rng, 3, in_size, color)
        pixels_path = tmp_path / f"{manifest['name']}.pixels.npy"
        np.save(pixels_path, pixels)
        out = tmp_path / f"{manifest['name']}.tensor.npy"
        jobs.append({"op": "preprocess", "manifest": str(manifests.write(manifest, tmp_path)), "pixels": str(pixels_path), "out": str(out)})
        expected.append((manifest["name"], _python_tensor(manifest, pixels), out))
    core_jar.batch(jobs, tmp_path)
    for name, python, out in expected:
        _compare(python, np.load(out), name)


def test_quantization_ties_round_half_to_even(core_jar, tmp_path):
    """Values landing exactly on .5 steps: numpy's rint and Kotlin's Math.rint must agree (to even)."""
    pre = {"size": [1, 256], "color_space": "GRAYSCALE", "mean": [0.0], "std": [2.0], "resize_method": "nearest", "layout": "NHWC"}
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 1, 256, 1)
    np.save(tmp_path / "ramp.npy", pixels)
    jobs, expected = [], []
    for dtype, quant in [("int8", {"scale": 1.0, "zero_point": 0}), ("uint8", {"scale": 1.0, "zero_point": 3}), ("int16", {"scale": 0.25, "zero_point": -7})]:
        manifest = manifests.make_manifest(f"ties-{dtype}", pre, dtype, quant)
        out = tmp_path / f"ties-{dtype}.npy"
        jobs.append({"op": "preprocess", "manifest": str(manifests.write(manifest, tmp_path)), "pixels": str(tmp_path / "ramp.npy"), "out": str(out)})
        expected.append((dtype, _python_tensor(manifest, pixels), out))
    core_jar.batch(jobs, tmp_path)
    for dtype, python, out in expected:
        _compare(python, np.load(out), dtype)
    # and the ties really are there: 1.5 -> 2, 2.5 -> 2 in the int8 case (pixels 3 and 5 / std 2)
    assert list(np.load(tmp_path / "ties-int8.npy")[0, 0, [3, 5], 0]) == [2, 2]


def test_argb_to_grayscale_matches_pillow(core_jar, tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(19, 23, 3), dtype=np.uint8)
    argb = (0xFF << 24) | (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    np.save(tmp_path / "argb.npy", argb.astype(np.uint32).view(np.int32))
    jobs = [{"op": "argb", "argb": str(tmp_path / "argb.npy"), "color_space": space, "out": str(tmp_path / f"{space}.npy")} for space in ("GRAYSCALE", "RGB")]
    core_jar.batch(jobs, tmp_path)
    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    np.testing.assert_array_equal(np.load(tmp_path / "GRAYSCALE.npy")[0, ..., 0], gray)
    np.testing.assert_array_equal(np.load(tmp_path / "RGB.npy")[0], rgb)


def _python_topk(scores, k, labels):
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), labels[i], float(scores[i])) for i in order]


@pytest.mark.parametrize("dtype,quant", [("int8", {"scale": 0.00390625, "zero_point": -128}), ("uint8", {"scale": 0.1, "zero_point": 3}), ("float32", None)])
def test_topk_matches_numpy_stable_argsort(core_jar, tmp_path, dtype, quant):
    rng = np.random.default_rng(11)
    classes = 12
    if dtype == "float32":
        outputs = rng.choice(np.array([0.0, -0.0, 0.25, 0.5, 0.125, 1e-3], np.float32), size=(40, classes))  # many ties, signed zeros
    else:
        info = np.iinfo(dtype)
        outputs = rng.integers(max(info.min, -3), min(info.max, 4) + 1, size=(40, classes)).astype(dtype)
    pre = {"size": [4, 4], "color_space": "RGB", "mean": [0.0], "std": [1.0], "resize_method": "bilinear", "layout": "NHWC"}
    manifest = manifests.make_manifest(f"topk-{dtype}", pre, "float32", None, output_dtype=dtype, output_quant=quant, classes=classes)
    np.save(tmp_path / "outputs.npy", outputs)
    k = 5
    (answer,) = core_jar.batch([{"op": "topk", "manifest": str(manifests.write(manifest, tmp_path)), "outputs": str(tmp_path / "outputs.npy"),
                                 "k": k, "out": str(tmp_path / "topk.json")}], tmp_path)
    labels = manifest["labels"]["values"]
    for row, kotlin in zip(outputs, answer["rows"]):
        scores = dequantize(row, (quant or {}).get("scale"), (quant or {}).get("zero_point"))
        python = _python_topk(scores, k, labels)
        assert [(c["index"], c["label"], np.float32(c["score"])) for c in kotlin] == [(i, lab, np.float32(s)) for i, lab, s in python]


def test_latency_statistics_match_numpy(core_jar, tmp_path):
    rng = np.random.default_rng(5)
    cases = [rng.gamma(2.0, 3.0, size=n).tolist() for n in (1, 2, 7, 100, 1001)] + [[1.0, 1.0, 2.0, 2.0, 3.0]]
    jobs = [{"op": "stats", "latencies": lat, "out": str(tmp_path / f"stats{i}.json")} for i, lat in enumerate(cases)]
    for lat, kotlin in zip(cases, core_jar.batch(jobs, tmp_path)):
        a = np.asarray(lat)
        for q in (50, 90, 99):
            assert kotlin[f"p{q}"] == pytest.approx(float(np.percentile(a, q)), rel=1e-12, abs=1e-12)
        assert kotlin["mean"] == pytest.approx(float(a.mean()), rel=1e-12)
        assert kotlin["std"] == pytest.approx(float(a.std()), rel=1e-9, abs=1e-12)
        assert (kotlin["min"], kotlin["max"]) == (a.min(), a.max())


def test_built_bundle_parses_and_core_reproduces_its_golden_inputs(core_jar, tmp_path, digits_bundle):
    """A manifest written by `packager build`: core parses it, preprocesses the bundle's golden images
    into exactly the golden inputs the host made, and ranks the golden outputs as numpy does."""
    manifest = json.loads((digits_bundle / "manifest.json").read_text())
    images = manifest["golden"].get("images", [])
    assert images, "the digits bundle ships its golden images"
    pre = manifest["preprocessing"]
    mode = "L" if pre["color_space"] == "GRAYSCALE" else "RGB"
    decoded = [np.asarray(Image.open(digits_bundle / rel).convert(mode), dtype=np.uint8) for rel in images]
    pixels = np.stack([d[..., None] if d.ndim == 2 else d for d in decoded])
    np.save(tmp_path / "golden-pixels.npy", pixels)
    golden_out = manifest["golden"]["outputs"][0]
    jobs = [
        {"op": "manifest", "manifest": str(digits_bundle / "manifest.json"), "out": str(tmp_path / "parsed.json")},
        {"op": "preprocess", "manifest": str(digits_bundle / "manifest.json"), "pixels": str(tmp_path / "golden-pixels.npy"), "out": str(tmp_path / "inputs.npy")},
        {"op": "topk", "manifest": str(digits_bundle / "manifest.json"), "outputs": str(digits_bundle / golden_out["file"]), "k": 3, "out": str(tmp_path / "topk.json")},
    ]
    parsed, _, topk = core_jar.batch(jobs, tmp_path)

    assert "error" not in parsed, parsed
    assert (parsed["name"], parsed["version"], parsed["model_file"], parsed["model_sha256"]) == (
        manifest["name"], manifest["version"], manifest["model"]["file"], manifest["model"]["sha256"])
    assert parsed["labels"] == manifest["labels"]["values"]
    for side in ("inputs", "outputs"):
        for kt, py in zip(parsed[side], manifest[side], strict=True):
            assert (kt["name"], kt["index"], kt["shape"], kt["dtype"]) == (py["name"], py["index"], py["shape"], py["dtype"])
            q = py["quantization"] or {}
            assert (kt["scale"], kt["zero_point"]) == (q.get("scale"), q.get("zero_point"))
    assert parsed["preprocessing"] == {k: pre[k] for k in ("size", "color_space", "mean", "std", "resize_method")}

    golden_in = np.load(digits_bundle / manifest["golden"]["inputs"][0]["file"])
    _compare(golden_in, np.load(tmp_path / "inputs.npy"), "golden inputs rebuilt by core from the golden images")

    out_spec = manifest["outputs"][0]
    q = out_spec["quantization"] or {}
    for row, kotlin in zip(np.load(digits_bundle / golden_out["file"]), topk["rows"], strict=True):
        python = _python_topk(dequantize(row, q.get("scale"), q.get("zero_point")), 3, manifest["labels"]["values"])
        assert [(c["index"], c["label"]) for c in kotlin] == [(i, lab) for i, lab, _ in python]


def test_detections_decode_as_in_python(core_jar, tmp_path, shapes_build):
    """A detector bundle's golden outputs: core's DetectionDecoder gives the detections
    packager.detection.decode gives (boxes, classes, labels, scores), for float outputs and for the
    same outputs stored as int8 with a scale (dequantized on both sides)."""
    from packager.detection.decode import decode_all
    from packager.detection.decode import dequantize as det_dequantize

    bundle = shapes_build.bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    golden = [np.load(bundle / g["file"]) for g in manifest["golden"]["outputs"]]
    # the same outputs as int8 tensors with a scale: scores in 1/127 steps, boxes in 1/127, classes and count exact
    quantized = dict(manifest)
    quantized["outputs"] = [dict(o, dtype="int8", quantization={"scale": 1 / 127, "zero_point": 0}) for o in manifest["outputs"][:3]] + [
        dict(manifest["outputs"][3], dtype="int8", quantization={"scale": 1.0, "zero_point": 0})]
    q_outputs = [np.clip(np.rint(golden[k] * 127), -128, 127).astype(np.int8) for k in range(3)] + [golden[3].astype(np.int8)]
    q_outputs[1] = golden[1].astype(np.int8)  # class indices: stored as they are with scale 1
    quantized["outputs"][1] = dict(manifest["outputs"][1], dtype="int8", quantization={"scale": 1.0, "zero_point": 0})
    quantized_path = tmp_path / "quantized-manifest.json"
    quantized_path.write_text(json.dumps(quantized))
    jobs, expected = [], []
    for name, path, arrays, spec in (("float", bundle / "manifest.json", golden, manifest), ("int8", quantized_path, q_outputs, quantized)):
        files = []
        for k, a in enumerate(arrays):
            np.save(tmp_path / f"{name}-{k}.npy", a)
            files.append(str(tmp_path / f"{name}-{k}.npy"))
        jobs.append({"op": "detect", "manifest": str(path), "outputs": files, "out": str(tmp_path / f"{name}.json")})
        real = [det_dequantize(a, (o["quantization"] or {}).get("scale"), (o["quantization"] or {}).get("zero_point")) for a, o in zip(arrays, spec["outputs"])]
        expected.append(decode_all(real))
    answers = core_jar.batch(jobs, tmp_path)
    labels = manifest["labels"]["values"]
    total = 0
    for answer, python in zip(answers, expected):
        assert len(answer["rows"]) == len(python)
        for kotlin, dets in zip(answer["rows"], python):
            assert [(d["class"], d["label"]) for d in kotlin] == [(int(c), labels[c]) for c in dets.classes]
            np.testing.assert_allclose([d["box"] for d in kotlin] or np.zeros((0, 4)), dets.boxes.reshape(-1, 4), rtol=0, atol=1e-12)
            np.testing.assert_allclose([d["score"] for d in kotlin], dets.scores, rtol=0, atol=1e-12)
            total += len(dets)
    assert total > 0


def test_segmentation_masks_decode_as_in_python(core_jar, tmp_path, segmenter_build):
    """A segmenter bundle: core's SegmentationDecoder gives numpy's argmax over the class axis for the
    int8 scores the model returns on the golden inputs (as a phone's would be), for the same scores
    dequantized to float32, and reads the bundle's compact golden masks as they are."""
    from packager.runtime.evaluate import ModelRunner

    bundle = segmenter_build.bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    golden_in = np.load(bundle / manifest["golden"]["inputs"][0]["file"])
    runner = ModelRunner((bundle / manifest["model"]["file"]).read_bytes())
    scores = np.concatenate([runner.run_raw([golden_in[i : i + 1]])[0] for i in range(len(golden_in))])
    q = manifest["outputs"][0]["quantization"]
    real = ((scores.astype(np.float64) - q["zero_point"]) * q["scale"]).astype(np.float32)
    float_manifest = dict(manifest, outputs=[dict(manifest["outputs"][0], dtype="float32", quantization=None)])
    (tmp_path / "float-manifest.json").write_text(json.dumps(float_manifest))
    golden_masks = np.load(bundle / manifest["golden"]["outputs"][0]["file"])
    jobs = []
    for name, path, array in (("int8", bundle / "manifest.json", scores), ("float", tmp_path / "float-manifest.json", real),
                              ("golden", bundle / "manifest.json", golden_masks)):
        np.save(tmp_path / f"{name}.npy", array)
        jobs.append({"op": "segment", "manifest": str(path), "outputs": str(tmp_path / f"{name}.npy"), "out": str(tmp_path / f"{name}-masks.npy")})
    core_jar.batch(jobs, tmp_path)
    expected = scores.argmax(axis=-1)
    assert (expected != 0).any() and len(np.unique(expected)) == 3  # every class is in the masks
    for name in ("int8", "float", "golden"):
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}-masks.npy"), expected, err_msg=name)
