"""The value types of video hashing, shared by hashing, lists, the index, matching and the tables.

A vPDQ hash is a sequence of :class:`VpdqFrame` (Meta's vPDQ: one PDQ hash, with its quality, per sampled
frame, with the frame's position and timestamp)::

    frames = [VpdqFrame(0, 0.0, "e271...055c", 100), VpdqFrame(30, 1.0, "c0f1...055c", 98)]

:class:`TimeRange` is a span of a video in seconds (the ranges a vPDQ match covered).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TimeRange", "VpdqFrame"]


class VpdqFrame(NamedTuple):
    """One sampled frame's PDQ: ``frame_index`` in decode order (0-based), ``timestamp`` in seconds from the
    stream's start, ``pdq`` 64 lower-case hex digits, ``quality`` 0-100 (PDQ's; frames under the quality floor
    are kept in the hash and ignored by matching, as the reference does)."""

    frame_index: int
    timestamp: float
    pdq: str
    quality: int


class TimeRange(NamedTuple):
    """A span ``[start, end]`` of a video, in seconds."""

    start: float
    end: float
