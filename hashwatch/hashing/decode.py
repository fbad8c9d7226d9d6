"""Decode image bytes once, safely, into the small working image every perceptual hash is computed from.

Policy (see docs/hashing.md for the measurements behind the numbers):

- **Formats**: JPEG (and MPO, a JPEG with extra pictures), PNG, GIF, WebP, BMP, TIFF. Anything else is
  ``unsupported_format``; bytes no decoder recognises are ``decode_error``. Animated GIF/WebP/APNG: the
  first frame here (the row's own hashes); :mod:`hashwatch.hashing.animation` hashes the later ones.
  Multi-page TIFF: the first page only.
- **Decompression bombs**: the declared ``width * height`` is checked from the header before any pixel is
decoded
  (``max_pixels``); the pixels actually decoded after the JPEG draft are bounded too (``max_decoded_pixels``,
  which is what limits PNG/TIFF bombs). Both give ``too_many_pixels``.
- **Truncated or corrupt data** gives ``decode_error`` with a one-line message that never quotes the data
  (Pillow's own messages can include bytes of the file, so they are not passed on).
- **Tiny images**: if the shorter side is below ``min_side`` (50 px) the perceptual hashes say nothing useful;
  the record is ``too_small`` with its format and size, and only the byte digests are computed.
- **JPEG draft**: libjpeg scales by 1/2, 1/4 or 1/8 in the DCT domain while decoding, which is several times
  faster than a full decode. We ask for the smallest scale whose both sides stay >= ``draft_min_side``; the
  default was chosen by measuring hash drift against the full decode over real photos.
- **Luma only**: every built-in perceptual hash works on luma. pHash and dHash use Pillow's 8-bit
  ``convert("L")`` (as imagehash does): ``image`` and ``luma``. PDQ's reference computes
  ``0.299 R + 0.587 G + 0.114 B`` in float from the RGB picture, without rounding to 8 bits: ``pdq_luma``.
  A drafted JPEG is decoded straight to ``L`` (libjpeg's Y channel *is* that luma, rounded to 8 bits; no
  chroma upsampling, no colour conversion) and PDQ uses it too. Every other picture with colour (PNG, WebP,
  GIF, BMP, TIFF, undrafted JPEG) keeps its RGB (``colour``) and ``pdq_luma`` is computed from it exactly as
  ``pdqhash.compute(np.asarray(img.convert("RGB")))`` does. Alpha is ignored (Pillow's ``convert("RGB")``
  drops it without compositing; pdqhash reads channels 0-2 only), as imagehash's ``convert("L")`` ignores it.
  A plug-in hash type that needs colour asks for ``RGB`` and gets it.
- **EXIF orientation** is *not* applied by default: hashes describe the stored pixels, as the PDQ reference
  implementations (C++, PHP, ThreatExchange's lists) do. The tag value is recorded; with dihedral PDQ matching
  an EXIF-rotated copy matches anyway (the 7 non-trivial EXIF orientations are the 7 dihedral variants).
  ``apply_exif_orientation=True`` rotates first, for lists built from displayed images.

Never raises on bad image data: every failure is a :class:`DecodedImage` with a status and a message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

__all__ = [
    "DEFAULT_DECODE_CONFIG",
    "DecodeConfig",
    "DecodeStatus",
    "DecodedImage",
    "SUPPORTED_FORMATS",
    "decode_image",
]

# Pillow format names we decode. MPO (a JPEG with extra pictures, as phone cameras write) opens through the
# JPEG
# decoder and is reported as JPEG.
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

# Formats we recognise by their first bytes but do not decode: reported as unsupported_format, not
# decode_error.
_KNOWN_UNSUPPORTED_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypavif", 4, "AVIF"),
    (b"ftypavis", 4, "AVIF"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypmsf1", 4, "HEIF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"\x00\x00\x02\x00", 0, "CUR"),
    (b"%PDF", 0, "PDF"),
    (b"8BPS", 0, "PSD"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG2000"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
    (b"<svg", 0, "SVG"),
    (b"<?xml", 0, "SVG/XML"),
    (b"%!PS", 0, "PostScript"),
    (b"\xc5\xd0\xd3\xc6", 0, "EPS"),
)


class DecodeStatus:
    """The values of ``decode_status`` (plain strings, so records and Parquet stay simple)."""

    OK = "ok"
    EMPTY = "empty"  # zero bytes
    TOO_SMALL = "too_small"  # shorter side < min_side: perceptual hashes not computed
    DECODE_ERROR = "decode_error"  # truncated, corrupt, or not an image
    TOO_MANY_PIXELS = "too_many_pixels"  # declared or decoded pixel count over the limit
    UNSUPPORTED_FORMAT = "unsupported_format"  # an image format we do not decode (AVIF, ICO, SVG, ...)
    HASH_ERROR = "hash_error"  # decoded, but a hash type failed (a bug or a failing plug-in)
    # An animation over the frame cap (hashwatch.hashing.animation): the frames before it are hashed.
    TOO_MANY_FRAMES = "too_many_frames"

    ALL = (
        OK,
        EMPTY,
        TOO_SMALL,
        DECODE_ERROR,
        TOO_MANY_PIXELS,
        UNSUPPORTED_FORMAT,
        HASH_ERROR,
        TOO_MANY_FRAMES,
    )


@dataclass(frozen=True)
class DecodeConfig:
    """Limits and choices for :func:`decode_image`. The defaults are what the pipeline runs with."""

    # Declared width * height above which nothing is decoded. Pillow's own bomb threshold (89.5 MP) by
    # default;
    # raising it above that has no effect, because Pillow refuses twice that size in Image.open itself.
    max_pixels: int = 89_478_485
    # Pixels actually decoded (after the JPEG draft). Bounds memory for formats without a draft (PNG, TIFF).
    max_decoded_pixels: int = 40_000_000
    # Shorter side below which an image is too_small (perceptual hashes are not meaningful).
    min_side: int = 50
    # JPEG draft: smallest DCT scale keeping both sides >= this. 0 decodes JPEGs at full size.
    draft_min_side: int = 256
    # Rotate/flip by the EXIF Orientation tag before hashing (off: hash the stored pixels, like the PDQ
    # reference).
    apply_exif_orientation: bool = False
    # Working image mode: "L" (luma; all built-in hashes) or "RGB" (a plug-in needs colour).
    mode: str = "L"

    def __post_init__(self) -> None:
        if self.mode not in ("L", "RGB"):
            raise ValueError(f"DecodeConfig.mode must be 'L' or 'RGB', not {self.mode!r}")
        if (
            self.max_pixels <= 0
            or self.max_decoded_pixels <= 0
            or self.min_side < 1
            or self.draft_min_side < 0
        ):
            raise ValueError("DecodeConfig limits must be positive")


DEFAULT_DECODE_CONFIG = DecodeConfig()


@dataclass(frozen=True)
class DecodedImage:
    """The outcome of decoding one image. ``image`` is set only when ``status == "ok"``.

    ``width``/``height`` are the stored image's size from its header (before any draft scaling, before EXIF
    rotation); ``image`` may be smaller (JPEG draft). ``draft_scale`` is 1, 2, 4 or 8. ``full_size`` is the
    (width, height) the working image would have at scale 1 (after EXIF rotation when that is applied): hashes
    that emulate a full-resolution computation on the draft need it.
    """

    status: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None
    draft_scale: int = 1
    error_message: str | None = None
    image: PILImage.Image | None = None
    full_size: tuple[int, int] | None = None
    # The undrafted picture in RGB when it has colour and ``image`` is its 8-bit luma: PDQ's source.
    colour: PILImage.Image | None = field(default=None, repr=False, compare=False)

    @cached_property
    def luma(self):
        """The working image's 8-bit luma (Pillow's ``L``) as a float32 numpy array (rows x columns), computed
        once and shared: pHash, dHash and the query-side candidates work on it."""
        import numpy as np

        if self.image is None:
            raise ValueError("no decoded image")
        img = self.image if self.image.mode == "L" else self.image.convert("L")
        return np.asarray(img, dtype=np.float32)

    @cached_property
    def pdq_luma(self):
        """PDQ's luma, float32 (rows x columns): ``0.299 R + 0.587 G + 0.114 B`` of the undrafted RGB picture,
        computed as pdqhash does (no 8-bit rounding); ``luma`` for a grey picture (the same values) and for a
        JPEG draft (libjpeg's Y)::

            >>> d = decode_image(png_bytes)                       # doctest: +SKIP
            >>> d.pdq_luma.dtype, d.pdq_luma.shape                # doctest: +SKIP
            (dtype('float32'), (480, 640))
        """
        from hashwatch.hashing.algorithms.pdq import pdq_luma_from_rgb

        if self.image is None:
            raise ValueError("no decoded image")
        rgb = self.colour
        if rgb is None and self.image.mode == "RGB" and self.draft_scale == 1:
            rgb = self.image  # DecodeConfig(mode="RGB"): the working image is the colour picture
        return self.luma if rgb is None else pdq_luma_from_rgb(rgb)


def _sniff_unsupported(data: bytes) -> str | None:
    head = data[:32]
    for magic, offset, name in _KNOWN_UNSUPPORTED_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    stripped = head.lstrip()
    if stripped[:4].lower() == b"<svg" or stripped[:5] == b"<?xml":
        return "SVG/XML"
    return None


def _describe_decode_failure(exc: BaseException) -> str:
    """A one-line message about a decoder exception that never includes its text (it may quote the data)."""
    text = str(exc).lower()
    if "truncated" in text:
        return "truncated image data"
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    return f"corrupt or unreadable image data ({type(exc).__name__})"


def _exif_orientation(img: PILImage.Image) -> int | None:
    try:
        value = img.getexif().get(0x0112)
    except Exception:  # a broken EXIF block must not fail the image: the tag is just unknown
        return None
    if isinstance(value, int) and 1 <= value <= 8:
        return value
    return None


def _to_mode(img: PILImage.Image, mode: str) -> PILImage.Image:
    """Convert any Pillow mode to ``L`` or ``RGB``, ignoring alpha; 16-bit and float data are scaled."""
    if img.mode == mode:
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        import numpy as np
        from PIL import Image

        arr = np.asarray(img)  # uint16, int32 or float32: each converts to float64 exactly
        lo, hi = (0.0, 65535.0) if img.mode.startswith("I;16") else (float(arr.min()), float(arr.max()))
        gray = np.zeros(arr.shape, np.uint8)
        if not hi <= lo:
            # In blocks of rows: float64 temporaries of a whole 6000x6000 16-bit PNG (a 70 KB file) peaked at
            # 1,020 MB of memory; blocks of ~1 M pixels give the same bytes within the image's own size.
            step = max(1, (1 << 20) // max(1, arr.shape[1]))
            for row in range(0, arr.shape[0], step):
                block = (arr[row : row + step].astype(np.float64) - lo) * (255.0 / (hi - lo)) + 0.5
                gray[row : row + step] = np.clip(block, 0, 255).astype(np.uint8)
        gray = Image.fromarray(gray, "L")
        return gray if mode == "L" else gray.convert(mode)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # what Pillow asks for; converting P directly warns on every such image
    return img.convert(mode)


# Modes without colour: their 8-bit luma is what PDQ's reference would compute from their RGB.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


def _colour_for_pdq(img: PILImage.Image) -> PILImage.Image | None:
    """The picture in RGB as a user would hand it to pdqhash (``img.convert("RGB")``: alpha dropped, not
    composited), or None when it has no colour or Pillow cannot convert it (LAB: PDQ then uses ``L``)."""
    if img.mode in _GREY_MODES:
        return None
    try:
        return _to_mode(img, "RGB")
    except ValueError:  # e.g. "conversion from LAB to RGB not supported"
        return None


def _register_plugins() -> None:
    """Import exactly the decoders we accept (Pillow's lazy preinit lacks MPO, WebP and TIFF)."""
    from PIL import (  # noqa: F401
        BmpImagePlugin,
        GifImagePlugin,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )


def decode_image(data: bytes, config: DecodeConfig = DEFAULT_DECODE_CONFIG) -> DecodedImage:
    """Decode ``data`` into a small working image (mode ``config.mode``) or say why not; never raises."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_plugins()

    if not data:
        return DecodedImage(DecodeStatus.EMPTY, error_message="zero bytes")
    try:
        img = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError:
        return DecodedImage(
            DecodeStatus.TOO_MANY_PIXELS, error_message="declared size over Pillow's decompression-bomb limit"
        )
    except UnidentifiedImageError:
        other = _sniff_unsupported(data)
        if other:
            return DecodedImage(
                DecodeStatus.UNSUPPORTED_FORMAT, format=other, error_message=f"{other} not decoded"
            )
        return DecodedImage(DecodeStatus.DECODE_ERROR, error_message="not a recognised image format")
    except Exception as exc:  # any parser failure on hostile input is a decode error, never a crash
        return DecodedImage(DecodeStatus.DECODE_ERROR, error_message=_describe_decode_failure(exc))

    # No ``with img``: Image.close() would free the pixels we return. The file object is our own BytesIO.
    fmt = "JPEG" if img.format == "MPO" else img.format
    width, height = img.size
    orientation = _exif_orientation(img)
    base = {"format": fmt, "width": width, "height": height, "exif_orientation": orientation}
    if width * height > config.max_pixels:
        return DecodedImage(
            DecodeStatus.TOO_MANY_PIXELS,
            error_message=f"{width}x{height} is over the {config.max_pixels}-pixel limit",
            **base,
        )
    if min(width, height) < config.min_side:
        return DecodedImage(
            DecodeStatus.TOO_SMALL,
            error_message=f"shorter side under {config.min_side} px: perceptual hashes not computed",
            **base,
        )
    scale = 1
    try:
        target = config.draft_min_side
        if fmt == "JPEG" and target > 0 and min(width // target, height // target) >= 2:
            # Scaled decode; ask libjpeg for luma directly when that is all we need (Y of YCbCr is PDQ's
            # luma). Without scaling we decode as the references do: RGB, then Pillow's L for pHash and dHash
            # and the float luma for PDQ (below).
            requested_mode = config.mode if img.mode in ("RGB", "L") else None
            drafted = img.draft(requested_mode, (target, target))
            if drafted is not None:
                scale = max(1, round(width / img.size[0]))
        if img.size[0] * img.size[1] > config.max_decoded_pixels:
            return DecodedImage(
                DecodeStatus.TOO_MANY_PIXELS,
                error_message=f"{width}x{height} needs a full decode over the "
                f"{config.max_decoded_pixels}-pixel limit",
                **base,
            )
        img.load()
        work = img
        if config.apply_exif_orientation and orientation not in (None, 1):
            work = ImageOps.exif_transpose(work)
        # PDQ's colour path: every picture that is not a JPEG draft keeps its RGB for pdq_luma. The 8-bit
        # luma for pHash and dHash is converted from the source as before (YCbCr's L is its Y, not RGB's).
        colour = _colour_for_pdq(work) if scale == 1 and config.mode == "L" else None
        work = _to_mode(work, config.mode)
        full_size = (width, height)
        if work.size[0] != img.size[0] or work.size[1] != img.size[1]:  # EXIF transposed the axes
            full_size = (height, width)
    except Image.DecompressionBombError:
        return DecodedImage(DecodeStatus.TOO_MANY_PIXELS, error_message="decompression bomb", **base)
    except Exception as exc:  # truncated/corrupt streams raise OSError, SyntaxError, ValueError, ...
        return DecodedImage(DecodeStatus.DECODE_ERROR, error_message=_describe_decode_failure(exc), **base)
    return DecodedImage(
        DecodeStatus.OK, draft_scale=scale, image=work, full_size=full_size, colour=colour, **base
    )
