"""Small real TFLite models for the metadata and inspect tests, converted once per process.

Keras Conv2D + Dense classifiers on 8x8 images (float, full-int8 with int8 I/O, uint8 I/O, an
RGB one with logits), a generic two-input/two-output model, a while loop (several subgraphs), and
models with a custom op and a Flex op, all made by TensorFlow's converter (~1 s after the import).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from packager import quiet

CLASSES = 5
LABELS = ["zero", "one", "two", "three", "four"]


@dataclass(frozen=True)
class Models:
    float_gray: bytes  # 8x8x1 -> softmax(5), float I/O
    int8_gray: bytes  # same network, full integer, int8 I/O
    uint8_gray: bytes  # same network, full integer, uint8 I/O
    float_rgb_logits: bytes  # 8x8x3 -> 5 logits (no softmax)
    generic_two_io: bytes  # inputs a[3], b[2] -> outputs sum[3], product[2]
    while_loop: bytes  # WHILE op: 3 subgraphs
    custom_op: bytes  # MatrixDeterminant as a custom op
    flex_op: bytes  # FlexMatrixDeterminant (Select TF ops)


@functools.cache
def build_models() -> Models:
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(0)

    def classifier(channels: int, softmax: bool):
        inputs = keras.Input((8, 8, channels), name="image")
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(CLASSES, activation="softmax" if softmax else None)(x)
        return keras.Model(inputs, outputs)

    def convert(converter) -> bytes:
        with quiet.captured_output():
            return bytes(converter.convert())

    def quantized(model, io_type) -> bytes:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(0)
        # inputs as the preprocessing makes them: (pixel - 127.5) / 127.5 in [-1, 1]
        converter.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 8, 8, 1)).astype(np.float32)] for _ in range(16))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = io_type
        return convert(converter)

    gray = classifier(1, softmax=True)
    float_gray = convert(tf.lite.TFLiteConverter.from_keras_model(gray))
    rgb = convert(tf.lite.TFLiteConverter.from_keras_model(classifier(3, softmax=False)))

    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32, name="a"), tf.TensorSpec([2], tf.float32, name="b")])
    def two_io(a, b):
        return {"sum": a + tf.reduce_sum(b), "product": b * tf.reduce_prod(a)}

    @tf.function(input_signature=[tf.TensorSpec([4], tf.float32, name="x")])
    def loop(x):
        _, y = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0 + 1.0), [tf.constant(0), x])
        return {"y": y}

    @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.float32, name="m")])
    def determinant(m):
        return {"det": tf.linalg.det(m) + 1.0}

    def from_function(fn, **settings) -> bytes:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
        for key, value in settings.items():
            setattr(converter, key, value)
        return convert(converter)

    flex = tf.lite.TFLiteConverter.from_concrete_functions([determinant.get_concrete_function()], determinant)
    flex.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return Models(
        float_gray=float_gray, int8_gray=quantized(gray, tf.int8), uint8_gray=quantized(gray, tf.uint8), float_rgb_logits=rgb,
        generic_two_io=from_function(two_io), while_loop=from_function(loop),
        custom_op=from_function(determinant, allow_custom_ops=True), flex_op=convert(flex),
    )


@functools.cache
def mlp() -> bytes:
    """A small float Keras MLP, 16 inputs -> 8 softmax classes, with a serving signature."""
    tf = quiet.import_tensorflow()
    keras = tf.keras
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16,), name="x")
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    outputs = keras.layers.Dense(8, activation="softmax")(keras.layers.Dense(16, activation="relu")(hidden))
    with quiet.captured_output():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())


def wide_then_narrow(seed: int = 0) -> np.ndarray:
    """MLP inputs: 40 wide samples first, then 160 narrow ones (a moving-average range forgets the wide ones)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_normal((40, 16)) * 4.0, rng.standard_normal((160, 16)) * 0.5])


def run(model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of `model` on `inputs`, with LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet.captured_output():
        interpreter = Interpreter(model_content=model)
        interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


RESHAPE, INT32 = 22, 2  # TFLite BuiltinOperator and TensorType codes


def crashing_model(model: bytes) -> bytes:
    """`model` (one with a RESHAPE and int32 constants, e.g. the digits CNN in int8) with its
    RESHAPE's new-shape input pointed at the largest int32 constant (a bias of 32+ values): LiteRT
    2.x's XNNPACK delegate then dies with SIGSEGV in allocate_tensors (found by fuzzing the digits
    model; the builtin kernels refuse it with an error). A real native crash, not a simulated one."""
    import numpy as np

    from packager.tflite import flatbuffer

    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]

    def code(op) -> int:
        c = tree.operatorCodes[op.opcodeIndex]
        return max(c.builtinCode, c.deprecatedBuiltinCode)

    reshape = next(op for op in graph.operators if code(op) == RESHAPE)
    constants = [k for k, t in enumerate(graph.tensors) if t.type == INT32 and t.buffer and tree.buffers[t.buffer].data is not None]
    reshape.inputs = [reshape.inputs[0], max(constants, key=lambda k: int(np.prod(graph.tensors[k].shape)))]
    return flatbuffer.write(tree)
