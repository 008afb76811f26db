"""The quantization debugger (packager.quant.debugger): it must point at the tensor whose range is wrong.

A small MLP is quantized to int8 twice: calibrated on narrow samples only (the failure mode of a
range that forgot part of the data) and on the whole set. Run on wide samples, the debugger must
report the input range as clipping and the badly calibrated model's error as far larger; the
well-calibrated one clips nothing. A digits build carries the findings in its manifest (valid
against the schema) and its report.
"""

from __future__ import annotations

import numpy as np

from packager.quant import debugger
from packager.manifest import QuantizationDebug
from tests.tflite_models import mlp, wide_then_narrow


def _int8(calibration: np.ndarray) -> bytes:
    from packager.quant.engines import AeqEngine, Recipe

    return AeqEngine(mlp()).derive(Recipe("int8", io_dtype="float32"), calibration).model


def test_the_debugger_finds_the_clipped_range_and_nothing_in_a_well_calibrated_model():
    data = wide_then_narrow()
    wide = data[:40]
    bad = debugger.debug(mlp(), _int8(data[40:]), wide, "int8", "minmax")
    good = debugger.debug(mlp(), _int8(data), wide, "int8", "minmax")
    assert [t.tensor for t in bad.tensors] == [t.tensor for t in good.tensors] and len(bad.tensors) >= 4
    first = bad.tensors[0]  # the model's input, quantized on entry
    assert first.clipped > 0.3 and first.range_error > 0.3
    assert first.range[1] < 0.5 * float(wide.max())
    assert max(t.clipped for t in good.tensors) == 0.0
    assert max(t.range_error for t in good.tensors) < 0.05
    assert bad.tensors[-1].accumulated > 3 * good.tensors[-1].accumulated
    # added errors are never negative and the accumulated error of the last tensor is what reaches the output
    assert all(t.added >= 0 for t in bad.tensors) and bad.worst[0].added == max(t.added for t in bad.tensors)
    record = QuantizationDebug.of(bad.variant, bad.samples, bad.tensors, 3).to_dict()  # what the manifest keeps of it
    assert len(record["worst"]) == 3 and len(record["through_graph"]) == len(bad.tensors)
    assert record["worst"][0]["added"] == round(bad.worst[0].added, 6) and "tensors" not in record  # written to 6 decimals


def test_a_build_records_the_debugger_in_manifest_and_report(digits_build):
    from packager import schemas

    manifest = digits_build.manifest
    dbg = manifest.quantization_debug
    schemas.validate("manifest", manifest.to_dict())
    assert dbg.variant == "int8" and dbg.samples > 0 and dbg.worst
    added = [w.added for w in dbg.worst]
    assert added == sorted(added, reverse=True)
    method = manifest.recipe.calibration + ("+bc" if "bias_corrected_ops" in manifest.recipe.options else "")  # bias-corrected: said so
    assert all(w.calibration in (method, "float") for w in dbg.worst)
    md = (digits_build.bundle / "report.md").read_text()
    assert "Quantization error per tensor" in md and "tensor-error" in md
