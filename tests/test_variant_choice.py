"""Engine and calibration chosen per variant by measurement (packager.variant_choice).

A build whose engine is not fixed makes each variant every way it can (ai-edge-quantizer with each
activation-range method for static variants, the TF converter from a Keras source) and keeps the
one that loses least on the evaluation data; every candidate is in the manifest with its figures.
"""

from __future__ import annotations

from packager.calibration import METHODS


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
            assert {c["calibration"] for c in candidates if c["engine"] == "ai-edge-quantizer"} == set(METHODS)
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
    assert recipe["calibration"] == (int8["calibration"] if int8["engine"] == "ai-edge-quantizer" else "tf-converter")


def test_a_fixed_engine_is_not_second_guessed(tmp_path, digits_data, digits_sources):
    from tests.conftest import build_digits

    result = build_digits(digits_data, digits_sources["keras"], tmp_path, quant="int8", engine="ai-edge-quantizer", measure_latency=False)
    assert result.manifest.selection.engine_choice == [] and "engine_choice" not in result.manifest.to_dict()["selection"]
    assert result.manifest.recipe.engine == "ai-edge-quantizer" and result.manifest.recipe.calibration == "minmax"
