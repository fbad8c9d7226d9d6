"""pHash's and dHash's Pillow-exact LANCZOS resize of an undrafted image runs as banded sums in C (issue 24):
the same pixels, bit for bit, as the dense matrix products it replaced and as Pillow itself."""

import numpy as np
import pytest
from PIL import Image

from hashwatch.hashing.draft_resample import _PRECISION_BITS, lanczos_matrix, pillow_resize

SIZES = [(1, 1), (1, 40), (40, 1), (8, 9), (9, 8), (31, 33), (32, 32), (64, 64), (100, 700), (700, 100)]
SIZES += [(257, 383), (640, 480), (1024, 768), (1500, 90)]


def _dense(luma: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """The dense form pillow_resize used before: the whole image times each axis's coefficient matrix."""
    h, w = luma.shape
    mx, my = lanczos_matrix(w, out[0], 1, w), lanczos_matrix(h, out[1], 1, h)
    half, unit = float(2 ** (_PRECISION_BITS - 1)), float(2**_PRECISION_BITS)
    x = luma.astype(np.float64)
    shrink_h, shrink_w = h - out[1], w - out[0]
    if shrink_h > 0 and shrink_h > shrink_w * 2:
        tmp = np.clip(np.floor((my @ x + half) / unit), 0, 255)
        return np.clip(np.floor((tmp @ mx.T + half) / unit), 0, 255)
    tmp = np.clip(np.floor((x @ mx.T + half) / unit), 0, 255)
    return np.clip(np.floor((my @ tmp + half) / unit), 0, 255)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("out", [(32, 32), (9, 8), (64, 64)])
def test_banded_resize_is_the_dense_one_and_pillows(size, out):
    rng = np.random.default_rng(size[0] * 7919 + size[1])
    for luma in (
        rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8),  # noise: every coefficient matters
        np.full((size[1], size[0]), 255, dtype=np.uint8),  # the largest sums
        (np.indices((size[1], size[0])).sum(axis=0) % 256).astype(np.uint8),
    ):
        banded = pillow_resize(luma, size, out, 1)
        np.testing.assert_array_equal(banded, _dense(luma, out))
        pillow = np.asarray(
            Image.fromarray(luma, "L").resize(out, Image.Resampling.LANCZOS), dtype=np.float64
        )
        np.testing.assert_array_equal(banded, pillow)
