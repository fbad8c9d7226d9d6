"""One hash type's entries in the known-hash index, as the arrays the file stores.

A :class:`TypeIndex` holds, per entry (a distinct hash value of one type), its label set and, for a list
with ``item_id`` columns, the pictures it hashes (:class:`EntryItems`). The values themselves are a
:class:`~hashwatch.hashing.hamming_search.HammingTable` (perceptual types), sorted fixed-width keys searched by
bisection (exact types) or hex strings scanned with the type's own distance (linear plug-in types)::

    t = TypeIndex("md5", IndexKind.EXACT, 128, label_sets, exact_keys=sorted_keys)
    t.entry_hex(np.array([0, 1]))      # the entries' values as hex
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hashwatch.hashing.hamming_search import HammingTable
from hashwatch.hashing.hash_codes import codes_to_hex

__all__ = ["EntryItems", "TypeIndex"]


@dataclass
class EntryItems:
    """Entry -> items (CSR: ``items[offsets[i]:offsets[i + 1]]``) and item -> entries (``by_item`` sorted,
    ``by_item_entry`` the entry of each), both stored in the file so loading stays a memory map."""

    offsets: np.ndarray  # int64, entries + 1
    items: np.ndarray  # int32
    by_item: np.ndarray  # int32, sorted
    by_item_entry: np.ndarray  # int64
    # A listed video frame's timestamp in the video it links (float64, aligned with ``items``; NaN for a
    # picture); None when the list has no video
    times: np.ndarray | None = None

    @classmethod
    def build(
        cls, offsets: np.ndarray, items: np.ndarray, perm: np.ndarray | None, times: np.ndarray | None = None
    ) -> EntryItems:
        """From a merged list's CSR; ``perm`` reorders entries (new entry j is old entry ``perm[j]``)."""
        offsets = np.asarray(offsets, np.int64)
        items = np.asarray(items, np.int32)
        times = None if times is None else np.asarray(times, np.float64)
        if perm is not None:
            perm = np.asarray(perm, np.int64)
            counts = np.diff(offsets)[perm]
            new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            take = np.repeat(offsets[:-1][perm] - new_offsets[:-1], counts) + np.arange(int(counts.sum()))
            offsets, items = new_offsets, items[take]
            times = None if times is None else times[take]
        entry = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))
        order = np.argsort(items, kind="stable")
        return cls(
            offsets, items, np.ascontiguousarray(items[order]), np.ascontiguousarray(entry[order]), times
        )

    def of(self, pos: int) -> np.ndarray:
        return self.items[self.offsets[pos] : self.offsets[pos + 1]]

    def entries_of(self, items: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.by_item, items, side="left")
        hi = np.searchsorted(self.by_item, items, side="right")
        if not len(lo):
            return np.zeros(0, np.int64)
        return np.concatenate(
            [self.by_item_entry[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        )

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {
            f"{prefix}.item_offsets": self.offsets,
            f"{prefix}.items": self.items,
            f"{prefix}.by_item": self.by_item,
            f"{prefix}.by_item_entry": self.by_item_entry,
        }
        if self.times is not None:
            out[f"{prefix}.item_times"] = self.times
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> EntryItems | None:
        if f"{prefix}.item_offsets" not in arrays:
            return None
        return cls(
            arrays[f"{prefix}.item_offsets"],
            arrays[f"{prefix}.items"],
            arrays[f"{prefix}.by_item"],
            arrays[f"{prefix}.by_item_entry"],
            arrays.get(f"{prefix}.item_times"),
        )

    def with_items(self) -> int:
        """How many entries hash at least one item."""
        return int(np.count_nonzero(np.diff(self.offsets)))


@dataclass
class TypeIndex:
    name: str
    kind: str
    bits: int
    label_set: np.ndarray  # per entry, index into the index's label_sets
    hamming: HammingTable | None = None
    exact_keys: np.ndarray | None = None  # sorted 'S{n}' array
    linear_values: list[str] | None = None
    items: EntryItems | None = None  # which list pictures (item ids) each entry hashes; None without item ids
    # Listed videos' frames (pdq, from vpdq rows; None without): per entry 1 if it is a video frame (its
    # items are videos, items.times the frame's time in each), per item the video's label (-1: a picture)
    # and its count of distinct good frames (what Meta's compared_match_percent divides by)
    frame: np.ndarray | None = None
    video_label: np.ndarray | None = None
    video_frames: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.label_set.shape[0])

    def video_arrays(self) -> dict[str, np.ndarray]:
        """The video arrays as the file stores them (empty without video frames)."""
        if self.frame is None:
            return {}
        return {
            f"{self.name}.frame": self.frame,
            f"{self.name}.video_label": self.video_label,
            f"{self.name}.video_frames": self.video_frames,
        }

    def entry_hex(self, pos: np.ndarray) -> list[str]:
        if self.hamming is not None:
            return codes_to_hex(self.hamming.codes[pos], self.bits)
        if self.exact_keys is not None:
            nbytes = self.bits // 8
            return [bytes(self.exact_keys[p]).ljust(nbytes, b"\x00").hex() for p in pos]
        assert self.linear_values is not None
        return [self.linear_values[p] for p in pos]
