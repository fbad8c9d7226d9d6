"""Meta's vPDQ rule by brute force, written from python-threatexchange's description, for hashes that never
go through an index (the reference implementation's) and as a cross-check of the product's
:func:`hashwatch.video.video_match.match_video`.

pytx's ``vpdq_brute_matcher.match_VPDQ_hash_brute``: frames under the quality floor (50) are dropped from
both videos, each video's frames are deduplicated by hash, and a frame of one video counts as matched when
any frame of the other is within the distance (31 bits). ``query_match_percent`` is the share of the query's
distinct good frames matched, ``compared_match_percent`` the share of the compared video's. pytx calls a
pair a match when ``query_match_percent >= 80`` and ``compared_match_percent >= 0``::

    q, c = vpdq_match_percents(query_frames, listed_frames)
    found = q >= 80.0

A video without a good frame matches nothing (both percentages 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashwatch.video.frames import VpdqFrame

__all__ = ["QUALITY_FLOOR", "FRAME_DISTANCE", "good_codes", "vpdq_match_percents"]

QUALITY_FLOOR = 50
FRAME_DISTANCE = 31
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def good_codes(frames: Sequence[VpdqFrame], quality_floor: int = QUALITY_FLOOR) -> np.ndarray:
    """The distinct PDQ hashes of the frames of quality >= the floor, as an ``n x 32`` uint8 array."""
    distinct = sorted({f.pdq for f in frames if f.quality >= quality_floor})
    if not distinct:
        return np.zeros((0, 32), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(distinct)), np.uint8).reshape(len(distinct), 32)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances of two code arrays (``len(a) x len(b)``)."""
    return _POPCOUNT[np.bitwise_xor(a[:, None, :], b[None, :, :])].sum(axis=2, dtype=np.int32)


def vpdq_match_percents(
    query: Sequence[VpdqFrame] | np.ndarray,
    compared: Sequence[VpdqFrame] | np.ndarray,
    distance: int = FRAME_DISTANCE,
    quality_floor: int = QUALITY_FLOOR,
) -> tuple[float, float]:
    """(query_match_percent, compared_match_percent) of two vPDQ hashes (frames, or :func:`good_codes`)."""
    q = query if isinstance(query, np.ndarray) else good_codes(query, quality_floor)
    c = compared if isinstance(compared, np.ndarray) else good_codes(compared, quality_floor)
    if len(q) == 0 or len(c) == 0:
        return 0.0, 0.0
    within = distances(q, c) <= distance
    return float(100.0 * within.any(axis=1).sum() / len(q)), float(100.0 * within.any(axis=0).sum() / len(c))
