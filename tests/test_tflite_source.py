"""What a .tflite is, read from its flatbuffer (packager.tflite.flatbuffer) rather than by loading it in LiteRT:
tensor types and signatures agree with what LiteRT's Interpreter reports, and infer_quant names each
kind of model of tests/tflite_models.py."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from packager.build.tflite_source import infer_quant
from packager.tflite.flatbuffer import parse_graph
from tests.tflite_models import Models, build_models


@pytest.mark.parametrize("name", [f.name for f in fields(Models) if f.name not in ("custom_op", "flex_op")])
def test_the_flatbuffer_says_what_the_interpreter_says(name):
    from ai_edge_litert.interpreter import Interpreter

    model = getattr(build_models(), name)
    graph, interpreter = parse_graph(model), Interpreter(model_content=model)
    assert graph.tensor_dtypes == {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}
    signatures = interpreter._get_full_signature_list()  # noqa: SLF001
    assert [s.key for s in graph.signature_defs] == list(signatures)
    for s in graph.signature_defs:
        assert dict(s.inputs) == {k: int(v) for k, v in signatures[s.key]["inputs"].items()}
        assert dict(s.outputs) == {k: int(v) for k, v in signatures[s.key]["outputs"].items()}


def test_infer_quant_names_each_kind():
    models = build_models()
    assert infer_quant(models.float_gray) == "fp32"
    assert infer_quant(models.int8_gray) == "int8"  # int8 I/O
    assert infer_quant(models.uint8_gray) == "int8"  # uint8 I/O
    assert infer_quant(models.generic_two_io) == "fp32"
