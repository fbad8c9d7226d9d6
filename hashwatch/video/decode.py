"""Decode a video held in memory with PyAV (FFmpeg bundled in its wheel), under caps, and hand out the luma of
the frames vPDQ samples. Nothing is written anywhere: the bytes are read from a ``BytesIO`` and each frame
lives only until the next one.

:func:`open_video` probes the container (format, first video stream, codec, declared size, rate, duration)
and enforces the checks that need no decoding (bytes, pixels, codec); :func:`sampled_luma` then decodes every
frame (a decoder needs them all) and yields the luma of the sampled ones only, so unsampled frames cost their
decode and nothing else::

    with open_video(data, limits) as video:          # raises VideoError(kind, message)
        for index, seconds, luma in sampled_luma(video, limits):
            ...                                      # luma: height x width uint8 (or float32) array
        video.frames_decoded, video.stop_kind, video.stop_error

Sampling follows the reference (ThreatExchange ``vpdq/cpp/vpdq/cpp/hashing/filehasher.cpp``): frames are
numbered in the order the decoder outputs them, and frame ``n`` is hashed when ``n % frame_mod == 0`` with
``frame_mod = int(seconds_per_hash * average_frame_rate)`` (at least 1; 0 seconds = every frame).
"""

from __future__ import annotations

import heapq
import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.logging
import numpy as np

from hashwatch.video.video_hashes import VideoLimits

__all__ = ["DEFAULT_LIMITS", "OpenVideo", "VideoError", "frame_luma", "open_video", "sampled_luma"]

DEFAULT_LIMITS = VideoLimits()

# FFmpeg's own log lines go to stderr and may describe the input; keep them off (errors reach us as
# exceptions, which we turn into one-line messages that never quote content).
av.logging.set_level(None)

# Planar 8-bit YUV formats whose plane 0 is luma Y. Taking it directly skips the YUV->RGB conversion the
# reference does (sws_scale to RGB24) and PDQ's RGB->luma: PDQ's DCT drops the DC term, so the affine map
# from limited-range Y to full-range luma only changes the quality metric, which we rescale (see frame_luma).
_LIMITED_Y = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv410p", "yuv411p", "yuv440p", "nv12", "nv21"})
_FULL_Y = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"})

_clock = time.monotonic  # the decode deadline's clock (a test replaces it)

# A packet that fails to decode is skipped (FFmpeg's decoders resynchronise at the next keyframe); this many in
# a row and the stream is treated as damaged from there on.
_MAX_BAD_PACKETS = 8


class VideoError(Exception):
    """A video that cannot be hashed: ``kind`` is one of ``VIDEO_ERROR_KINDS``, the message one line."""

    def __init__(self, kind: str, message: str, facts: dict | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.facts = facts or {}  # what the probe learnt before failing (container, codec, width, height)


@dataclass
class OpenVideo:
    """An opened container and its first video stream's declared facts; the decode counters fill in as
    :func:`sampled_luma` runs."""

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    format_name: str
    codec: str
    width: int
    height: int
    fps: float | None
    duration: float | None
    declared_frames: int
    frame_mod: int
    frames_decoded: int = 0  # frames of the stream decoded or skipped (unsampled non-reference frames)
    frames_skipped: int = 0  # of those, skipped without decoding (skip_frame=NONREF)
    last_time: float | None = None
    stop_kind: str | None = None  # a VIDEO_ERROR_KINDS member when decoding stopped early
    stop_error: str | None = None
    started: float = 0.0  # _clock() when opening began: the decode deadline counts from there

    def __enter__(self) -> OpenVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()


def _describe(exc: BaseException) -> str:
    """An FFmpeg error as one line: its class and errno name, never the input's bytes or a path."""
    name = type(exc).__name__
    errno = getattr(exc, "errno", None)
    return f"{name} (errno {errno})" if errno is not None else name


def _rate(stream: av.video.stream.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return float(rate)
    return None


def frame_mod_for(seconds_per_hash: float, fps: float | None) -> int:
    """The reference's sampling step: every ``int(seconds_per_hash * fps)``-th frame, at least every frame."""
    if seconds_per_hash <= 0 or not fps:
        return 1
    return max(1, int(seconds_per_hash * fps))


def open_video(data: bytes | memoryview, limits: VideoLimits = DEFAULT_LIMITS, threads: int = 0) -> OpenVideo:
    """Open ``data`` and check what can be checked before decoding; raises :class:`VideoError`.

    ``threads``: FFmpeg decoder threads (0 = one per core, frame and slice threading).
    """
    started = _clock()
    if len(data) == 0:
        raise VideoError("video_undecodable", "empty body (0 bytes)")
    if len(data) > limits.max_bytes:
        raise VideoError("video_too_large", f"{len(data)} bytes, over the cap of {limits.max_bytes}")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # noqa: BLE001 - any FFmpeg failure to open is the same outcome
        raise VideoError("video_undecodable", f"not a container FFmpeg can open: {_describe(exc)}") from None
    try:
        return _probe(container, limits, threads, started)
    except BaseException:
        container.close()
        raise


def _probe(
    container: av.container.InputContainer, limits: VideoLimits, threads: int, started: float
) -> OpenVideo:
    format_name = container.format.name
    if not container.streams.video:
        raise VideoError(
            "video_no_video_stream", f"{format_name}: no video stream", {"container": format_name}
        )
    stream = container.streams.video[0]
    context = stream.codec_context  # None when no bundled decoder knows the stream's codec
    if context is None or context.codec is None:
        raise VideoError(
            "video_unsupported_codec",
            f"{format_name}: no bundled decoder for the video stream",
            {"container": format_name},
        )
    width, height = int(context.width or 0), int(context.height or 0)
    if width * height > limits.max_pixels:
        raise VideoError(
            "video_too_many_pixels",
            f"declared {width}x{height}, over the cap of {limits.max_pixels} pixels",
            {"container": format_name, "codec": context.name, "width": width, "height": height},
        )
    codec_name = context.name
    stream.codec_context.thread_count = threads
    stream.codec_context.thread_type = "AUTO"
    fps = _rate(stream)
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        duration = None
    return OpenVideo(
        container=container,
        stream=stream,
        format_name=format_name,
        codec=codec_name,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        declared_frames=int(stream.frames or 0),
        frame_mod=frame_mod_for(limits.seconds_per_hash, fps),
        started=started,
    )


def frame_luma(frame: av.VideoFrame) -> tuple[np.ndarray, bool]:
    """The frame's luma (height x width) and whether it is limited-range Y (16-235, to be rescaled).

    8-bit planar YUV: plane 0 as is (a view, no conversion). Anything else (RGB, palette, 10-bit YUV, ...):
    converted to RGB24 by FFmpeg and combined as PDQ does (0.299 R + 0.587 G + 0.114 B, float32).
    """
    name = frame.format.name
    if name in _LIMITED_Y or name in _FULL_Y:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width], name in _LIMITED_Y
    rgb = frame.to_ndarray(format="rgb24").astype(np.float32)
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(
        0.114
    ), False


def _frame_time(video: OpenVideo, frame: av.VideoFrame, index: int) -> float:
    """Seconds from the stream's start: the frame's presentation time, else its index over the rate."""
    if frame.pts is not None and frame.time_base is not None:
        start = video.stream.start_time or 0
        return max(0.0, float((frame.pts - start) * frame.time_base))
    return index / video.fps if video.fps else 0.0


def _stop(video: OpenVideo, kind: str, message: str) -> None:
    video.stop_kind, video.stop_error = kind, message


# Codecs whose non-reference frames FFmpeg can skip (skip_frame=NONREF) without touching any other frame, and
# whose packets each hold one frame (so counting packets by timestamp numbers the frames).
_SKIPPABLE_CODECS = frozenset({"h264", "hevc"})
# A frame is skipped only when its estimated number (from its timestamp) is at least this far from every
# sampled number: the estimate may be off by one on a rounded or jittery timestamp, never by three.
_SKIP_MARGIN = 3


class _Numbering:
    """Numbers output frames as the reference does (position in display order) while unsampled
    non-reference frames are skipped: a frame's number is how many frames sent to the decoder display
    before it (a decoder outputs in display order, so all of those have been sent already)."""

    def __init__(self, video: OpenVideo) -> None:
        tb = video.stream.time_base
        self.enabled = bool(
            video.codec in _SKIPPABLE_CODECS and video.frame_mod > 2 * _SKIP_MARGIN and video.fps and tb
        )
        self.start = video.stream.start_time or 0
        self.frames_per_tick = float(tb) * video.fps if self.enabled else 0.0
        self.mod = video.frame_mod
        self.pending: list[int] = []  # timestamps of frames sent and not yet numbered (a heap)
        self.count = 0
        self.output = 0
        self.mode = "DEFAULT"
        self.last_pts: int | None = None
        self.last_dts: int | None = None
        self.context: av.codec.context.CodecContext | None = None

    def sent(self, packet: av.Packet, context: av.codec.context.CodecContext) -> None:
        if not self.enabled or packet.size == 0:
            return
        self.context = context
        jumped = packet.dts is not None and self.last_dts is not None and packet.dts < self.last_dts
        if packet.pts is None or jumped:
            # A frame we cannot place (no timestamp, or a timestamp jump: concatenated or broken stream): decode
            # everything from here; number() drains what is pending, then counts outputs.
            self.enabled = False
            context.skip_frame = self.mode = "DEFAULT"
            return
        self.last_dts = packet.dts
        heapq.heappush(self.pending, packet.pts)
        offset = ((packet.pts - self.start) * self.frames_per_tick) % self.mod
        mode = "DEFAULT" if offset < _SKIP_MARGIN or offset > self.mod - _SKIP_MARGIN else "NONREF"
        if mode != self.mode:
            context.skip_frame = self.mode = mode

    def number(self, frame: av.VideoFrame) -> int:
        if self.pending:
            if frame.pts is None or (self.last_pts is not None and frame.pts <= self.last_pts):
                # Past the jump: the frames still pending were skipped ones of the segment before.
                self.count += len(self.pending)
                self.pending.clear()
            else:
                while self.pending and self.pending[0] < frame.pts:  # skipped or undecodable frames before it
                    heapq.heappop(self.pending)
                    self.count += 1
                if self.pending and self.pending[0] == frame.pts:
                    heapq.heappop(self.pending)
                self.last_pts = frame.pts
        index = self.count
        self.count += 1
        self.output += 1
        if self.enabled and frame.pts is not None and self.context is not None:
            estimate = (frame.pts - self.start) * self.frames_per_tick
            if abs(estimate - index) > _SKIP_MARGIN - 1:  # timestamps drift from numbers (variable rate)
                self.enabled = False
                self.context.skip_frame = self.mode = "DEFAULT"
        return index

    def total(self) -> int:
        """Every frame of the stream, output or skipped."""
        return self.count + len(self.pending)


def _frames(video: OpenVideo, numbering: _Numbering) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(frame_number, frame)`` for every frame output; damaged packets are skipped (a run of them ends the
    stream as truncated), unsampled non-reference frames may be skipped (:class:`_Numbering`)."""
    bad_run = 0
    context = video.stream.codec_context
    try:
        for packet in video.container.demux(video.stream):
            numbering.sent(packet, context)
            try:
                frames = context.decode(packet)
            except av.error.FFmpegError as exc:
                bad_run += 1
                if bad_run >= _MAX_BAD_PACKETS:
                    _stop(
                        video, "video_truncated", f"damaged stream: {bad_run} packets fail: {_describe(exc)}"
                    )
                    return
                continue
            bad_run = 0
            for frame in frames:
                yield numbering.number(frame), frame
    except av.error.FFmpegError as exc:
        _stop(video, "video_truncated", f"the container ended early or is damaged: {_describe(exc)}")


def sampled_luma(
    video: OpenVideo, limits: VideoLimits = DEFAULT_LIMITS
) -> Iterator[tuple[int, float, np.ndarray, bool]]:
    """Decode every frame under the caps; yield ``(frame_index, seconds, luma, limited_range)`` for the frames
    the sampling picks. When a cap stops decoding, ``video.stop_kind``/``stop_error`` say which."""
    deadline = video.started + limits.max_decode_seconds
    numbering = _Numbering(video)
    for index, frame in _frames(video, numbering):
        if index >= limits.max_frames:
            _stop(
                video, "video_too_many_frames", f"more than {limits.max_frames} frames; hashed up to the cap"
            )
            return
        if _clock() > deadline:
            _stop(
                video,
                "video_decode_timeout",
                f"decoding passed {limits.max_decode_seconds:g} s after {index} frames; hashed up to there",
            )
            return
        if frame.width * frame.height > limits.max_pixels:
            _stop(
                video,
                "video_too_many_pixels",
                f"frame {index} is {frame.width}x{frame.height}, over the cap of {limits.max_pixels} pixels",
            )
            return
        seconds = _frame_time(video, frame, index)
        if seconds > limits.max_seconds:
            _stop(video, "video_too_long", f"longer than {limits.max_seconds:g} s; hashed up to the cap")
            return
        video.frames_decoded = index + 1
        video.last_time = seconds
        if index % video.frame_mod == 0:
            luma, limited = frame_luma(frame)
            yield index, seconds, luma, limited
    video.frames_skipped = numbering.count + len(numbering.pending) - numbering.output
    if video.stop_kind is None:
        video.frames_decoded = max(video.frames_decoded, numbering.total())
    if video.stop_kind is None and video.frames_decoded == 0:
        _stop(video, "video_undecodable", "no frame decodes")
    elif video.stop_kind is None and _ended_early(video):
        if video.declared_frames > 0:
            said = f"after {video.frames_decoded} of {video.declared_frames} declared frames"
        else:
            said = f"at {video.last_time:.1f} s of a declared {video.duration:.1f} s"
        _stop(video, "video_truncated", f"the stream ended {said}; the frames decoded are hashed")


def _ended_early(video: OpenVideo) -> bool:
    """The container declared more than was decoded: more frames, or a duration well past the last frame."""
    if video.declared_frames > 0:
        return video.frames_decoded < video.declared_frames
    if video.duration and video.last_time is not None:
        frame_time = 1 / video.fps if video.fps else 0.1
        return video.last_time + 2 * frame_time + 0.5 < video.duration
    return False
