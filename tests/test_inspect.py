"""`packager inspect`: checked against LiteRT's own view of real models, ours and others'."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from packager import quiet

from packager.tflite import metadata
from packager.cli import main
from packager.errors import PackagerError
from packager.tflite.inspect import inspect_model
from packager.data.preprocess import Preprocessing
from tests.tflite_models import LABELS, build_models

SPEC = metadata.MetadataSpec(name="digits", version="1.0", task="image_classification", author="tests", license="MIT",
                             labels=list(LABELS), preprocessing=Preprocessing(size=(8, 8), color_space="GRAYSCALE"))


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, Path]:
    models = build_models()
    root = tmp_path_factory.mktemp("inspect")
    files = {
        "int8_with_metadata": metadata.embed_metadata(models.int8_gray, SPEC),
        "float_plain": models.float_gray,
        "while_loop": models.while_loop,
        "custom_op": models.custom_op,
        "flex_op": models.flex_op,
    }
    paths = {}
    for name, data in files.items():
        paths[name] = root / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


def _litert(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    with quiet.captured_output():
        return Interpreter(model_path=str(path))


@pytest.mark.parametrize("name", ["int8_with_metadata", "float_plain", "while_loop", "custom_op", "flex_op"])
def test_tensors_and_operators_agree_with_litert(model_files, name):
    path = model_files[name]
    report = inspect_model(path)
    interpreter = _litert(path)
    assert report.size_bytes == path.stat().st_size
    for ours, theirs in ((report.graph.inputs, interpreter.get_input_details()), (report.graph.outputs, interpreter.get_output_details())):
        assert len(ours) == len(theirs)
        for tensor, detail in zip(ours, theirs):
            assert (tensor.name, tensor.index, list(tensor.shape)) == (detail["name"], detail["index"], detail["shape"].tolist())
            assert tensor.dtype == np.dtype(detail["dtype"]).name
            scale, zero_point = detail["quantization"]
            assert (tensor.scale or 0.0, tensor.zero_point or 0) == (scale, zero_point)
    # operator counts of the main subgraph, as LiteRT sees its nodes
    main_ops = Counter(op["op_name"] for op in interpreter._get_ops_details())
    assert sum(main_ops.values()) == report.graph.subgraphs[0].operators
    if len(report.graph.subgraphs) == 1:  # LiteRT names custom ops by their custom code, as we do
        assert report.graph.operators == dict(main_ops)


def test_model_with_metadata(model_files):
    report = inspect_model(model_files["int8_with_metadata"])
    assert report.graph.inputs[0].dtype == "int8" and report.graph.inputs[0].scale > 0
    md = report.metadata
    assert (md.name, md.version, md.author, md.license) == ("digits", "1.0", "tests", "MIT")
    assert md.labels == tuple(LABELS) and md.normalization == ((127.5,), (127.5,))
    assert [(f.name, f.size_bytes, f.type) for f in report.associated_files] == \
        [("labels.txt", len("".join(f"{label}\n" for label in LABELS)), "TENSOR_AXIS_LABELS")]
    assert report.graph.operators["CONV_2D"] == 1 and report.graph.operators["FULLY_CONNECTED"] == 1
    assert report.runs_on_litert and report.litert_error is None


def test_models_made_elsewhere(model_files):
    plain = inspect_model(model_files["float_plain"])
    assert plain.metadata is None and plain.associated_files == () and plain.runs_on_litert
    assert plain.graph.signatures == ("serving_default",)

    loop = inspect_model(model_files["while_loop"])
    assert [s.name for s in loop.graph.subgraphs] == ["main", "while_cond", "while_body"]
    assert loop.graph.operators["WHILE"] == 1 and loop.graph.operators["LESS"] == 1
    assert sum(loop.graph.operators.values()) == sum(s.operators for s in loop.graph.subgraphs)

    custom = inspect_model(model_files["custom_op"])
    assert custom.graph.custom_ops == ("MatrixDeterminant",) and custom.graph.operators["MatrixDeterminant"] == 1
    assert not custom.runs_on_litert and "MatrixDeterminant" in custom.litert_error

    flex = inspect_model(model_files["flex_op"])
    assert flex.graph.custom_ops == ("FlexMatrixDeterminant",)
    assert not flex.runs_on_litert and "Flex delegate" in flex.litert_error


def test_cli_json_has_the_fields(model_files, tmp_path):
    result = CliRunner().invoke(main, ["inspect", str(model_files["int8_with_metadata"]), "--json", "--extract", str(tmp_path / "files")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"path", "size_bytes", "inputs", "outputs", "operators", "subgraphs", "metadata", "associated_files", "custom_ops"} <= set(data)
    tensor = data["inputs"][0]
    assert {"name", "index", "shape", "dtype", "scale", "zero_point"} <= set(tensor) and tensor["dtype"] == "int8"
    assert data["metadata"]["labels_count"] == len(LABELS)
    assert data["metadata"]["normalization"] == {"mean": [127.5], "std": [127.5]}
    assert data["operators"]["CONV_2D"] == 1 and data["operator_total"] == sum(data["operators"].values())
    assert data["associated_files"][0]["name"] == "labels.txt"
    assert data["extracted"] == [str(tmp_path / "files" / "labels.txt")]
    assert (tmp_path / "files" / "labels.txt").read_text().splitlines() == LABELS


def test_cli_tables(model_files):
    result = CliRunner().invoke(main, ["inspect", str(model_files["int8_with_metadata"])], terminal_width=160)
    assert result.exit_code == 0, result.output
    for text in ("Inputs", "Outputs", "int8", "Metadata", "GRAYSCALE", "labels.txt", "TENSOR_AXIS_LABELS", "CONV_2D", "LiteRT: loads"):
        assert text in result.stdout
    loop = CliRunner().invoke(main, ["inspect", str(model_files["custom_op"])], terminal_width=160)
    assert loop.exit_code == 0 and "MatrixDeterminant (custom)" in loop.stdout and "Metadata: none" in loop.stdout


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, model_files) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    good = model_files["float_plain"].read_bytes()
    files = {
        "truncated.tflite": good[: len(good) // 2],
        "notes.txt": b"this is not a model\n",
        "picture.tflite": b"\x89PNG\r\n\x1a\n" + bytes(64),
        "empty.tflite": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in files} | {"missing.tflite": root / "missing.tflite"}


@pytest.mark.parametrize("name, message", [
    ("truncated.tflite", "is corrupt or truncated"),
    ("notes.txt", "is not a TFLite model (no TFL3 flatbuffer identifier; it looks like a text file)"),
    ("picture.tflite", "it looks like a PNG image"),
    ("empty.tflite", "is empty"),
    ("missing.tflite", "does not exist"),
])
def test_bad_files_are_one_line_errors(bad_files, name, message):
    with pytest.raises(PackagerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        inspect_model(bad_files[name])
    result = CliRunner().invoke(main, ["inspect", str(bad_files[name])])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr


def test_cli_process_exit_code_and_no_tensorflow(bad_files, model_files):
    """As a user runs it: a real process, exit 2, one line on stderr, no traceback; and inspecting
    a model with metadata never imports TensorFlow (it costs 10 s)."""
    run = subprocess.run([sys.executable, "-m", "packager.cli", "inspect", str(bad_files["truncated.tflite"])],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr and "corrupt or truncated" in run.stderr
    probe = ("import sys; from packager.tflite.inspect import inspect_model; "
             f"r = inspect_model({str(model_files['int8_with_metadata'])!r}); "
             "assert r.metadata.labels; print('tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
    # the same through the command line (`packager inspect`), with what it prints
    probe = ("import sys\nfrom packager import cli\ntry:\n"
             f"    cli.main(['inspect', {str(model_files['int8_with_metadata'])!r}])\n"
             "except SystemExit as exc:\n    print('EXIT', exc.code, 'tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    report, _, verdict = run.stdout.rpartition("EXIT")
    assert verdict.split() == ["0", "False"], run.stderr[-2000:]
    assert "int8" in report


def test_extracted_files_have_ordinary_permissions(model_files, tmp_path):
    """Issue 26: extracted files get the umask's mode (0644 under umask 022), not NamedTemporaryFile's 0600."""
    import os

    mask = os.umask(0o022)
    try:
        result = CliRunner().invoke(main, ["inspect", str(model_files["int8_with_metadata"]), "--extract", str(tmp_path / "files")])
    finally:
        os.umask(mask)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "files" / "labels.txt").stat().st_mode & 0o777 == 0o644
