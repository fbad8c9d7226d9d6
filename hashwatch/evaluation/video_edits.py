"""The video edit suite: what re-uploaders do to a video, each edit written from this specification alone.

Nothing here knows how videos are hashed or matched: an edit takes decoded frames and returns frames (or
bytes), and its tests check what it did on the pixels, the dimensions and the duration, never on a hash.
Everything happens in memory with PyAV (its wheels bundle FFmpeg): :func:`decode_clip` reads bytes,
:func:`encode_clip` writes H.264 in MP4 to a ``BytesIO``; no file is ever opened.

A :class:`Clip` is a list of RGB frames (``height x width x 3`` uint8) at a constant ``fps``; its duration is
``len(frames) / fps``. ``w``, ``h`` and ``d`` below are the input's width, height and duration, ``p`` a
percentage. Every edit is re-encoded as H.264 (libx264, CRF 23, ``veryfast``, 4:2:0, even dimensions) unless
it is about the encoding.

=================  ===============  ==========================================================================
edit id            parameter        what it does
=================  ===============  ==========================================================================
``reencode@s``     scale ``s``      resolution scaled by ``s`` (box filter), frame rate kept, encoded at a
                                    low bitrate: 200 kbit/s times the area relative to 320 x 240, at
                                    least 60 kbit/s (a 320 x 240 clip at ``s`` = 0.5: 160 x 120, 60 kbit/s)
``crop@p``         ``p`` %          width and height each lose ``p`` %, half on each side (centred crop)
``border@p``       ``p`` %          black border: width and height each grow by ``p`` %, half on each side
``letterbox@p``    ``p`` %          black bars above and below: height grows by ``p`` %, half on each side;
                                    width kept (a 4:3 picture in a wider frame's bars, or a caption-free
                                    cinema matte)
``logo@p``         ``p`` % area     an opaque badge (rounded rectangle, white with a dark text "LOGO")
                                    covering ``p`` % of the frame's area, square, in the lower right corner,
                                    a margin of 2 % from the edges; the same on every frame
``caption@p``      ``p`` % height   a black band ``p`` % of the height over the bottom of the picture
                                    (drawn over it, size kept) with white text, on every frame
``grey``           none             luma only: ``0.299 R + 0.587 G + 0.114 B`` in all three channels
``sepia``          none             the classic sepia matrix (Microsoft's): R' = .393R+.769G+.189B,
                                    G' = .349R+.686G+.168B, B' = .272R+.534G+.131B, clipped to 255
``trim@p``         ``p`` %          the first ``p`` % and the last ``p`` % of the frames dropped
                                    (duration ``d * (1 - 2p/100)``)
``speed@f``        factor ``f``     played ``f`` times as fast at the same frame rate: output frame ``k``
                                    shows input frame ``round(k * f)``; duration ``d / f`` (1.25: faster,
                                    0.8: slower, frames repeated)
``inside@n``       length factor    the clip inside a longer unrelated video: unrelated frames (smooth
                                    seeded colour scenes that change every second, the clip's size and
                                    rate) before and after it, so the result lasts ``n * d``, the clip
                                    starting at ``(n - 1) * d / 2``
``mirror``         none             left and right swapped on every frame
=================  ===============  ==========================================================================

:data:`VIDEO_EDIT_SUITE` is the full suite the evaluation runs, :data:`QUICK_VIDEO_EDIT_IDS` the three
edits the test suite's tiny evaluation runs. Use::

    clip = decode_clip(data, fps=10, max_side=320, max_seconds=12)
    edited = edits_by_id()["crop@10"].apply(clip)      # MP4 bytes
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "QUICK_VIDEO_EDIT_IDS",
    "VIDEO_EDIT_SUITE",
    "Clip",
    "VideoEdit",
    "decode_clip",
    "edits_by_id",
    "encode_clip",
    "select_edits",
]

LOW_BITRATE = 200_000  # bit/s at the input's resolution; scaled by the area for ``reencode``
_MIN_BITRATE = 60_000
_CRF = "23"


@dataclass(frozen=True)
class Clip:
    """Decoded RGB frames at a constant rate. ``duration`` is ``len(frames) / fps``."""

    frames: Sequence[np.ndarray]
    fps: float

    @property
    def width(self) -> int:
        return int(self.frames[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frames[0].shape[0])

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def _fit(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Scale to fit ``max_side`` (never up), rounded to even sizes for 4:2:0 chroma."""
    scale = 1.0 if not max_side else min(1.0, max_side / max(width, height))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    return w - w % 2, h - h % 2


def decode_clip(
    data: bytes, fps: float = 10.0, max_side: int | None = 320, max_seconds: float | None = 12.0
) -> Clip:
    """Decode ``data`` (any container PyAV reads) into frames at a constant ``fps``: for each time ``k / fps``
    the first decoded frame at or after it, scaled to fit ``max_side`` (even sizes), up to ``max_seconds``.

    Raises ``ValueError`` when nothing decodes (the message names no content)."""
    frames: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        size: tuple[int, int] | None = None
        k = 0
        for index, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else index / rate
            if size is None:
                size = _fit(frame.width, frame.height, max_side)
            rgb = None
            while k / fps <= t + 1e-6:
                if max_seconds is not None and k / fps >= max_seconds:
                    return _clip(frames, fps)
                if rgb is None:
                    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                frames.append(rgb)
                k += 1
    return _clip(frames, fps)


def _clip(frames: list[np.ndarray], fps: float) -> Clip:
    if not frames:
        raise ValueError("no frame decodes")
    return Clip(frames, fps)


def encode_clip(clip: Clip, bitrate: int | None = None) -> bytes:
    """H.264 in MP4 (libx264 ``veryfast``; CRF 23, or ``bitrate`` bit/s when given), in memory."""
    buffer = io.BytesIO()
    rate = Fraction(clip.fps).limit_denominator(1001)
    options = {"preset": "veryfast"}
    if bitrate is None:
        options["crf"] = _CRF
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=rate, options=options)
        w, h = clip.width - clip.width % 2, clip.height - clip.height % 2
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if bitrate is not None:
            stream.bit_rate = bitrate
        for index, rgb in enumerate(clip.frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


# --- the edits: Clip -> Clip -------------------------------------------------------------------------------


def _map(clip: Clip, fn: Callable[[np.ndarray], np.ndarray]) -> Clip:
    return Clip([fn(f) for f in clip.frames], clip.fps)


def _resize(clip: Clip, scale: float) -> Clip:
    w, h = _fit(round(clip.width * scale), round(clip.height * scale), None)
    return _map(clip, lambda f: np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BOX)))


def _crop(clip: Clip, p: float) -> Clip:
    dx, dy = round(clip.width * p / 200), round(clip.height * p / 200)
    return _map(clip, lambda f: f[dy : f.shape[0] - dy, dx : f.shape[1] - dx])


def _pad(clip: Clip, px: int, py: int) -> Clip:
    return _map(clip, lambda f: np.pad(f, ((py, py), (px, px), (0, 0))))


def _border(clip: Clip, p: float) -> Clip:
    return _pad(clip, round(clip.width * p / 200), round(clip.height * p / 200))


def _letterbox(clip: Clip, p: float) -> Clip:
    return _pad(clip, 0, round(clip.height * p / 200))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=max(8, size))
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _logo(clip: Clip, p: float) -> Clip:
    w, h = clip.width, clip.height
    side = max(4, round((w * h * p / 100) ** 0.5))
    mx, my = max(1, round(w * 0.02)), max(1, round(h * 0.02))
    box = (w - mx - side, h - my - side, w - mx - 1, h - my - 1)
    badge = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle(box, radius=max(1, side // 6), fill=(255, 255, 255, 255))
    draw.text((box[0] + side // 8, box[1] + side // 3), "LOGO", fill=(30, 30, 90, 255), font=_font(side // 4))
    mask = np.asarray(badge)[..., 3:] > 0
    paint = np.asarray(badge)[..., :3]
    return _map(clip, lambda f: np.where(mask, paint, f).astype(np.uint8))


def _caption(clip: Clip, p: float) -> Clip:
    w, h = clip.width, clip.height
    band = max(2, round(h * p / 100))
    layer = Image.new("RGB", (w, band), (0, 0, 0))
    ImageDraw.Draw(layer).text(
        (max(1, w // 20), band // 5), "caption text here", fill=(255, 255, 255), font=_font(band * 3 // 5)
    )
    pixels = np.asarray(layer)

    def draw(f: np.ndarray) -> np.ndarray:
        out = f.copy()
        out[h - band :] = pixels
        return out

    return _map(clip, draw)


_GREY = np.array([0.299, 0.587, 0.114], np.float32)
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)


def _grey(clip: Clip) -> Clip:
    def grey(f: np.ndarray) -> np.ndarray:
        y = np.clip(np.rint(f.astype(np.float32) @ _GREY), 0, 255).astype(np.uint8)
        return np.repeat(y[..., None], 3, axis=2)

    return _map(clip, grey)


def _sepia(clip: Clip) -> Clip:
    return _map(clip, lambda f: np.clip(np.rint(f.astype(np.float32) @ _SEPIA.T), 0, 255).astype(np.uint8))


def _trim(clip: Clip, p: float) -> Clip:
    cut = round(len(clip.frames) * p / 100)
    return Clip(list(clip.frames[cut : len(clip.frames) - cut]), clip.fps)


def _speed(clip: Clip, f: float) -> Clip:
    n = max(1, round(len(clip.frames) / f))
    last = len(clip.frames) - 1
    return Clip([clip.frames[min(last, round(k * f))] for k in range(n)], clip.fps)


def unrelated_frames(count: int, width: int, height: int, fps: float, seed: int = 7919) -> list[np.ndarray]:
    """``count`` frames of smooth seeded colour scenes (a bilinear 3 x 4 colour grid, a new one every second):
    content unrelated to any clip, for ``inside``."""
    frames: list[np.ndarray] = []
    scene = -1
    picture = np.zeros((height, width, 3), np.uint8)
    for k in range(count):
        if int(k / fps) != scene:
            scene = int(k / fps)
            grid = np.random.default_rng([seed, scene]).uniform(0, 255, (3, 4, 3)).astype(np.uint8)
            picture = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR))
        frames.append(picture)
    return frames


def _inside(clip: Clip, n: float) -> Clip:
    extra = round(len(clip.frames) * (n - 1))
    before = extra // 2
    filler = unrelated_frames(extra, clip.width, clip.height, clip.fps)
    return Clip(filler[:before] + list(clip.frames) + filler[before:], clip.fps)


def _mirror(clip: Clip) -> Clip:
    return _map(clip, lambda f: f[:, ::-1])


@dataclass(frozen=True)
class VideoEdit:
    """One edit at one strength: ``transform`` on the decoded frames, then H.264 (at ``bitrate`` if set)."""

    name: str
    strength: float | None
    transform: Callable[[Clip], Clip]
    bitrate_for: Callable[[Clip], int | None] = field(default=lambda clip: None)

    @property
    def id(self) -> str:
        """``crop@10``, ``speed@1.25``, ``grey``."""
        return self.name if self.strength is None else f"{self.name}@{self.strength:g}"

    def edit(self, clip: Clip) -> Clip:
        """The edited frames (before encoding)."""
        return self.transform(clip)

    def apply(self, clip: Clip) -> bytes:
        """The edited video as MP4 bytes."""
        edited = self.transform(clip)
        return encode_clip(edited, bitrate=self.bitrate_for(edited))


def _with(fn: Callable[[Clip, float], Clip], strength: float) -> Callable[[Clip], Clip]:
    return lambda clip: fn(clip, strength)


def _low_bitrate(clip: Clip) -> int:
    # The area relative to 320 x 240, the size the evaluation's originals are held at.
    return max(_MIN_BITRATE, round(LOW_BITRATE * clip.width * clip.height / (320 * 240)))


VIDEO_EDIT_SUITE: tuple[VideoEdit, ...] = (
    VideoEdit("reencode", 0.5, _with(_resize, 0.5), _low_bitrate),
    VideoEdit("crop", 10, _with(_crop, 10)),
    VideoEdit("border", 10, _with(_border, 10)),
    VideoEdit("letterbox", 25, _with(_letterbox, 25)),
    VideoEdit("logo", 5, _with(_logo, 5)),
    VideoEdit("caption", 15, _with(_caption, 15)),
    VideoEdit("grey", None, _grey),
    VideoEdit("sepia", None, _sepia),
    VideoEdit("trim", 15, _with(_trim, 15)),
    VideoEdit("speed", 1.25, _with(_speed, 1.25)),
    VideoEdit("speed", 0.8, _with(_speed, 0.8)),
    VideoEdit("inside", 3, _with(_inside, 3)),
    VideoEdit("mirror", None, _mirror),
)

QUICK_VIDEO_EDIT_IDS: tuple[str, ...] = ("grey", "crop@10", "inside@3")


def edits_by_id() -> dict[str, VideoEdit]:
    """Every edit of the suite by its id."""
    return {edit.id: edit for edit in VIDEO_EDIT_SUITE}


def select_edits(ids: Sequence[str] | None) -> list[VideoEdit]:
    """The edits named (in suite order), or the whole suite for None; ``ValueError`` names an unknown id."""
    if ids is None:
        return list(VIDEO_EDIT_SUITE)
    known = edits_by_id()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"unknown video edit(s) {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = set(ids)
    return [edit for edit in VIDEO_EDIT_SUITE if edit.id in wanted]
