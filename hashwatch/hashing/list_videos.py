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


def merge_video_rows(
    rows: Iterable[VideoRow], removed: list[int] | None = None
) -> dict[tuple[str, str], ListedVideo]:
    """The videos the rows leave listed (see the module's rules), by (source, item_id). ``removed`` (a
    one-element list) counts the videos tombstones removed, for the build report."""
    from hashwatch.video.vpdq_format import json_to_vpdq, parse_feature

    videos: dict[tuple[str, str], ListedVideo] = {}
    for row in rows:
        key = (row.source, row.item_id)
        if row.deleted:
            gone = [key] if row.source else [k for k in videos if k[1] == row.item_id]
            for other in gone:
                if videos.pop(other, None) is not None and removed is not None:
                    removed[0] += 1
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
    removed: int = 0  # listed videos tombstones removed


def frame_entries(videos: dict[tuple[str, str], ListedVideo]) -> FrameEntries:
    """Group the videos' good frames by hash (one entry per distinct hash)."""
    kept = [v for v in videos.values() if v.frames]
    hexes: list[str] = []
    link_item: list[int] = []
    link_time: list[float] = []
    link_label: list[int] = []
    for video in kept:  # one link per (video, distinct good frame hash)
        hexes.extend(video.frames)
        link_time.extend(video.frames.values())
        link_item.extend([video.item] * len(video.frames))
        link_label.extend([video.label] * len(video.frames))
    raw = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    # Grouped by hash with numpy (a Python loop per frame took 6 of 10 s for 600 k frames)
    uniq, entry = np.unique(np.ascontiguousarray(raw).view("V32").reshape(-1), return_inverse=True)
    entry = entry.reshape(-1)
    items_np, times_np, labels_np = (np.asarray(x) for x in (link_item, link_time, link_label))
    order = np.lexsort((items_np, entry))  # by entry, then by item (a video has each hash once)
    counts = np.bincount(entry, minlength=uniq.size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sorted_labels = labels_np[order] if labels_np.size else np.zeros(0, np.int64)
    labels: list[tuple[int, ...]] = (
        [(int(x),) for x in sorted_labels[offsets[:-1]].tolist()] if uniq.size else []
    )
    for e in np.nonzero(counts > 1)[0].tolist():
        labels[e] = tuple(sorted({int(x) for x in sorted_labels[offsets[e] : offsets[e + 1]].tolist()}))
    values = (
        np.ascontiguousarray(uniq).view(np.uint8).reshape(-1, 32)
        if uniq.size
        else np.zeros((0, 32), np.uint8)
    )
    items = items_np[order].astype(np.int64) if items_np.size else np.zeros(0, np.int64)
    times = times_np[order].astype(np.float64) if times_np.size else np.zeros(0, np.float64)
    kept.sort(key=lambda v: v.item)
    return FrameEntries(
        values=values,
        labels=labels,
        item_offsets=offsets,
        items=items,
        times=times,
        video_items=np.asarray([v.item for v in kept], np.int64),
        video_labels=np.asarray([v.label for v in kept], np.int64),
        video_frames=np.asarray([len(v.frames) for v in kept], np.int64),
    )
