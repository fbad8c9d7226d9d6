"""Bad videos end with an error kind and a one-line message, in bounded time, without raising or writing.

Each case is built in memory (synthetic videos, then cut, corrupted or patched). The time bound is a
correctness bound with slack for a loaded machine, not a speed check.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

import hashwatch.video.decode as decode_module
from hashwatch.sites.synthetic_videos import make_audio_only, make_video
from hashwatch.video.digests import VideoDigests
from hashwatch.video.hash_video import hash_video, hash_video_file
from hashwatch.video.video_hashes import VIDEO_ERROR_KINDS, VideoHashes, VideoLimits

BOUND_SECONDS = 20.0
DEFAULT_LIMITS = VideoLimits()


def checked(data: bytes, limits: VideoLimits = DEFAULT_LIMITS) -> VideoHashes:
    """hash_video under the common checks: no exception, bounded time, a known kind, a one-line error that
    quotes nothing of the input, digests of the whole body."""
    start = time.monotonic()
    hashes = hash_video(data, limits)
    assert time.monotonic() - start < BOUND_SECONDS
    assert hashes.status == "ok" or hashes.status in VIDEO_ERROR_KINDS
    if hashes.status != "ok":
        assert hashes.error and "\n" not in hashes.error and len(hashes.error) < 200
    assert (hashes.md5, hashes.bytes_length) == (VideoDigests(data).md5, len(data))
    return hashes


def test_zero_length() -> None:
    hashes = checked(b"")
    assert hashes.status == "video_undecodable"
    assert hashes.vpdq == () and hashes.md5 == "d41d8cd98f00b204e9800998ecf8427e"


def test_not_a_video_and_the_error_quotes_nothing() -> None:
    data = b"MARKER-TEXT-0123 " * 4000
    hashes = checked(data)
    assert hashes.status == "video_undecodable"
    assert "MARKER" not in hashes.error and "0123" not in hashes.error


def test_mp4_cut_in_half_without_its_index_is_undecodable() -> None:
    # FFmpeg writes the moov index at the end of an MP4 made in memory: half a file has no index.
    data = make_video(seconds=2.0)
    assert checked(data[: len(data) // 2]).status == "video_undecodable"


@pytest.mark.parametrize(
    ("container", "codec", "fragmented"),
    [("mp4", "h264", True), ("mkv", "h264", False), ("webm", "vp9", False)],
)
def test_truncated_stream_keeps_the_frames_before_the_cut(
    container: str, codec: str, fragmented: bool
) -> None:
    data = make_video(seconds=4.0, fps=10, container=container, codec=codec, fragmented=fragmented)
    whole = checked(data)
    assert whole.status == "ok" and whole.frames_decoded == 40
    cut = checked(data[: len(data) // 2])
    assert cut.status == "video_truncated", cut.error
    assert 0 < cut.frames_decoded < 40
    assert cut.vpdq and list(cut.vpdq) == list(whole.vpdq[: len(cut.vpdq)])


def test_corrupt_container_header() -> None:
    data = bytearray(make_video(seconds=1.0))
    data[:64] = bytes(range(64))
    assert checked(bytes(data)).status == "video_undecodable"


def test_corrupt_frame_data_is_survived() -> None:
    data = bytearray(make_video(seconds=2.0))
    for i in range(len(data) // 3, len(data) // 3 + 3000, 7):
        data[i] ^= 0x5A
    hashes = checked(bytes(data))
    assert hashes.status in ("ok", "video_truncated")
    assert hashes.frames_decoded > 0


def test_unsupported_codec() -> None:
    # An AVI whose stream declares a FourCC no decoder knows (the MJPEG stream's tag, patched).
    data = make_video(seconds=1.0, container="avi", codec="mjpeg")
    assert data.count(b"MJPG") >= 1
    hashes = checked(data.replace(b"MJPG", b"QQZZ"))
    assert hashes.status == "video_unsupported_codec"
    assert hashes.container == "avi"


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_audio_only(container: str) -> None:
    hashes = checked(make_audio_only(1.0, container))
    assert hashes.status == "video_no_video_stream"
    assert hashes.container is not None and hashes.vpdq == ()


def test_absurd_declared_dimensions_are_refused_before_decoding() -> None:
    # YUV4MPEG declares its size in a text header: 16000 x 16000 (256 MP; a frame would be 384 MB).
    data = b"YUV4MPEG2 W16000 H16000 F10:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hashes = checked(data)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert hashes.status == "video_too_many_pixels"
    assert "16000x16000" in hashes.error
    assert (hashes.container, hashes.width, hashes.height) == ("yuv4mpegpipe", 16000, 16000)
    assert grown_mb < 100


def test_pixel_cap_on_a_resolution_change_mid_stream() -> None:
    small = make_video(seconds=1.0, fps=10, width=64, height=48, container="mpegts")
    large = make_video(seconds=1.0, fps=10, width=640, height=480, container="mpegts", seed=2)
    hashes = checked(small + large, VideoLimits(max_pixels=100_000))
    assert hashes.status == "video_too_many_pixels"
    assert hashes.frames_decoded == 10 and len(hashes.vpdq) == 1


def test_long_video_is_hashed_up_to_the_duration_cap() -> None:
    data = make_video(seconds=300.0, fps=2, width=64, height=48)  # five minutes, 600 tiny frames
    hashes = checked(data, VideoLimits(max_seconds=60.0))
    assert hashes.status == "video_too_long"
    assert hashes.duration == pytest.approx(300.0, abs=1.0)  # what the container declares
    assert hashes.frames_decoded == 121 and hashes.vpdq[-1].timestamp <= 60.0
    assert len(hashes.vpdq) == 61  # one per second: 0..60


def test_frame_cap() -> None:
    hashes = checked(make_video(seconds=3.0, fps=10), VideoLimits(max_frames=15))
    assert hashes.status == "video_too_many_frames"
    assert hashes.frames_decoded == 15 and [f.frame_index for f in hashes.vpdq] == [0, 10]


def test_decode_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that advances one second per reading: the 5 s deadline passes after a few frames.
    data = make_video(seconds=3.0, fps=10)
    ticks = iter(range(10**6))
    monkeypatch.setattr(decode_module, "_clock", lambda: float(next(ticks)))
    hashes = hash_video(data, VideoLimits(max_decode_seconds=5.0))
    assert hashes.status == "video_decode_timeout"
    assert 0 < hashes.frames_decoded < 10


def test_byte_cap_keeps_the_digests(tmp_path: Path) -> None:
    data = make_video(seconds=1.0)
    hashes = checked(data, VideoLimits(max_bytes=1000))
    assert hashes.status == "video_too_large" and hashes.vpdq == ()
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    from_file = hash_video_file(path, VideoLimits(max_bytes=1000))
    assert from_file.status == "video_too_large"
    assert (from_file.md5, from_file.sha256, from_file.bytes_length) == (hashes.md5, hashes.sha256, len(data))


def test_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(temp))
    data = make_video(seconds=2.0, fps=10)
    for body in (data, data[: len(data) // 2], b"", make_audio_only(0.5)):
        hash_video(body)
    assert list(work.iterdir()) == [] and list(temp.iterdir()) == []
    assert os.getcwd() == str(work)
