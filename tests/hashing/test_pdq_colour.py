"""PDQ's colour path: pictures that are not JPEG drafts hash the float luma of their RGB, as pdqhash does.

The reference is called as a user would: ``pdqhash.compute(np.asarray(Image.open(f).convert("RGB")))``.
Synthetic pictures only, made in memory.
"""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashwatch.hashing.algorithms.pdq import (
    pdq_dct,
    pdq_dct_and_quality,
    pdq_hex,
    pdq_luma_from_rgb,
    pdq_quality,
)
from hashwatch.hashing.decode import DecodeConfig, decode_image
from hashwatch.hashing.draft_resample import jarosz_buffer64
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

from .conftest import encode, synthetic_array

PDQ_ONLY = HashConfig(hash_types=("pdq",), candidates=())


def reference(data: bytes) -> tuple[str, int]:
    """pdqhash on the RGB picture, the way a user calls it."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    vec, quality = pdqhash.compute(arr)
    return np.packbits(np.asarray(vec, dtype=bool)).tobytes().hex(), int(quality)


def ungated(data: bytes) -> tuple[str, int]:
    d = decode_image(data)
    dct, quality = pdq_dct_and_quality(d.pdq_luma, d.full_size, d.draft_scale)
    return pdq_hex(dct)[0], quality


def bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


# Colourful pictures of several sizes and textures; on main (Pillow's 8-bit L) 3 of these 12 PNGs, 3 lossless and 1
# lossy WebP and 2 JPEGs were 2-4 bits from the reference (checked on a copy of main).
COLOUR_CASES = [
    (w, h, seed, kind)
    for (w, h) in ((320, 240), (257, 383), (500, 333))
    for seed, kind in ((1, "mixed"), (2, "smooth"), (3, "noise"), (4, "mixed"))
]


def _colourful(w: int, h: int, seed: int, kind: str) -> np.ndarray:
    arr = synthetic_array(w, h, seed=seed, kind=kind).astype(np.int16)
    # Push the channels apart so the picture has strong colour (synthetic_array's channels are alike).
    arr[:, :, 0] = 255 - arr[:, :, 0]
    arr[:, :, 2] = (arr[:, :, 2] * 3) % 256
    return arr.astype(np.uint8)


@pytest.mark.parametrize(
    "fmt, save_args", [("PNG", {}), ("WEBP", {"lossless": True}), ("WEBP", {"quality": 80})]
)
def test_colour_png_and_webp_pdq_equals_pdqhash_on_the_rgb_picture(fmt, save_args):
    differing = []
    for w, h, seed, kind in COLOUR_CASES:
        data = encode(_colourful(w, h, seed, kind), fmt, **save_args)
        ours, quality = ungated(data)
        ref, ref_quality = reference(data)
        if ours != ref or quality != ref_quality:
            differing.append((w, h, seed, kind, bits(ours, ref), quality, ref_quality))
        h_full = compute_image_hashes(data, PDQ_ONLY)
        assert h_full.pdq == (ref if ref_quality >= 50 else None)
    assert differing == []


def test_rgba_alpha_is_dropped_as_convert_rgb_does():
    arr = _colourful(300, 220, 5, "mixed")
    alpha = np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (220, 1))
    data = encode(np.dstack([arr, alpha]), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    assert ungated(data) == reference(data)
    # The same RGB with no alpha hashes the same: alpha is ignored, not composited.
    assert ungated(data) == ungated(encode(arr, "PNG"))


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF"])
def test_palette_and_other_formats_follow_the_colour_path(fmt):
    arr = _colourful(280, 210, 6, "smooth")
    img = Image.fromarray(arr)
    if fmt in ("PNG", "GIF"):
        img = img.quantize(64)  # P mode
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    d = decode_image(data)
    assert d.colour is not None and d.colour.mode == "RGB"
    assert ungated(data) == reference(data)


def test_undrafted_jpeg_equals_pdqhash():
    data = encode(_colourful(400, 300, 7, "mixed"), "JPEG", quality=90)
    assert decode_image(data).draft_scale == 1
    assert ungated(data) == reference(data)


def test_float_luma_is_pdqhash_s_bit_for_bit():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(301, 517, 4), dtype=np.uint8)  # odd sizes, a 4th channel ignored
    expected = (arr[:, :, 0] * 0.299 + arr[:, :, 1] * 0.587 + arr[:, :, 2] * 0.114).astype("float32")
    got = pdq_luma_from_rgb(arr)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    # Not Pillow's 8-bit L: most values have a fraction.
    assert np.mean(got != np.round(got)) > 0.9


def test_grey_pictures_keep_their_8_bit_luma():
    data = encode(synthetic_array(300, 200, seed=8), "PNG", mode="L")
    d = decode_image(data)
    assert d.colour is None and d.pdq_luma is d.luma
    assert ungated(data) == reference(data)


def test_jpeg_draft_path_is_unchanged():
    """A drafted JPEG hashes libjpeg's Y (8-bit) as before: no colour copy, PDQ from ``luma``."""
    data = encode(_colourful(1600, 1200, 9, "mixed"), "JPEG", quality=88)
    d = decode_image(data)
    assert d.draft_scale >= 2 and d.colour is None and d.image.mode == "L"
    assert d.pdq_luma is d.luma
    buffer = jarosz_buffer64(d.luma, d.full_size, d.draft_scale)
    h = compute_image_hashes(data, PDQ_ONLY)
    assert h.pdq == pdq_hex(pdq_dct(buffer))[0] and h.pdq_quality == pdq_quality(buffer)
    # And still within the documented draft tolerance (PDQ 10 bits) of the reference on the full decode.
    assert bits(h.pdq, reference(data)[0]) <= 10


def test_phash_and_dhash_still_use_pillow_s_8_bit_luma():
    for fmt in ("PNG", "WEBP"):
        data = encode(_colourful(320, 240, 10, "mixed"), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        h = compute_image_hashes(data)
        grey = Image.open(io.BytesIO(data)).convert("L")
        assert h.phash == str(imagehash.phash(grey))
        assert h.dhash == str(imagehash.dhash(grey))


def test_rgb_working_mode_gives_the_same_pdq():
    data = encode(_colourful(320, 240, 11, "mixed"), "PNG")
    plain = compute_image_hashes(data, PDQ_ONLY)
    rgb = compute_image_hashes(
        data, HashConfig(decode=DecodeConfig(mode="RGB"), hash_types=("pdq",), candidates=())
    )
    assert plain.pdq == rgb.pdq == reference(data)[0]
