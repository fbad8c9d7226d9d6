"""The ``vpdq`` rows of known-hash lists merged into videos, and their frames into PDQ index entries.

A listed video is keyed by (source, item_id); a whole-video row without an ``item_id`` gets a derived one,
:func:`derived_item_id` (``vpdq-`` and 16 hex digits of the SHA-256 of its value), so the same serialisation
is the same video. Rows apply in order, as every list row does:

- a whole-video row (pytx's JSON list) sets the video's frames (a later one replaces them);
- a one-frame row (``pdq_hex,quality,timestamp``, its ``item_id`` naming the video) adds a frame;
- a ``deleted=true`` row removes the video (every frame; an empty source: that item_id in every source);
- the video's label (category, source, list_version) is its last row's.

Only frames at or over the quality floor (50, pytx's) are indexed, once per distinct hash per video, with
the first timestamp it has: exactly what Meta's rule compares (its frames deduplicated and quality-filtered).
A video with no good frame cannot match by vPDQ and is not indexed. :func:`frame_entries` groups the
frames of all videos by hash: one PDQ index entry per distinct frame hash, linked to every video that has
it (the index's items), with that video's timestamp::

    videos = merge_video_rows(rows)                 # {(source, item_id): ListedVideo}
    entries = frame_entries(videos)                 # FrameEntries: values, labels, items, times
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "VPDQ_LIST_QUALITY",
    "FrameEntries",
    "ListedVideo",
    "VideoRow",
    "derived_item_id",
    "frame_entries",
    "merge_video_rows",
]

VPDQ_LIST_QUALITY = 50  # pytx's VPDQ_QUALITY_THRESHOLD: listed frames under it are never compared


def derived_item_id(value: str) -> str:
    """The item id of a whole-video row that names none: ``vpdq-`` + 16 hex digits of SHA-256(value)."""
    return "vpdq-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class VideoRow:
    """One validated ``vpdq`` list row (already in file order across files)."""

    value: str
    source: str
    item_id: str
    label: int  # the row's label number (category, source, list_version)
    item: int  # the (source, item_id) pair's number in the list's items
    deleted: bool


@dataclass
class ListedVideo:
    label: int
    item: int
    # pdq hex -> first timestamp among good frames (insertion order = frame order)
    frames: dict[str, float] = field(default_factory=dict)


def merge_video_rows(rows: Iterable[VideoRow]) -> dict[tuple[str, str], ListedVideo]:
    """The videos the rows leave listed (see the module's rules), by (source, item_id)."""
    from hashwatch.video.vpdq_format import json_to_vpdq, parse_feature

    videos: dict[tuple[str, str], ListedVideo] = {}
    for row in rows:
        key = (row.source, row.item_id)
        if row.deleted:
            if row.source:
                videos.pop(key, None)
            else:
                for other in [k for k in videos if k[1] == row.item_id]:
                    del videos[other]
            continue
        whole = row.value.startswith("[")
        frames = json_to_vpdq(row.value) if whole else [parse_feature(row.value)]
        video = videos.get(key)
        if video is None or whole:
            video = videos[key] = ListedVideo(row.label, row.item)
        video.label = row.label
        for frame in frames:
            if frame.quality >= VPDQ_LIST_QUALITY:
                old = video.frames.get(frame.pdq)
                if old is None or frame.timestamp < old:
                    video.frames[frame.pdq] = frame.timestamp
    return videos


@dataclass
class FrameEntries:
    """Distinct frame hashes of the listed videos, sorted: ``values`` (n x 32 uint8), each one's labels
    (sorted label numbers), its videos as CSR (``item_offsets``, ``items`` sorted) with the frame's
    timestamp in that video (``times``, aligned with ``items``); and per video item its label and its count
    of distinct good frames (``video_items``, ``video_labels``, ``video_frames``)."""

    values: np.ndarray
    labels: list[tuple[int, ...]]
    item_offsets: np.ndarray
    items: np.ndarray
    times: np.ndarray
    video_items: np.ndarray
    video_labels: np.ndarray
    video_frames: np.ndarray


def frame_entries(videos: dict[tuple[str, str], ListedVideo]) -> FrameEntries:
    """Group the videos' good frames by hash (one entry per distinct hash)."""
    by_hash: dict[str, list[tuple[int, float, int]]] = {}
    kept = [v for v in videos.values() if v.frames]
    for video in kept:
        for pdq, timestamp in video.frames.items():
            by_hash.setdefault(pdq, []).append((video.item, timestamp, video.label))
    hexes = sorted(by_hash)
    values = (
        np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32).copy()
        if hexes
        else np.zeros((0, 32), np.uint8)
    )
    labels: list[tuple[int, ...]] = []
    offsets = [0]
    items: list[int] = []
    times: list[float] = []
    for pdq in hexes:
        links = sorted(by_hash[pdq])
        labels.append(tuple(sorted({lab for _, _, lab in links})))
        seen: set[int] = set()
        for item, timestamp, _ in links:
            if item not in seen:  # two listed videos of one (source, item_id) cannot exist: one link each
                seen.add(item)
                items.append(item)
                times.append(timestamp)
        offsets.append(len(items))
    kept.sort(key=lambda v: v.item)
    return FrameEntries(
        values=values,
        labels=labels,
        item_offsets=np.asarray(offsets, np.int64),
        items=np.asarray(items, np.int64),
        times=np.asarray(times, np.float64),
        video_items=np.asarray([v.item for v in kept], np.int64),
        video_labels=np.asarray([v.label for v in kept], np.int64),
        video_frames=np.asarray([len(v.frames) for v in kept], np.int64),
    )
