"""Known-hash lists merged: the entries an index is built from, read from list files in order.

Each file is read and validated by :mod:`~hashwatch.hashing.list_file` (formats, columns, one-line errors)::

    merged = load_lists(["iwf.csv", "ncmec.parquet"], skip_invalid=False)
    merged.types["pdq"].values, merged.checksum, merged.list_versions

**Merging** (files in the order given, rows in file order): entries are keyed by (hash type, hash value,
source). The last row for a key wins: a later row can re-categorise an entry, a ``deleted=true`` row (a
tombstone) removes it, and a later add brings it back. A tombstone with an empty source removes that hash for
every source seen before it. A hash kept for several sources carries all their labels (category, source,
list_version). The ``checksum`` is a SHA-256 of the merged content (types, values, labels), independent of
file formats and of row order that does not change the result; ``list_versions`` maps each source to the
list_version of its last row. Rows of one source with the same ``item_id`` hash one picture: the merge keeps
which pictures each entry hashes (``TypeEntries.items``), for corroboration.

``vpdq`` rows are videos, merged by :mod:`~hashwatch.hashing.list_videos` (keyed by source and item_id);
their distinct good frames are appended to the ``pdq`` entries, flagged (``TypeEntries.frame``) and linked
to their videos as items, so one Hamming table serves images and video frames.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import get_hash_type
from hashwatch.hashing.list_file import ListRows, SkipTally, read_list
from hashwatch.hashing.list_videos import VideoRow, derived_item_id, frame_entries, merge_video_rows

__all__ = ["ITEM_SEPARATOR", "MergedList", "TypeEntries", "item_name_buffers", "load_lists"]

ITEM_SEPARATOR = "\x1f"  # between source and item_id in an item's name


@dataclass
class TypeEntries:
    """One hash type's merged entries: ``values`` (n x bytes, sorted, unique) and each one's label set id."""

    values: np.ndarray
    label_sets: np.ndarray
    # The pictures (items) each entry hashes, as CSR: entry i's item numbers are
    # ``items[item_offsets[i]:item_offsets[i + 1]]`` (sorted). None when the merged list has no item ids.
    item_offsets: np.ndarray | None = None
    items: np.ndarray | None = None
    # Video frames (pdq only, when a list has vpdq rows): which entries are listed videos' frames (bool per
    # entry; their items are videos), each (entry, item) link's frame timestamp (NaN for a picture), and per
    # item its video's label and count of distinct good frames (-1 and 0 for a picture).
    frame: np.ndarray | None = None
    item_times: np.ndarray | None = None
    video_label: np.ndarray | None = None
    video_frames: np.ndarray | None = None


@dataclass
class MergedList:
    types: dict[str, TypeEntries]
    labels: list[tuple[str | None, str | None, str | None]]  # (category, source, list_version)
    label_sets: list[tuple[int, ...]]
    list_versions: dict[str, str]
    checksum: str
    files: list[dict[str, Any]]
    rows_read: int = 0
    rows_skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)  # the first few skipped rows: "file:line: why"
    tombstones_applied: int = 0
    items: int = 0  # distinct (source, item_id) pairs among the kept entries
    # Those pairs as ``source + ITEM_SEPARATOR + item_id``, in item-number order (pyarrow); None without items.
    item_names: Any = None
    videos: int = 0  # listed videos (vpdq) with at least one good frame, their frames in types["pdq"]


# ---------------------------------------------------------------- merging


_HEX_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i


def _hex_to_bytes(col, nbytes: int) -> np.ndarray:
    """A large_string column of validated, equal-length lower-case hex as an (n, nbytes) uint8 array."""
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, nbytes), dtype=np.uint8)
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    nib = _HEX_LUT[data].reshape(n, 2 * nbytes)
    return (nib[:, 0::2] << 4) | nib[:, 1::2]


def load_lists(paths: Sequence[str], *, skip_invalid: bool = False) -> MergedList:
    """Read, validate and merge list files (in this order) into the entries the index is built from."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not paths:
        raise UserError("no list files given")
    skipped = SkipTally()
    parts: list[ListRows] = []
    files: list[dict[str, Any]] = []
    for path in paths:
        before = sum(skipped.values())
        if os.path.isdir(path):
            raise UserError(f"{path} is a folder: give list files (a shell glob such as {path}/*.csv works)")
        try:
            rows = read_list(path, skip_invalid=skip_invalid, skipped=skipped)
        except OSError as exc:  # permissions, a file that vanished, an I/O error: never a traceback
            raise UserError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
        parts.append(rows)
        files.append(
            {
                "path": os.path.basename(path),
                "sha256": _file_sha256(path),
                "rows": len(rows.deleted),
                "skipped": sum(skipped.values()) - before,
                "tombstones": int(rows.deleted.sum()),
            }
        )
    htype = pa.chunked_array([p.hash_type for p in parts], pa.large_string()).combine_chunks()
    hval = pa.chunked_array([p.hash_value for p in parts], pa.large_string()).combine_chunks()
    category = pa.chunked_array([p.category for p in parts], pa.large_string()).combine_chunks()
    source = pa.chunked_array([p.source for p in parts], pa.large_string()).combine_chunks()
    version = pa.chunked_array([p.list_version for p in parts], pa.large_string()).combine_chunks()
    item_id = pa.chunked_array([p.item_id for p in parts], pa.large_string()).combine_chunks()
    deleted = np.concatenate([p.deleted for p in parts]) if parts else np.zeros(0, bool)
    n = len(htype)
    types_np = np.asarray(htype.to_numpy(zero_copy_only=False), dtype=object) if n else np.array([], object)
    video_rows = np.nonzero(types_np == "vpdq")[0] if n else np.zeros(0, np.int64)
    if video_rows.size:  # a whole-video row without an item_id names its video by its value
        ids = np.asarray(item_id.to_numpy(zero_copy_only=False), dtype=object)
        vals = hval.to_numpy(zero_copy_only=False)
        for r in video_rows[ids[video_rows] == ""]:
            ids[r] = derived_item_id(vals[r])
        item_id = pa.array(ids.tolist(), pa.large_string())
    seq = np.arange(n, dtype=np.int64)

    # Labels: distinct (category, source, list_version) triples, numbered in sorted order (stable checksum).
    key = pc.binary_join_element_wise(category, source, version, pa.scalar("\x1f", pa.large_string()))
    enc = pc.dictionary_encode(key) if n else None
    uniq = enc.dictionary.to_pylist() if n else []
    triples = [tuple((x or None) for x in s.split("\x1f")) for s in uniq]
    order = sorted(range(len(triples)), key=lambda i: tuple(x or "" for x in triples[i]))
    rank = np.empty(len(triples), dtype=np.int64)
    rank[order] = np.arange(len(triples))
    labels = [triples[i] for i in order]
    row_label = rank[enc.indices.to_numpy(zero_copy_only=False)] if n else np.zeros(0, np.int64)
    src_enc = pc.dictionary_encode(source) if n else None
    src_names = src_enc.dictionary.to_pylist() if n else []
    row_src = src_enc.indices.to_numpy(zero_copy_only=False).astype(np.int64) if n else np.zeros(0, np.int64)
    no_source = np.array([s == "" for s in src_names], dtype=bool)
    # Items: distinct (source, item_id) pairs, numbered in sorted order; -1 for a row without an item_id.
    row_item, item_rank, sorted_keys = _row_items(source, item_id)

    # list_versions: per source, the list_version of its last row that has one.
    list_versions: dict[str, str] = {}
    versions_np = version.to_numpy(zero_copy_only=False) if n else np.array([], object)
    has_version = versions_np != "" if n else np.zeros(0, bool)
    for s_id in np.unique(row_src[has_version]) if n else []:
        name = src_names[s_id]
        if name:
            last = np.nonzero((row_src == s_id) & has_version)[0][-1]
            list_versions[name] = str(versions_np[last])

    label_set_ids: dict[tuple[int, ...], int] = {}
    merged_types: dict[str, TypeEntries] = {}
    removed_total = 0
    for name in sorted(set(types_np.tolist()) - {"vpdq"}):  # vpdq: videos, merged below
        ht = get_hash_type(name)
        rows = np.nonzero(types_np == name)[0]
        nbytes = ht.bits // 8
        raw = _hex_to_bytes(pc.take(hval, pa.array(rows)), nbytes)
        keys = np.ascontiguousarray(raw).view(f"V{nbytes}").reshape(-1)
        uvals, vid = np.unique(keys, return_inverse=True)
        vid = vid.reshape(-1)
        r_src, r_seq, r_del, r_lab = row_src[rows], seq[rows], deleted[rows], row_label[rows]
        # Last event per (value, source).
        o = np.lexsort((r_seq, r_src, vid))
        vid_o, src_o = vid[o], r_src[o]
        last = np.ones(o.size, dtype=bool)
        last[:-1] = (vid_o[1:] != vid_o[:-1]) | (src_o[1:] != src_o[:-1])
        final = o[last]
        # Whether each (value, source) group ever had an add: only such groups can be "removed".
        first = np.concatenate([[True], last[:-1]])
        had_add = np.maximum.reduceat((~r_del[o]).astype(np.int8), np.nonzero(first)[0]).astype(bool)
        # Source-less tombstones remove every earlier entry of that value.
        wipe = np.full(uvals.size, -1, dtype=np.int64)
        sourceless_del = r_del & no_source[r_src] if no_source.size else np.zeros(rows.size, bool)
        np.maximum.at(wipe, vid[sourceless_del], r_seq[sourceless_del])
        alive = ~r_del[final] & (r_seq[final] > wipe[vid[final]])
        removed_total += int((had_add & ~alive).sum())
        kept = final[alive]
        kept = kept[np.argsort(vid[kept], kind="stable")]
        kvid = vid[kept]
        klab = r_lab[kept]
        if kvid.size == 0:
            continue
        starts = np.concatenate([[0], np.nonzero(kvid[1:] != kvid[:-1])[0] + 1])
        ends = np.concatenate([starts[1:], [kvid.size]])
        present = kvid[starts]
        sets = np.empty(present.size, dtype=np.int32)
        single = (ends - starts) == 1
        for lab in np.unique(klab[starts[single]]):
            sid = label_set_ids.setdefault((int(lab),), len(label_set_ids))
            sets[single & (klab[starts] == lab)] = sid
        for j in np.nonzero(~single)[0]:
            combo = tuple(sorted({int(x) for x in klab[starts[j] : ends[j]]}))
            sets[j] = label_set_ids.setdefault(combo, len(label_set_ids))
        values = np.ascontiguousarray(uvals[present]).view(np.uint8).reshape(-1, nbytes)
        merged_types[name] = TypeEntries(values=values, label_sets=sets)
        if item_rank.size:
            # An entry's pictures: the item_ids of every add row of a kept (value, source) since its last
            # tombstone (a source may list one hash for several pictures: near-identical ones).
            group = np.cumsum(first) - 1  # of each row in o
            r_del_o = r_del[o]
            tomb = np.maximum.reduceat(np.where(r_del_o, r_seq[o], -1), np.nonzero(first)[0])
            row_item_o = row_item[rows][o]
            linked = (
                ~r_del_o
                & (r_seq[o] > tomb[group])
                & (r_seq[o] > wipe[vid_o])
                & alive[group]
                & (row_item_o >= 0)
            )
            entry = np.searchsorted(present, vid_o[linked])
            ranks = item_rank[row_item_o[linked]]
            pairs = (
                np.unique(np.stack([entry, ranks], axis=1), axis=0)
                if entry.size
                else np.zeros((0, 2), np.int64)
            )
            counts = np.bincount(pairs[:, 0], minlength=present.size)
            merged_types[name].item_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            merged_types[name].items = pairs[:, 1].astype(np.int64)

    videos = None
    if video_rows.size:
        videos = _add_video_frames(
            merged_types,
            video_rows,
            hval,
            source,
            item_id,
            deleted,
            row_label,
            row_item,
            item_rank,
            label_set_ids,
        )
        removed_total += videos.removed
    # Keep only labels still in use (a tombstone's own label is not), then renumber label sets in sorted
    # order, so the checksum depends on the merged content only.
    used = sorted({lab for s in label_set_ids for lab in s})
    new_label = {old: new for new, old in enumerate(used)}
    labels = [labels[old] for old in used]
    remapped = {s: tuple(new_label[x] for x in s) for s in label_set_ids}
    set_list = sorted(set(remapped.values()))
    set_pos = {s: i for i, s in enumerate(set_list)}
    renumber = np.empty(len(label_set_ids), dtype=np.int32)
    for s, old_id in label_set_ids.items():
        renumber[old_id] = set_pos[remapped[s]]
    for entries in merged_types.values():
        entries.label_sets = renumber[entries.label_sets]
    used_items = _renumber_items(merged_types)
    if videos is not None and "pdq" in merged_types:  # per item (new numbers): its video's label and frames
        pdq = merged_types["pdq"]
        pdq.video_label = np.full(used_items.size, -1, np.int32)
        pdq.video_frames = np.zeros(used_items.size, np.int32)
        at = np.searchsorted(used_items, videos.video_items)
        pdq.video_label[at] = [new_label[int(x)] for x in videos.video_labels]
        pdq.video_frames[at] = videos.video_frames
    item_names = sorted_keys.take(pa.array(used_items)) if used_items.size else None
    checksum = _checksum(merged_types, labels, set_list, item_names)
    return MergedList(
        types=merged_types,
        labels=labels,
        label_sets=set_list,
        list_versions=list_versions,
        checksum=checksum,
        files=files,
        rows_read=n + sum(skipped.values()),
        rows_skipped=sum(skipped.values()),
        skipped_by_reason=dict(skipped),
        skipped_examples=list(skipped.examples),
        tombstones_applied=removed_total,
        items=int(used_items.size),
        item_names=item_names,
        videos=int(videos.video_items.size) if videos is not None else 0,
    )


def _add_video_frames(
    types, video_rows, hval, source, item_id, deleted, row_label, row_item, item_rank, set_ids
):
    """Merge the vpdq rows into videos (:mod:`~hashwatch.hashing.list_videos`) and append their distinct
    frames to the pdq entries (``frame`` marks them; their items are the videos, with each frame's time).
    ``set_ids`` numbers label sets as the rest of the merge does. Returns the videos' per-item facts."""
    vals = hval.to_numpy(zero_copy_only=False)
    srcs = source.to_numpy(zero_copy_only=False)
    ids = item_id.to_numpy(zero_copy_only=False)
    rows = (
        VideoRow(vals[r], srcs[r], ids[r], int(row_label[r]), int(item_rank[row_item[r]]), bool(deleted[r]))
        for r in video_rows.tolist()
    )
    removed = [0]
    fe = frame_entries(merge_video_rows(rows, removed))
    fe.removed = removed[0]
    n_frames = fe.values.shape[0]
    if n_frames == 0:
        return fe
    sets = np.asarray([set_ids.setdefault(labels, len(set_ids)) for labels in fe.labels], np.int32)
    img = types.get("pdq")
    n_img = img.values.shape[0] if img is not None else 0
    if img is not None and img.items is not None:
        img_offsets, img_items = img.item_offsets, img.items
    else:
        img_offsets, img_items = np.zeros(n_img + 1, np.int64), np.zeros(0, np.int64)
    types["pdq"] = TypeEntries(
        values=np.concatenate([img.values, fe.values]) if img is not None else fe.values,
        label_sets=np.concatenate([img.label_sets, sets]).astype(np.int32) if img is not None else sets,
        item_offsets=np.concatenate([img_offsets, fe.item_offsets[1:] + img_offsets[-1]]).astype(np.int64),
        items=np.concatenate([img_items, fe.items]).astype(np.int64),
        frame=np.concatenate([np.zeros(n_img, bool), np.ones(n_frames, bool)]),
        item_times=np.concatenate([np.full(img_items.size, np.nan), fe.times]),
    )
    return fe


def _row_items(source, item_id):
    """Each row's item (an id into the distinct (source, item_id) pairs, -1 without an item_id), each id's rank
    in sorted order of the pairs, and the pairs (``source \x1f item_id``) in that order, as a pyarrow array
    (empty when no row has an item_id)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(item_id)
    if n == 0 or not pc.any(pc.not_equal(item_id, "")).as_py():
        return np.full(n, -1, np.int64), np.zeros(0, np.int64), pa.array([], pa.large_string())
    key = pc.binary_join_element_wise(source, item_id, pa.scalar(ITEM_SEPARATOR, pa.large_string()))
    enc = pc.dictionary_encode(key)
    order = pc.array_sort_indices(enc.dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    row_item = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    row_item[item_id.to_numpy(zero_copy_only=False) == ""] = -1
    return row_item, rank, enc.dictionary.take(pa.array(order))


def _renumber_items(types: dict[str, TypeEntries]) -> np.ndarray:
    """Number the items still in use 0..k-1 in their sorted order (so ids, like the checksum, depend on the
    merged content only) and drop the item arrays if no entry has one. Returns the used items' old ranks."""
    with_items = [e for e in types.values() if e.items is not None]
    used = np.unique(np.concatenate([e.items for e in with_items])) if with_items else np.zeros(0, np.int64)
    for entries in types.values():
        if used.size == 0:
            entries.item_offsets = entries.items = None
        elif entries.items is None:
            entries.item_offsets = np.zeros(entries.values.shape[0] + 1, np.int64)
            entries.items = np.zeros(0, np.int32)
        else:
            entries.items = np.searchsorted(used, entries.items).astype(np.int32)
    return used


def item_name_buffers(names) -> tuple[np.ndarray, np.ndarray]:
    """A pyarrow string array as (offsets int64, n + 1 from 0; utf-8 bytes uint8): how the index stores names."""
    import pyarrow as pa

    arr = names.cast(pa.large_string()) if names.type != pa.large_string() else names
    arr = pa.concat_arrays([arr]) if arr.offset else arr  # offsets from 0
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[: len(arr) + 1].copy()
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]].copy()
        if data_buf
        else np.zeros(0, np.uint8)
    )
    return offsets - offsets[0], data


def _checksum(
    types: dict[str, TypeEntries], labels: list, label_sets: list[tuple[int, ...]], item_names=None
) -> str:
    # Labels and label sets are numbered in sorted order of their content, so ids are canonical too.
    h = hashlib.sha256(b"hashwatch-known-hash-list-v1\n")
    h.update(repr(labels).encode() + b"\n" + repr(label_sets).encode() + b"\n")
    for name in sorted(types):
        entries = types[name]
        h.update(f"type {name} {entries.values.shape[0]}\n".encode())
        h.update(np.ascontiguousarray(entries.values).tobytes())
        h.update(np.asarray(entries.label_sets, dtype="<i4").tobytes())
        if entries.items is not None:  # lists without item ids keep the checksum they always had
            h.update(f"items {name} {entries.items.size}\n".encode())
            h.update(np.asarray(entries.item_offsets, dtype="<i8").tobytes())
            h.update(np.asarray(entries.items, dtype="<i4").tobytes())
        if entries.frame is not None:  # listed videos' frames (lists without vpdq rows keep their checksum)
            h.update(f"video frames {name} {int(entries.frame.sum())}\n".encode())
            h.update(np.asarray(entries.frame, dtype="u1").tobytes())
            h.update(np.asarray(entries.item_times, dtype="<f8").tobytes())
            h.update(np.asarray(entries.video_label, dtype="<i4").tobytes())
            h.update(np.asarray(entries.video_frames, dtype="<i4").tobytes())
    if item_names is not None:
        offsets, data = item_name_buffers(item_names)
        h.update(f"item names {offsets.size - 1}\n".encode())
        h.update(np.asarray(offsets, dtype="<i8").tobytes() + data.tobytes())
    return h.hexdigest()


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
