"""hash_video on synthetic videos of every container/codec pairing the bundled FFmpeg encodes: decoded from
memory, sampled as the reference samples, PDQ close to the PDQ of the frames before encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hashwatch.video.decode as decode_module
from hashwatch.sites.synthetic_videos import SUPPORTED_FORMATS, make_video, video_frames
from hashwatch.video.decode import open_video, sampled_luma
from hashwatch.video.digests import VideoDigests
from hashwatch.video.hash_video import frame_pdq, hash_video, video_hash_record
from hashwatch.video.video_hashes import VideoLimits

EXPECTED_CONTAINER = {
    "mp4": "mov,mp4,m4a,3gp,3g2,mj2",
    "mov": "mov,mp4,m4a,3gp,3g2,mj2",
    "3gp": "mov,mp4,m4a,3gp,3g2,mj2",
    "webm": "matroska,webm",
    "mkv": "matroska,webm",
    "avi": "avi",
    "mpegts": "mpegts",
    "flv": "flv",
}


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def rgb_luma(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float32)
    return f[..., 0] * np.float32(0.299) + f[..., 1] * np.float32(0.587) + f[..., 2] * np.float32(0.114)


@pytest.mark.parametrize(("container", "codec"), SUPPORTED_FORMATS, ids=str)
def test_every_pairing_decodes_and_samples_one_frame_per_second(container: str, codec: str) -> None:
    width, height = (176, 144) if codec == "h263" else (160, 120)  # H.263 has fixed picture sizes
    data = make_video(
        seconds=2.0, fps=10, width=width, height=height, seed=1, codec=codec, container=container
    )
    hashes = hash_video(data)
    assert hashes.status == "ok", hashes.error
    assert hashes.container == EXPECTED_CONTAINER[container]
    assert hashes.codec == codec
    assert (hashes.width, hashes.height) == (width, height)
    assert hashes.fps == pytest.approx(10.0)
    assert hashes.frames_decoded == 20
    assert [f.frame_index for f in hashes.vpdq] == [0, 10]
    assert [f.timestamp for f in hashes.vpdq] == pytest.approx([0.0, 1.0], abs=0.05)
    assert all(f.quality >= 50 for f in hashes.vpdq)
    # The frames before encoding hash to within a few bits of what came out of the decoder.
    originals = list(video_frames(20, width, height, seed=1, fps=10))
    for frame in hashes.vpdq:
        pdq, _ = frame_pdq(rgb_luma(originals[frame.frame_index]))
        # MPEG-4 part 2 and FLV1 at 160 x 120 land 20-30 bits away; unrelated frames ~128.
        assert hamming(frame.pdq, pdq) <= 36, (container, codec, frame.frame_index)


def test_every_frame_and_distinct_seeds() -> None:
    data = make_video(seconds=1.0, fps=10, seed=2)
    every = hash_video(data, VideoLimits(seconds_per_hash=0))
    assert [f.frame_index for f in every.vpdq] == list(range(10))
    assert [f.timestamp for f in every.vpdq] == pytest.approx([i / 10 for i in range(10)], abs=1e-6)
    # Consecutive frames are near, another seed's frames are far.
    assert hamming(every.vpdq[0].pdq, every.vpdq[1].pdq) < 40
    other = hash_video(make_video(seconds=1.0, fps=10, seed=3))
    assert hamming(every.vpdq[0].pdq, other.vpdq[0].pdq) > 80


def test_memoryview_input_and_given_digests_are_used() -> None:
    data = make_video(seconds=1.0)
    digests = VideoDigests(data)
    from_view = hash_video(memoryview(data), digests=digests)
    from_bytes = hash_video(data)
    assert from_view.status == "ok"
    assert from_view.vpdq == from_bytes.vpdq
    assert (from_view.md5, from_view.sha256, from_view.bytes_length) == (
        from_bytes.md5,
        from_bytes.sha256,
        len(data),
    )
    # A given digest is taken as is (it is of the bytes as they arrived), not recomputed.
    marker = VideoDigests(b"other bytes")
    assert hash_video(data, digests=marker).md5 == marker.md5


def test_scene_cuts_give_unrelated_samples() -> None:
    hashes = hash_video(make_video(seconds=3.0, fps=10, pattern="cuts"))
    pdqs = [f.pdq for f in hashes.vpdq]
    assert len(pdqs) == 3
    assert min(hamming(a, b) for i, a in enumerate(pdqs) for b in pdqs[i + 1 :]) > 60


def test_flat_video_has_quality_zero() -> None:
    hashes = hash_video(make_video(seconds=1.0, pattern="flat"))
    assert hashes.status == "ok"
    assert [f.quality for f in hashes.vpdq] == [0]


def test_record_is_json_with_the_cli_keys() -> None:
    data = make_video(seconds=1.5, fps=10)
    record = json.loads(json.dumps(video_hash_record(hash_video(data))))
    assert record["md5"] == record["video_md5"] == VideoDigests(data).md5
    assert record["status"] == "ok" and record["error"] is None
    assert record["frames_decoded"] == 15 and record["duration"] == pytest.approx(1.5, abs=0.15)
    assert [sorted(f) for f in record["vpdq"]] == [["frame_index", "pdq", "quality", "timestamp"]] * 2
    assert all(len(f["pdq"]) == 64 for f in record["vpdq"])


@pytest.mark.parametrize(
    ("container", "codec"),
    [("mp4", "h264"), ("mkv", "h264"), ("mpegts", "h264"), ("flv", "h264"), ("mp4", "hevc")],
)
def test_skipping_unsampled_non_reference_frames_changes_nothing(
    container: str, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1 frame per second, H.264/HEVC frames that nothing references and that are not sampled are not
    decoded (skip_frame=NONREF); the frames hashed, their numbers and the frame count stay as a full decode's."""
    data = make_video(seconds=4.0, fps=30, width=160, height=120, seed=4, codec=codec, container=container)
    with open_video(data) as video:
        sampled = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
        skipped, total = video.frames_skipped, video.frames_decoded
    monkeypatch.setattr(decode_module, "_SKIPPABLE_CODECS", frozenset())
    with open_video(data) as video:
        full = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
        assert video.frames_skipped == 0 and video.frames_decoded == 120
    assert total == 120
    assert [i for i, _ in sampled] == [i for i, _ in full] == [0, 30, 60, 90]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sampled, full, strict=True))
    if codec == "h264":  # x264's B-frames are non-reference: a third or more of the frames are skipped
        assert skipped >= 30, skipped


def test_skipping_survives_a_timestamp_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two MPEG-TS clips back to back (timestamps restart): frames are numbered as a full decode numbers
    them, the skipping stops at the jump."""
    data = b"".join(
        make_video(seconds=2.0, fps=30, width=160, height=120, seed=s, container="mpegts") for s in (5, 6)
    )
    with open_video(data) as video:
        sampled = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
        assert video.frames_decoded == 120 and video.frames_skipped > 0
    monkeypatch.setattr(decode_module, "_SKIPPABLE_CODECS", frozenset())
    with open_video(data) as video:
        full = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
    assert [i for i, _ in sampled] == [i for i, _ in full] == [0, 30, 60, 90]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sampled, full, strict=True))


def _variable_rate_mp4() -> bytes:
    """H.264 at 30 fps whose timestamps jump 0.5 s ahead after 1 s (a variable-rate stream)."""
    import io
    from fractions import Fraction

    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=30, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        for index, rgb in enumerate(video_frames(150, 160, 120, seed=8, fps=30)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index if index < 30 else index + 15
            frame.time_base = Fraction(1, 30)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def test_skipping_on_a_variable_rate_stream_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _variable_rate_mp4()
    with open_video(data) as video:
        sampled = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
        total = video.frames_decoded
    monkeypatch.setattr(decode_module, "_SKIPPABLE_CODECS", frozenset())
    with open_video(data) as video:
        full = [(index, luma.copy()) for index, _, luma, _ in sampled_luma(video)]
        assert video.frames_decoded == total == 150
    assert [i for i, _ in sampled] == [i for i, _ in full]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sampled, full, strict=True))
