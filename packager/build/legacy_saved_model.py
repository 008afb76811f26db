"""SavedModels that TensorFlow 2's object loader rejects, converted through TF's v1 path.

A SavedModel written by an older TensorFlow with its optimizer (basic-pitch's, with slot variables)
no longer loads in TF 2.19: restoring the object graph calls `add_slot` on an object it restores as
a plain `_UserObject` (`'_UserObject' object has no attribute 'add_slot'`). The v1 loader reads the
MetaGraph and restores variables by name, without the object graph, so
`tf.compat.v1.lite.TFLiteConverter.from_saved_model` converts such a folder. The result is checked
against the SavedModel's own serving signature run by the v1 loader in a session, on random inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from packager import quiet
from packager.data.dataset import MultiInputs
from packager.errors import PackagerError
from packager.runtime.evaluate import ModelRunner
from packager.tflite.input_sizes import InputSizes, fixed_shape

SIGNATURE = "serving_default"
CHECK_SAMPLES = 2


def _signature(tf: Any, path: Path):
    """The serving signature of the MetaGraph tagged 'serve', read without loading any object."""
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415 - TensorFlow's protos, loaded with it

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    for meta in proto.meta_graphs:
        if "serve" in meta.meta_info_def.tags and meta.signature_def:
            return meta.signature_def.get(SIGNATURE) or next(iter(meta.signature_def.values()))
    raise PackagerError(f"the SavedModel {path} has no serving signature", "export it with a serving signature")


def _input_shapes(tf: Any, signature, sizes: InputSizes | None, what: str) -> dict[str, list[int]]:
    shapes = {}
    for key, info in signature.inputs.items():
        dims: list[int | None] = [int(d.size) for d in info.tensor_shape.dim]
        shape = fixed_shape(key, dims, sizes, what)
        shapes[key] = [1 if d is None else int(d) for d in shape]  # fixed_shape leaves only the batch dynamic
    return shapes


def v1_converter(tf: Any, path: Path, sizes: InputSizes | None):
    """tf.compat.v1's converter for the folder, inputs at batch 1 (and --size for other dynamic dimensions)."""
    signature = _signature(tf, path)
    shapes = _input_shapes(tf, signature, sizes, path.name)
    by_tensor = {signature.inputs[k].name.split(":")[0]: shape for k, shape in shapes.items()}  # the converter names graph tensors
    with quiet.captured_output():
        return tf.compat.v1.lite.TFLiteConverter.from_saved_model(str(path), input_shapes=by_tensor, signature_key=SIGNATURE)


def check_against_saved_model(tf: Any, path: Path, model: bytes, sizes: InputSizes | None) -> float:
    """The largest difference between the converted model and the SavedModel's own signature (run by the v1
    loader) on random inputs; a PackagerError when they disagree."""
    signature = _signature(tf, path)
    shapes = _input_shapes(tf, signature, sizes, path.name)
    rng = np.random.default_rng(0)
    runner = ModelRunner(model, threads=1)
    names = [t.name for t in runner.inputs]
    keys = sorted(signature.inputs)
    worst = 0.0
    with quiet.captured_output(), tf.compat.v1.Session(graph=tf.Graph()) as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
        for _ in range(CHECK_SAMPLES):
            feed = {k: rng.standard_normal(shapes[k]).astype(np.float32) for k in keys}  # float inputs (integer ones: not checked)
            expected = session.run({k: v.name for k, v in signature.outputs.items()}, {signature.inputs[k].name: feed[k] for k in keys})
            # the converted model's inputs by name (the v1 converter keeps the graph's placeholder names)
            found = [next((k for k in keys if k in n or signature.inputs[k].name.split(":")[0] in n), None) for n in names]
            order = [k for k in found if k is not None] if None not in found else keys
            got = runner.predict(feed[order[0]] if len(order) == 1 else MultiInputs(tuple(order), tuple(feed[k] for k in order)))
            for output in got:  # matched by shape to the signature's outputs: the v1 converter may reorder them
                candidates = [np.asarray(v, np.float64) for v in expected.values() if np.shape(v) == output.shape]
                if not candidates:
                    raise PackagerError(f"the converted {path.name} has an output of shape {list(output.shape)} the SavedModel does not have",
                                        "report this model")
                worst = max(worst, min(float(np.abs(output - c).max()) for c in candidates))
            scale = 1.0 + max(float(np.abs(np.asarray(v)).max()) for v in expected.values())
            if not worst <= 1e-4 * scale:
                raise PackagerError(f"TF's v1 converter made a model of {path.name} that differs from the SavedModel (max error {worst:.3g})",
                                    "report this model")
    return worst

