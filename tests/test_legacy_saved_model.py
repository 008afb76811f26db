"""A SavedModel that TF 2.19's object loader rejects ('_UserObject' object has no attribute 'add_slot':
an optimizer's slot variables recorded on an object restored as a plain one, as in basic-pitch's
SavedModel) is converted through tf.compat.v1's converter and checked against the SavedModel's own
serving signature (packager.build.legacy_saved_model). Before, the build said to check the folder."""

from __future__ import annotations

import numpy as np
import pytest

from packager import quiet
from packager.errors import PackagerError


@pytest.fixture(scope="module")
def legacy_saved_model(tmp_path_factory):
    tf = quiet.import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    path = tmp_path_factory.mktemp("legacy") / "model"

    class Net(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal((4, 3), seed=(1, 2)))
            self.b = tf.Variable(tf.constant([0.1, -0.2, 0.3]))
            self.opt = tf.Module()  # stands for the optimizer saved with the model
            self.opt.m = tf.Variable(tf.zeros((4, 3)))  # its slot for w

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.softmax(tf.matmul(x, self.w) + self.b)}

    net = Net()
    with quiet.captured_output():
        tf.saved_model.save(net, str(path), signatures=net.__call__)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].object_graph_def
    ids = {child.local_name: child.node_id for node in graph.nodes for child in node.children}
    slot = graph.nodes[ids["opt"]].slot_variables.add()  # the optimizer's slot record that TF 2.19 cannot restore
    slot.original_variable_node_id, slot.slot_name, slot.slot_variable_node_id = ids["w"], "m", ids["m"]
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())
    return path, net


def test_tf2_rejects_it_and_packager_converts_it_checked_against_its_own_outputs(legacy_saved_model, tmp_path):
    tf = quiet.import_tensorflow()
    from packager.build.pipeline import build
    from packager.build.spec import make_spec
    from packager.runtime.evaluate import ModelRunner

    path, net = legacy_saved_model
    with pytest.raises(AttributeError, match="add_slot"):
        tf.saved_model.load(str(path))
    x = np.random.default_rng(1).standard_normal((32, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = build(make_spec(None, {"model": path, "output": tmp_path / "out", "quant": "fp32,int8,dynamic",
                                    "calib_data": tmp_path / "x.npy", "eval_data": tmp_path / "x.npy", "measure_latency": False}))
    bundled = (result.bundle / "model.tflite").read_bytes()
    ours = ModelRunner(bundled, threads=1).predict(x)[0]
    assert np.abs(ours - net(x)["y"].numpy()).max() < 1e-5
    assert {v.name for v in result.manifest.metrics.variants} >= {"int8", "dynamic"}


def test_the_check_against_the_saved_model_fails_on_another_model(legacy_saved_model):
    tf = quiet.import_tensorflow()
    from packager.build.legacy_saved_model import check_against_saved_model, v1_converter

    path, _ = legacy_saved_model
    with quiet.captured_output():
        model = bytes(v1_converter(tf, path, None).convert())
    assert check_against_saved_model(tf, path, model, None) < 1e-5

    class Other(tf.Module):  # same signature, other weights
        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.softmax(tf.matmul(x, tf.ones((4, 3))))}

    other = Other()
    with quiet.captured_output():
        wrong = bytes(tf.lite.TFLiteConverter.from_concrete_functions([other.__call__.get_concrete_function()], other).convert())
    with pytest.raises(PackagerError, match="differs from the SavedModel"):
        check_against_saved_model(tf, path, wrong, None)
