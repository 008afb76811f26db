"""Accelerator coverage at build time (packager/runtime/coverage.py): which operators the GPU
delegate and NNAPI (per Android API level) would take, on real models converted by TensorFlow."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from packager.tflite import flatbuffer
from packager.cli import main
from packager.manifest import Manifest
from packager.report.content import render_all
from packager.runtime import coverage, nnapi_rules
from packager.tflite.flatbuffer import Operand, OpSignature
from tests.tflite_models import build_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models():
    return build_models()


def _level(cov, api: int):
    return next(e for e in cov.nnapi if api in e.api_levels)


def _refused(entry) -> dict[str, str]:
    return {r.op: r.reason for r in entry.refused}


def test_the_api_levels_are_the_apps():
    gradle = (ROOT / "android_app/app/build.gradle.kts").read_text()
    assert int(re.search(r"minSdk\s*=\s*(\d+)", gradle).group(1)) == coverage.MIN_SDK
    assert int(re.search(r"targetSdk\s*=\s*(\d+)", gradle).group(1)) == coverage.TARGET_SDK
    # the NNAPI feature levels (nnapi_delegate_kernel.h: 27 -> 1.0 ... 31 -> FL5, then runtime feature levels)
    assert [nnapi_rules.feature_level(api) for api in range(26, 37)] == [0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 8]


def test_gpu_refuses_a_custom_op_that_tfs_analyzer_calls_compatible(models):
    cov = coverage.variant_coverage("custom", models.custom_op)
    assert cov.operators == 2
    assert _refused(cov.gpu) == {"MatrixDeterminant": "custom operator: not supported"}
    assert cov.gpu.summary(cov.operators) == "partial delegation: 1 of 2 ops, 1 partition"
    assert _refused(_level(cov, 33)) == {"MatrixDeterminant": "custom operator: not supported"}

    # TensorFlow's own GPU check, as the public wheel builds it, flags nothing: why packager applies the rules itself
    import tensorflow as tf

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tf.lite.experimental.Analyzer.analyze(model_content=models.custom_op, gpu_compatibility=True)
    text = printed.getvalue()
    assert "MatrixDeterminant" in text and "looks compatible with GPU delegate" in text
    assert "GPU COMPATIBILITY WARNING" not in text


def test_gpu_refusals_split_the_graph_and_only_the_largest_partition_is_delegated(models):
    cov = coverage.variant_coverage("float", models.float_gray)  # Conv2D, Flatten of a dynamic batch (SHAPE ... RESHAPE), Dense
    ops = [s.kind for s in flatbuffer.op_signatures(flatbuffer.read(models.float_gray))]
    assert ops == ["CONV_2D", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    refused = _refused(cov.gpu)
    assert refused["SHAPE"] == "not supported"
    assert refused["RESHAPE"] == "expected 1 runtime input tensor(s), but node has 2"  # its shape is computed, not constant
    assert "CONV_2D" not in refused and "FULLY_CONNECTED" not in refused
    assert (cov.gpu.accepted, cov.gpu.partitions, cov.gpu.delegated) == (3, 2, 2)  # [conv] [fc, softmax]: the largest 1 delegated
    assert cov.gpu.summary(cov.operators) == "partial delegation: 2 of 7 ops, 2 partitions (the largest 1 delegated)"
    assert cov.hints == [coverage.DYNAMIC_BATCH]  # the test models keep Keras' batch None


def test_a_fixed_batch_has_no_shape_operators_and_no_hint():
    from packager import quiet

    tf = quiet.import_tensorflow()
    inputs = tf.keras.Input((8, 8, 1), batch_size=1)
    x = tf.keras.layers.Flatten()(tf.keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    with quiet.captured_output():
        model = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inputs, tf.keras.layers.Dense(5, activation="softmax")(x))).convert()
    cov = coverage.variant_coverage("batch1", model)
    assert (cov.operators, cov.hints) == (4, [])  # CONV_2D, RESHAPE (constant shape), FULLY_CONNECTED, SOFTMAX
    assert cov.gpu.summary(4) == "full delegation: 4 of 4 ops, 1 partition"
    assert _level(cov, 27).summary(4) == "full delegation: 4 of 4 ops, 1 partition"


def test_nnapi_takes_int8_convolutions_from_api_29(models):
    cov = coverage.variant_coverage("int8", models.int8_gray)
    api26, api28, api29 = _level(cov, 26), _level(cov, 28), _level(cov, 29)
    assert api26.delegated == 0 and api26.refused[0].reason == "no NNAPI before Android 8.1 (API 27)"
    assert _refused(api28)["CONV_2D"] == "int8 input needs NNAPI 1.2 (API 29)"
    assert _refused(api28)["FULLY_CONNECTED"] == "int8 input needs NNAPI 1.2 (API 29)"
    assert "CONV_2D" not in _refused(api29) and "FULLY_CONNECTED" not in _refused(api29)
    assert (api28.delegated, api29.delegated) == (1, 3)  # SOFTMAX, then CONV_2D and FULLY_CONNECTED too
    assert _refused(api29)["PACK"] == "needs NNAPI 1.3 (API 30)"
    assert _refused(api29)["RESHAPE"] == "the shape input must be constant"
    assert _refused(_level(cov, 33)).keys() == {"SHAPE", "STRIDED_SLICE", "RESHAPE"}  # PACK takes int32 from FL6
    # the float model: convolutions from the first NNAPI
    assert "CONV_2D" not in _refused(_level(coverage.variant_coverage("float", models.float_gray), 27))


def _sig(position: int, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> OpSignature:
    return OpSignature(position, "ADD", False, 1, tuple(Operand(i, "float32") for i in inputs), tuple(Operand(o, "float32") for o in outputs), {})


def test_partitions_follow_dependencies_not_the_listing_order():
    # 0: x -> a (accepted), 1: x -> b (refused, a parallel branch), 2: a -> c (accepted), 3: b, c -> d (accepted)
    sigs = [_sig(0, (0,), (1,)), _sig(1, (0,), (2,)), _sig(2, (1,), (3,)), _sig(3, (2, 3), (4,))]
    assert coverage.partitions(sigs, {0, 2, 3}) == [[0, 2], [3]]  # B runs between them: d needs b
    assert coverage.partitions(sigs, {0, 1, 2, 3}) == [[0, 1, 2, 3]]
    assert coverage.partitions(sigs, {1}) == [[1]]


def _tflite_scan(sigs: list[OpSignature], accepted: set[int]) -> list[list[int]]:
    """graph_info.cc's BuildNodeSubset as written: passes over the operators in order, the first ready one setting the kind."""
    produced = {o.index for s in sigs for o in s.outputs}
    ready = {o.index for s in sigs for o in s.inputs if o.index not in produced}
    pending, found = list(range(len(sigs))), []
    while pending:
        kind, subset, progress = None, [], True
        while progress:
            progress = False
            for i in list(pending):
                if all(o.index in ready for o in sigs[i].inputs) and (kind is None or (i in accepted) == kind):
                    kind = i in accepted if kind is None else kind
                    subset.append(i)
                    pending.remove(i)
                    ready.update(o.index for o in sigs[i].outputs)
                    progress = True
        if kind:
            found.append(sorted(subset))
    return found


def test_partitions_match_tflites_scan_on_random_graphs():
    import random
    import time

    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 25)  # operator i reads the graph input (tensor 0) or earlier operators' outputs (tensor j + 1)
        sigs = [_sig(i, tuple(rng.sample(range(i + 1), rng.randint(1, min(3, i + 1)))), (i + 1,)) for i in range(n)]
        accepted = {i for i in range(n) if rng.random() < 0.6}
        assert coverage.partitions(sigs, accepted) == _tflite_scan(sigs, accepted)
    chain = [_sig(i, (i,), (i + 1,)) for i in range(3000)]
    start = time.perf_counter()
    assert len(coverage.partitions(chain, set(range(0, 3000, 2)))) == 1500
    assert time.perf_counter() - start < 1.0  # 0.015 s measured; the scan above takes 16 s


def test_the_build_records_coverage_for_every_variant(digits_build):
    manifest = digits_build.manifest
    cov = manifest.accelerator_coverage
    assert cov is not None and cov.api_levels == [coverage.MIN_SDK, coverage.TARGET_SDK]
    assert {v.variant for v in cov.variants} == {manifest.metrics.reference.name, *(v.name for v in manifest.metrics.variants)}
    fp32, fp16, int8, int16 = (cov.of(n) for n in ("fp32", "fp16", "int8", "int16x8"))
    # fp16 weights: the DEQUANTIZEs are not delegated but do not split the graph
    weights = [r for r in _level(fp16, 33).refused if r.op == "DEQUANTIZE"]
    assert weights and weights[0].reason == coverage.FP16_WEIGHTS
    assert _level(fp16, 33).partitions == _level(fp32, 33).partitions
    assert _refused(_level(int8, 28))["CONV_2D"] == "int8 input needs NNAPI 1.2 (API 29)"
    assert "CONV_2D" not in _refused(_level(int8, 29))
    assert _refused(_level(int16, 33))["FULLY_CONNECTED"] == "int16 output not supported"
    assert coverage.UNCHECKED_INT16.format(ops="CONV_2D") in int16.hints  # accepted by Validate, flagged as unchecked
    assert not any("int16" in h for h in int8.hints)
    assert digits_build.timings["coverage"] < 1.0  # five variants; measured 0.075 s
    assert coverage.one_line(int8) == ("GPU partial delegation: 4 of 11 ops, 2 partitions (the largest 1 delegated); NNAPI ops delegated: "
                                       "API 26 0 of 11, API 27-28 2 of 11, API 29 6 of 11, API 30-32 7 of 11, API 33-36 8 of 11")

    # written and read back through the schema; a manifest from before the field still reads
    data = json.loads(manifest.to_json())
    assert Manifest.from_dict(data).accelerator_coverage == cov
    del data["accelerator_coverage"]
    assert Manifest.from_dict(data).accelerator_coverage is None
    bad = json.loads(manifest.to_json())
    bad["accelerator_coverage"]["variants"][0]["gpu"]["delegated"] = -1
    with pytest.raises(Exception, match="delegated"):
        Manifest.from_dict(bad)


def test_the_report_has_a_table_per_variant_and_accelerator(digits_build):
    manifest = digits_build.manifest
    md = render_all(manifest)["report.md"]
    section = md.split("## Accelerator coverage (predicted)", 1)[1].split("\n## ", 1)[0]
    assert "static prediction from the delegates' own rules" in section and "nothing was run" in section
    table_rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| variant")]
    assert table_rows[0].startswith("| int8 | GPU | 26-36 |")  # the chosen variant's table first
    rows = [line for line in table_rows if line.startswith("| int8 |")]
    assert len(rows) >= 4 and {line.split(" | ")[0] for line in table_rows} == {"| fp32", "| int8", "| fp16", "| dynamic", "| int16x8"}
    nnapi28 = next(r for r in rows if "NNAPI" in r and re.search(r"\| (27-)?28 \|", r))
    assert "CONV_2D x2: int8 input needs NNAPI 1.2 (API 29)" in nnapi28  # the digits CNN has two convolutions
    assert "partial delegation" in nnapi28
    assert "nnapi_delegate.cc" in section and "gpu_compatibility.cc" in section
    assert "Hint (" in section and "dynamic batch dimension" in section  # the digits CNN keeps Keras' batch None
    html = render_all(manifest)["report.html"]
    assert "Accelerator coverage (predicted)" in html


def test_inspect_shows_the_coverage_of_a_tflite(models, tmp_path):
    path = tmp_path / "custom.tflite"
    path.write_bytes(models.custom_op)
    result = CliRunner().invoke(main, ["inspect", str(path)], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "Accelerators (predicted from the delegates' rules, not run)" in result.output
    table = result.output.split("Accelerators (predicted", 1)[1]
    assert "GPU" in table and "NNAPI" in table and "partial" in table and "MatrixDeterminant" in table  # cells wrap at 80 columns
    result = CliRunner().invoke(main, ["inspect", str(path), "--json"])
    gpu = json.loads(result.output)["accelerator_coverage"]["gpu"]
    assert gpu["refused"] == [{"op": "MatrixDeterminant", "reason": "custom operator: not supported", "nodes": [0]}]
