"""Matching the ``images/`` history again, a row group at a time: validation, a batched screen, the crawl's
matching on the rows that hit. No Beam: a row group is a ``pyarrow.Table``, the result plain records.

>>> found = match_history_batch(table, index, MatchOptions(), None, run_id="r2", now_us=now, path=path)
>>> found.candidates       # [(identity key, MatchRecord)], one per page and list entry  # doctest: +SKIP
>>> found.rejected         # [RejectedRowRecord], one per unusable row                    # doctest: +SKIP

Every hash column (the registry's: :func:`~hashwatch.hashing.hash_types.hash_columns` of ``images/``, the
``extra_hashes`` of plug-ins, the ``candidate_hashes`` of query-side candidates) is validated and decoded
in bulk (:mod:`hashwatch.rescan.hex_columns`) and searched in the compiled index in batches: per hash type
the plain values, then the variants (PDQ's dihedral ones) and candidates of the rows not hit yet; digests
through the index's prefix screen, perceptual values once per distinct value not already known to miss
(:mod:`hashwatch.rescan.distinct_queries`). No per-row Python runs for the rows that match nothing (nearly
all of them); 97-99 % of a PDQ row's time is the C Hamming search (docs/benchmarks.md "Rescan"). The few rows with a hit go through ``KnownHashIndex.match_many``, the crawl's own matching, so a
rescan reports exactly what a crawl with the same list and options would. Allowlisted matches are dropped
and counted; a row with a malformed hash or no image URL becomes a ``rejected_rows`` record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hashwatch.hashing.allowlist import Allowlist, image_hashes_mapping
from hashwatch.hashing.hash_types import (
    IMAGES,
    ColumnRole,
    IndexKind,
    get_hash_type,
    hash_columns,
    hash_types,
)
from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions, match_by_default
from hashwatch.rescan.distinct_queries import search_distinct
from hashwatch.rescan.hex_columns import decode_hex_column
from schemas.matches import match_key, match_records
from schemas.rejected_rows import ERROR_INVALID_HASH, ERROR_MISSING_IMAGE_URL, RejectedRowRecord

__all__ = [
    "CANDIDATE_COLUMNS",
    "FRAME_COLUMNS",
    "HISTORY_COLUMNS",
    "HistoryBatchResult",
    "HistoryRows",
    "hex_bytes",
    "hit_rows",
    "match_history_batch",
]

_COLUMNS = [c for c in hash_columns(IMAGES) if get_hash_type(c.hash_type).matchable]
_VALUES = {c.name: get_hash_type(c.name).hex_length for c in _COLUMNS if c.role == ColumnRole.VALUE}
_VARIANTS = {c.hash_type: c.name for c in _COLUMNS if c.role == ColumnRole.VARIANTS}
# The images/ columns a rescan reads (and checks, file by file, before it starts): the URLs, the matchable
# types' hash columns (md5, sha1, sha256, phash, dhash, pdq, pdq_quality, pdq_dihedral) and the plug-ins'.
HISTORY_COLUMNS = (
    "image_url",
    "final_url",
    "page_urls",
    "depth",
    *(c.name for c in _COLUMNS),
    "extra_hashes",
)
# Read when a file has it (images/ written since query-side candidates were kept; older files lack it).
CANDIDATE_COLUMNS = ("candidate_hashes",)
# Read when a file has them (images/ written since animations are hashed frame by frame, issue 19): an
# animation's later distinct frames, which ImageHashes.from_columns carries and match_many matches.
FRAME_COLUMNS = ("frame_count", "frames_hashed", "frame_hashes")

LookupTimer = Callable[[str, float, int], None]  # (hash type, seconds, queries): one batched lookup


class HistoryRows:
    """One row group of images/ history, validated: which rows are usable, and why the others are not."""

    def __init__(self, table: pa.Table, extra_types: list[str]):
        self.table = table
        n = table.num_rows
        self.ok = np.ones(n, dtype=bool)
        self.problems: dict[int, tuple[str, str, str]] = {}  # row -> (column, error kind, message)

        url = table.column("image_url")
        missing = pc.fill_null(pc.equal(pc.utf8_length(url), 0), True).to_numpy(zero_copy_only=False)
        self._flag(missing, "image_url", ERROR_MISSING_IMAGE_URL, "no image_url")
        # Each hash column decoded once, as it is validated: raw_values takes its rows from here.
        self._decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, length in _VALUES.items():
            column = table.column(name)
            good, raw = decode_hex_column(column, length)
            self._flag(~good, name, ERROR_INVALID_HASH, f"{name} is not {length} lower-case hex digits")
            self._decoded[name] = (good & column.is_valid().to_numpy(zero_copy_only=False), raw)
        self.variants = {name: self._read_variants(name, column) for name, column in _VARIANTS.items()}
        self._read_candidates(table)
        self.extra: list[dict[str, str]] | None = None
        if extra_types:
            self.extra = [dict(m or ()) for m in table.column("extra_hashes").to_pylist()]
            for row, values in enumerate(self.extra):
                for name in extra_types:
                    if name in values and not get_hash_type(name).is_valid(values[name]):
                        mask = np.zeros(n, dtype=bool)
                        mask[row] = True
                        self._flag(mask, "extra_hashes", ERROR_INVALID_HASH, f"{name} value is not valid")

    def _read_variants(self, name: str, column: str) -> tuple[np.ndarray, np.ndarray]:
        """A variants column (PDQ's ``pdq_dihedral``) flattened: the row of each non-null value, and the
        values decoded ((n, bytes) uint8); a row with a malformed value, or with another number of values
        than the type names, is rejected."""
        ht = get_hash_type(name)
        lists = self.table.column(column).combine_chunks()
        flat = pc.list_flatten(lists)
        parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        good, raw = decode_hex_column(flat, ht.hex_length)
        bad_rows = np.zeros(self.table.num_rows, dtype=bool)
        bad_rows[parent[~good]] = True
        bad_rows |= (counts != 0) & (counts != len(ht.variant_names))
        message = f"{column} needs {len(ht.variant_names)} {name.upper()} values of {ht.hex_length} hex"
        self._flag(bad_rows, column, ERROR_INVALID_HASH, message)
        present = flat.is_valid().to_numpy(zero_copy_only=False) if len(flat) else np.zeros(0, dtype=bool)
        return parent[present], raw[present]

    def _read_candidates(self, table: pa.Table) -> None:
        """``candidate_hashes`` as flat arrays (row of each entry, its key's code in ``candidate_names``, its
        value); a row with a malformed value is rejected. Vectorised: a real history has ~30 entries a row."""
        n = table.num_rows
        self.candidate_parent = np.zeros(0, dtype=np.int64)
        self.candidate_codes = np.zeros(0, dtype=np.int64)
        self.candidate_names: list[str] = []
        self.candidate_values = pa.array([], pa.string())
        if "candidate_hashes" not in table.column_names:
            return
        column = table.column("candidate_hashes").combine_chunks()
        offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        if offsets.size == 0 or offsets[0] == offsets[-1]:
            return  # no row has a candidate (histories written with --candidates none, or older)
        sizes = np.diff(offsets)
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        start, stop = int(offsets[0]), int(offsets[-1])
        keep = np.repeat(valid, sizes)  # a null map's slots (if any) are not its entries
        self.candidate_parent = np.repeat(np.arange(n, dtype=np.int64), sizes)[keep]
        keys = column.keys.slice(start, stop - start).filter(pa.array(keep))
        values = column.items.slice(start, stop - start).filter(pa.array(keep))
        encoded = pc.fill_null(keys, "").dictionary_encode()
        self.candidate_names = encoded.dictionary.to_pylist()
        self.candidate_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.candidate_values = values
        # The digits each key's hash type needs: every registered perceptual type (the types candidates and
        # their corroboration are matched by); 0 for another key, not checked.
        perceptual = {ht.name: ht.hex_length for ht in hash_types() if ht.index_kind == IndexKind.HAMMING}
        digits = np.array(
            [perceptual.get(name.partition(":")[0], 0) for name in self.candidate_names] or [0],
            dtype=np.int64,
        )[self.candidate_codes]
        length = pc.fill_null(pc.utf8_length(values), -1).to_numpy(zero_copy_only=False)
        hexed = pc.fill_null(pc.match_substring_regex(values, "^[0-9a-f]*$"), False)
        bad_entry = (digits > 0) & ((length != digits) | ~hexed.to_numpy(zero_copy_only=False))
        bad = np.zeros(n, dtype=bool)
        bad[self.candidate_parent[bad_entry]] = True
        self._flag(
            bad, "candidate_hashes", ERROR_INVALID_HASH, "a candidate hash is not valid hex of its type"
        )

    def _flag(self, mask: np.ndarray, column: str, kind: str, message: str) -> None:
        new = mask & self.ok
        for row in np.nonzero(new)[0].tolist():
            self.problems[row] = (column, kind, message)
        self.ok &= ~mask

    def raw_values(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Usable rows with a value of hash type ``name``, and the values as an (n, bytes) uint8 array."""
        nbytes = get_hash_type(name).bits // 8
        if name in _VALUES:
            present, raw = self._decoded[name]
            rows = np.nonzero(self.ok & present)[0]
            return rows, raw[rows]
        assert self.extra is not None
        rows = [r for r in np.nonzero(self.ok)[0].tolist() if name in self.extra[r]]
        raw = bytes.fromhex("".join(self.extra[r][name] for r in rows))
        return np.asarray(rows, dtype=np.int64), np.frombuffer(raw, np.uint8).reshape(len(rows), nbytes)

    def raw_candidates(self, name: str, families: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row of each value, values as (n, bytes) uint8) for the query-side candidates of hash type
        ``name`` in ``families``, of usable rows."""
        from hashwatch.hashing.candidates import candidate_family

        nbytes = get_hash_type(name).bits // 8
        prefix, families = f"{name}:", set(families)
        wanted = np.array(
            [
                key.startswith(prefix) and candidate_family(key[len(prefix) :]) in families
                for key in self.candidate_names
            ]
            or [False],
            dtype=bool,
        )
        chosen = wanted[self.candidate_codes] & self.ok[self.candidate_parent]
        positions = np.nonzero(chosen)[0]
        if positions.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, nbytes), dtype=np.uint8)
        values = self.candidate_values.take(pa.array(positions, pa.int64()))
        return self.candidate_parent[positions], hex_bytes(values, nbytes)

    def raw_variants(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(row of each value, values as (n, bytes) uint8) for the variants of hash type ``name`` (PDQ's
        dihedral ones) of usable rows."""
        parent, raw = self.variants[name]
        keep = self.ok[parent] if len(parent) else np.zeros(0, dtype=bool)
        return parent[keep], raw[keep]


_HEX_LUT = np.full(256, 0, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i


def hex_bytes(values: pa.Array | pa.ChunkedArray, nbytes: int) -> np.ndarray:
    """Non-null, validated hex strings of 2 * nbytes digits -> an (n, nbytes) uint8 array, vectorised."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    n = len(values)
    if n == 0:
        return np.zeros((0, nbytes), dtype=np.uint8)
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _validity, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[values.offset : values.offset + n + 1]
    starts = offsets[:-1].astype(np.int64)
    if not np.all(np.diff(offsets) == 2 * nbytes):
        raise ValueError(f"hex values of {2 * nbytes} digits expected")  # validated before: a bug
    data = np.frombuffer(data_buf, dtype=np.uint8)
    width = 2 * nbytes
    if np.all(np.diff(starts) == width):  # contiguous (the usual case after take): one reshape
        digits = data[starts[0] : starts[0] + n * width].reshape(n, width)
    else:
        digits = data[starts[:, None] + np.arange(width)]
    nibbles = _HEX_LUT[digits]
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def _matched_types(index: KnownHashIndex, options: MatchOptions) -> tuple[str, ...]:
    """The types ``match_many`` matches: the named ones, else the index's matched by default (not dHash), so
    the screening never searches a type whose hits ``match_many`` would drop."""
    if options.hash_types is not None:
        return tuple(options.hash_types)
    return tuple(name for name in index.hash_types if match_by_default(name))


def hit_rows(
    index: KnownHashIndex, rows: HistoryRows, options: MatchOptions, timer: LookupTimer | None = None
) -> np.ndarray:
    """Rows with at least one list entry within reach: a superset of the rows ``match_many`` finds matches
    for, since it searches the same values, variants and candidates at the same thresholds. ``timer`` is
    told each search's type, seconds and number of values searched.

    Per hash type, the plain values first, then the variants (PDQ's dihedral ones) and query-side
    candidates together, of only the rows that ``match_many`` would search them for (a row with a plain
    value: match_policy.query_values) and that no search has hit yet (the answer is per row). Digests
    go to the index's exact screen in one call; perceptual values are searched once per distinct value not
    already known to miss (:mod:`hashwatch.rescan.distinct_queries`)."""
    names = _matched_types(index, options)
    families = options.candidate_families()
    candidate_types = options.candidate_types() if families else frozenset()
    hit = np.zeros(rows.table.num_rows, dtype=bool)
    for name in names:
        if name not in index.hash_types:
            continue
        threshold = options.threshold(name)
        plain_rows, plain = rows.raw_values(name)
        _search(index, name, plain_rows, plain, threshold, hit, timer)
        extra = []
        if name in rows.variants and options.dihedral:
            extra.append(rows.raw_variants(name))
        if name in candidate_types:
            extra.append(rows.raw_candidates(name, families))
        extra = [(owners, raw) for owners, raw in extra if raw.shape[0]]
        if not extra:
            continue
        owners = np.concatenate([owners for owners, _ in extra])
        raw = np.concatenate([raw for _, raw in extra])
        wanted = np.zeros(hit.size, dtype=bool)
        wanted[plain_rows] = True
        keep = (wanted & ~hit)[owners]
        _search(index, name, owners[keep], raw[keep], threshold, hit, timer)
    return np.nonzero(hit)[0].astype(np.int64)


def _search(
    index: KnownHashIndex,
    name: str,
    owners: np.ndarray,
    raw: np.ndarray,
    radius: int,
    hit: np.ndarray,
    timer: LookupTimer | None,
) -> None:
    """Set ``hit`` for the owners of the values of ``raw`` with an entry of type ``name`` within reach."""
    if raw.shape[0] == 0:
        return
    try:
        hamming = get_hash_type(name).index_kind == IndexKind.HAMMING
    except KeyError:  # a type the index holds but no plug-in registers here: searched as it is
        hamming = False
    if hamming:
        hit[owners[search_distinct(index, name, raw, radius, timer).hit]] = True
        return
    started = time.perf_counter()
    found = index.query_hits(name, raw, radius)
    if timer is not None:
        timer(name, time.perf_counter() - started, raw.shape[0])
    hit[owners[found]] = True


def _rows_with_frames(table: pa.Table) -> np.ndarray:
    """The rows whose ``frame_hashes`` holds at least one later frame (none when the file lacks it)."""
    if "frame_hashes" not in table.column_names:
        return np.zeros(0, dtype=np.int64)
    lengths = pc.fill_null(pc.list_value_length(table.column("frame_hashes")), 0)
    return np.flatnonzero(lengths.to_numpy(zero_copy_only=False) > 0).astype(np.int64)


@dataclass
class HistoryBatchResult:
    """What one row group gave: candidate matches by identity key, rejected rows, and counts."""

    candidates: list[tuple[str, object]] = field(default_factory=list)  # (identity key, MatchRecord)
    rejected: list[RejectedRowRecord] = field(default_factory=list)
    rows: int = 0
    rows_hit: int = 0
    allowlisted: int | None = None  # candidate rows left out, one per page and entry (None: none checked)


def match_history_batch(
    table: pa.Table,
    index: KnownHashIndex,
    options: MatchOptions,
    allowlist: Allowlist | None,
    *,
    run_id: str,
    now_us: int,
    path: str,
    timer: LookupTimer | None = None,
) -> HistoryBatchResult:
    """Match one row group of ``images/`` history (columns :data:`HISTORY_COLUMNS`, and
    :data:`CANDIDATE_COLUMNS` when the file has them) read from ``path``: see the module docstring."""
    names = _matched_types(index, options)
    extra_types = [n for n in names if n in index.hash_types and n not in _VALUES]
    rows = HistoryRows(table, extra_types)
    out = HistoryBatchResult(rows=table.num_rows)
    for row, (column, kind, message) in sorted(rows.problems.items()):
        url = table.column("image_url")[row].as_py()
        out.rejected.append(RejectedRowRecord(run_id, "images", path, url, column, kind, message, now_us))
    hit = hit_rows(index, rows, options, timer)
    animated = np.setdiff1d(_rows_with_frames(table), np.fromiter(rows.problems, dtype=np.int64))
    if animated.size:
        # An animation's later frames are not screened: its rows (few next to still images) go to
        # match_many, which matches every frame, as a crawl does.
        hit = np.union1d(hit, animated)
    if hit.size == 0:
        return out
    out.rows_hit = int(hit.size)
    records = table.take(pa.array(hit)).to_pylist()
    hashes = [ImageHashes.from_columns(r) for r in records]
    for record, image, found in zip(records, hashes, index.match_many(hashes, options), strict=True):
        matches = found
        if matches and allowlist is not None:
            matches, suppressed = allowlist.split(matches, image_hashes_mapping(image))
            left_out = len(suppressed) * max(1, len(record["page_urls"] or ()))
            out.allowlisted = (out.allowlisted or 0) + left_out
        for match in match_records(run_id, record, matches, index.checksum, now_us):
            key = match_key(match.image_url, match.page_url, match.hash_type, match.list_hash, match.source)
            out.candidates.append((key, match))
    return out
