"""Planning an incremental rescan: which history files to read against which list entries. No Beam.

A finished rescan leaves a :class:`~hashwatch.rescan.state.RescanState`: history files F were matched against
list entries L with options O and allowlist A, so every match of (F, L) is reported (active), retracted by a
rule, or left out by the allowlist. The next rescan then needs only

- the **new files** (in the history now, not in F) against the whole index, and
- the **old files** against the **list delta**: entries now in the index whose fingerprint is not in L
  (added, re-added after a tombstone, listed by another source, or whose corroborating hashes changed).

Retractions need no delta: the reconciliation reads every earlier report and retracts the active ones
whose entry is deleted or allowlisted, whatever was matched now. Entries removed from L need nothing else
(a match is never withdrawn for disappearing). What a delta cannot express forces a full pass, said in one
line: no state, ``--full``, another history folder, wider matching options, or an allowlist entry removed::

    current = entry_fingerprints(index, options)
    plan = plan_rescan(state, problem, full=False, history_dir=..., images=files, videos=[],
                       options=describe_options(index, options), allowlist=allowlist_keys(allowlist),
                       index_checksum=index.checksum, current=current, applied=lambda: fingerprints)
    screen = delta_screen(index, current, plan.added_mask)     # a small index of the added entries
    found = match_delta_batch(table, index, screen, options, allowlist, run_id=..., now_us=..., path=...)

An old file's row group is screened against the delta (one batched search per type, as a full rescan
screens against the whole index); only rows with a hit go through :func:`match_history_batch` against the
whole index, so what they report is exactly what a full rescan reports for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hashwatch.hashing.allowlist import SCOPE_BOTH, SCOPE_IMAGE, SCOPE_LIST, Allowlist
from hashwatch.hashing.corroboration import expand_ranges
from hashwatch.hashing.hash_codes import bytes_to_codes
from hashwatch.hashing.hash_types import IMAGES, ColumnRole, get_hash_type, hash_columns
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions, match_by_default
from hashwatch.rescan.history import HistoryBatchResult, HistoryRows, hit_rows, match_history_batch
from hashwatch.rescan.state import RescanState

__all__ = [
    "EntryFingerprints",
    "RescanPlan",
    "allowlist_keys",
    "delta_screen",
    "describe_options",
    "entry_fingerprints",
    "match_delta_batch",
    "plan_rescan",
]

# The images/ columns holding one value of a type (md5 ... pdq); other matched types are plug-ins' extra_hashes.
_VALUE_COLUMNS = frozenset(
    c.name
    for c in hash_columns(IMAGES)
    if c.role == ColumnRole.VALUE and get_hash_type(c.hash_type).matchable
)
# The images/ columns holding a type's variants (PDQ's dihedral ones), by type.
_VARIANT_COLUMNS = {
    c.hash_type: c.name
    for c in hash_columns(IMAGES)
    if c.role == ColumnRole.VARIANTS and get_hash_type(c.hash_type).matchable
}
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _seed(*parts: str) -> np.uint64:
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _lanes(words: np.ndarray, extra: np.ndarray, *parts: str) -> np.ndarray:
    """(n, 2) uint64: two independently seeded hashes of each row of ``words`` and ``extra``."""
    out = np.empty((words.shape[0], 2), dtype=np.uint64)
    for lane in range(2):
        h = np.full(words.shape[0], _seed(str(lane), *parts), dtype=np.uint64)
        for j in range(words.shape[1]):
            h = _mix(h ^ words[:, j])
        out[:, lane] = _mix(h ^ extra)
    return out


@dataclass
class EntryFingerprints:
    """One 128-bit fingerprint per (hash type, value, source) of an index, with where each came from."""

    values: np.ndarray  # (n, 2) uint64
    types: list[str]  # hash type names
    type_of: np.ndarray  # per fingerprint, an index into ``types``
    pos: np.ndarray  # per fingerprint, the entry's position in its type's index

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def sorted_values(self) -> np.ndarray:
        """The fingerprints sorted (what the state keeps)."""
        order = np.lexsort((self.values[:, 1], self.values[:, 0]))
        return np.ascontiguousarray(self.values[order])


def _entry_words(t) -> np.ndarray:
    """A type's entry values as (n, words) uint64 (the padded bytes, as the Hamming codes hold them)."""
    if t.hamming is not None:
        return np.ascontiguousarray(t.hamming.codes)
    if t.exact_keys is not None:
        nbytes = t.bits // 8
        raw = np.frombuffer(np.ascontiguousarray(t.exact_keys).tobytes(), np.uint8)
        return bytes_to_codes(raw.reshape(-1, nbytes), t.bits)
    words = [
        _seed("linear", value) for value in (t.linear_values or ())
    ]  # a plug-in's own format: its text, hashed
    return np.asarray(words, dtype=np.uint64).reshape(-1, 1)


def _corroboration_means(index: KnownHashIndex, name: str, options: MatchOptions) -> np.ndarray:
    """Per entry of a corroborated type (pHash), a hash of the other type's values (dHash) of the pictures
    it is linked to: what its matches' corroboration reads. Zero for other types and unlinked entries, so a
    new or removed corroborating hash, or a picture linked anew, makes the entry part of the delta."""
    types = index._types  # noqa: SLF001 - read-only use of the compiled arrays
    t = types[name]
    means = np.zeros(t.size, dtype=np.uint64)
    rule = options.corroborations().get(name)
    other = types.get(rule[0]) if rule else None
    if t.items is None or other is None or other.items is None:
        return means
    entry_of_link = np.repeat(np.arange(t.size, dtype=np.int64), np.diff(t.items.offsets))
    items = t.items.items
    lo = np.searchsorted(other.items.by_item, items, side="left")
    hi = np.searchsorted(other.items.by_item, items, side="right")
    link, idx = expand_ranges(np.arange(items.size), lo, hi)
    if link.size:
        other_entry = other.items.by_item_entry[idx]
        hashed = _lanes(_entry_words(other)[other_entry], np.zeros(link.size, np.uint64), "means", rule[0])
        np.add.at(means, entry_of_link[link], hashed[:, 0])
    return means


def entry_fingerprints(index: KnownHashIndex, options: MatchOptions) -> EntryFingerprints:
    """Every entry of ``index`` as (type, value, source) fingerprints, vectorised (about a second for a
    million entries): one per source that lists the value."""
    labels = index._labels  # noqa: SLF001
    label_sets = index._label_sets  # noqa: SLF001
    sources: dict[str, list[int]] = {}
    for set_id, members in enumerate(label_sets):
        for source in {labels[m][1] or "" for m in members}:
            sources.setdefault(source, []).append(set_id)
    values, type_of, positions = [], [], []
    names = list(index._types)  # noqa: SLF001
    for k, name in enumerate(names):
        t = index._types[name]  # noqa: SLF001
        if t.size == 0:
            continue
        words = _entry_words(t)
        means = _corroboration_means(index, name, options)
        for source, ids in sorted(sources.items()):
            pos = np.flatnonzero(np.isin(t.label_set, np.asarray(ids)))
            if pos.size == 0:
                continue
            values.append(_lanes(words[pos], means[pos], "entry", name, source))
            type_of.append(np.full(pos.size, k, dtype=np.int32))
            positions.append(pos.astype(np.int64))
    if not values:
        return EntryFingerprints(
            np.zeros((0, 2), np.uint64), names, np.zeros(0, np.int32), np.zeros(0, np.int64)
        )
    return EntryFingerprints(
        np.concatenate(values), names, np.concatenate(type_of), np.concatenate(positions)
    )


def is_in(values: np.ndarray, applied_sorted: np.ndarray) -> np.ndarray:
    """Per row of ``values`` ((n, 2) uint64), whether it is a row of ``applied_sorted`` (sorted by
    :meth:`EntryFingerprints.sorted_values`). Bisection on the first lane, the second lane compared."""
    if applied_sorted.shape[0] == 0 or values.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    first = np.ascontiguousarray(applied_sorted[:, 0])
    lo = np.searchsorted(first, values[:, 0], side="left")
    hi = np.searchsorted(first, values[:, 0], side="right")
    at = np.minimum(lo, first.size - 1)
    found = (lo < hi) & (applied_sorted[at, 1] == values[:, 1])
    # Equal first lanes (about one pair in 1e7 at a million entries): compare the whole run.
    for row in np.flatnonzero((hi - lo > 1) & ~found).tolist():
        found[row] = bool(np.any(applied_sorted[lo[row] : hi[row], 1] == values[row, 1]))
    return found


# --------------------------------------------------------------------------------------------- options


def describe_options(index: KnownHashIndex, options: MatchOptions) -> dict[str, Any]:
    """The matching options as the state keeps them: effective per index type, so a later run can tell
    whether it matches more widely."""
    names = index.hash_types
    matched = [n for n in names if (n in options.hash_types if options.hash_types else match_by_default(n))]
    return {
        "thresholds": {n: options.threshold(n, index._default_threshold(n)) for n in names},  # noqa: SLF001
        "matched_types": sorted(matched),
        "dihedral": bool(options.dihedral),
        "candidate_families": sorted(options.candidate_families()),
        "candidate_types": sorted(options.candidate_types()),
        "corroborate": {k: [v[0], int(v[1])] for k, v in sorted(options.corroborations().items())},
        "uncorroborated": options.uncorroborated,
    }


def widened(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why ``new`` options may match something ``old`` did not (None: they match the same or less).
    A type the old index did not hold is not a widening: all its entries are in the delta anyway."""
    known = set(old.get("thresholds", {}))
    for name, value in new["thresholds"].items():
        if name in known and value > old["thresholds"][name]:
            return f"--threshold {name} widened from {old['thresholds'][name]} to {value}"
    more = (set(new["matched_types"]) - set(old["matched_types"])) & known
    if more:
        return f"--match-types now also matches {', '.join(sorted(more))}"
    if new["dihedral"] and not old["dihedral"]:
        return "dihedral variants are matched again (--no-dihedral dropped)"
    more = set(new["candidate_families"]) - set(old["candidate_families"])
    if more:
        return f"--candidates now also tries {', '.join(sorted(more))}"
    more = set(new["candidate_types"]) - set(old["candidate_types"])
    if more:
        return f"--candidate-hash-types now also matches {', '.join(sorted(more))}"
    if new["corroborate"] != old["corroborate"] or (
        new["uncorroborated"] == "keep" and old["uncorroborated"] == "drop"
    ):
        return "the corroboration rules changed (--corroborate / --uncorroborated)"
    return None


def allowlist_keys(allowlist: Allowlist | None) -> list[list[str]]:
    """The allowlist as sorted ``[scope, hash_type, hash_value]`` (``both`` counted as list and image)."""
    keys: set[tuple[str, str, str]] = set()
    for entry in allowlist.entries if allowlist is not None else ():
        scopes = (SCOPE_LIST, SCOPE_IMAGE) if entry.scope == SCOPE_BOTH else (entry.scope,)
        keys.update((scope, entry.hash_type, entry.hash_value) for scope in scopes)
    return [list(k) for k in sorted(keys)]


# --------------------------------------------------------------------------------------------- the plan


@dataclass
class RescanPlan:
    """What one rescan reads: ``mode`` "full" or "incremental", and ``reason`` (why full, or the state's
    run). Incremental: ``new_*`` files against the whole index, ``old_*`` against the delta."""

    mode: str
    reason: str
    new_images: list[str]
    old_images: list[str]
    new_videos: list[str]
    old_videos: list[str]
    added: int = 0  # fingerprints in the index now and not applied
    removed: int = 0  # applied fingerprints no longer in the index
    added_mask: np.ndarray | None = None  # per current fingerprint: in the delta
    started_from: dict[str, Any] | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """For the manifest."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "images_files_new": len(self.new_images),
            "images_files_old": len(self.old_images),
            "video_files_new": len(self.new_videos),
            "video_files_old": len(self.old_videos),
            "list_delta": {"entries_added": self.added, "entries_removed": self.removed},
            "started_from": self.started_from,
        }


def _full(reason, images, videos, current, applied_count=None, started_from=None) -> RescanPlan:
    return RescanPlan(
        "full",
        reason,
        list(images),
        [],
        list(videos),
        [],
        added=len(current),
        removed=applied_count or 0,
        started_from=started_from,
    )


def plan_rescan(
    state: RescanState | None,
    problem: str | None,
    *,
    full: bool,
    history_dir: str,
    images: Sequence[str],
    videos: Sequence[str],
    options: dict[str, Any],
    allowlist: list[list[str]],
    index_checksum: str,
    current: EntryFingerprints,
    applied: Callable[[], np.ndarray],
) -> RescanPlan:
    """Decide full or incremental (module docstring). ``images``/``videos``: the history files now, relative
    to ``history_dir``; ``applied`` loads the state's fingerprints (called only when the index changed)."""
    if full:
        return _full("--full", images, videos, current, started_from=state.describe() if state else None)
    if state is None:
        return _full(problem or "no rescan state", images, videos, current)
    since = state.describe()
    if state.history_dir != history_dir:
        why = f"the state is of --history-dir {state.history_dir}, this run reads {history_dir}"
        return _full(why, images, videos, current, started_from=since)
    why = widened(state.match_options, options)
    if why:
        return _full(why, images, videos, current, started_from=since)
    gone = {tuple(k) for k in state.allowlist} - {tuple(k) for k in allowlist}
    if gone:
        scope, name, value = sorted(gone)[0]
        why = f"{len(gone)} allowlist entries removed ({scope} {name}:{value[:16]}...): their matches may be due"
        return _full(why, images, videos, current, started_from=since)
    seen_images, seen_videos = set(state.images), set(state.videos)
    plan = RescanPlan(
        "incremental",
        f"since rescan {state.run_id} at {state.finished}",
        [p for p in images if p not in seen_images],
        [p for p in images if p in seen_images],
        [p for p in videos if p not in seen_videos],
        [p for p in videos if p in seen_videos],
        started_from=since,
    )
    if index_checksum == state.index_checksum:
        plan.added_mask = np.zeros(len(current), dtype=bool)
        return plan
    before = applied()
    known = is_in(current.values, before)
    plan.added_mask = ~known
    plan.added = int(plan.added_mask.sum())
    plan.removed = int(before.shape[0] - known.sum())
    # However large the delta, no full pass: screening the old files against it costs at most what screening
    # them against the whole index does, and only the rows it hits are matched again.
    return plan


# --------------------------------------------------------------------------------------------- matching


def delta_screen(
    index: KnownHashIndex, current: EntryFingerprints, added: np.ndarray
) -> KnownHashIndex | None:
    """A small index holding the values of the added entries (labels left out: it only screens rows), or
    None when nothing was added. Built in memory with the index builder."""
    from hashwatch.hashing.index_build import compile_index
    from hashwatch.hashing.known_hash_list import MergedList, TypeEntries

    if not np.any(added):
        return None
    types = {}
    for k, name in enumerate(current.types):
        pos = np.unique(current.pos[added & (current.type_of == k)])
        if pos.size == 0:
            continue
        t = index._types[name]  # noqa: SLF001
        if t.hamming is not None:
            raw = np.ascontiguousarray(t.hamming.codes[pos]).view(np.uint8).reshape(pos.size, -1)
            raw = raw[:, : t.bits // 8]
        elif t.exact_keys is not None:
            flat = np.frombuffer(np.ascontiguousarray(t.exact_keys[pos]).tobytes(), np.uint8)
            raw = flat.reshape(pos.size, t.bits // 8)
        else:
            raw = np.frombuffer(bytes.fromhex("".join(t.linear_values[p] for p in pos)), np.uint8)
            raw = raw.reshape(pos.size, -1)
        values = np.unique(np.ascontiguousarray(raw), axis=0)
        types[name] = TypeEntries(values=values, label_sets=np.zeros(values.shape[0], np.int32))
    digest = hashlib.sha256(index.checksum.encode() + current.values[added].tobytes()).hexdigest()
    merged = MergedList(
        types=types,
        labels=[(None, None, None)],
        label_sets=[(0,)],
        list_versions={},
        checksum=f"delta-{digest}",
        files=[],
    )
    return compile_index(merged)


def _animated_rows(table: pa.Table) -> np.ndarray:
    """Rows holding an animation's later frames: matched unscreened, as a full rescan does."""
    if "frame_hashes" not in table.column_names:
        return np.zeros(0, dtype=np.int64)
    lengths = pc.fill_null(pc.list_value_length(table.column("frame_hashes")), 0)
    return np.flatnonzero(lengths.to_numpy(zero_copy_only=False) > 0).astype(np.int64)


def _narrowed(table: pa.Table, types: set[str], options: MatchOptions) -> pa.Table:
    """``table`` with the hash columns of types the delta does not hold set to null (and the candidates
    dropped when no delta type matches them): validating every hash column costs 3x validating one (30,000
    rows: 0.136 s for all, 0.043 s for md5 alone), and the screen reads only the delta's. A row that is
    invalid in another column is matched (and rejected) by match_history_batch if it hits."""
    for name in _VALUE_COLUMNS - types:
        if name in table.column_names:
            i = table.schema.get_field_index(name)
            table = table.set_column(
                i, table.schema.field(i), pa.nulls(table.num_rows, table.schema.field(i).type)
            )
    for name, column in _VARIANT_COLUMNS.items():
        if column in table.column_names and (name not in types or not options.dihedral):
            i = table.schema.get_field_index(column)
            table = table.set_column(
                i, table.schema.field(i), pa.nulls(table.num_rows, table.schema.field(i).type)
            )
    families = options.candidate_families()
    if "candidate_hashes" in table.column_names and not (families and types & options.candidate_types()):
        table = table.drop(["candidate_hashes"])
    return table


def match_delta_batch(
    table: pa.Table,
    index: KnownHashIndex,
    screen: KnownHashIndex,
    options: MatchOptions,
    allowlist: Allowlist | None,
    *,
    run_id: str,
    now_us: int,
    path: str,
    timer=None,
) -> HistoryBatchResult:
    """An old file's row group against the list delta: the rows within reach of an added entry (screened
    against ``screen``), matched against the whole ``index`` by :func:`match_history_batch`. Its rejected
    rows were reported when the file was new: none are returned. ``rows`` counts the whole row group."""
    names = [n for n in screen.hash_types if n in index.hash_types]
    extra = [n for n in names if n not in _VALUE_COLUMNS]
    rows = HistoryRows(_narrowed(table, set(names), options), extra)
    hit = np.union1d(
        hit_rows(screen, rows, options, timer), np.intersect1d(_animated_rows(table), np.flatnonzero(rows.ok))
    )
    out = HistoryBatchResult(rows=table.num_rows)
    if hit.size == 0:
        return out
    found = match_history_batch(
        table.take(pa.array(hit)),
        index,
        options,
        allowlist,
        run_id=run_id,
        now_us=now_us,
        path=path,
        timer=timer,
    )
    found.rows = table.num_rows
    found.rejected = []
    return found
