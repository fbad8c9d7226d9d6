"""The video evaluation in small (2 synthetic clips, 3 edits) and its parts: the corpus split, the brute-force
vPDQ rule, threshold tuning, the reference plumbing and the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hashwatch.evaluation import video as video_cli
from hashwatch.evaluation.video_brute_match import vpdq_match_percents
from hashwatch.evaluation.video_corpus import (
    VideoGroup,
    VideoSource,
    split_groups,
    synthetic_group,
    video_corpus,
)
from hashwatch.evaluation.video_edits import QUICK_VIDEO_EDIT_IDS, select_edits
from hashwatch.evaluation.video_report import markdown, summarise, tune_threshold
from hashwatch.evaluation.video_runner import Pair, VideoEvalSettings, evaluate_half, reference_hasher
from hashwatch.video.frames import VpdqFrame

ZERO = "0" * 64


def _flip(hex_hash: str, bits: int) -> str:
    """``hex_hash`` with its lowest ``bits`` bits flipped."""
    return f"{int(hex_hash, 16) ^ ((1 << bits) - 1):064x}"


def _frames(*hashes: str, quality: int = 100) -> list[VpdqFrame]:
    return [VpdqFrame(i, float(i), h, quality) for i, h in enumerate(hashes)]


# --- the brute-force rule ---------------------------------------------------------------------------------


def test_brute_rule_distance_quality_and_dedupe() -> None:
    far = "f" * 64
    listed = _frames(ZERO, far)
    # 31 bits: within; 32: not (pytx's distance tolerance 31, inclusive).
    assert vpdq_match_percents(_frames(_flip(ZERO, 31)), listed) == (100.0, 50.0)
    assert vpdq_match_percents(_frames(_flip(ZERO, 32)), listed) == (0.0, 0.0)
    # Duplicated query frames count once; a low-quality frame is not counted at all.
    query = _frames(ZERO, ZERO, ZERO, _flip(far, 100)) + [VpdqFrame(9, 9.0, far, 49)]
    assert vpdq_match_percents(query, listed) == (50.0, 50.0)
    assert vpdq_match_percents(_frames(ZERO, quality=10), listed) == (0.0, 0.0)
    assert all(type(x) is float for x in vpdq_match_percents(_frames(ZERO), listed))  # JSON-serialisable


# --- the corpus -------------------------------------------------------------------------------------------


def test_split_is_by_group_deterministic_and_per_source() -> None:
    groups = [VideoGroup(f"g{i}", "a" if i % 3 else "b", VideoSource(f"g{i}-orig")) for i in range(9)]
    groups[0] = VideoGroup("g0", "b", VideoSource("g0-orig"), (VideoSource("g0-v1"), VideoSource("g0-v2")))
    tuning, held = split_groups(groups)
    assert split_groups(list(reversed(groups))) == (tuning, held)
    assert not {g.name for g in tuning} & {g.name for g in held}
    assert len(tuning) + len(held) == 9
    for source in ("a", "b"):
        n_t = sum(g.source == source for g in tuning)
        n_h = sum(g.source == source for g in held)
        assert n_t - n_h in (0, 1)
    g0 = next(g for g in tuning + held if g.name == "g0")
    assert [v.name for v in g0.variants] == ["g0-v1", "g0-v2"]  # variants stay with their original


def test_reference_clips_grouped_by_original(tmp_path: Path) -> None:
    corpus = video_corpus(include=("refvectors", "synthetic"), synthetic_originals=2, synthetic_distractors=2)
    if any(s.startswith("refvectors") for s in corpus.skipped):
        pytest.skip(corpus.skipped[0])
    by_name = {g.name: g for g in corpus.groups}
    assert {"chair", "pattern", "doorknob", "padded", "synthetic-1", "synthetic-2"} == set(by_name)
    assert len(by_name["chair"].variants) == 6 and len(by_name["pattern"].variants) == 4
    assert (
        {g.source for g in corpus.tuning}
        == {g.source for g in corpus.held_back}
        == {"refvectors", "synthetic"}
    )
    assert [d.name for d in corpus.distractors] == ["synthetic-1001-cuts", "synthetic-1002-shapes"]
    with pytest.raises(ValueError, match="unknown video source"):
        video_corpus(include=("youtube",))


# --- tuning -----------------------------------------------------------------------------------------------


def _pair(query: str, group: str | None, listed: str, q: float, impl: str = "ours") -> Pair:
    return Pair("tuning", impl, "edit" if group else "distractor", query, group, listed, q, 100.0)


def test_threshold_is_the_widest_margin_without_false_matches() -> None:
    pairs = [
        _pair("a", "x", "x", 100.0),
        _pair("b", "x", "x", 60.0),
        _pair("c", "x", "x", 20.0),
        _pair("a", "x", "y", 30.0),  # a false match below 35
        _pair("d", None, "x", 10.0),
    ]
    tuned = tune_threshold(pairs)
    # 35..60 find 2 of 3 with no false match; the highest of those is chosen.
    assert tuned["threshold"] == 60.0
    assert tuned["tuning_recall"] == pytest.approx(2 / 3)
    assert tuned["tuning_false_matches"] == 0 and tuned["nearest_non_matching_percent"] == 30.0


# --- the reference plumbing (a stand-in vpdq module: the real one lives in its own venv) --------------------


def test_reference_hasher_reads_its_output_and_deletes_its_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "vpdq.py"
    fake.parent.mkdir()
    fake.write_text(
        "import os\n"
        "class F:\n"
        "    def __init__(s, n, size):\n"
        "        s.frame_number, s.timestamp, s.hex, s.quality = n, float(n), f'{size:064x}', 90\n"
        "def computeHash(path, seconds_per_hash=1.0):\n"
        "    assert os.path.isfile(path)\n"
        "    return [F(n, os.path.getsize(path)) for n in range(2)]\n"
    )
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    videos = tmp_path / "videos"
    videos.mkdir()
    out = reference_hasher(str(python), videos)({"a": b"x" * 5, "b": b"y" * 7}, 1.0)
    assert out["a"] == [VpdqFrame(0, 0.0, f"{5:064x}", 90), VpdqFrame(1, 1.0, f"{5:064x}", 90)]
    assert out["b"][0].pdq == f"{7:064x}"
    assert list(videos.iterdir()) == []  # the files it wrote are gone
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'No module named vpdq' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(RuntimeError, match="No module named vpdq"):
        reference_hasher(str(broken), videos)({"a": b"x"}, 1.0)


def _stand_in_reference(tmp_path: Path) -> str:
    """A "python" whose ``vpdq.computeHash`` is hashwatch's own hash_video: the reference path must then give
    exactly our pairs."""
    fake = tmp_path / "ours_as_vpdq" / "vpdq.py"
    fake.parent.mkdir()
    fake.write_text(
        "from types import SimpleNamespace as F\n"
        "from hashwatch.video.hash_video import hash_video\n"
        "from hashwatch.video.video_hashes import VideoLimits\n"
        "def computeHash(path, seconds_per_hash=1.0, thread_count=0):\n"
        "    h = hash_video(open(path, 'rb').read(), VideoLimits(seconds_per_hash=seconds_per_hash))\n"
        "    return [F(frame_number=f.frame_index, timestamp=f.timestamp, hex=f.pdq, quality=f.quality)\n"
        "            for f in h.vpdq]\n"
    )
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={fake.parent} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return str(python)


# --- the tiny evaluation ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two synthetic 4-second clips, one per half, the quick edits, one distractor each; the reference is
    a stand-in running our own hasher (the real one needs its own venv: make eval-video)."""
    groups = [synthetic_group(1, seconds=4.0), synthetic_group(2, seconds=4.0)]
    distractor = [video_corpus(("synthetic",), 0, 1, 4.0).distractors[0]]
    edits = select_edits(list(QUICK_VIDEO_EDIT_IDS))
    settings = VideoEvalSettings(max_seconds=4.0)
    reference = reference_hasher(
        _stand_in_reference(tmp_path_factory.mktemp("ref")), tmp_path_factory.mktemp("ref-videos")
    )
    return {
        "tuning": evaluate_half("tuning", groups[:1], distractor, edits, settings, reference),
        "held_back": evaluate_half("held_back", groups[1:], distractor, edits, settings, reference),
    }


def test_tiny_evaluation_pairs_and_cross_check(tiny: dict) -> None:
    held = tiny["held_back"]
    assert held.failures == []
    # match_video (the compiled index) and the brute-force rule agree on every pair.
    assert tiny["tuning"].cross_check_differences == held.cross_check_differences == 0
    ours = [p for p in held.pairs if p.impl == "ours"]
    stand_in = [p for p in held.pairs if p.impl == "reference"]
    # match_video rounds its percentages to 3 decimals, the brute-force rule does not.
    assert [(p.query, p.listed, round(p.query_percent, 3), p.compared_percent) for p in stand_in] == [
        (p.query, p.listed, p.query_percent, p.compared_percent) for p in ours
    ]
    own = {p.query: p for p in ours if p.own}
    assert set(own) == set(QUICK_VIDEO_EDIT_IDS)
    assert own["grey"].query_percent >= 80  # grey keeps the luma PDQ is computed on
    # The clip is the middle third of the query: all of the listed video is found, about a third of the query.
    assert own["inside@3"].compared_percent == 100.0
    assert 20.0 <= own["inside@3"].query_percent <= 70.0
    assert [p for p in held.pairs if not p.own and p.query_percent > 0] == []


def test_tiny_summary_tunes_on_tuning_only(tiny: dict) -> None:
    summary = summarise(tiny, list(QUICK_VIDEO_EDIT_IDS))
    assert summary["impls"] == ["ours", "reference"]
    # Tuning pairs alone decide: a summary whose held-back half is empty tunes the same threshold.
    empty = type(tiny["held_back"])()
    alone = summarise({"tuning": tiny["tuning"], "held_back": empty}, list(QUICK_VIDEO_EDIT_IDS))
    assert alone["thresholds"] == summary["thresholds"]
    assert summary["per_edit"]["grey"]["ours"]["recall_meta"] == 1.0
    assert summary["false_matches"]["ours"]["at_tuned"] == 0
    assert json.dumps(summary)  # serialisable, names and numbers only
    assert "| `grey` | 1 | 100 % |" in markdown(summary)


def test_cli_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert video_cli.main(["--edits", "crop@99", "--no-reference"]) == 2
    assert "unknown video edit" in capsys.readouterr().err
    assert video_cli.main(["--sources", "youtube", "--no-reference"]) == 2
    assert video_cli.main(["--max-seconds", "0", "--no-reference"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err


def test_every_frame_list_covers_a_sampling_offset() -> None:
    """A trim by a fraction of a second shifts the query's 1 fps samples between the listed ones; a list
    hashed at every frame holds a frame next to each of them."""
    group = [synthetic_group(2, seconds=4.0)]
    edits = select_edits(["trim@15"])
    sparse = evaluate_half("held_back", group, [], edits, VideoEvalSettings(max_seconds=4.0))
    dense = evaluate_half(
        "held_back", group, [], edits, VideoEvalSettings(max_seconds=4.0, list_seconds_per_hash=0.0)
    )
    assert dense.frames["ours"] > sparse.frames["ours"] + 20  # 40 listed frames instead of 4
    (q_sparse,) = [p.query_percent for p in sparse.pairs if p.own]
    (q_dense,) = [p.query_percent for p in dense.pairs if p.own]
    assert q_dense == 100.0 and q_dense > q_sparse


def test_image_candidates_find_mirrored_and_bordered_frames() -> None:
    """ours+candidates: each sampled frame also matches through the image side's candidates (real flips,
    trimmed borders), which plain vPDQ cannot."""
    edits = select_edits(["border@10", "mirror"])
    result = evaluate_half(
        "held_back",
        [synthetic_group(2, seconds=4.0)],
        [],
        edits,
        VideoEvalSettings(max_seconds=4.0),
        candidates=True,
    )
    own = {(p.impl, p.query): p.query_percent for p in result.pairs if p.own}
    for edit in ("border@10", "mirror"):
        assert own[("ours", edit)] < 50.0
        assert own[("ours+candidates", edit)] >= 80.0
