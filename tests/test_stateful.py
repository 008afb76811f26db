"""A model that keeps state between invocations (resource variables: VAR_HANDLE, ASSIGN_VARIABLE,
READ_VARIABLE, a CALL_ONCE initialiser subgraph) is detected and said: the manifest's `state`, the
report, a warning; its golden outputs are the sequence a fresh interpreter gives (packager.tflite.state).
Before, it was bundled without a word."""

from __future__ import annotations

import functools
import json

import numpy as np

from packager import quiet


@functools.cache
def _stateful_tflite() -> bytes:
    """y = 2 * s with s <- s / 2 + x kept in a variable across invocations."""
    tf = quiet.import_tensorflow()

    class Smoother(tf.Module):
        def __init__(self):
            self.state = tf.Variable(tf.zeros((1, 4)))

        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32, name="x")])
        def __call__(self, x):
            self.state.assign(self.state * 0.5 + x)
            return {"y": self.state * 2.0}

    module = Smoother()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    converter.experimental_enable_resource_variables = True
    with quiet.captured_output():
        return bytes(converter.convert())


def test_state_is_detected_and_a_stateless_model_has_none():
    from packager.tflite.state import model_state
    from tests.tflite_models import build_models

    state = model_state(_stateful_tflite())
    assert state is not None and state.variables == 1 and state.subgraphs >= 2
    assert {"VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE"} <= set(state.operators)
    assert model_state(build_models().float_gray) is None and model_state(build_models().while_loop) is None


def test_a_stateful_model_is_bundled_with_its_state_said_and_golden_outputs_in_sequence(tmp_path):
    from packager import schemas
    from packager.build.pipeline import build
    from packager.build.spec import make_spec
    from packager.runtime.evaluate import ModelRunner

    model = tmp_path / "smoother.tflite"
    model.write_bytes(_stateful_tflite())
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = build(make_spec(None, {"model": model, "output": tmp_path / "out", "eval_data": tmp_path / "x.npy",
                                    "golden_samples": 4, "measure_latency": False}))
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert schemas.errors("manifest", manifest) == []
    assert manifest["state"]["variables"] == 1 and "fresh interpreter" in manifest["state"]["note"]
    assert "resource variable" in (result.bundle / "report.md").read_text()
    # golden outputs: the golden inputs run in order from a fresh interpreter (not each one alone)
    inputs = np.load(result.bundle / manifest["golden"]["inputs"][0]["file"])
    outputs = np.load(result.bundle / manifest["golden"]["outputs"][0]["file"])
    runner = ModelRunner((result.bundle / "smoother.tflite").read_bytes(), threads=1)
    in_order = np.concatenate([runner.run_raw([inputs[i : i + 1]])[0] for i in range(len(inputs))])
    assert np.allclose(outputs, in_order)
    alone = np.concatenate([ModelRunner(model.read_bytes(), threads=1).run_raw([inputs[i : i + 1]])[0] for i in range(len(inputs))])
    assert not np.allclose(outputs, alone)  # the state matters: a device check that does not reset it would differ
