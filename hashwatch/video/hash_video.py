"""vPDQ and digests of one video held in memory: :func:`hash_video` never raises and never writes anything::

    hashes = hash_video(data)                                  # VideoLimits() defaults: 1 frame per second
    hashes.status, hashes.md5, [f.pdq for f in hashes.vpdq]
    hash_video(data, VideoLimits(seconds_per_hash=0))          # every frame, as the reference's sample files
    video_hash_record(hash_video_file("clip.mp4"))             # the dict `hashwatch hash FILE` prints

Each sampled frame's PDQ is ours (:mod:`hashwatch.hashing.algorithms.pdq`: the reference's Jarosz downscale,
DCT and quality), computed from the decoder's luma plane; tests/video/test_vpdq_reference.py compares it with
ThreatExchange's per-frame vPDQ files (docs/hashing.md, "Videos", has the measured distances).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hashwatch.hashing.algorithms.pdq import pdq_dct, pdq_hex, pdq_quality
from hashwatch.hashing.blas_threads import limit_blas_threads
from hashwatch.hashing.draft_resample import jarosz_buffer64
from hashwatch.video.decode import DEFAULT_LIMITS, VideoError, open_video, sampled_luma
from hashwatch.video.digests import VideoDigests
from hashwatch.video.frames import VpdqFrame
from hashwatch.video.video_hashes import VideoHashes, VideoLimits

__all__ = ["frame_pdq", "hash_video", "hash_video_file", "video_hash_record"]

_MIN_HASHABLE_DIM = 5  # pdqhashing.cpp MIN_HASHABLE_DIM: smaller frames get quality 0 and a zero hash
# Limited-range Y (16..235) to the full-range luma PDQ computes from RGB: 0.299 R + 0.587 G + 0.114 B of
# BT.601's YUV->RGB is 255/219 (Y - 16) exactly (the chroma terms cancel), up to RGB's clipping and rounding.
_Y_SCALE = np.float32(255 / 219)
_Y_OFFSET = np.float32(16)


def frame_pdq(luma: np.ndarray, limited_range: bool = False) -> tuple[str, int]:
    """PDQ hex and quality of one frame's luma (height x width, uint8 or float32)."""
    height, width = luma.shape
    if min(height, width) < _MIN_HASHABLE_DIM:
        return "0" * 64, 0
    buffer64 = jarosz_buffer64(luma, (width, height), 1)
    if limited_range:
        buffer64 = (buffer64 - _Y_OFFSET) * _Y_SCALE
    return pdq_hex(pdq_dct(buffer64))[0], pdq_quality(buffer64)


def hash_video(
    data: bytes | memoryview,
    limits: VideoLimits = DEFAULT_LIMITS,
    digests: VideoDigests | None = None,
    threads: int = 0,
) -> VideoHashes:
    """Digests, container facts and vPDQ of ``data``; ``status`` says how it ended (never raises).

    ``digests``: already computed while the bytes arrived (the crawl's streamed fetch); else computed here.
    ``threads``: FFmpeg decoder threads (0 = one per core).
    """
    # PDQ's downscale is two small matrix products; multi-threaded OpenBLAS took 32 ms per 480x720 frame on
    # this loaded 2-core machine instead of ~1 ms (hashing/blas_threads.py has the image side's measurement).
    limit_blas_threads()
    if digests is None:
        digests = VideoDigests(data)
    facts: dict = {}
    frames: list[VpdqFrame] = []
    status, error = "ok", None
    try:
        with open_video(data, limits, threads) as video:
            facts = {
                "container": video.format_name,
                "codec": video.codec,
                "width": video.width or None,
                "height": video.height or None,
                "duration": video.duration,
                "fps": video.fps,
            }
            try:
                for index, seconds, luma, limited in sampled_luma(video, limits):
                    pdq, quality = frame_pdq(luma, limited)
                    frames.append(VpdqFrame(index, round(seconds, 6), pdq, quality))
            finally:
                facts["frames_decoded"] = video.frames_decoded
            if video.stop_kind is not None:
                status, error = video.stop_kind, video.stop_error
            if facts["duration"] is None and video.last_time is not None:
                facts["duration"] = video.last_time + (1 / video.fps if video.fps else 0.0)
    except VideoError as exc:
        status, error = exc.kind, str(exc)
        facts = {**exc.facts, **facts}
    except MemoryError:
        status, error = "video_undecodable", "out of memory while decoding"
    except Exception as exc:  # noqa: BLE001 - the contract: a status, never a traceback
        status, error = "video_undecodable", f"decoding failed: {type(exc).__name__}"
    return VideoHashes(
        md5=digests.md5,
        sha256=digests.sha256,
        bytes_length=digests.bytes_length,
        status=status,
        error=error,
        vpdq=tuple(frames),
        **facts,
    )


def hash_video_file(
    path: str | os.PathLike, limits: VideoLimits = DEFAULT_LIMITS, threads: int = 0
) -> VideoHashes:
    """:func:`hash_video` of a file's bytes. A file over ``limits.max_bytes`` is digested in chunks and not
    decoded (``video_too_large``); an unreadable file raises ``OSError`` (the CLI's one-line error)."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        digests = VideoDigests()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digests.update(chunk)
        return VideoHashes(
            md5=digests.md5,
            sha256=digests.sha256,
            bytes_length=digests.bytes_length,
            status="video_too_large",
            error=f"{size} bytes, over the cap of {limits.max_bytes}",
        )
    return hash_video(path.read_bytes(), limits, threads=threads)


def video_hash_record(hashes: VideoHashes) -> dict:
    """The JSON-able dict ``hashwatch hash FILE`` prints for a video (``video_md5`` is ``md5``, the name lists
    use for it; ``vpdq`` one dict per sampled frame)."""
    return {
        "md5": hashes.md5,
        "video_md5": hashes.md5,
        "sha256": hashes.sha256,
        "bytes_length": hashes.bytes_length,
        "container": hashes.container,
        "codec": hashes.codec,
        "width": hashes.width,
        "height": hashes.height,
        "duration": hashes.duration,
        "fps": hashes.fps,
        "frames_decoded": hashes.frames_decoded,
        "status": hashes.status,
        "error": hashes.error,
        "vpdq": [
            {"frame_index": f.frame_index, "timestamp": f.timestamp, "pdq": f.pdq, "quality": f.quality}
            for f in hashes.vpdq
        ],
    }
