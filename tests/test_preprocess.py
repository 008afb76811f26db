"""The preprocessing arithmetic (packager.data.preprocess) against the contract written out element by
element, bit for bit: the fast paths (whole-plane weights, kept temporaries, output rows) change
how numpy loops, never a value."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from packager.data.preprocess import Preprocessing, Scratch


def contract(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """docs/CONTRACTS.md's steps 2-3 for one image (H, W, C), one element at a time, float64."""
    in_h, in_w, channels = pixels.shape
    out_h, out_w = pre.size
    mean, std = pre.channel_mean(), pre.channel_std()
    out = np.empty((out_h, out_w, channels))

    def taps(dst: int, size_in: int, size_out: int):
        src = min(max((dst + 0.5) * (size_in / size_out) - 0.5, 0.0), size_in - 1)
        i0 = math.floor(src)
        return i0, min(i0 + 1, size_in - 1), src - i0

    for y in range(out_h):
        for x in range(out_w):
            for c in range(channels):
                if (in_h, in_w) == (out_h, out_w):
                    value = float(pixels[y, x, c])
                elif pre.resize_method == "nearest":
                    value = float(pixels[min(math.floor((y + 0.5) * (in_h / out_h)), in_h - 1),
                                         min(math.floor((x + 0.5) * (in_w / out_w)), in_w - 1), c])
                else:
                    y0, y1, fy = taps(y, in_h, out_h)
                    x0, x1, fx = taps(x, in_w, out_w)
                    p = pixels.astype(np.float64)
                    top = p[y0, x0, c] * (1.0 - fx) + p[y0, x1, c] * fx
                    bottom = p[y1, x0, c] * (1.0 - fx) + p[y1, x1, c] * fx
                    value = top * (1.0 - fy) + bottom * fy
                out[y, x, c] = (value - mean[c]) / std[c]
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_apply_is_the_contract_bit_for_bit(data):
    channels = data.draw(st.sampled_from([1, 3]))
    in_h, in_w, out_h, out_w = (data.draw(st.integers(1, 12)) for _ in range(4))
    method = data.draw(st.sampled_from(["bilinear", "nearest"]))
    mean = tuple(data.draw(st.lists(st.floats(0, 255), min_size=1, max_size=1) | st.lists(st.floats(0, 255), min_size=channels, max_size=channels)))
    std = tuple(data.draw(st.floats(0.01, 300)) for _ in mean)
    pre = Preprocessing((out_h, out_w), "RGB" if channels == 3 else "GRAYSCALE", mean, std, method)
    seed = data.draw(st.integers(0, 2**32 - 1))
    batch = np.random.default_rng(seed).integers(0, 256, (2, in_h, in_w, channels), dtype=np.uint8)
    expected = np.stack([contract(image, pre) for image in batch])
    plain = pre.apply(batch)
    scratch, rows = Scratch(), np.empty_like(expected)
    for i in range(len(batch)):  # as the folder loader does: one image at a time into its row, temporaries kept
        pre.apply(batch[i : i + 1], rows[i : i + 1], scratch)
    for got in (plain, rows):
        assert got.dtype == np.float64 and np.array_equal(got.view(np.int64), expected.view(np.int64))


def test_kept_temporaries_serve_images_of_several_sizes():
    pre = Preprocessing((5, 7), "RGB", (127.5,), (127.5,))
    rng = np.random.default_rng(0)
    scratch = Scratch()
    for shape in [(9, 4), (3, 3), (9, 4), (20, 31)] * 3:
        image = rng.integers(0, 256, (1, *shape, 3), dtype=np.uint8)
        assert np.array_equal(pre.apply(image, scratch=scratch), pre.apply(image))
