"""Safe decoding: formats, statuses, limits, EXIF policy, JPEG draft; messages that never quote the data."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from hashwatch.hashing.decode import DecodeConfig, DecodeStatus, decode_image
from hashwatch.hashing.image_hashes import compute_image_hashes

from .conftest import encode, synthetic_array


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("JPEG", "RGB", "JPEG"),
        ("JPEG", "L", "JPEG"),
        ("JPEG", "CMYK", "JPEG"),
        ("PNG", "RGBA", "PNG"),
        ("PNG", "P", "PNG"),
        ("PNG", "LA", "PNG"),
        ("GIF", "P", "GIF"),
        ("WEBP", "RGB", "WEBP"),
        ("BMP", "RGB", "BMP"),
        ("TIFF", "RGB", "TIFF"),
    ],
)
def test_supported_formats_decode_to_luma(fmt, mode, expected):
    data = encode(synthetic_array(300, 200, seed=5), fmt, mode=mode)
    d = decode_image(data)
    assert d.status == DecodeStatus.OK, d.error_message
    assert (d.format, d.width, d.height) == (expected, 300, 200)
    assert d.image.mode == "L"
    assert d.luma.shape == (200, 300)
    assert d.luma.dtype == np.float32


def test_sixteen_bit_png_is_scaled_not_clipped():
    ramp = (np.linspace(0, 65535, 256 * 128).reshape(128, 256)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    d = decode_image(buf.getvalue())
    assert d.status == "ok"
    luma = d.luma
    assert luma.min() <= 1 and luma.max() >= 254  # full range, not all white
    assert 100 < luma.mean() < 155


def test_gif_first_frame_only():
    frames = [Image.fromarray(synthetic_array(120, 100, seed=s)).convert("P") for s in (1, 2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    d = decode_image(buf.getvalue())
    first = np.asarray(frames[0].convert("L"), dtype=np.float32)
    assert d.status == "ok"
    assert np.array_equal(d.luma, first)


def test_empty_and_garbage():
    assert decode_image(b"").status == DecodeStatus.EMPTY
    g = decode_image(b"hello, this is not an image at all")
    assert (g.status, g.error_message) == (DecodeStatus.DECODE_ERROR, "not a recognised image format")


def test_truncated_jpeg_is_a_decode_error_with_a_plain_message():
    data = encode(synthetic_array(400, 300, seed=7), "JPEG", quality=95)
    d = decode_image(data[: len(data) // 2])
    assert d.status == DecodeStatus.DECODE_ERROR
    assert d.error_message == "truncated image data"
    assert (d.format, d.width, d.height) == ("JPEG", 400, 300)


def test_corrupt_png_message_does_not_quote_the_data():
    data = bytearray(encode(synthetic_array(200, 120, seed=8), "PNG"))
    marker = b"SECRETXY"
    idx = data.index(b"IDAT")
    data[idx : idx + 4] = marker[:4]  # a chunk type Pillow would quote in its own message
    d = decode_image(bytes(data))
    assert d.status == DecodeStatus.DECODE_ERROR
    assert "SECR" not in (d.error_message or "")
    assert "\n" not in (d.error_message or "")


def test_tiny_images_are_recorded_but_not_perceptually_hashed():
    data = encode(synthetic_array(49, 300, seed=1), "PNG")
    h = compute_image_hashes(data)
    assert h.decode_status == DecodeStatus.TOO_SMALL
    assert (h.width, h.height, h.format) == (49, 300, "PNG")
    assert h.phash is None and h.dhash is None and h.pdq is None
    assert "50 px" in h.error_message
    assert len(h.md5) == 32  # byte digests are always there
    ok = compute_image_hashes(encode(synthetic_array(50, 50, seed=1), "PNG"))
    assert ok.decode_status == "ok"


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_declared_pixel_bomb_is_refused_before_decoding():
    d = decode_image(_png_header_only(30000, 30000))  # 900 MP declared in a ~100 byte file
    assert d.status == DecodeStatus.TOO_MANY_PIXELS
    small_limit = decode_image(_png_header_only(2000, 2000), DecodeConfig(max_pixels=1_000_000))
    assert small_limit.status == DecodeStatus.TOO_MANY_PIXELS
    assert small_limit.width == 2000
    assert "2000x2000" in small_limit.error_message


def test_decoded_pixel_limit_applies_after_the_jpeg_draft():
    jpeg = encode(synthetic_array(1600, 1200, seed=2), "JPEG")
    png = encode(synthetic_array(1600, 1200, seed=2), "PNG")
    cfg = DecodeConfig(max_decoded_pixels=500_000)
    assert decode_image(jpeg, cfg).status == "ok"  # drafted to 400x300 (or 800x600) before the check
    assert decode_image(png, cfg).status == DecodeStatus.TOO_MANY_PIXELS


def test_unsupported_formats_are_named():
    ico = encode(synthetic_array(64, 64), "ICO")
    d = decode_image(ico)
    assert (d.status, d.format) == (DecodeStatus.UNSUPPORTED_FORMAT, "ICO")
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
    assert decode_image(svg).status == DecodeStatus.UNSUPPORTED_FORMAT
    assert decode_image(b"%PDF-1.4 whatever").format == "PDF"


@pytest.mark.parametrize(
    ("size", "target", "scale"),
    [((1600, 1200), 256, 4), ((1600, 1200), 128, 8), ((600, 400), 256, 1), ((1600, 1200), 0, 1)],
)
def test_jpeg_draft_scale(size, target, scale):
    data = encode(synthetic_array(*size, seed=4), "JPEG")
    d = decode_image(data, DecodeConfig(draft_min_side=target))
    assert d.status == "ok"
    assert d.draft_scale == scale
    assert (d.width, d.height) == size
    assert d.full_size == size
    assert d.image.size == (-(-size[0] // scale), -(-size[1] // scale))
    if scale > 1:
        assert min(d.image.size) >= target


def _with_orientation(data: bytes, orientation: int) -> bytes:
    img = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


def test_exif_orientation_is_recorded_and_not_applied_by_default():
    base = encode(synthetic_array(640, 400, seed=9), "JPEG", quality=95)
    rotated_tag = _with_orientation(base, 6)
    # The same re-encode without the tag: the same stored pixels (``base`` itself differs by a second JPEG
    # generation, which moved PDQ's float luma by 2 bits).
    resaved = io.BytesIO()
    Image.open(io.BytesIO(base)).save(resaved, format="JPEG", quality=95)
    plain = compute_image_hashes(resaved.getvalue())
    tagged = compute_image_hashes(rotated_tag)
    assert tagged.exif_orientation == 6
    assert plain.exif_orientation is None
    assert np.array_equal(np.asarray(Image.open(resaved)), np.asarray(Image.open(io.BytesIO(rotated_tag))))
    # Same stored pixels, so the same perceptual hashes (the tag is ignored, as by the PDQ reference).
    assert (tagged.phash, tagged.pdq) == (plain.phash, plain.pdq)


def test_exif_orientation_applied_on_request_matches_a_rotated_copy():
    base_arr = synthetic_array(640, 400, seed=9)
    tagged = _with_orientation(encode(base_arr, "JPEG", quality=95), 6)  # 6: display rotated 90 cw
    upright = encode(np.rot90(base_arr, k=-1).copy(), "JPEG", quality=95)
    from hashwatch.hashing.image_hashes import HashConfig

    cfg = HashConfig(decode=DecodeConfig(apply_exif_orientation=True))
    a = compute_image_hashes(tagged, cfg)
    b = compute_image_hashes(upright)
    assert (a.width, a.height) == (640, 400)  # stored size is reported
    assert (int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count() <= 16
    assert (int(a.phash, 16) ^ int(b.phash, 16)).bit_count() <= 4


def test_mode_rgb_for_colour_plugins():
    d = decode_image(encode(synthetic_array(200, 150), "JPEG"), DecodeConfig(mode="RGB"))
    assert d.image.mode == "RGB"
    with pytest.raises(ValueError, match="mode"):
        DecodeConfig(mode="CMYK")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=600), st.sampled_from(["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]))
def test_never_raises_and_never_quotes_data(noise, fmt):
    """Random bytes, alone or spliced into a valid file's header, give a status, never an exception."""
    valid = _VALID[fmt]
    for data in (noise, valid[:64] + noise, valid[: len(valid) // 3] + noise):
        h = compute_image_hashes(data)
        assert h.decode_status in DecodeStatus.ALL
        msg = h.error_message or ""
        assert "\n" not in msg
        assert "b'" not in msg and "\\x" not in msg


_VALID = {
    fmt: encode(synthetic_array(80, 60, seed=11), fmt)
    for fmt in ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
}


def test_palette_with_transparency_decodes_without_warnings():
    import warnings

    img = Image.fromarray(synthetic_array(120, 90, seed=12)).convert("P")
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=bytes(range(10)))  # a tRNS table: Pillow warns on convert("L")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = decode_image(buf.getvalue())
    assert d.status == "ok" and d.image.mode == "L"
