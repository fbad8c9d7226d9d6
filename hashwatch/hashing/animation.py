"""Every frame of an animated GIF, WebP or APNG, hashed so a listed frame anywhere in the animation matches.

>>> from hashwatch.hashing.image_hashes import compute_image_hashes
>>> h = compute_image_hashes(open("spinner.gif", "rb").read())          # doctest: +SKIP
>>> h.frame_count, h.frames_hashed, [f.frame_index for f in h.frame_hashes]   # doctest: +SKIP
(24, 3, [8, 16])

Frame 0 is hashed as a still image is (its hashes are the row's own columns, so nothing changes for a still
image or for frame 0); :func:`hash_later_frames` does the rest, only for a file :func:`is_animated` says has
more than one frame (a byte sniff of microseconds: a still image never opens a per-frame path).

- **Composited**: each frame as a viewer shows it (Pillow composites GIF disposal, APNG blend and dispose
  ops, and WebP's animation canvas), its RGB in the hash types' working mode (luma, or RGB for a plug-in
  that asks). Alpha is ignored, as for still images.
- **Distinct frames only**: a frame whose PDQ is within :attr:`AnimationConfig.dedupe_bits` (8) of the last
  frame kept counts once (the kept one stands for the run). Without a PDQ (quality under 50 on both, or PDQ
  not computed) a frame is a duplicate when all its perceptual hashes equal the kept frame's.
- **Perceptual types only**: pdq, phash, dhash and perceptual (hamming or linear) plug-ins, without dihedral
  variants or query-side candidates; byte digests are of the file.
- **Bounded**: at most :attr:`AnimationConfig.max_frames` frames (frame 0 included) and
  :attr:`AnimationConfig.max_total_pixels` canvas pixels over all frames are decoded. Past either the
  hashes so far are kept and the status says so (``too_many_frames``, ``too_many_pixels``); a frame that
  does not decode (a truncated last frame is common on the web) ends the walk with a message, never a crash.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from hashwatch.hashing.decode import (
    DecodeConfig,
    DecodedImage,
    DecodeStatus,
    _colour_for_pdq,
    _describe_decode_failure,
    _to_mode,
)
from hashwatch.hashing.hash_types import HashType, IndexKind, Source, hamming_distance_hex

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

__all__ = [
    "DEFAULT_ANIMATION_CONFIG",
    "ANIMATED_FORMATS",
    "AnimationConfig",
    "FrameHashes",
    "LaterFrames",
    "frame_types",
    "gif_frame_count",
    "hash_later_frames",
    "is_animated",
]

ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")


class FrameHashes(NamedTuple):
    """A later distinct frame of an animation: its number (0-based) and perceptual hashes (type -> hex).
    Field for field the ``images.frame_hashes`` element (:class:`schemas.images.FrameHashesRow`)."""

    frame_index: int
    hashes: Mapping[str, str]


@dataclass(frozen=True)
class AnimationConfig:
    """Bounds and choices for hashing an animation's frames (the defaults are what the pipeline runs with)."""

    # Frames decoded at most, frame 0 included. A 1,000-frame 480 x 270 GIF takes about 2 s to hash here.
    max_frames: int = 1000
    # Canvas pixels decoded over all frames (frame 0 included): the decompression-bomb guard across frames.
    # 1,000 frames of 500 x 500 = 250 M; a 100-byte GIF can declare far more (a 1-pixel frame repeated with a
    # large canvas), and each frame is composited on the whole canvas.
    max_total_pixels: int = 250_000_000
    # Consecutive frames whose PDQ is within this many bits of the last kept frame count once. Measured on
    # synthetic animations (12 seeds, hashwatch.sites.synthetic_animations): a frame repeated with light noise
    # of its own is 0-8 bits from the first of its run (GIF palette, lossy WebP), 16 with heavier noise in a
    # GIF; a different picture 106 bits or more. A near-duplicate left over costs hashes, never a match.
    dedupe_bits: int = 8
    # False: hash frame 0 only (as before animations were hashed); frame_count is still recorded.
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.max_total_pixels < 1 or self.dedupe_bits < 0:
            raise ValueError(
                "AnimationConfig: max_frames and max_total_pixels must be >= 1, dedupe_bits >= 0"
            )


DEFAULT_ANIMATION_CONFIG = AnimationConfig()


@dataclass
class LaterFrames:
    """What :func:`hash_later_frames` found: the animation's frame count (as the file declares it: a GIF's
    image descriptors, an APNG's ``acTL``, WebP's frames), its distinct later frames, and a
    status other than ``ok`` with a message when a bound stopped the walk (or a message alone when a frame
    did not decode); ``errors``: hash types that raised on a frame."""

    frame_count: int
    frames: list[FrameHashes] = field(default_factory=list)
    status: str = DecodeStatus.OK
    message: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def frames_hashed(self) -> int:
        """Distinct frames hashed, frame 0 included."""
        return 1 + len(self.frames)


def gif_frame_count(data: bytes, stop_at: int | None = None) -> int:
    """Image descriptors in a GIF's block structure (its frames), walking the blocks without decoding; stops
    early at ``stop_at``. A truncated or garbled file counts the frames whose descriptor was read. About
    0.2 us per 255-byte data sub-block: 0.5 ms for a 500 KB still GIF, against 5 ms for Pillow's
    ``is_animated`` (which reads the sub-blocks through its file object)."""
    n = len(data)
    if n < 13 or data[:4] != b"GIF8":
        return 0
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    frames = 0
    while pos < n:
        block = data[pos]
        if block == 0x2C:  # image descriptor: 9 bytes, a local colour table, LZW code size, data
            if pos + 10 > n:
                break
            frames += 1
            if stop_at is not None and frames >= stop_at:
                break
            packed = data[pos + 9]
            pos += 10 + ((3 << ((packed & 7) + 1)) if packed & 0x80 else 0) + 1
        elif block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:  # 0x3B trailer, or garbage after the last frame
            break
        while pos < n:  # data sub-blocks, up to the zero-length terminator
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
    return frames


def _png_frames(data: bytes) -> int:
    """The APNG frame count its ``acTL`` chunk declares (before the first ``IDAT``), else 1."""
    idat = data.find(b"IDAT")
    actl = data.find(b"acTL", 8, idat if idat > 0 else len(data))
    if actl < 0 or len(data) < actl + 8:
        return 1
    return int.from_bytes(data[actl + 4 : actl + 8], "big")


def is_animated(data: bytes, fmt: str | None) -> bool:
    """Whether a decoded file of format ``fmt`` has more than one frame, from its bytes alone: a GIF's second
    image descriptor, an APNG's ``acTL`` frame count, a WebP's ``VP8X`` animation flag. Microseconds: what a
    still image pays for animations."""
    if fmt == "GIF":
        return gif_frame_count(data, stop_at=2) >= 2
    if fmt == "PNG":
        return _png_frames(data) > 1
    if fmt == "WEBP":
        return len(data) > 20 and data[12:16] == b"VP8X" and bool(data[20] & 0x02)
    return False


def frame_types(types: Sequence[HashType]) -> list[HashType]:
    """The types hashed on later frames: those of ``types`` computed from the picture and matched by
    distance (pdq, phash, dhash, perceptual plug-ins), PDQ first (it decides which frames are distinct),
    without variants."""
    chosen = [
        ht.without_variants()
        for ht in types
        if ht.computed_from == Source.PICTURE and ht.index_kind in (IndexKind.HAMMING, IndexKind.LINEAR)
    ]
    return sorted(chosen, key=lambda ht: ht.name != "pdq")


def _frame_count(img: PILImage.Image, data: bytes, fmt: str) -> int:
    if fmt == "GIF":
        return gif_frame_count(data)  # Pillow's n_frames seeks (and decodes) through every frame
    if fmt == "PNG":
        return _png_frames(data)
    return int(getattr(img, "n_frames", 1))


def hash_later_frames(
    data: bytes,
    first: Mapping[str, str | None],
    types: Sequence[HashType],
    decode: DecodeConfig,
    config: AnimationConfig = DEFAULT_ANIMATION_CONFIG,
) -> LaterFrames:
    """Hash frames 1.. of an animation whose frame 0 decoded (``first``: frame 0's hashes by type name) with
    ``types`` (:func:`frame_types`); never raises on bad data."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data), formats=(_pillow_format(data),))
        fmt = img.format or ""
        count = _frame_count(img, data, fmt)
    except Exception as exc:  # decoded once already: this is a bug or a hostile file, not a crash
        return LaterFrames(1, message=f"frames after 0 not read: {_describe_decode_failure(exc)}")
    out = LaterFrames(count)
    if not config.enabled or count < 2 or not types:
        return out
    width, height = img.size
    canvas = width * height
    kept = dict(first)
    total = canvas  # frame 0, decoded already
    index = 0
    while True:
        index += 1
        if index >= count:
            break
        if index >= config.max_frames:
            out.status = DecodeStatus.TOO_MANY_FRAMES
            out.message = (
                f"{count} frames, over the {config.max_frames}-frame cap: frames 0-{index - 1} hashed"
            )
            break
        total += canvas
        if total > config.max_total_pixels:
            out.status = DecodeStatus.TOO_MANY_PIXELS
            out.message = (
                f"{count} frames of {width}x{height} over the {config.max_total_pixels}-pixel total: "
                f"frames 0-{index - 1} hashed"
            )
            break
        try:
            img.seek(index)
            # The composite straight to the working mode (pHash and dHash hash Pillow's 8-bit grey); PDQ
            # hashes the float luma of the frame's RGB, as for a still picture and as pdqhash does, so a
            # frame listed from its still copy (hashwatch list from-images) gets the same PDQ. The RGB copy
            # lives for one frame.
            mode = _mode(types, decode)
            frame = _to_mode(img, mode)
            colour = _colour_for_pdq(img) if mode == "L" else None
        except EOFError:  # fewer frames than declared (an APNG's acTL may say anything): count those seen
            out.frame_count = index
            break
        except Exception as exc:  # truncated or corrupt frame: keep what was hashed, say where it stopped
            out.message = (
                f"frame {index} not decoded ({_describe_decode_failure(exc)}): frames 0-{index - 1} hashed"
            )
            break
        decoded = DecodedImage(
            DecodeStatus.OK,
            format=fmt,
            width=width,
            height=height,
            image=frame,
            full_size=frame.size,
            colour=colour,
        )
        values = _hash_frame(data, decoded, types, kept, config.dedupe_bits, out.errors, index)
        if values is not None:
            kept = values
            out.frames.append(FrameHashes(index, dict(sorted(values.items()))))
    return out


def _pillow_format(data: bytes) -> str:
    if data[:4] == b"GIF8":
        return "GIF"
    if data[:4] == b"RIFF":
        return "WEBP"
    return "PNG"


def _mode(types: Sequence[HashType], decode: DecodeConfig) -> str:
    return "RGB" if decode.mode == "RGB" or any(ht.image_mode == "RGB" for ht in types) else "L"


def _hash_frame(
    data: bytes,
    decoded: DecodedImage,
    types: Sequence[HashType],
    kept: Mapping[str, str | None],
    dedupe_bits: int,
    errors: list[str],
    index: int,
) -> dict[str, str] | None:
    """The frame's hashes, or None when it is a near-duplicate of the last kept frame (``kept``). PDQ runs
    first: a duplicate by PDQ costs no other hash."""
    values: dict[str, str] = {}
    for position, ht in enumerate(types):
        try:
            result = ht.compute(data, decoded)
            value = ht.parse(result.value) if result.value is not None else None
        except Exception as exc:  # a failing plug-in must not lose the other frames; the record says so
            errors.append(f"{ht.name} failed on frame {index} ({type(exc).__name__})")
            continue
        if ht.min_quality is not None and result.quality is not None and result.quality < ht.min_quality:
            value = None
        if value is not None:
            values[ht.name] = value
        duplicate = (
            position == 0
            and ht.name == "pdq"
            and value is not None
            and kept.get("pdq") is not None
            and hamming_distance_hex(value, kept["pdq"]) <= dedupe_bits
        )
        if duplicate:
            return None
    without_pdq = "pdq" not in values and kept.get("pdq") is None
    if without_pdq and {k: v for k, v in kept.items() if v is not None} == values:
        return None
    return values
