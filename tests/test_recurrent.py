"""A Keras recurrent model with masking, two bidirectional GRUs and a dynamic time axis: its frozen graph
does not convert ('tf.TensorListReserve' op requires element_shape to be static), so packager converts a
batch-1 copy at the --size shape by TF's own from_keras_model path, checked output for output against
Keras (packager.build.sources.Converter); every variant comes from that float model by ai-edge-quantizer,
the loop kept in float. Before, the build ended at the conversion error."""

from __future__ import annotations

import numpy as np

from packager import quiet


def test_a_masked_bidirectional_gru_with_a_dynamic_time_axis_converts_and_quantizes(tmp_path):
    quiet.import_tensorflow()
    import keras

    from packager.build.pipeline import build
    from packager.build.spec import make_spec
    from packager.runtime.evaluate import ModelRunner
    from packager.tflite.flatbuffer import parse_graph

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 6), name="frames")
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(8, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(8))(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with quiet.captured_output():
        model.save(tmp_path / "rnn.keras")
    frames = np.random.default_rng(0).standard_normal((24, 20, 6)).astype(np.float32)
    frames[:, 15:] = 0.0  # padded tail: masked
    np.save(tmp_path / "frames.npy", frames)
    result = build(make_spec(None, {"model": tmp_path / "rnn.keras", "output": tmp_path / "out", "input_sizes": {"frames": (20, 6)},
                                    "quant": "fp32,int8,fp16", "calib_data": tmp_path / "frames.npy", "eval_data": tmp_path / "frames.npy",
                                    "select": "fp32", "measure_latency": False}))
    bundled = (result.bundle / "rnn.tflite").read_bytes()
    assert "WHILE" in parse_graph(bundled).operators and list(parse_graph(bundled).inputs[0].shape) == [1, 20, 6]
    ours = ModelRunner(bundled, threads=1).predict(frames)[0]
    assert np.abs(ours - model(frames, training=False).numpy()).max() < 1e-5  # output for output against Keras
    metrics = {v.name: v for v in result.manifest.metrics.variants}
    assert metrics["int8"].top1_agreement >= 0.9 and metrics["fp16"].top1_agreement >= 0.95
    # TF's own int8 of such a model crashed the process: only ai-edge-quantizer makes its variants
    assert {c.engine for c in result.manifest.selection.engine_choice} == {"ai-edge-quantizer"}
