"""Which list entries the lists delete: the tombstones that are still in force after merging.

The compiled index holds only live entries, so it cannot tell "deleted by the list" from "never listed" (or
"its list file was not given this time"). A rescan retracts an old match only on positive evidence, so it
reads the tombstones from the same list files, with the merge rules of :mod:`known_hash_list`: files in the
order given, rows in file order, entries keyed by (hash type, hash value, source), the last row for a key
wins, and a tombstone with an empty source removes that hash for every source before it.

``Tombstones.deleted(hash_type, value, source)`` answers for one entry: the ``list_version`` of the tombstone
that deleted it (or the source's current list version when the tombstone row carries none), or None if no
tombstone in force names it. A source-less tombstone is recorded under source ``""`` and applies to every
source; an entry re-added after it is live again, which the caller sees in the index (a live entry is never
"deleted", whatever the tombstones say).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Tombstones", "read_tombstones"]


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("hash_type", pa.string()),
            ("hash_value", pa.string()),
            ("source", pa.string()),  # "" = the entry without a source
            ("seq", pa.int64()),  # position of the last row for this entry in the merged input
            ("deleted", pa.bool_()),  # False: re-added after a source-less tombstone
            ("list_version", pa.string()),
            ("wipe_seq", pa.int64()),  # last source-less tombstone of this hash (-1: none)
            ("wipe_version", pa.string()),
        ]
    )


@dataclass(frozen=True)
class _Event:
    seq: int
    deleted: bool
    version: str | None


@dataclass(frozen=True)
class Tombstones:
    """The last event of every entry that a tombstone names, and the source-less tombstones."""

    last: Mapping[tuple[str, str, str], _Event]  # (hash_type, hash_value, source or "") -> last row
    wipes: Mapping[tuple[str, str], _Event]  # (hash_type, hash_value) -> last source-less tombstone

    def __len__(self) -> int:
        return sum(1 for e in self.last.values() if e.deleted) + len(self.wipes)

    def deleted(self, hash_type: str, hash_value: str, source: str | None) -> tuple[bool, str | None]:
        """``(True, list_version)`` if a tombstone in force deletes this entry, else ``(False, None)``."""
        event = self.last.get((hash_type, hash_value, source or ""))
        wipe = self.wipes.get((hash_type, hash_value))
        if event is not None and (wipe is None or event.seq > wipe.seq):
            return (True, event.version) if event.deleted else (False, None)
        if wipe is not None:
            return True, wipe.version
        return False, None

    @property
    def checksum(self) -> str:
        """SHA-256 of the content (names the file the workers load)."""
        digest = hashlib.sha256(b"hashwatch-tombstones-v1\n")
        for row in self.to_table().to_pylist():
            digest.update(repr(sorted(row.items())).encode() + b"\n")
        return digest.hexdigest()

    def to_table(self):
        import pyarrow as pa

        keys = sorted(set(self.last) | {(t, v, "") for t, v in self.wipes})
        rows = []
        for key in keys:
            event = self.last.get(key)
            wipe = self.wipes.get(key[:2])
            rows.append(
                {
                    "hash_type": key[0],
                    "hash_value": key[1],
                    "source": key[2],
                    "seq": event.seq if event else -1,
                    "deleted": event.deleted if event else False,
                    "list_version": event.version if event else None,
                    "wipe_seq": wipe.seq if wipe else -1,
                    "wipe_version": wipe.version if wipe else None,
                }
            )
        return pa.Table.from_pylist(rows, schema=_schema())

    @classmethod
    def from_table(cls, table) -> Tombstones:
        last: dict[tuple[str, str, str], _Event] = {}
        wipes: dict[tuple[str, str], _Event] = {}
        for row in table.to_pylist():
            key = (row["hash_type"], row["hash_value"], row["source"] or "")
            if row["seq"] >= 0:
                last[key] = _Event(row["seq"], row["deleted"], row["list_version"])
            if row["wipe_seq"] >= 0:
                wipes[key[:2]] = _Event(row["wipe_seq"], True, row["wipe_version"])
        return cls(last, wipes)


def read_tombstones(paths: Sequence[str], *, skip_invalid: bool = False) -> Tombstones:
    """The tombstones in force after merging ``paths`` in order (validated like the index build)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from hashwatch.hashing.list_file import read_list

    parts = [read_list(path, skip_invalid=skip_invalid) for path in paths]
    if not parts:
        return Tombstones({}, {})

    def concat(name: str):
        return pa.chunked_array([getattr(p, name) for p in parts], pa.large_string()).combine_chunks()

    htype, hval, source, version = (concat(c) for c in ("hash_type", "hash_value", "source", "list_version"))
    deleted = np.concatenate([p.deleted for p in parts])
    if not deleted.any():
        return Tombstones({}, {})
    # Only hashes that some tombstone names can end deleted: look at their rows alone (in order).
    pair = pc.binary_join_element_wise(htype, hval, pa.scalar("\x1f", pa.large_string()))
    named = pc.unique(pc.filter(pair, pa.array(deleted)))
    rows = np.nonzero(pc.is_in(pair, value_set=named).to_numpy(zero_copy_only=False))[0]
    picked = pa.array(rows)
    types, values, sources, versions = (
        col.take(picked).to_pylist() for col in (htype, hval, source, version)
    )
    # Each source's current list version (its last row naming one), for tombstones that name none.
    current: dict[str, str] = {}
    for s, v in zip(source.to_pylist(), version.to_pylist(), strict=True):
        if v:
            current[s] = v
    last: dict[tuple[str, str, str], _Event] = {}
    wipes: dict[tuple[str, str], _Event] = {}
    for k, row in enumerate(rows.tolist()):
        key = (types[k], values[k], sources[k] or "")
        event = _Event(row, bool(deleted[row]), versions[k] or current.get(key[2]) or None)
        last[key] = event
        if event.deleted and key[2] == "":
            wipes[key[:2]] = event
    # Keep what can matter: deleted entries, and entries re-added after a source-less tombstone.
    kept = {
        key: event
        for key, event in last.items()
        if event.deleted or (key[:2] in wipes and event.seq > wipes[key[:2]].seq)
    }
    return Tombstones(kept, wipes)
