"""Matching one video against the known-hash index: video MD5, Meta's vPDQ rule, and frames against images.

::

    index = KnownHashIndex.load("known.hwidx")
    for m in match_video(index, video_hashes):            # VideoHashes of hashwatch.video.hash_video
        print(m.match_kind, m.category, m.query_match_percent, m.matched_ranges)

Three kinds of :class:`VideoMatch`:

- ``exact`` (hash_type ``video_md5``): the video file's MD5 is listed (pytx's ``video_md5``).
- ``vpdq`` (hash_type ``vpdq``): Meta's rule (pytx ``vpdq_brute_matcher``, ``vpdq_util``). Frames under the
  quality floor (50) are ignored on both sides and each side's frames are deduplicated by hash. A query
  frame matches a listed video's frame within ``frame_distance`` (31) bits; ``query_match_percent`` is the
  share of the query's distinct good frames that match one of the listed video's, ``compared_match_percent``
  the share of the listed video's distinct good frames matched by one of the query's. A match needs
  ``query_match_percent >= 80`` and ``compared_match_percent >= 0`` (pytx's
  ``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT``, ``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT``; options).
- ``frame_to_image`` (hash_type ``pdq``): a good query frame within ``image_distance`` (PDQ's 31) bits of a
  listed *image* PDQ entry: a known picture shown inside the video. Beyond the reference.

All of a video's distinct good frame hashes are searched in one batched Hamming query of the PDQ index, whose
entries are image PDQ hashes and listed videos' frames (:mod:`hashwatch.hashing.list_videos`). Per match:

- ``list_hash``: the list's hash (``video_md5``, the image's PDQ) or, for ``vpdq``, the listed video's
  identity: its ``item_id`` (a whole-video row without one: ``vpdq-`` + 16 hex of its value's SHA-256);
- ``query_hash``, ``distance``, ``frame_index``, ``frame_time``: the query frame nearest the listed video's
  frames (vpdq) or the image (frame_to_image), the earliest among equals; for ``video_md5`` the MD5, 0, None;
- ``matched_ranges``: the spans of the query video whose sampled frames matched (vpdq: any of the listed
  video's frames; frame_to_image: the image), consecutive matched frames merged when no more than
  ``range_gap`` seconds apart (default 1.5 sampling intervals: one unmatched sample splits a range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

import numpy as np

from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.known_hash_list import ITEM_SEPARATOR
from hashwatch.video.frames import TimeRange, VpdqFrame
from hashwatch.video.video_hashes import VideoHashes

__all__ = ["VideoMatch", "VideoMatchOptions", "match_video", "matched_ranges"]

VPDQ_QUALITY_THRESHOLD = 50  # pytx's: frames under it are never compared
VPDQ_DISTANCE_THRESHOLD = 31  # pytx's per-frame PDQ distance
VPDQ_QUERY_MATCH_THRESHOLD_PERCENT = 80.0  # pytx's (vpdq_util.py, 2024-2026; an older version had 75)
VPDQ_INDEX_MATCH_THRESHOLD_PERCENT = 0.0  # pytx's


@dataclass(frozen=True)
class VideoMatchOptions:
    """The rule's knobs; defaults are the reference's (pytx) and PDQ's image threshold."""

    quality_floor: int = VPDQ_QUALITY_THRESHOLD
    frame_distance: int = VPDQ_DISTANCE_THRESHOLD
    query_match_percent: float = VPDQ_QUERY_MATCH_THRESHOLD_PERCENT
    compared_match_percent: float = VPDQ_INDEX_MATCH_THRESHOLD_PERCENT
    vpdq: bool = True  # Meta's rule against listed videos
    frame_to_image: bool = True  # good frames against listed image PDQ entries
    image_distance: int = 31  # PDQ's default threshold (docs/hashing.md)
    md5: bool = True
    range_gap: float | None = None  # seconds; None: 1.5 x the query's sampling interval


@dataclass(frozen=True)
class VideoMatch:
    """One match of a video (see the module's doc for each kind's fields)."""

    hash_type: str  # video_md5 | vpdq | pdq
    query_hash: str
    list_hash: str
    distance: int
    match_kind: str  # exact | vpdq | frame_to_image
    category: str | None
    source: str | None
    list_version: str | None
    item_id: str | None = None
    frame_index: int | None = None
    frame_time: float | None = None
    query_match_percent: float | None = None
    compared_match_percent: float | None = None
    matched_ranges: Sequence[TimeRange] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["matched_ranges"] = [list(r) for r in self.matched_ranges]
        return out


def matched_ranges(times: Sequence[float], gap: float) -> list[TimeRange]:
    """Timestamps (any order) merged into spans: a new span starts after a step of more than ``gap``."""
    out: list[TimeRange] = []
    for t in sorted(times):
        if out and t - out[-1].end <= gap:
            out[-1] = TimeRange(out[-1].start, t)
        else:
            out.append(TimeRange(t, t))
    return out


def _sampling_gap(frames: Sequence[VpdqFrame], options: VideoMatchOptions) -> float:
    if options.range_gap is not None:
        return options.range_gap
    times = sorted({f.timestamp for f in frames})
    steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    return 1.5 * (median(steps) if steps else 1.0)


class _Names:
    """Labels and item names of an index, for building matches."""

    def __init__(self, index: KnownHashIndex, item_names):
        self.labels = [tuple(x) for x in index.header["labels"]]
        self.label_sets = [tuple(x) for x in index.header["label_sets"]]
        self.item_names = item_names

    def item(self, item: int) -> tuple[str, str]:
        offsets, data = self.item_names
        name = bytes(data[offsets[item] : offsets[item + 1]]).decode(errors="replace")
        source, _, item_id = name.partition(ITEM_SEPARATOR)
        return source, item_id

    def item_id_for(self, t, pos: int, source: str | None) -> str | None:
        if t.items is None or self.item_names is None:
            return None
        for item in t.items.of(pos).tolist():
            item_source, item_id = self.item(int(item))
            if item_source == (source or ""):
                return item_id
        return None


def match_video(
    index: KnownHashIndex, video: VideoHashes, options: VideoMatchOptions | None = None
) -> list[VideoMatch]:
    """Every match of ``video``: its file digests first (``video_md5``, and the generic byte digests md5, sha1
    and sha256: a list may name a video file by any of them), then vpdq (by listed video), then
    frame_to_image."""
    options = options or VideoMatchOptions()
    out: list[VideoMatch] = []
    if options.md5:
        for hash_type, value in (
            ("video_md5", video.md5),
            ("md5", video.md5),
            ("sha1", video.sha1),
            ("sha256", video.sha256),
        ):
            if value:
                out.extend(_match_digest(index, hash_type, value))
    good = [f for f in video.vpdq if f.quality >= options.quality_floor]
    if not good:
        return out
    by_hash: dict[str, list[VpdqFrame]] = {}
    for frame in sorted(good, key=lambda f: (f.timestamp, f.frame_index)):
        by_hash.setdefault(frame.pdq, []).append(frame)
    uniques = list(by_hash)
    if not (options.vpdq or options.frame_to_image):
        return out
    radius = max(
        options.frame_distance if options.vpdq else 0, options.image_distance if options.frame_to_image else 0
    )
    t, hits, item_names = index.entry_hits("pdq", uniques, radius)  # one search for every frame
    if t is None:
        return out
    names = _Names(index, item_names)
    gap = _sampling_gap(video.vpdq, options)
    if options.vpdq:
        out.extend(_match_vpdq(t, names, uniques, hits, by_hash, options, gap))
    if options.frame_to_image:
        out.extend(_match_images(t, names, uniques, hits, by_hash, options, gap))
    return out


def _match_digest(index: KnownHashIndex, hash_type: str, value: str) -> list[VideoMatch]:
    t, hits, item_names = index.entry_hits(hash_type, [value.lower()])
    if t is None or not hits[0]:
        return []
    names = _Names(index, item_names)
    out = []
    for pos, _dist in hits[0]:
        list_hash = t.entry_hex(np.array([pos]))[0]
        for label in names.label_sets[int(t.label_set[pos])]:
            category, source, version = names.labels[label]
            out.append(
                VideoMatch(
                    hash_type,
                    value.lower(),
                    list_hash,
                    0,
                    "exact",
                    category,
                    source,
                    version,
                    item_id=names.item_id_for(t, pos, source),
                )  # fmt: skip
            )
    return out


def _best_frame(frames_by_dist: list[tuple[int, VpdqFrame]]) -> tuple[int, VpdqFrame]:
    return min(frames_by_dist, key=lambda df: (df[0], df[1].timestamp, df[1].frame_index))


def _match_vpdq(t, names: _Names, uniques, hits, by_hash, options: VideoMatchOptions, gap: float):
    if t.frame is None:
        return []
    matched_q: dict[int, set[int]] = {}  # listed video item -> query unique hashes matching its frames
    matched_e: dict[int, set[int]] = {}  # listed video item -> its frame entries matched
    best: dict[int, tuple[int, VpdqFrame]] = {}
    for u, found in enumerate(hits):
        for pos, dist in found:
            if dist > options.frame_distance or not t.frame[pos]:
                continue
            candidate = _best_frame([(dist, f) for f in by_hash[uniques[u]]])
            for item in t.items.of(pos).tolist():
                matched_q.setdefault(item, set()).add(u)
                matched_e.setdefault(item, set()).add(pos)
                if item not in best or _best_frame([best[item], candidate]) is candidate:
                    best[item] = candidate
    out = []
    for item in sorted(matched_q, key=names.item):
        listed_frames = int(t.video_frames[item])
        if listed_frames <= 0 or int(t.video_label[item]) < 0:
            continue
        query_pct = 100.0 * len(matched_q[item]) / len(uniques)
        compared_pct = 100.0 * len(matched_e[item]) / listed_frames
        if query_pct < options.query_match_percent or compared_pct < options.compared_match_percent:
            continue
        category, source, version = names.labels[int(t.video_label[item])]
        _source, item_id = names.item(item)
        dist, frame = best[item]
        times = [f.timestamp for u in matched_q[item] for f in by_hash[uniques[u]]]
        out.append(
            VideoMatch(
                hash_type="vpdq",
                query_hash=frame.pdq,
                list_hash=item_id,
                distance=dist,
                match_kind="vpdq",
                category=category,
                source=source,
                list_version=version,
                item_id=item_id,
                frame_index=frame.frame_index,
                frame_time=frame.timestamp,
                query_match_percent=round(query_pct, 3),
                compared_match_percent=round(compared_pct, 3),
                matched_ranges=tuple(matched_ranges(times, gap)),
            )
        )
    return out


def _match_images(t, names: _Names, uniques, hits, by_hash, options: VideoMatchOptions, gap: float):
    frames_of: dict[int, list[tuple[int, VpdqFrame]]] = {}  # image entry -> (distance, query frame)
    for u, found in enumerate(hits):
        for pos, dist in found:
            if dist > options.image_distance or (t.frame is not None and t.frame[pos]):
                continue
            frames_of.setdefault(pos, []).extend((dist, f) for f in by_hash[uniques[u]])
    if not frames_of:
        return []
    positions = sorted(frames_of)
    hexes = dict(zip(positions, t.entry_hex(np.array(positions, np.int64)), strict=True))
    out = []
    for pos in sorted(positions, key=lambda p: (_best_frame(frames_of[p])[0], hexes[p])):
        dist, frame = _best_frame(frames_of[pos])
        ranges = tuple(matched_ranges([f.timestamp for _, f in frames_of[pos]], gap))
        for label in names.label_sets[int(t.label_set[pos])]:
            category, source, version = names.labels[label]
            out.append(
                VideoMatch(
                    hash_type="pdq",
                    query_hash=frame.pdq,
                    list_hash=hexes[pos],
                    distance=dist,
                    match_kind="frame_to_image",
                    category=category,
                    source=source,
                    list_version=version,
                    item_id=names.item_id_for(t, pos, source),
                    frame_index=frame.frame_index,
                    frame_time=frame.timestamp,
                    matched_ranges=ranges,
                )
            )
    return out


def video_digests_mapping(video: VideoHashes) -> dict[str, str | None]:
    """``{type: hex}`` of a video's file digests, for the allowlist's known-innocent entries (``md5``,
    ``sha1``, ``sha256`` of the file, as an image's)."""
    return {"md5": video.md5, "sha1": video.sha1, "sha256": video.sha256}


def video_match_options(
    thresholds=None,
    hash_types=None,
    query_percent: float | None = None,
    compared_percent: float | None = None,
) -> VideoMatchOptions:
    """The video rule's options from the matching flags every command shares: ``--threshold vpdq=N`` (a frame
    against a listed video's), ``pdq=N`` (a frame against a listed image), ``--match-types`` (``video_md5``,
    ``vpdq``, ``pdq``; None: all), ``--vpdq-query-percent`` and ``--vpdq-compared-percent``. A percentage
    outside 0-100 is a :class:`~hashwatch.errors.UserError` naming its flag."""
    from hashwatch.errors import UserError

    defaults = VideoMatchOptions()
    thresholds = thresholds or {}
    for flag, value in (
        ("--vpdq-query-percent", query_percent),
        ("--vpdq-compared-percent", compared_percent),
    ):
        if value is not None and not 0 <= value <= 100:
            raise UserError(f"{flag} must be between 0 and 100, got {value}")
    return VideoMatchOptions(
        frame_distance=thresholds.get("vpdq", defaults.frame_distance),
        image_distance=thresholds.get("pdq", defaults.image_distance),
        query_match_percent=defaults.query_match_percent if query_percent is None else query_percent,
        compared_match_percent=(
            defaults.compared_match_percent if compared_percent is None else compared_percent
        ),
        md5=hash_types is None or "video_md5" in hash_types,
        vpdq=hash_types is None or "vpdq" in hash_types,
        frame_to_image=hash_types is None or "pdq" in hash_types,
    )
