"""A .tflite written before schema 3a names its operators only by `deprecated_builtin_code` (its
`builtin_code` is 0, ADD), as MediaPipe's models do. ai-edge-quantizer reads `builtin_code` alone:
without packager's fix it took every operator for ADD, quantized no weight in dynamic/fp16 and
made int8 models LiteRT would not load (BlazeFace). The same MLP, written both ways, must give
the same quantized variant."""

from __future__ import annotations

import numpy as np

from packager.tflite import flatbuffer
from tests.tflite_models import mlp, run


def _old_style(model: bytes) -> bytes:
    tree = flatbuffer.read(model)
    for code in tree.operatorCodes:
        code.deprecatedBuiltinCode, code.builtinCode = min(max(code.builtinCode, code.deprecatedBuiltinCode), 127), 0
    return flatbuffer.write(tree)


def test_an_old_style_tflite_is_quantized_like_a_new_one():
    from packager.quant.engines import AeqEngine, Recipe

    new = mlp()
    old = _old_style(new)
    assert [c.builtinCode for c in flatbuffer.read(old).operatorCodes] == [0] * len(flatbuffer.read(old).operatorCodes)
    restored = flatbuffer.read(flatbuffer.with_builtin_codes(old))
    assert [c.builtinCode for c in restored.operatorCodes] == [c.builtinCode for c in flatbuffer.read(new).operatorCodes]
    assert flatbuffer.with_builtin_codes(new) == new  # nothing to change: the same bytes
    calibration = np.random.default_rng(0).standard_normal((32, 16)).astype(np.float32)
    x = calibration[:1]
    for recipe in (Recipe("dynamic"), Recipe("int8", io_dtype="float32")):
        from_old = AeqEngine(old).derive(recipe, calibration).model
        from_new = AeqEngine(new).derive(recipe, calibration).model
        int8_weights = [t for t in flatbuffer.read(from_old).subgraphs[0].tensors if t.type == 9]  # INT8
        assert int8_weights, recipe
        assert len(from_old) < 0.8 * len(old), (recipe, len(from_old), len(old))
        assert np.allclose(run(from_old, [x])[0], run(from_new, [x])[0], atol=1e-6), recipe
