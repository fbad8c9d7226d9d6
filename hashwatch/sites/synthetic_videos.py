"""Seeded synthetic videos, encoded in memory with PyAV (never a file): benign moving content for tests, demos
and benchmarks.

Each frame is a colour gradient that drifts, a few shapes that move across it and a fixed low-frequency
texture, so PDQ has structure to work on (quality 100 on almost every frame) and consecutive frames differ by
a few bits while frames seconds apart differ by many::

    data = make_video(seconds=2.0, fps=10, seed=3)                  # H.264 in MP4, 320 x 240
    webm = make_video(codec="vp9", container="webm")
    for container, codec in SUPPORTED_FORMATS: ...                   # every pairing the bundled FFmpeg encodes

``pattern`` picks the content: ``"shapes"`` (default), ``"cuts"`` (a different scene every second, so sampled
frames are unrelated to each other) or ``"flat"`` (one grey, quality 0: PDQ's low-quality case).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

__all__ = ["PATTERNS", "SUPPORTED_FORMATS", "make_audio_only", "make_video", "video_frames"]

# (container, codec) pairings the av 18.1.1 wheel's bundled FFmpeg encodes (checked: libx264, libx265, mpeg4,
# libvpx, libvpx-vp9, mjpeg, mpeg2video, flv, h263, libsvtav1 encoders are present; libaom-av1 and openh264
# are not). "container" is what the caller names; _FORMATS maps it to FFmpeg's muxer.
SUPPORTED_FORMATS: tuple[tuple[str, str], ...] = (
    ("mp4", "h264"),
    ("mp4", "mpeg4"),
    ("mp4", "hevc"),
    ("mov", "h264"),
    ("webm", "vp9"),
    ("webm", "vp8"),
    ("mkv", "h264"),
    ("mkv", "vp9"),
    ("avi", "mpeg4"),
    ("avi", "mjpeg"),
    ("mpegts", "h264"),
    ("mpegts", "mpeg2video"),
    ("flv", "flv"),
    ("flv", "h264"),
    ("3gp", "h264"),
    ("3gp", "h263"),
)

PATTERNS = ("shapes", "cuts", "flat")

_FORMATS = {"mp4": "mp4", "mov": "mov", "webm": "webm", "mkv": "matroska", "avi": "avi", "mpegts": "mpegts"}
_FORMATS.update({"ts": "mpegts", "flv": "flv", "3gp": "3gp", "matroska": "matroska"})

# codec name -> (encoder, pixel format, encoder options). Fast presets: these are fixtures, not archives.
_ENCODERS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "yuv420p", {"preset": "veryfast", "crf": "20"}),
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "crf": "24", "x265-params": "log-level=error"}),
    "mpeg4": ("mpeg4", "yuv420p", {"qscale": "3"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"}),
    "vp8": ("libvpx", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "2M"}),
    "mjpeg": ("mjpeg", "yuvj420p", {"qscale": "3"}),
    "mpeg2video": ("mpeg2video", "yuv420p", {"qscale": "3"}),
    "flv": ("flv", "yuv420p", {"qscale": "3"}),
    "h263": ("h263", "yuv420p", {"qscale": "3"}),
    "av1": ("libsvtav1", "yuv420p", {"preset": "12"}),
}


def _interpolation(n_out: int, n_in: int) -> np.ndarray:
    """Linear interpolation of ``n_in`` samples to ``n_out`` as an ``n_out x n_in`` matrix."""
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = (pos - lo).astype(np.float32)
    weights = np.zeros((n_out, n_in), np.float32)
    weights[np.arange(n_out), lo] = 1 - frac
    weights[np.arange(n_out), lo + 1] = frac
    return weights


def _texture(rng: np.random.Generator, height: int, width: int, grid: tuple[int, int]) -> np.ndarray:
    """A fixed texture: a ``grid`` of random values upsampled bilinearly (two small matrix products per
    channel), in [-1, 1], height x width x 3."""
    coarse = rng.uniform(-1.0, 1.0, size=(3, *grid)).astype(np.float32)
    wy, wx = _interpolation(height, grid[0]), _interpolation(width, grid[1])
    return np.stack([wy @ channel @ wx.T for channel in coarse], axis=2)


def video_frames(
    count: int, width: int = 320, height: int = 240, seed: int = 0, fps: float = 10, pattern: str = "shapes"
) -> Iterator[np.ndarray]:
    """The ``count`` RGB frames (height x width x 3 uint8) :func:`make_video` encodes, one at a time.

    A scene's background (gradient and texture) is drawn once and scrolled; the shapes are drawn in their
    bounding boxes only (a 1080p frame costs ~15 ms instead of ~0.9 s drawn whole).
    """
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; one of {', '.join(PATTERNS)}")
    scene_seed = None
    for index in range(count):
        if pattern == "flat":
            yield np.full((height, width, 3), 128, np.uint8)
            continue
        t = index / fps
        scene = int(t) if pattern == "cuts" else 0
        if scene != scene_seed:  # a new scene: its background and shapes
            scene_seed = scene
            rng = np.random.default_rng([seed, scene])
            background = _background(rng, height, width)
            shapes = [
                (
                    rng.uniform(0, 1, 2),
                    rng.uniform(-0.25, 0.25, 2),
                    rng.uniform(0.06, 0.2),
                    rng.integers(0, 256, 3),
                )
                for _ in range(int(rng.integers(3, 6)))
            ]
        frame = np.roll(background, -int(0.15 * t * width) % width, axis=1)
        for (cx, cy), (vx, vy), radius, colour in shapes:
            _disc(
                frame,
                ((cx + vx * t) % 1.0) * width,
                ((cy + vy * t) % 1.0) * height,
                radius * min(width, height),
                colour,
            )
        yield frame


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A four-colour gradient plus texture at two scales (the coarse one alone gave PDQ quality 20-40, the
    finer one lifts it to 100), as uint8 RGB."""
    colours = rng.uniform(30, 225, size=(4, 3)).astype(np.float32)
    yn = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    xn = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    image = (
        colours[0] * (1 - xn) * (1 - yn)
        + colours[1] * xn * (1 - yn)
        + colours[2] * (1 - xn) * yn
        + colours[3] * xn * yn
    )
    image += _texture(rng, height, width, (7, 9)) * 40 + _texture(rng, height, width, (20, 28)) * 45
    return np.clip(image, 0, 255).astype(np.uint8)


def _disc(frame: np.ndarray, cx: float, cy: float, radius: float, colour: np.ndarray) -> None:
    """Fill a disc in place, touching only its bounding box."""
    height, width = frame.shape[:2]
    x0, x1 = max(0, int(cx - radius)), min(width, int(cx + radius) + 1)
    y0, y1 = max(0, int(cy - radius)), min(height, int(cy + radius) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 < radius * radius
    frame[y0:y1, x0:x1][inside] = colour


def make_video(
    seconds: float = 3.0,
    fps: float = 10,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    codec: str = "h264",
    container: str = "mp4",
    pattern: str = "shapes",
    fragmented: bool = False,
) -> bytes:
    """A synthetic video of ``seconds`` at ``fps``, encoded with ``codec`` into ``container``, as bytes.

    ``fragmented``: MP4/MOV/3GP written as fragments after an empty ``moov`` (streamable, so a truncated copy
    still opens; FFmpeg's ``faststart`` needs a file to rewrite, which we never write).
    Width and height are rounded up to even (4:2:0 chroma). Raises ``ValueError`` for an unknown codec,
    container or pattern; FFmpeg's own error if the container refuses the codec (see ``SUPPORTED_FORMATS``).
    """
    if codec not in _ENCODERS:
        raise ValueError(f"unknown codec {codec!r}; one of {', '.join(sorted(_ENCODERS))}")
    if container not in _FORMATS:
        raise ValueError(f"unknown container {container!r}; one of {', '.join(sorted(_FORMATS))}")
    width += width % 2
    height += height % 2
    encoder, pix_fmt, options = _ENCODERS[codec]
    count = max(1, round(seconds * fps))
    rate = Fraction(fps).limit_denominator(1001)
    buffer = io.BytesIO()
    muxer_options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(buffer, mode="w", format=_FORMATS[container], options=muxer_options) as output:
        stream = output.add_stream(encoder, rate=rate, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec in ("mpeg4", "flv", "h263", "mpeg2video", "mjpeg"):
            stream.codec_context.time_base = 1 / rate
        for index, rgb in enumerate(video_frames(count, width, height, seed, fps, pattern)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def make_audio_only(seconds: float = 1.0, container: str = "mp4") -> bytes:
    """A container with one audio stream (a quiet tone, AAC or MP3) and no video: the no-video-stream case."""
    rate = 16000
    codec = "libmp3lame" if container in ("avi", "flv") else "aac"
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=_FORMATS[container]) as output:
        stream = output.add_stream(codec, rate=rate, layout="mono")
        samples = (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate) * 3000).astype(np.int16)
        for start in range(0, samples.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="s16", layout="mono"
            )
            frame.sample_rate = rate
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()
