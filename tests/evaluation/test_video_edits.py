"""Each video edit does what its specification (hashwatch/evaluation/video_edits.py) says: checked on the
decoded result's dimensions, duration and pixels, never with a hash."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hashwatch.evaluation.video_edits import (
    QUICK_VIDEO_EDIT_IDS,
    VIDEO_EDIT_SUITE,
    Clip,
    decode_clip,
    edits_by_id,
    encode_clip,
    select_edits,
)

FPS = 5.0
W, H = 96, 72


def _frame(k: int) -> np.ndarray:
    """A smooth colour picture, different for every frame (so frame alignment is checkable)."""
    grid = np.random.default_rng([11, k]).uniform(0, 255, (3, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((W, H), Image.Resampling.BILINEAR))


@pytest.fixture(scope="module")
def clip() -> Clip:
    return Clip([_frame(k) for k in range(20)], FPS)  # 4 s


def _run(edit_id: str, clip: Clip) -> Clip:
    data = edits_by_id()[edit_id].apply(clip)
    assert data[4:8] == b"ftyp"  # MP4
    return decode_clip(data, fps=clip.fps, max_side=None, max_seconds=None)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_encode_decode_round_trip_keeps_frames(clip: Clip) -> None:
    back = decode_clip(encode_clip(clip), fps=FPS, max_side=None, max_seconds=None)
    assert (back.width, back.height, len(back.frames)) == (W, H, 20)
    assert max(_mae(a, b) for a, b in zip(back.frames, clip.frames, strict=True)) < 4
    # Different frames really differ, so the alignment checks below can fail.
    assert _mae(clip.frames[0], clip.frames[1]) > 20


def test_decode_resamples_and_caps(clip: Clip) -> None:
    data = encode_clip(clip)
    half = decode_clip(data, fps=FPS / 2, max_side=48, max_seconds=2.0)
    assert (half.width, half.height, len(half.frames)) == (48, 36, 5)  # times 0, 0.4, ... 1.6
    full = decode_clip(data, fps=FPS, max_side=None, max_seconds=None)
    small = np.asarray(Image.fromarray(full.frames[2]).resize((48, 36), Image.Resampling.BOX))
    assert _mae(half.frames[1], small) < 6  # time 1/(FPS/2) = frame 2 of the full rate


def test_reencode_halves_resolution_at_low_bitrate(clip: Clip) -> None:
    edit = edits_by_id()["reencode@0.5"]
    data = edit.apply(clip)
    out = decode_clip(data, fps=FPS, max_side=None, max_seconds=None)
    assert (out.width, out.height, out.duration) == (W // 2, H // 2, clip.duration)
    assert edit.bitrate_for(edit.edit(clip)) == 60_000  # the floor: 200 kbit/s x (48 x 36) / (320 x 240)
    assert len(data) * 8 / out.duration < 1.5 * 60_000
    small = np.asarray(Image.fromarray(clip.frames[7]).resize((W // 2, H // 2), Image.Resampling.BOX))
    assert _mae(out.frames[7], small) < 12


def test_crop_keeps_the_centre(clip: Clip) -> None:
    out = _run("crop@10", clip)
    dx, dy = round(W * 0.05), round(H * 0.05)
    assert (out.width, out.height) == (W - 2 * dx, H - 2 * dy)
    assert _mae(out.frames[5], clip.frames[5][dy : H - dy, dx : W - dx]) < 4


@pytest.mark.parametrize(("edit_id", "px", "py"), [("border@10", 5, 4), ("letterbox@25", 0, 9)])
def test_border_and_letterbox_add_black_bars(clip: Clip, edit_id: str, px: int, py: int) -> None:
    out = _run(edit_id, clip)
    assert (out.width, out.height) == (W + 2 * px, H + 2 * py)
    frame = out.frames[3].astype(np.float32)
    bars = [frame[: py - 1], frame[H + py + 1 :]] if py else []
    bars += [frame[:, : px - 1], frame[:, W + px + 1 :]] if px else []
    assert all(bar.size and bar.mean() < 12 for bar in bars)
    inner = out.frames[3][py + 1 : py + H - 1, px + 1 : px + W - 1]
    assert _mae(inner, clip.frames[3][1 : H - 1, 1 : W - 1]) < 6


def test_logo_covers_the_lower_right_corner_only(clip: Clip) -> None:
    out = _run("logo@5", clip)
    side = round((W * H * 0.05) ** 0.5)  # 19 px
    corner = out.frames[4][H - side : H - 3, W - side : W - 3].astype(np.float32)
    assert corner.mean() > 150  # mostly the white badge
    assert _mae(out.frames[4][: H - side - 4], clip.frames[4][: H - side - 4]) < 4
    assert _mae(corner, clip.frames[4][H - side : H - 3, W - side : W - 3]) > 30


def test_caption_band_over_the_bottom(clip: Clip) -> None:
    out = _run("caption@15", clip)
    band = round(H * 0.15)
    assert (out.width, out.height) == (W, H)
    assert out.frames[6][H - band + 1 :].mean() < 80  # black with some white text
    assert out.frames[6][H - band + 1 :].max() > 150  # the text
    assert _mae(out.frames[6][: H - band - 2], clip.frames[6][: H - band - 2]) < 4


def test_grey_has_equal_channels(clip: Clip) -> None:
    out = _run("grey", clip).frames[8].astype(np.float32)
    assert np.abs(out[..., 0] - out[..., 1]).mean() < 3 and np.abs(out[..., 1] - out[..., 2]).mean() < 3
    luma = clip.frames[8].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.abs(out.mean(axis=2) - luma).mean() < 4
    assert np.abs(clip.frames[8][..., 0].astype(float) - clip.frames[8][..., 2]).mean() > 20


def test_sepia_tints_brown(clip: Clip) -> None:
    out = _run("sepia", clip).frames[8].astype(np.float32)
    r, g, b = out[..., 0].mean(), out[..., 1].mean(), out[..., 2].mean()
    assert r > g > b
    # Every pixel's channels are (nearly) in the sepia ratios: a function of one luma-like value.
    assert np.abs(out[..., 2] - 0.272 / 0.393 * np.minimum(out[..., 0], 254)).mean() < 20


def test_trim_drops_start_and_end(clip: Clip) -> None:
    out = _run("trim@15", clip)
    assert len(out.frames) == 20 - 2 * 3 and out.duration == pytest.approx(clip.duration * 0.7)
    assert _mae(out.frames[0], clip.frames[3]) < 4 and _mae(out.frames[-1], clip.frames[16]) < 4


@pytest.mark.parametrize("factor", [1.25, 0.8])
def test_speed_changes_duration_and_timing(clip: Clip, factor: float) -> None:
    out = _run(f"speed@{factor:g}", clip)
    assert out.duration == pytest.approx(clip.duration / factor)
    assert out.fps == clip.fps
    for k in (0, 5, len(out.frames) - 1):
        assert _mae(out.frames[k], clip.frames[min(19, round(k * factor))]) < 4


def test_inside_longer_unrelated_video(clip: Clip) -> None:
    out = _run("inside@3", clip)
    assert len(out.frames) == 60 and out.duration == pytest.approx(3 * clip.duration)
    for k in (0, 10, 19):
        assert _mae(out.frames[20 + k], clip.frames[k]) < 4
    nearest_unrelated = min(_mae(out.frames[j], f) for j in (0, 10, 45, 59) for f in clip.frames)
    assert nearest_unrelated > 20


def test_mirror_swaps_left_and_right(clip: Clip) -> None:
    out = _run("mirror", clip)
    assert _mae(out.frames[9], clip.frames[9][:, ::-1]) < 4
    assert _mae(out.frames[9], clip.frames[9]) > 20


def test_suite_ids_and_selection() -> None:
    ids = [edit.id for edit in VIDEO_EDIT_SUITE]
    assert len(ids) == len(set(ids)) == 13
    assert set(QUICK_VIDEO_EDIT_IDS) <= set(ids)
    assert [e.id for e in select_edits(["mirror", "crop@10"])] == ["crop@10", "mirror"]
    with pytest.raises(ValueError, match="unknown video edit"):
        select_edits(["crop@99"])


def test_decode_rejects_non_video() -> None:
    with pytest.raises((ValueError, OSError)):
        decode_clip(b"not a video at all" * 10)
