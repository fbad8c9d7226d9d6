"""Building the known-hash index from lists: load and merge them, compile each hash type, write the file.

::

    report = build_index(["iwf.csv", "ncmec.parquet"], "known.hwidx")   # one UserError line on a bad row
    print(report.entries, report.checksum, report.skipped_text())

Each hash type is compiled by its ``index_kind``: a :class:`~hashwatch.hashing.hamming_search.HammingTable`
planned for the type's default threshold (perceptual types), sorted keys (exact types), or the values as they
are (linear plug-in types).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashwatch.hashing.hamming_search import DEFAULT_MEMORY_BUDGET, HammingTable
from hashwatch.hashing.hash_codes import bytes_to_codes
from hashwatch.hashing.hash_types import IndexKind, get_hash_type
from hashwatch.hashing.index_entries import EntryItems, TypeIndex
from hashwatch.hashing.index_file import FORMAT_VERSION, LAYOUT_FORMAT_VERSION, VIDEO_FORMAT_VERSION
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.known_hash_list import MergedList, item_name_buffers, load_lists

__all__ = ["BuildReport", "build_index", "compile_index"]


@dataclass(frozen=True)
class BuildReport:
    """What a build did: counts per type, rows read/skipped, the checksum, and where it wrote."""

    out_path: str
    checksum: str
    list_versions: Mapping[str, str]
    entries: Mapping[str, int]
    rows_read: int
    rows_skipped: int
    skipped_by_reason: Mapping[str, int]
    tombstones_applied: int
    files: Sequence[Mapping[str, Any]]
    seconds: float
    items: int = 0  # pictures the rows' item_id columns name (distinct source, item_id)
    skipped_examples: Sequence[str] = ()  # the first few rows --skip-invalid skipped: "file:line: why"
    videos: int = 0  # listed videos (vpdq rows) indexed: their good frames are pdq entries

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def skipped_text(self) -> str | None:
        """One line saying what ``--skip-invalid`` skipped, naming the first rows; None if nothing was."""
        if not self.rows_skipped:
            return None
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped_by_reason.items()))
        more = " ..." if self.rows_skipped > len(self.skipped_examples) else ""
        return (
            f"--skip-invalid skipped {self.rows_skipped} of {self.rows_read} list rows ({reasons}): "
            + "; ".join(self.skipped_examples)
            + more
        )


def compile_index(merged: MergedList, *, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> KnownHashIndex:
    """Compile a merged list in memory (:func:`build_index` then writes it)."""
    types: dict[str, TypeIndex] = {}
    layout: dict[str, Any] = {}
    for name, entries in merged.types.items():
        ht = get_hash_type(name)
        if ht.index_kind == IndexKind.HAMMING:
            codes = bytes_to_codes(entries.values, ht.bits)
            table, perm = HammingTable.build(
                ht.bits, codes, max(ht.default_threshold, 1), memory_budget=memory_budget
            )
            t = TypeIndex(name, ht.index_kind, ht.bits, entries.label_sets[perm], hamming=table)
            layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size, **table.layout()}
            order = perm
        elif ht.index_kind == IndexKind.EXACT:
            keys = np.ascontiguousarray(entries.values).view(f"S{entries.values.shape[1]}").reshape(-1)
            order = np.argsort(keys, kind="stable")
            t = TypeIndex(name, ht.index_kind, ht.bits, entries.label_sets[order], exact_keys=keys[order])
            layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size}
        elif ht.index_kind == IndexKind.LINEAR:
            values = [bytes(v).hex() for v in entries.values]
            t = TypeIndex(name, ht.index_kind, ht.bits, entries.label_sets, linear_values=values)
            layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size}
            order = None
        else:
            continue
        layout[name]["default_threshold"] = ht.default_threshold
        if entries.items is not None:
            t.items = EntryItems.build(entries.item_offsets, entries.items, order, entries.item_times)
            layout[name]["with_items"] = t.items.with_items()
        if entries.frame is not None:  # listed videos' frames among the pdq entries (vpdq rows)
            t.frame = np.ascontiguousarray(
                entries.frame if order is None else entries.frame[order], dtype=np.uint8
            )
            t.video_label = np.asarray(entries.video_label, np.int32)
            t.video_frames = np.asarray(entries.video_frames, np.int32)
            layout[name]["frames"] = int(t.frame.sum())
        types[name] = t
    from hashwatch import __version__

    videos = any(t.frame is not None for t in types.values())
    layout3 = any(t.hamming is not None and t.hamming.format_version() >= 3 for t in types.values())
    header = {
        "format_version": LAYOUT_FORMAT_VERSION
        if layout3
        else VIDEO_FORMAT_VERSION
        if videos
        else FORMAT_VERSION,
        "hashwatch_version": __version__,
        "checksum": merged.checksum,
        "list_versions": dict(merged.list_versions),
        "files": list(merged.files),
        "types": layout,
        "labels": [list(x) for x in merged.labels],
        "label_sets": [list(x) for x in merged.label_sets],
        "items": merged.items,
    }
    if videos:
        header["videos"] = merged.videos
    names = item_name_buffers(merged.item_names) if merged.item_names is not None else None
    return KnownHashIndex(header, types, item_names=names)


def build_index(
    list_paths: Sequence[str],
    out_path: str,
    *,
    skip_invalid: bool = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> BuildReport:
    """Load, validate and merge the lists, compile the index and write it to ``out_path`` (atomically).

    Raises UserError (one line, naming file and line) on the first invalid row unless ``skip_invalid``.
    """
    start = time.perf_counter()
    merged = load_lists(list_paths, skip_invalid=skip_invalid)
    index = compile_index(merged, memory_budget=memory_budget)
    index.save(out_path)
    return BuildReport(
        out_path=out_path,
        checksum=merged.checksum,
        list_versions=dict(merged.list_versions),
        entries={name: index.size(name) for name in index.hash_types},
        rows_read=merged.rows_read,
        rows_skipped=merged.rows_skipped,
        skipped_by_reason=dict(merged.skipped_by_reason),
        skipped_examples=list(merged.skipped_examples),
        tombstones_applied=merged.tombstones_applied,
        files=list(merged.files),
        seconds=round(time.perf_counter() - start, 3),
        items=merged.items,
        videos=merged.videos,
    )
