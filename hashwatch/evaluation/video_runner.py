"""The video evaluation: list each original's vPDQ, hash its edits and variants, match, score per half.

For each half of the corpus (:func:`~hashwatch.evaluation.video_corpus.split_groups`) on its own:

1. Every group's original is decoded to a *known original* (:class:`VideoEvalSettings`: the first
   ``max_seconds`` at ``fps``, scaled to fit ``max_side``) and encoded as H.264: what a hotline would hold.
   Its vPDQ (:func:`hashwatch.video.hash_video.hash_video`, one frame per ``list_seconds_per_hash``, by
   default ``seconds_per_hash``; 0: every frame) is one list
   row of type ``vpdq`` with the group as ``item_id``; the list is compiled into a ``KnownHashIndex``.
2. *Queries*: each edit of :mod:`~hashwatch.evaluation.video_edits` applied to each known original, each
   published variant (prepared the same way as the original), and the half's distractors. Each is hashed
   once and matched with :func:`hashwatch.video.video_match.match_video` (every percentage kept: both
   thresholds at 0, frame-to-image and MD5 off), and with the brute-force rule of
   :mod:`~hashwatch.evaluation.video_brute_match` as a cross-check.
3. With ``reference`` set, the same known originals and queries are written to a temporary folder (deleted
   at the end; the reference reads files only) and hashed by the reference ``vpdq`` package in its own
   interpreter; its hashes are matched by the brute-force rule.

A *pair* is (query, listed original) with its ``query_match_percent`` and ``compared_match_percent``; a
pair of a query with its own group's original is a hit at threshold T when ``query >= T``, any other pair a
false match. Nothing but hashes, names and percentages leaves this module: :class:`Pair` rows.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashwatch.evaluation.video_brute_match import distances, good_codes, vpdq_match_percents
from hashwatch.evaluation.video_corpus import VideoCorpus, VideoGroup, VideoSource
from hashwatch.evaluation.video_edits import VideoEdit, decode_clip, encode_clip
from hashwatch.video.frames import VpdqFrame
from hashwatch.video.hash_video import hash_video
from hashwatch.video.video_hashes import VideoHashes, VideoLimits
from hashwatch.video.video_match import VideoMatchOptions, match_video
from hashwatch.video.vpdq_format import vpdq_to_json

__all__ = ["IMPLS", "Pair", "VideoEvalSettings", "evaluate_half", "reference_hasher", "run_video_eval"]

IMPLS = ("ours", "reference", "ours+candidates")
Hasher = Callable[[dict[str, bytes], float], dict[str, list[VpdqFrame]]]  # (videos, seconds per hash)


@dataclass(frozen=True)
class VideoEvalSettings:
    """How known originals are prepared and hashed (small, so the run fits a shared 2-core machine)."""

    fps: float = 10.0
    max_side: int = 320
    max_seconds: float = 12.0
    seconds_per_hash: float = 1.0  # the queries' sampling
    list_seconds_per_hash: float | None = None  # the listed originals' (None: the same; 0: every frame)

    @property
    def list_sampling(self) -> float:
        return self.seconds_per_hash if self.list_seconds_per_hash is None else self.list_seconds_per_hash


@dataclass(frozen=True)
class Pair:
    """One query against one listed original, by one implementation."""

    half: str  # tuning | held_back
    impl: str  # ours | reference | ours+candidates
    kind: str  # edit | variant | distractor
    query: str  # the edit's id, the variant's or distractor's name
    group: str | None  # the query's group (None for a distractor)
    listed: str  # the listed original's group
    query_percent: float
    compared_percent: float

    @property
    def own(self) -> bool:
        return self.group == self.listed


@dataclass
class HalfResult:
    """Pairs of one half and what the run noticed (hashing failures, disagreements of the two matchers)."""

    pairs: list[Pair] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "impl query: status"
    cross_check_differences: int = 0  # pairs where match_video and the brute-force rule disagree
    frames: dict[str, int] = field(default_factory=dict)  # impl -> vPDQ frames hashed
    seconds: dict[str, float] = field(default_factory=dict)


def ours_hasher(seconds_per_hash: float) -> Callable[[bytes], VideoHashes]:
    """hashwatch's :func:`hash_video` at this sampling (0: every frame), one decoder thread (shared machine)."""
    limits = VideoLimits(seconds_per_hash=seconds_per_hash)
    return lambda data: hash_video(data, limits, threads=1)


_REFERENCE_SCRIPT = """
import json, sys, vpdq
seconds = float(sys.argv[1])
for path in sys.argv[2:]:
    try:  # one thread: a shared machine (vpdq 0.2.x names it thread_count)
        feats = vpdq.computeHash(path, seconds_per_hash=seconds, thread_count=1)
    except TypeError:
        feats = vpdq.computeHash(path, seconds_per_hash=seconds)
    print(json.dumps([path, [[f.frame_number, f.timestamp, f.hex, f.quality] for f in feats]]), flush=True)
"""


def reference_hasher(python: str, tmp_root: str | Path | None = None) -> Hasher:
    """The reference ``vpdq`` package (PyPI, built against Debian's FFmpeg) run by ``python`` (its own venv):
    the videos are written to a temporary folder (under ``tmp_root``, else the system's) that is deleted when
    the call returns. Tests pass pytest's ``tmp_path``."""

    def run(videos: dict[str, bytes], seconds_per_hash: float) -> dict[str, list[VpdqFrame]]:
        with tempfile.TemporaryDirectory(prefix="hashwatch-video-eval-", dir=tmp_root) as tmp:
            paths = {}
            for i, (name, data) in enumerate(videos.items()):
                path = Path(tmp) / f"{i:05d}.mp4"
                path.write_bytes(data)
                paths[str(path)] = name
            proc = subprocess.run(
                [python, "-c", _REFERENCE_SCRIPT, str(seconds_per_hash), *paths],
                capture_output=True,
                text=True,
                timeout=3600,
                check=False,
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"reference vpdq failed (exit {proc.returncode}): {last}")
            out: dict[str, list[VpdqFrame]] = {}
            for line in proc.stdout.splitlines():
                path, feats = json.loads(line)
                out[paths[path]] = [VpdqFrame(int(n), float(t), h, int(q)) for n, t, h, q in feats]
            return out

    return run


def candidate_codes(data: bytes, settings: VideoEvalSettings) -> list[np.ndarray]:
    """Per sampled frame of quality >= 50 (one per ``seconds_per_hash``), the PDQ codes of the frame and of
    its image candidates (PDQ's dihedral variants and :mod:`hashwatch.hashing.candidates`: borders trimmed,
    caption bands removed, real flips and turns, small turns undone, crops re-extended), as the image side
    computes them for a still picture. Frames are handed over as PNG in memory."""
    import io

    from PIL import Image

    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    config = HashConfig(hash_types=("pdq",))
    clip = decode_clip(data, fps=1.0 / settings.seconds_per_hash, max_side=None, max_seconds=None)
    out = []
    seen: set[str] = set()
    for frame in clip.frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
        h = compute_image_hashes(buffer.getvalue(), config)
        if h.pdq is None or (h.pdq_quality or 0) < 50 or h.pdq in seen:
            continue
        seen.add(h.pdq)
        hexes = [h.pdq, *(h.pdq_dihedral or ()), *h.candidate_hashes.values()]
        out.append(np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(hexes), 32))
    return out


def candidate_percents(
    frames: list[np.ndarray], listed: np.ndarray, distance: int = 31
) -> tuple[float, float]:
    """pytx's rule where a query frame matches through any of its codes (see :func:`candidate_codes`)."""
    if not frames or len(listed) == 0:
        return 0.0, 0.0
    matched_listed = np.zeros(len(listed), bool)
    matched = 0
    for codes in frames:
        within = (distances(codes, listed) <= distance).any(axis=0)
        matched += bool(within.any())
        matched_listed |= within
    return float(100.0 * matched / len(frames)), float(100.0 * matched_listed.sum() / len(listed))


def known_original(source: VideoSource, settings: VideoEvalSettings) -> tuple[bytes, object]:
    """(the known original's H.264 bytes, its decoded clip) for a source."""
    clip = decode_clip(source.load(), settings.fps, settings.max_side, settings.max_seconds)
    return encode_clip(clip), clip


def _index_of(listed: dict[str, Sequence[VpdqFrame]]):
    """A KnownHashIndex of the listed originals: one vpdq row each (pytx's JSON), ``item_id`` = the group.
    The list is written as Parquet to a temporary folder deleted at once (hashes only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hashwatch.hashing.index_build import compile_index
    from hashwatch.hashing.known_hash_list import load_lists

    names = sorted(listed)
    table = pa.table(
        {
            "hash_type": ["vpdq"] * len(names),
            "hash_value": [vpdq_to_json(listed[n]) for n in names],
            "category": ["eval"] * len(names),
            "source": ["video-eval"] * len(names),
            "list_version": ["1"] * len(names),
            "deleted": [False] * len(names),
            "item_id": names,
        }
    )
    with tempfile.TemporaryDirectory(prefix="hashwatch-video-eval-") as tmp:
        path = str(Path(tmp) / "list.parquet")
        pq.write_table(table, path)
        return compile_index(load_lists([path]))


def _product_percents(index, hashes: VideoHashes) -> dict[str, tuple[float, float]]:
    options = VideoMatchOptions(
        query_match_percent=0.0, compared_match_percent=0.0, frame_to_image=False, md5=False
    )
    return {
        m.item_id: (float(m.query_match_percent), float(m.compared_match_percent))
        for m in match_video(index, hashes, options)
        if m.match_kind == "vpdq" and m.item_id is not None
    }


def evaluate_half(
    half: str,
    groups: Sequence[VideoGroup],
    distractors: Sequence[VideoSource],
    edits: Sequence[VideoEdit],
    settings: VideoEvalSettings,
    reference: Hasher | None = None,
    log: Callable[[str], None] = lambda _: None,
    candidates: bool = False,
) -> HalfResult:
    """Every pair of one half (see the module's doc); ``candidates`` adds ``ours+candidates`` pairs: each
    sampled query frame also matches through its image candidates (:func:`candidate_codes`)."""
    result = HalfResult()
    hash_ours = ours_hasher(settings.seconds_per_hash)
    hash_listed = ours_hasher(settings.list_sampling)
    # query key -> (kind, name, group); the bytes are kept only until both implementations hashed them.
    queries: dict[str, tuple[str, str, str | None]] = {}
    videos: dict[str, bytes] = {}
    originals: dict[str, bytes] = {}
    for group in groups:
        data, clip = known_original(group.original, settings)
        originals[group.name] = data
        for edit in edits:
            key = f"{group.name}/{edit.id}"
            queries[key] = ("edit", edit.id, group.name)
            videos[key] = edit.apply(clip)
        for variant in group.variants:
            key = f"{group.name}/{variant.name}"
            queries[key] = ("variant", variant.name, group.name)
            videos[key] = known_original(variant, settings)[0]
        log(f"{half}: {group.name}: {len(edits)} edits, {len(group.variants)} variants")
    for source in distractors:
        queries[source.name] = ("distractor", source.name, None)
        videos[source.name] = known_original(source, settings)[0]

    start = time.perf_counter()
    listed_ours: dict[str, list[VpdqFrame]] = {}
    for name, data in originals.items():
        h = hash_listed(data)
        if h.status != "ok" or not h.vpdq:
            result.failures.append(f"ours original {name}: {h.status}")
        listed_ours[name] = list(h.vpdq)
    index = _index_of({n: f for n, f in listed_ours.items() if f})
    listed_codes = {n: good_codes(f) for n, f in listed_ours.items()}
    frames = sum(len(f) for f in listed_ours.values())
    for key, data in videos.items():
        kind, name, group = queries[key]
        h = hash_ours(data)
        frames += len(h.vpdq)
        if h.status != "ok":
            result.failures.append(f"ours {key}: {h.status}")
        product = _product_percents(index, h)
        codes = good_codes(h.vpdq)
        for listed, listed_c in listed_codes.items():
            q, c = product.get(listed, (0.0, 0.0))
            bq, bc = vpdq_match_percents(codes, listed_c)
            if abs(bq - q) > 0.01 or abs(bc - c) > 0.01:
                result.cross_check_differences += 1
            result.pairs.append(Pair(half, "ours", kind, name, group, listed, q, c))
    result.frames["ours"] = frames
    result.seconds["ours"] = round(time.perf_counter() - start, 2)
    log(f"{half}: ours hashed {len(videos) + len(originals)} videos in {result.seconds['ours']} s")

    if candidates:
        start = time.perf_counter()
        for key, data in videos.items():
            kind, name, group = queries[key]
            frames_c = candidate_codes(data, settings)
            for listed, listed_c in listed_codes.items():
                q, c = candidate_percents(frames_c, listed_c)
                result.pairs.append(Pair(half, "ours+candidates", kind, name, group, listed, q, c))
        result.seconds["ours+candidates"] = round(time.perf_counter() - start, 2)
        log(f"{half}: candidates of {len(videos)} queries in {result.seconds['ours+candidates']} s")

    if reference is not None:
        start = time.perf_counter()
        ref = reference(videos, settings.seconds_per_hash)
        ref_listed = reference(originals, settings.list_sampling)
        listed_ref = {n: good_codes(ref_listed.get(n, [])) for n in originals}
        for name, codes in listed_ref.items():
            if len(codes) == 0:
                result.failures.append(f"reference original {name}: no good frame")
        result.frames["reference"] = sum(len(f) for f in ref.values()) + sum(
            len(f) for f in ref_listed.values()
        )
        for key in videos:
            kind, name, group = queries[key]
            codes = good_codes(ref.get(key, []))
            for listed, listed_c in listed_ref.items():
                q, c = vpdq_match_percents(codes, listed_c)
                result.pairs.append(Pair(half, "reference", kind, name, group, listed, q, c))
        result.seconds["reference"] = round(time.perf_counter() - start, 2)
        log(
            f"{half}: reference hashed {len(ref) + len(ref_listed)} videos in {result.seconds['reference']} s"
        )
    return result


def run_video_eval(
    corpus: VideoCorpus,
    edits: Sequence[VideoEdit],
    settings: VideoEvalSettings = VideoEvalSettings(),
    reference: Hasher | None = None,
    log: Callable[[str], None] = lambda _: None,
    candidates: bool = False,
) -> dict[str, HalfResult]:
    """Both halves; distractors alternate between them (by position), so each half's count is its own."""
    distractors = {
        "tuning": corpus.distractors[0::2],
        "held_back": corpus.distractors[1::2],
    }
    return {
        half: evaluate_half(half, groups, distractors[half], edits, settings, reference, log, candidates)
        for half, groups in (("tuning", corpus.tuning), ("held_back", corpus.held_back))
    }
