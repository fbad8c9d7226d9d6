"""Regression tests for the image decode path: every failure the fuzz and property tests found, with its
input made by a generator in memory (no image file is committed). Each test failed before its fix.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from hashwatch.hashing.decode import DecodeStatus, decode_image

# ---------------------------------------------------------------- decode: 16- and 32-bit images


def _png16(side: int) -> bytes:
    import io

    from PIL import Image

    ramp = (np.arange(side * side, dtype=np.uint32) * 7919 % 65536).astype(np.uint16).reshape(side, side)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")  # uint16: mode I;16
    return buf.getvalue()


def test_sixteen_bit_luma_memory(tmp_path):
    """Converting a 16-bit image to 8-bit luma built whole-image float64 temporaries: 1,020 MB of memory for
    a 6000 x 6000 16-bit PNG of 70 KB. Now in blocks of rows: under 10 bytes a pixel traced (was 25+)."""
    side = 2048
    data = _png16(side)
    decode_image(_png16(64))  # imports
    tracemalloc.start()
    try:
        decoded = decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.status == DecodeStatus.OK
    assert peak / (side * side) < 10, f"{peak / 2**20:.0f} MB traced for {side}x{side}"


def test_sixteen_bit_luma_is_unchanged_by_the_blocks():
    """The blocked conversion gives the bytes of the whole-image formula (hashes must not move): every 16-bit
    value, in an image taller than one block."""
    from PIL import Image

    from hashwatch.hashing.decode import _to_mode

    values = np.arange(65536, dtype=np.uint16)
    img = Image.fromarray(np.tile(values, 40).reshape(-1, 256))  # uint16: mode I;16
    want = np.clip(np.tile(values, 40).astype(np.float64) * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(_to_mode(img, "L")).reshape(-1), want)
    floats = Image.fromarray(np.linspace(-3.5, 1e6, 4096 * 300, dtype=np.float32).reshape(-1, 4096))  # F
    arr = np.asarray(floats, dtype=np.float64)
    want = np.clip((arr - arr.min()) * (255.0 / (arr.max() - arr.min())) + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(_to_mode(floats, "L")), want)
