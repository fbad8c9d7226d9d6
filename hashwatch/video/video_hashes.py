"""What one video hashes to (:class:`VideoHashes`) and the limits that bound the work (:class:`VideoLimits`).

The decoder and hasher (:func:`hashwatch.video.hash_video.hash_video`) fill a :class:`VideoHashes` from bytes
held in memory; the crawl turns it into a ``videos/`` row, the index matches its ``md5`` (``video_md5``) and
its ``vpdq`` frames. ``status`` is ``"ok"`` or one of :data:`VIDEO_ERROR_KINDS`, with a one-line ``error``
that never quotes content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hashwatch.video.frames import VpdqFrame

__all__ = ["VIDEO_ERROR_KINDS", "VideoHashes", "VideoLimits"]

MiB = 1024 * 1024

# Why a video has no (or only a partial) vPDQ. Part of the output contract (fetch_log.error_kind and
# videos.decode_status): add, never rename.
VIDEO_ERROR_KINDS = frozenset(
    {
        "video_too_large",  # the body passed --max-video-bytes (digests are of the bytes read; no vPDQ)
        "video_too_long",  # duration over --max-video-seconds: hashed up to the cap (vPDQ partial)
        "video_too_many_frames",  # frames over --max-video-frames: hashed up to the cap (vPDQ partial)
        "video_truncated",  # the stream ended early: the frames decoded are hashed (vPDQ partial)
        "video_undecodable",  # not a container FFmpeg can open, or no frame decodes
        "video_unsupported_codec",  # a container with a video stream no bundled decoder reads
        "video_no_video_stream",  # a container with no video stream (audio only)
        "video_too_many_pixels",  # declared dimensions over the pixel cap
        "video_decode_timeout",  # decoding passed --max-video-decode-seconds of wall time
    }
)


@dataclass(frozen=True)
class VideoLimits:
    """Caps on one video: bytes fetched, duration and frames decoded, pixels per frame, wall time of decoding,
    and the sampling rate of vPDQ (``seconds_per_hash``; 0 hashes every frame, as the reference's files do)."""

    max_bytes: int = 512 * MiB
    max_seconds: float = 3 * 3600.0
    max_frames: int = 500_000
    max_pixels: int = 8192 * 8192
    max_decode_seconds: float = 600.0
    seconds_per_hash: float = 1.0


@dataclass(frozen=True)
class VideoHashes:
    """One video: its container and stream facts, its digests and its vPDQ frames.

    ``md5``/``sha256``/``sha1`` are of the file's bytes (``video_md5`` in lists). ``frames_decoded`` counts every frame
    the decoder produced, ``vpdq`` holds one :class:`VpdqFrame` per sampled frame (in timestamp order).
    """

    md5: str
    sha256: str
    bytes_length: int
    status: str = "ok"  # "ok" or one of VIDEO_ERROR_KINDS
    error: str | None = None  # one line, never content
    container: str | None = None  # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
    codec: str | None = None  # e.g. "h264", "vp9"
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds, as the container declares it (or as decoded, if it does not)
    fps: float | None = None  # average frame rate
    frames_decoded: int = 0
    vpdq: Sequence[VpdqFrame] = field(default_factory=tuple)
    sha1: str | None = None  # of the file's bytes (matches/ has a sha1 column; lists may list a video by it)
