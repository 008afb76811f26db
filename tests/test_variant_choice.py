"""Engine and calibration chosen per variant by measurement (packager.quant.engine_choice).

A build whose engine is not fixed makes each variant every way it can (ai-edge-quantizer with each
activation-range method for static variants, the TF converter from a Keras source) and keeps the
one that loses least on the evaluation data; every candidate is in the manifest with its figures.
"""

from __future__ import annotations

from packager.quant.calibration import METHODS


def test_every_variant_is_chosen_among_both_engines_and_the_losers_are_recorded(digits_build):
    manifest = digits_build.manifest.to_dict()
    choice = manifest["selection"]["engine_choice"]
    by_variant: dict[str, list[dict]] = {}
    for c in choice:
        by_variant.setdefault(c["variant"], []).append(c)
    assert set(by_variant) == {"int8", "fp16", "dynamic", "int16x8"}
    for name, candidates in by_variant.items():
        engines = {c["engine"] for c in candidates}
        assert engines == {"ai-edge-quantizer", "tf-converter"}, name
        if name in ("int8", "int16x8"):
            aeq = {c["calibration"] for c in candidates if c["engine"] == "ai-edge-quantizer"}
            assert aeq - {a for a in aeq if a.endswith("+bc")} == set(METHODS), name
            if name == "int8":  # the best ai-edge-quantizer candidate is made again with bias correction
                plain = [c for c in candidates if c["engine"] == "ai-edge-quantizer" and not c["calibration"].endswith("+bc")]
                best = min(plain, key=lambda c: (round(c["loss_points"], 9), c["mean_abs_error"]))
                assert aeq - set(METHODS) == {best["calibration"] + "+bc"}
            else:
                assert aeq == set(METHODS), name
        chosen = [c for c in candidates if c["chosen"]]
        assert len(chosen) == 1
        measured = [c for c in candidates if c["loss_points"] is not None]
        assert chosen[0]["loss_points"] == min(c["loss_points"] for c in measured)
        assert all(c["top1_agreement"] is not None and c["size_bytes"] for c in measured)
        # the bundled/evaluated variant is the chosen candidate
        variant = next(m for m in digits_build.variants if m.name == name)
        assert variant.engine == chosen[0]["engine"]
        assert variant.size_bytes == chosen[0]["size_bytes"]
    recipe = manifest["recipe"]
    int8 = next(c for c in by_variant["int8"] if c["chosen"])
    assert recipe["engine"] == int8["engine"]
    method = int8["calibration"].removesuffix("+bc").removesuffix("+cle")  # the recipe names the range method; options say the rest
    assert recipe["calibration"] == (method if int8["engine"] == "ai-edge-quantizer" else "tf-converter")
    assert ("bias_corrected_ops" in recipe.get("options", {})) == int8["calibration"].endswith("+bc")


def test_a_fixed_engine_is_not_second_guessed(tmp_path, digits_data, digits_sources):
    from tests.conftest import build_digits

    result = build_digits(digits_data, digits_sources["keras"], tmp_path, quant="int8", engine="ai-edge-quantizer", measure_latency=False)
    assert result.manifest.selection.engine_choice == [] and "engine_choice" not in result.manifest.to_dict()["selection"]
    assert result.manifest.recipe.engine == "ai-edge-quantizer" and result.manifest.recipe.calibration == "minmax"


def test_a_variant_slower_than_float_is_said_to_be(tmp_path, digits_build):
    import shutil

    from packager import report
    from packager.runtime.evaluate import slower_note
    from packager.manifest import Latency, Manifest, VariantMetrics

    def metrics(name: str, p50: float) -> VariantMetrics:
        return VariantMetrics(name=name, quant=name, engine="ai-edge-quantizer", size_bytes=100, accuracy=None, per_class_accuracy=None,
                              top1_agreement=1.0, max_abs_error=0.0, mean_abs_error=0.0, latency=Latency(count=10, mean=p50, p50=p50, p90=p50),
                              samples=10)

    fp32, dynamic, int8 = metrics("fp32", 7.8), metrics("dynamic", 25.3), metrics("int8", 3.9)
    assert "slower than fp32 (25.3 ms against 7.8 ms" in slower_note(dynamic, fp32)
    assert slower_note(int8, fp32) == "" and slower_note(fp32, fp32) == ""
    # the report says so, from the manifest's latencies
    bundle = tmp_path / "digits"
    shutil.copytree(digits_build.bundle, bundle)
    data = digits_build.manifest.to_dict()
    float_p50 = data["metrics"]["float"]["latency"]["p50_ms"]
    for v in data["metrics"]["variants"]:
        factor = 3 if v["name"] == "dynamic" else 0.5
        if v["latency"]:
            v["latency"] = {**v["latency"], "p50_ms": float_p50 * factor, "p90_ms": float_p50 * factor}
    md = report.render_all(Manifest.from_dict(data), bundle)["report.md"]
    assert "Slower than fp32 on this host: dynamic." in md and "(slower than float)" in md


def test_the_report_shows_every_engine_and_calibration_candidate_and_marks_the_chosen_one(digits_build):
    md = (digits_build.bundle / "report.md").read_text()
    assert "## Engine and calibration per variant" in md
    section = md.split("## Engine and calibration per variant", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]  # past the header
    choice = digits_build.manifest.selection.engine_choice
    assert len(rows) == len(choice)
    chosen = [r for r in rows if "| chosen |" in r]
    assert len(chosen) == len({c.variant for c in choice})  # one per variant
    assert any("+bc" in r for r in rows)


def test_without_evaluation_data_the_choice_is_judged_on_held_out_calibration_samples(tmp_path):
    """Judged on the samples it was calibrated on, the engine choice selected on noise (issue 28 item 1):
    every 4th calibration sample is held out of calibration to judge it, and the manifest and report say so."""
    import json

    import numpy as np

    from packager.build.pipeline import build
    from packager.build.spec import make_spec
    from tests.tflite_models import mlp

    model = tmp_path / "mlp.tflite"
    model.write_bytes(mlp())
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).standard_normal((40, 16)).astype(np.float32))
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "quant": "int8,fp16",
                                    "calib_data": tmp_path / "calib.npy", "measure_latency": False}))
    selection = json.loads((result.bundle / "manifest.json").read_text())["selection"]
    assert selection["engine_choice_data"].startswith("10 calibration samples held out of calibration")
    assert "calibrated on the other 30" in selection["engine_choice_data"]
    assert result.manifest.recipe.calibration_samples == 30  # the bundled int8 never saw the held-out samples
    assert "Judged on 10 calibration samples held out" in (result.bundle / "report.md").read_text()
