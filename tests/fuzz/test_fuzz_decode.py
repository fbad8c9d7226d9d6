"""Property tests of the image decode path (``decode_image`` and ``compute_image_hashes``) on hostile images:
truncated, corrupted, declaring huge dimensions over a tiny body, and decompression bombs, in JPEG, PNG, GIF
and WebP (BMP and TIFF too). The contract is ``fuzz_targets.check_image``: a result with a known status and a
one-line message that never quotes the data; never an exception or a MemoryError. Oracles: a declared size
over ``max_pixels`` is ``too_many_pixels``, and a bomb's memory grows with the pixels it may decode (bounded
by ``max_decoded_pixels``), not more. Every image here is synthetic and lives only in memory.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from fuzz_config import LONG, fuzz_settings
from fuzz_corpora import gif_header_only, image_seeds, jpeg_header_only, png_header_only, webp_header_only
from fuzz_targets import check_image
from hypothesis import given
from hypothesis import strategies as st

from hashwatch.hashing.decode import DEFAULT_DECODE_CONFIG, DecodeStatus, decode_image

# Pillow warns about what it skips in a damaged file (EXIF, TIFF tags) and about sizes near its limit.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

_SEEDS = image_seeds()[:19]  # the well-formed images of every format and mode (not the hostile headers)


class _Seed(bytes):
    """An image seed with a short repr (a failing example names the seed, it does not print its bytes)."""

    def __repr__(self) -> str:
        return f"<image seed {_SEEDS.index(self)} of {len(self)} bytes>"


_seed = st.sampled_from([_Seed(s) for s in _SEEDS])


@fuzz_settings(60)
@given(seed=_seed, keep=st.floats(0, 1, exclude_max=True))
def test_truncated_images(seed, keep):
    check_image(seed[: int(len(seed) * keep)])


@fuzz_settings(80)
@given(seed=_seed, data=st.data())
def test_corrupted_images(seed, data):
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        # Mostly the headers (the first 200 bytes), where the sizes, modes and chunk lengths live.
        at = data.draw(st.integers(0, min(len(raw) - 1, 200)) | st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]) | st.integers(0, 255))
    check_image(bytes(raw))


_HEADERS = {
    "PNG": (png_header_only, 2**31 - 1),
    "GIF": (gif_header_only, 65535),
    "JPEG": (jpeg_header_only, 65500),
    "WEBP": (webp_header_only, 16384),
}


@fuzz_settings(80)
@given(
    fmt=st.sampled_from(sorted(_HEADERS)),
    width=st.integers(1, 2**31 - 1) | st.sampled_from([1, 65535, 65500, 16384, 9460, 6325]),
    height=st.integers(1, 2**31 - 1) | st.sampled_from([1, 65535, 65500, 16384, 9460, 6325]),
)
def test_huge_declared_dimensions_over_a_tiny_body(fmt, width, height):
    """A header declaring up to 65535 x 65535 (2^31 - 1 for PNG) over a body of a few bytes: a status, and
    never a decoded image when the declared size is over ``max_pixels`` (``too_many_pixels``, or
    ``decode_error`` where the decoder finds the file inconsistent first, as libwebp does when the canvas and
    the bitstream disagree)."""
    make, largest = _HEADERS[fmt]
    width, height = min(width, largest), min(height, largest)
    data = make(width, height)
    check_image(data)
    if width * height > DEFAULT_DECODE_CONFIG.max_pixels:
        decoded = decode_image(data)
        assert decoded.image is None
        assert decoded.status in (DecodeStatus.TOO_MANY_PIXELS, DecodeStatus.DECODE_ERROR)
        if fmt != "WEBP":
            assert decoded.status == DecodeStatus.TOO_MANY_PIXELS


def test_bomb_between_the_caps_is_refused_before_decoding():
    """49 M pixels: under Pillow's limit and ``max_pixels`` but over ``max_decoded_pixels``."""
    from fuzz_corpora import png_bomb

    decoded = decode_image(png_bomb(7000, 7000))
    assert decoded.status == DecodeStatus.TOO_MANY_PIXELS and decoded.image is None


_BOMBS = ["png-L", "png-I16", "png-RGBA", "gif", "webp", "jpeg", "jpeg-progressive", "tiff-F", "tiff-I"]
_BOMB_SCRIPT = textwrap.dedent(
    """
    import io, resource, sys
    from PIL import Image
    from hashwatch.hashing.image_hashes import compute_image_hashes

    def encode(mode, side, fmt, **params):
        buf = io.BytesIO()
        Image.new(mode, (side, side), 0).save(buf, format=fmt, **params)
        return buf.getvalue()

    kind, side = sys.argv[1], int(sys.argv[2])
    make = {
        "png-L": lambda: encode("L", side, "PNG"),
        "png-I16": lambda: encode("I;16", side, "PNG"),
        "png-RGBA": lambda: encode("RGBA", side, "PNG"),
        "gif": lambda: encode("P", side, "GIF"),
        "webp": lambda: encode("RGB", side, "WEBP", lossless=True),
        "tiff-F": lambda: encode("F", side, "TIFF", compression="tiff_deflate"),
        "tiff-I": lambda: encode("I", side, "TIFF", compression="tiff_deflate"),
        "jpeg": lambda: encode("L", side, "JPEG", quality=1),
        "jpeg-progressive": lambda: encode("L", side, "JPEG", quality=1, progressive=True),
    }
    data = make[kind]()
    compute_image_hashes(encode("RGB", 64, "PNG"))  # imports and first-call allocations
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = compute_image_hashes(data).decode_status
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(status, len(data), (after - before) * 1024)
    """
)


@pytest.mark.parametrize("kind", _BOMBS if LONG else ["png-L", "png-I16"])
def test_decompression_bombs_stay_within_memory(kind, tmp_path):
    """A small file of one colour that decodes to many pixels (36 M at 6000 x 6000, under the 40 M
    ``max_decoded_pixels``) is hashed, and the process grows by at most ~20 bytes a pixel (measured 12-14:
    the working image, its float luma, the resampling buffers). Before the 16-bit fix a 6000 x 6000 16-bit
    PNG (a 70 KB file) took 1,020 MB. In a fresh process, so the high-water mark is this image's."""
    side = 6000 if LONG else 3000
    out = subprocess.run(
        [sys.executable, "-c", _BOMB_SCRIPT, kind, str(side)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=600,
    ).stdout.split()
    status, size, grown = out[0], int(out[1]), int(out[2])
    assert status == DecodeStatus.OK
    assert size < side * side / 10  # it is a bomb: far fewer bytes than pixels
    assert grown / (side * side) < 20, f"{kind}: {grown / 2**20:.0f} MB for {side}x{side}"
