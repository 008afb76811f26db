"""The segmentation task (issue 27 items 2 and 3) on the example segmenter made here
(packager/segmentation/example.py: constructed in well under a second): its ImageSegmenter metadata
written by tflite-support and read back, a .tflite recognised by it, labelled masks, golden files
stored as class masks within a budget, and the device kit's parity by masks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from packager.build import golden
from packager.cli import main
from packager.device.results import parity
from packager.errors import PackagerError
from packager.manifest import Manifest
from packager.runtime.evaluate import ModelRunner
from packager.segmentation import example, masks
from packager.segmentation import meta as segmentation_meta
from packager.tflite import metadata as tflite_metadata


def _manifest(build) -> dict:
    return json.loads((build.bundle / "manifest.json").read_text(encoding="utf-8"))


def test_segmenter_metadata_is_written_read_back_and_verified(segmenter_build):
    model = (build := segmenter_build).bundle.joinpath("segmenter.tflite").read_bytes()
    found = segmentation_meta.read(model, tflite_metadata._tflite_support())
    assert found.output_names == ("segmentation_masks",)
    assert found.image_output and found.content_range == (1, 2)  # the output is a mask image: H and W are dimensions 1 and 2
    assert found.axis_labels  # labels.txt on the class axis
    embedded = tflite_metadata.read_metadata(model)
    assert embedded.labels == example.CLASSES
    assert embedded.inputs[0].content == "image" and embedded.inputs[0].mean == (127.5,) * 3
    assert _manifest(build)["task"] == "segmentation"
    with pytest.raises(PackagerError, match="labels on the class axis"):
        segmentation_meta.verify(model, tflite_metadata._tflite_support(), None)  # it has them: verify says so


def test_a_tflite_with_segmenter_metadata_is_recognised(segmenter_build, tmp_path):
    """No --task, no --mean/--std: the ImageSegmenter metadata says what the model is and how to feed it."""
    source = tmp_path / "given.tflite"
    shutil.copy(segmenter_build.bundle / "segmenter.tflite", source)
    result = CliRunner().invoke(main, ["build", str(source), "-o", str(tmp_path / "dist"), "--no-latency"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "dist" / "given" / "manifest.json").read_text())
    assert manifest["task"] == "segmentation"
    assert manifest["labels"]["values"] == list(example.CLASSES)
    assert manifest["golden"]["budget"]["outputs_stored"] == ["class_mask"]


def test_golden_outputs_are_the_models_class_masks_and_parity_compares_masks(segmenter_build):
    bundle = segmenter_build.bundle
    manifest = Manifest.from_json((bundle / "manifest.json").read_text())
    entry, budget = manifest.golden.outputs[0], manifest.golden.budget
    assert (entry.dtype, entry.shape) == ("uint8", [4, example.SIZE, example.SIZE])  # 1/3 of the int8 scores
    assert budget.outputs_stored == ["class_mask"] and budget.kept == 4 and budget.within_budget
    npy = [*(f.file for f in [*manifest.golden.inputs, *manifest.golden.outputs]), manifest.golden.float_masks]
    assert budget.bytes == sum((bundle / f).stat().st_size - 128 for f in npy) + sum(
        (bundle / f).stat().st_size for f in manifest.golden.images)  # .npy headers of 128 bytes left out
    float_masks = np.load(bundle / manifest.golden.float_masks)
    assert float_masks.dtype == np.uint8 and float_masks.shape == (4, example.SIZE, example.SIZE)
    golden_masks = np.load(bundle / entry.file)
    runner = ModelRunner((bundle / "segmenter.tflite").read_bytes())
    golden_in = np.load(bundle / manifest.golden.inputs[0].file)
    scores = np.concatenate([runner.run_raw([golden_in[i : i + 1]])[0] for i in range(len(golden_in))])  # what a phone returns
    assert scores.dtype == np.int8 and scores.shape == (4, example.SIZE, example.SIZE, 3)
    np.testing.assert_array_equal(golden_masks, scores.argmax(-1))
    q = [manifest.outputs[0].quantization]
    same = parity([scores], [golden_masks], q, segmentation=True)
    assert (same.top1_agreement, same.segmentation.mean_iou, same.segmentation.compact_golden) == (1.0, 1.0, True)
    # a device that gets 1 pixel in 8 wrong: each such pixel's best class made the worst
    wrong = scores.copy()
    flat = wrong.reshape(-1, 3)
    rows = np.arange(0, len(flat), 8)
    flat[rows, golden_masks.reshape(-1)[rows]] = -128
    off = parity([wrong], [golden_masks], q, segmentation=True)
    assert off.top1_agreement == pytest.approx(1 - len(rows) / len(flat))
    assert off.segmentation.mean_iou == pytest.approx(masks.mean_iou(wrong.argmax(-1), golden_masks, 3))
    assert off.segmentation.mean_iou < off.top1_agreement
    # the flattened argmax of the old parity would have called the right device output wrong or right by chance; the
    # masks are compared instead, and a golden file that holds the scores (an older bundle) gives the same figure
    legacy = parity([wrong], [scores], q, segmentation=True)
    assert legacy.top1_agreement == off.top1_agreement and legacy.max_abs_error > 0 and not legacy.segmentation.compact_golden


def test_golden_budget_keeps_the_samples_that_fit(segmenter_build, monkeypatch):
    model = (segmenter_build.bundle / "segmenter.tflite").read_bytes()
    inputs = np.random.default_rng(0).uniform(-1, 1, (16, example.SIZE, example.SIZE, 3))
    found = golden.golden_io(model, inputs, None, 8, segmentation=True)
    assert found.budget.kept == 8 and found.outputs[0].shape == (8, example.SIZE, example.SIZE) and found.budget.within_budget
    per_sample = example.SIZE * example.SIZE * (3 + 1 + 1)  # int8 input, uint8 mask, uint8 float mask (counted when made)
    monkeypatch.setattr(golden, "GOLDEN_FLOOR", 3 * per_sample + 10)  # room for three
    found = golden.golden_io(model, inputs, None, 8, segmentation=True, float_model=model)
    assert (found.budget.kept, len(found.inputs[0]), len(found.outputs[0]), len(found.float_masks)) == (3, 3, 3, 3)
    assert found.budget.bytes == 3 * per_sample <= found.budget.budget_bytes and found.budget.within_budget
    np.testing.assert_array_equal(found.float_masks, found.outputs[0])  # the same model as "float": the same masks
    monkeypatch.setattr(golden, "GOLDEN_FLOOR", 100)  # not even one fits: one is kept, and the manifest says so
    found = golden.golden_io(model, inputs, None, 8, segmentation=True)
    assert found.budget.kept == 1 and not found.budget.within_budget
    # raw scores instead of masks: three int8 scores per pixel
    monkeypatch.setattr(golden, "GOLDEN_FLOOR", 1 << 20)
    raw = golden.golden_io(model, inputs, None, 2, segmentation=False).budget
    assert raw.outputs_stored == ["scores"] and raw.bytes == 2 * example.SIZE * example.SIZE * (3 + 3), raw


def test_labelled_masks_from_pngs_and_arrays(segmenter_data, tmp_path):
    data, _ = segmenter_data
    files = tuple(sorted(p.name for p in data.images.glob("*.png")))
    truth = masks.read_truth(data.images, files, len(files), (example.SIZE, example.SIZE), 3)
    np.testing.assert_array_equal(truth, data.masks)
    half = masks.read_truth(data.images, files, len(files), (16, 16), 3)  # another output size: nearest-neighbour
    assert half.shape == (len(files), 16, 16) and set(np.unique(half)) <= {0, 1, 2}
    pixels, drawn = example.make_images(5, seed=9)
    np.savez(tmp_path / "eval.npz", x=pixels, y=drawn)
    np.testing.assert_array_equal(masks.read_truth(tmp_path / "eval.npz", (), 5, (example.SIZE, example.SIZE), 3), drawn)
    void = drawn.copy()
    void[:, 0, 0] = masks.VOID  # Pascal VOC's border pixels: allowed, not counted
    np.savez(tmp_path / "void.npz", x=pixels, y=void)
    assert masks.read_truth(tmp_path / "void.npz", (), 5, (example.SIZE, example.SIZE), 3)[0, 0, 0] == masks.VOID
    assert masks.pixel_agreement(drawn, void) == 1.0 and masks.mean_iou(drawn, void, 3) == 1.0
    np.savez(tmp_path / "labels.npz", x=pixels, y=np.arange(5))  # a label per image is not a mask
    with pytest.raises(PackagerError, match=r"not 5 masks \[N, H, W\] of class indices"):
        masks.read_truth(tmp_path / "labels.npz", (), 5, (example.SIZE, example.SIZE), 3)


@pytest.mark.parametrize("case", ["missing", "class", "rgb"])
def test_bad_masks_fail_in_one_line(case, segmenter_data, tmp_path):
    data, source = segmenter_data
    images = tmp_path / "images"
    shutil.copytree(data.images, images)
    first = sorted((images / "masks").glob("*.png"))[0]
    needle = {"missing": "has no mask for", "class": "has class 7", "rgb": "not class indices"}[case]
    if case == "missing":
        first.unlink()
    elif case == "class":
        Image.fromarray(np.full((example.SIZE, example.SIZE), 7, np.uint8), mode="L").save(first)
    else:
        Image.fromarray(np.zeros((example.SIZE, example.SIZE, 3), np.uint8)).save(first)
    dist = tmp_path / "dist"
    result = CliRunner().invoke(main, ["build", str(source), "--task", "segmentation", "--mean", "127.5", "--std", "127.5", "--eval-data",
                                       str(images), "-o", str(dist), "--no-latency"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not dist.exists() or list(dist.iterdir()) == []


def test_a_non_segmenter_is_refused_for_the_task(digits_sources, tmp_path):
    result = CliRunner().invoke(main, ["build", str(digits_sources["keras"]), "--task", "segmentation", "--mean", "0", "--std", "255",
                                       "-o", str(tmp_path / "dist"), "--no-latency"], catch_exceptions=False)
    assert result.exit_code == 2 and "is not an image segmenter" in result.stderr, result.output


def test_quantization_of_scores_does_not_change_the_argmax():
    """The class mask of an int8 output is the mask of its dequantized scores (a positive scale keeps the order)."""
    raw = np.random.default_rng(1).integers(-128, 128, (2, 5, 5, 4)).astype(np.int8)
    real = 0.05 * (raw.astype(np.float64) + 3)
    np.testing.assert_array_equal(masks.class_masks(raw), masks.class_masks(real))


def test_the_report_draws_the_input_float_mask_and_the_variants_mask(segmenter_build):
    bundle = segmenter_build.bundle
    manifest = Manifest.from_json((bundle / "manifest.json").read_text())
    float_masks, chosen = np.load(bundle / manifest.golden.float_masks), np.load(bundle / manifest.golden.outputs[0].file)
    agree = float((float_masks == chosen).mean())
    assert 0.85 < agree < 1.0  # int8 moves some border pixels, no more
    report = (bundle / "report.md").read_text(encoding="utf-8")
    section = report[report.index("Segmentation masks"):]
    assert f"{agree * 100:.2f}% of int8's pixels have float's class" in section, section[:600]
    assert "for 4 of the 4 samples asked for" in report and "outputs stored as class mask" in report
    png = bundle / "report-plots" / "segmentation.png"
    with Image.open(png) as image:
        assert image.width > 600 and image.height > 4 * 150  # three columns, four rows


def test_figures_against_float_and_the_labelled_masks(segmenter_data, segmenter_build):
    """The manifest's segmentation entry, recomputed here with LiteRT and numpy from the images and their PNG masks."""
    data, _ = segmenter_data
    bundle = segmenter_build.bundle
    manifest = Manifest.from_json((bundle / "manifest.json").read_text())
    info = manifest.segmentation
    files = sorted(data.images.glob("*.png"))
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]).astype(np.float64)
    inputs = (pixels - 127.5) / 127.5
    float_masks = ModelRunner(segmenter_build.models["fp32"]).predict(inputs)[0].argmax(-1)
    chosen = ModelRunner((bundle / "segmenter.tflite").read_bytes()).predict(inputs)[0].argmax(-1)
    truth = data.masks

    def iou(a, b):
        return np.mean([((a == c) & (b == c)).sum() / ((a == c) | (b == c)).sum() for c in range(3) if ((a == c) | (b == c)).any()])

    assert (info.classes, info.samples, info.labelled_masks) == (3, len(files), len(files))
    assert info.chosen.pixel_agreement == pytest.approx((chosen == float_masks).mean())
    assert info.chosen.mean_iou == pytest.approx(iou(chosen, float_masks))
    assert info.reference.pixel_accuracy == pytest.approx((float_masks == truth).mean())
    assert info.chosen.pixel_accuracy == pytest.approx((chosen == truth).mean())
    assert info.chosen.truth_mean_iou == pytest.approx(iou(chosen, truth))
    assert info.reference.pixel_agreement == 1.0 and 0.9 < info.reference.pixel_accuracy < 1.0  # the constructed model misses some borders
    # the argmax over the whole flattened output, the figure packager used to report, says something else entirely
    flat = (ModelRunner((bundle / "segmenter.tflite").read_bytes()).predict(inputs)[0].reshape(len(files), -1).argmax(1)
            == ModelRunner(segmenter_build.models["fp32"]).predict(inputs)[0].reshape(len(files), -1).argmax(1)).mean()
    assert abs(flat - info.chosen.pixel_agreement) > 0.05, (flat, info.chosen.pixel_agreement)
    report = (bundle / "report.md").read_text(encoding="utf-8")
    assert f"Against the {len(files)} labelled masks: pixel accuracy float {info.reference.pixel_accuracy * 100:.2f}%" in report
