"""The nightly rescan's transforms: match the images/ history again, and reconcile with what was reported.

::

    images/ paths -> ReadParquetBatches (row groups as Arrow tables) -> MatchHistory -> candidates (by identity)
    matches/ + retractions/ paths -> ReadMatchEvents -> earlier reports and retractions (by identity)
    (candidates, events) -> ReconcileMatches -> new matches, retractions

**MatchHistory** works on whole row groups: every hash column is validated and searched in the compiled index
with one batched lookup per hash type (exact digests by bisection, perceptual hashes by the index's
multi-index search, dihedral PDQ variants included), so no per-row Python runs for the rows that match nothing
(nearly all of them). The few rows with a hit go through ``KnownHashIndex.match_many``, the crawl's own
matching, so a rescan reports exactly what a crawl with the same list and options would. Allowlisted matches
are dropped and counted. A row with a malformed hash or no image URL becomes a ``rejected_rows`` record.

**ReconcileMatches** groups by the match identity (:data:`schemas.matches.MATCH_IDENTITY`). A match is
*active* when its latest report is later than everything retracted (``max(matches.matched_at) >
max(retractions.matched_at)``). Per identity:

- matched now and not active (never reported, or retracted since) -> one new match row (the closest
  candidate: lowest distance, plain hash before dihedral variants);
- active and not matched now -> a retraction if the list entry is deleted (a tombstone in force, and the
  entry is not live in the index) or allowlisted (its list hash, or one of the image hashes the report
  carries); otherwise it stays active and is only counted: an entry that disappeared without a tombstone, a
  threshold made tighter, or an image outside the ``--since/--until`` range never retract a match;
- anything else -> nothing.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import time
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquetBatched
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.shared import Shared

from hashwatch.hashing.allowlist import Allowlist, image_hashes_mapping
from hashwatch.hashing.hash_types import get_hash_type
from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.list_tombstones import Tombstones
from hashwatch.hashing.match_policy import MatchOptions
from schemas import MatchEvent, MatchRecord, RejectedRowRecord, RetractionRecord, match_key
from schemas.known_hashes import IndexRef
from schemas.rejected_rows import ERROR_INVALID_HASH, ERROR_MISSING_IMAGE_URL
from schemas.retractions import REASON_ALLOWLISTED, REASON_DELETED
from transforms.match import SharedIndex, load_index, match_records

__all__ = [
    "EVENT_COLUMNS",
    "HISTORY_COLUMNS",
    "MatchHistory",
    "MatchHistoryResult",
    "ReadMatchEvents",
    "ReadParquetBatches",
    "ReconcileMatches",
    "ReconcileResult",
    "TombstonesRef",
]

_NS_MATCH = "MatchHistory"
_NS_RECONCILE = "ReconcileMatches"
_REJECTED = "rejected"
_RETRACTIONS = "retractions"

# The images/ columns a rescan reads (and checks, file by file, before it starts).
HASH_COLUMNS = {"md5": 32, "sha1": 40, "sha256": 64, "phash": 16, "dhash": 16, "pdq": 64}
HISTORY_COLUMNS = (
    "image_url",
    "final_url",
    "page_urls",
    "depth",
    *HASH_COLUMNS,
    "pdq_quality",
    "pdq_dihedral",
    "extra_hashes",
)
# Read when a file has it (images/ written since query-side candidates were kept; older files lack it).
CANDIDATE_COLUMNS = ("candidate_hashes",)
_CANDIDATE_DIGITS = {"pdq": 64, "phash": 16, "dhash": 16}  # hex digits of the candidate types checked
_IDENTITY = ("image_url", "page_url", "hash_type", "list_hash", "source")
EVENT_COLUMNS = {
    "matches": (
        "run_id",
        "matched_at",
        *_IDENTITY,
        "category",
        "list_version",
        "md5",
        "sha1",
        "sha256",
        "phash",
        "dhash",
        "pdq",
    ),
    "retractions": ("run_id", "matched_at", *_IDENTITY, "category", "list_version"),
}


class TombstonesRef(NamedTuple):
    """The tombstones file the launcher wrote (``OUTPUT/_indexes/tombstones-*.parquet``); path None: the run
    has no tombstone information (a prebuilt ``--index``), so nothing is retracted as deleted."""

    path: str | None
    checksum: str


def _now_us() -> int:
    return time.time_ns() // 1000


# --------------------------------------------------------------------------------------------- reading


class ReadParquetBatches(beam.PTransform):
    """Read Parquet files as Arrow tables, one per row group:
    ``PCollection[str] (paths) -> PCollection[(file, pa.Table)]`` (``columns``: which to read; None: all).

    The paths are resolved and checked by the launcher (so a run reads exactly the files it reports); Beam's
    file systems and splitting do the reading, so any file system and any runner work. Example::

        batches = paths | "ReadHistory" >> ReadParquetBatches(HISTORY_COLUMNS)
    """

    def __init__(self, columns: Iterable[str] | None):
        super().__init__()
        self._columns = list(columns) if columns is not None else None

    def expand(self, paths):
        return paths | "Read" >> ReadAllFromParquetBatched(columns=self._columns, with_filename=True)


# --------------------------------------------------------------------------------------------- matching


def _valid_hex(column: pa.ChunkedArray | pa.Array, length: int) -> np.ndarray:
    """Per value: null, or ``length`` lower-case hex digits."""
    if len(column) == 0:
        return np.zeros(0, dtype=bool)
    ok = pc.and_(pc.equal(pc.utf8_length(column), length), pc.match_substring_regex(column, "^[0-9a-f]*$"))
    return pc.fill_null(pc.or_kleene(pc.is_null(column), ok), True).to_numpy(zero_copy_only=False)


class _HistoryRows:
    """One row group of images/ history, validated: which rows are usable, and why the others are not."""

    def __init__(self, table: pa.Table, extra_types: list[str]):
        self.table = table
        n = table.num_rows
        self.ok = np.ones(n, dtype=bool)
        self.problems: dict[int, tuple[str, str, str]] = {}  # row -> (column, error kind, message)

        url = table.column("image_url")
        missing = pc.fill_null(pc.equal(pc.utf8_length(url), 0), True).to_numpy(zero_copy_only=False)
        self._flag(missing, "image_url", ERROR_MISSING_IMAGE_URL, "no image_url")
        for name, length in HASH_COLUMNS.items():
            good = _valid_hex(table.column(name), length)
            self._flag(~good, name, ERROR_INVALID_HASH, f"{name} is not {length} lower-case hex digits")
        dihedral = table.column("pdq_dihedral").combine_chunks()
        flat = pc.list_flatten(dihedral)
        self.dihedral_parent = pc.list_parent_indices(dihedral).to_numpy(zero_copy_only=False)
        bad_variant = ~_valid_hex(flat, 64)
        counts = pc.fill_null(pc.list_value_length(dihedral), 0).to_numpy(zero_copy_only=False)
        bad_rows = np.zeros(n, dtype=bool)
        bad_rows[self.dihedral_parent[bad_variant]] = True
        bad_rows |= (counts != 0) & (counts != 7)
        self._flag(bad_rows, "pdq_dihedral", ERROR_INVALID_HASH, "pdq_dihedral needs 7 PDQ values of 64 hex")
        self.dihedral = flat
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
        # The digits each key's hash type needs (0: a type not matched here, not checked).
        digits = np.array(
            [_CANDIDATE_DIGITS.get(name.partition(":")[0], 0) for name in self.candidate_names] or [0],
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
        if name in HASH_COLUMNS:
            column = self.table.column(name)
            rows = np.nonzero(self.ok & pc.is_valid(column).to_numpy(zero_copy_only=False))[0]
            return rows, _hex_bytes(column.take(pa.array(rows)), nbytes)
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
        return self.candidate_parent[positions], _hex_bytes(values, nbytes)

    def raw_dihedral(self) -> tuple[np.ndarray, np.ndarray]:
        """(row of each value, values as (n, 32) uint8) for the dihedral PDQ variants of usable rows."""
        keep = self.ok[self.dihedral_parent] if len(self.dihedral_parent) else np.zeros(0, dtype=bool)
        positions = np.nonzero(keep)[0]
        return self.dihedral_parent[positions], _hex_bytes(self.dihedral.take(pa.array(positions)), 32)


_HEX_LUT = np.full(256, 0, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i


def _hex_bytes(values: pa.Array | pa.ChunkedArray, nbytes: int) -> np.ndarray:
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


def _hit_rows(index: KnownHashIndex, rows: _HistoryRows, options: MatchOptions, counters) -> np.ndarray:
    """Rows with at least one list entry within reach, by one batched search per hash type and query kind
    (plain values, dihedral PDQ variants, query-side candidates): a superset of the rows ``match_many`` finds
    matches for, since it searches the same values, variants and candidates at the same thresholds."""
    names = options.hash_types if options.hash_types is not None else tuple(index.hash_types)
    families = options.candidate_families()
    candidate_types = options.candidate_types() if families else frozenset()
    hits: list[np.ndarray] = []
    for name in names:
        if name not in index.hash_types:
            continue
        threshold = options.threshold(name)
        queries = [rows.raw_values(name)]
        if name == "pdq" and options.dihedral:
            queries.append(rows.raw_dihedral())
        if name in candidate_types:
            queries.append(rows.raw_candidates(name, families))
        for owners, raw in queries:
            if raw.shape[0] == 0:
                continue
            started = time.perf_counter()
            hit = index.query_hits(name, raw, threshold)
            counters.time(name, time.perf_counter() - started, raw.shape[0])
            hits.append(owners[hit])
    if not hits:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(hits))


def _image_hashes(row: dict) -> ImageHashes:
    """The hashing library's view of a history row (only the hashes matter for matching)."""
    return ImageHashes(
        bytes_length=0,
        md5=row["md5"],
        sha1=row["sha1"],
        sha256=row["sha256"],
        crc32c="",
        phash=row["phash"],
        dhash=row["dhash"],
        pdq=row["pdq"],
        pdq_quality=row["pdq_quality"],
        pdq_dihedral=tuple(row["pdq_dihedral"]) if row["pdq_dihedral"] else None,
        extra=dict(row["extra_hashes"] or ()),
        candidate_hashes=dict(row.get("candidate_hashes") or ()),
    )


class _Counters:
    def __init__(self):
        self.rows = Metrics.counter(_NS_MATCH, "history_rows")
        self.rejected = Metrics.counter(_NS_MATCH, "rejected_rows")
        self.rows_hit = Metrics.counter(_NS_MATCH, "rows_with_a_match")
        self.candidates = Metrics.counter(_NS_MATCH, "candidate_matches")
        self.allowlisted = Metrics.counter(_NS_MATCH, "allowlisted_matches")
        self._lookup_us: dict[str, object] = {}
        self._queries: dict[str, object] = {}

    def time(self, name: str, seconds: float, queries: int) -> None:
        if name not in self._lookup_us:
            self._lookup_us[name] = Metrics.counter(_NS_MATCH, f"lookup_us_{name}")
            self._queries[name] = Metrics.counter(_NS_MATCH, f"queries_{name}")
        self._lookup_us[name].inc(int(seconds * 1e6))
        self._queries[name].inc(queries)


class _MatchHistoryFn(beam.DoFn):
    def __init__(self, run_id: str, match_options: MatchOptions, allowlist: Allowlist | None, shared: Shared):
        self._run_id = run_id
        self._options = match_options
        self._allowlist = allowlist
        self._shared = shared

    def setup(self):
        self._index_for = SharedIndex(self._shared, _NS_MATCH)
        self._counters = _Counters()

    # Output (match key, MatchRecord) and tagged rejects, hinted Any: the coders stay what they were.
    def process(self, element: tuple[str, pa.Table], ref: IndexRef) -> Iterator[Any]:
        path, table = element
        index = self._index_for(ref)
        builtin = set(HASH_COLUMNS)
        names = self._options.hash_types or tuple(index.hash_types)
        extra_types = [n for n in names if n in index.hash_types and n not in builtin]
        rows = _HistoryRows(table, extra_types)
        self._counters.rows.inc(table.num_rows)
        now = _now_us()
        for row, (column, kind, message) in sorted(rows.problems.items()):
            self._counters.rejected.inc()
            url = table.column("image_url")[row].as_py()
            yield TaggedOutput(
                _REJECTED, RejectedRowRecord(self._run_id, "images", path, url, column, kind, message, now)
            )
        hit = _hit_rows(index, rows, self._options, self._counters)
        if hit.size == 0:
            return
        self._counters.rows_hit.inc(int(hit.size))
        records = table.take(pa.array(hit)).to_pylist()
        found = index.match_many([_image_hashes(r) for r in records], self._options)
        for record, all_matches in zip(records, found, strict=True):
            image = _image_of(record)
            matches = all_matches
            if matches and self._allowlist is not None:
                matches, suppressed = self._allowlist.split(matches, image_hashes_mapping(image))
                self._counters.allowlisted.inc(len(suppressed) * max(1, len(image.page_urls)))
            for match in match_records(self._run_id, image, matches, ref.checksum, now):
                self._counters.candidates.inc()
                key = match_key(
                    match.image_url, match.page_url, match.hash_type, match.list_hash, match.source
                )
                yield key, match


def _image_of(record: dict) -> SimpleNamespace:
    """What ``match_records`` reads of an image, from a history row."""
    return SimpleNamespace(**{**record, "page_urls": record["page_urls"] or []})


class MatchHistoryResult(NamedTuple):
    candidates: (
        beam.PCollection
    )  # [(identity key, MatchRecord)] every match found now, one per page and entry
    rejected: beam.PCollection  # [RejectedRowRecord]


class MatchHistory(beam.PTransform):
    """Match history row groups against the index: ``PCollection[(file, pa.Table)] -> MatchHistoryResult``.

    ``index_ref`` is a one-element ``PCollection[IndexRef]`` (a singleton side input; each worker process
    loads the index once). Example::

        found = batches | "MatchHistory" >> MatchHistory(index_ref, run_id, MatchOptions(), allowlist)
        found.candidates  # (key, MatchRecord) with run_id = this run
    """

    def __init__(
        self,
        index_ref: beam.PCollection,
        run_id: str,
        match_options: MatchOptions | None = None,
        allowlist: Allowlist | None = None,
    ):
        super().__init__()
        self._index_ref = index_ref
        self._run_id = run_id
        self._options = match_options or MatchOptions()
        self._allowlist = allowlist

    def expand(self, batches):
        outputs = batches | "Match" >> beam.ParDo(
            _MatchHistoryFn(self._run_id, self._options, self._allowlist, Shared()),
            beam.pvalue.AsSingleton(self._index_ref),
        ).with_outputs(_REJECTED, main="candidates")
        outputs.candidates.element_type = beam.typehints.Tuple[str, MatchRecord]
        outputs[_REJECTED].element_type = RejectedRowRecord
        return MatchHistoryResult(candidates=outputs.candidates, rejected=outputs[_REJECTED])


# --------------------------------------------------------------------------------------------- events


class _EventsFromBatchFn(beam.DoFn):
    """A row group of matches/ or retractions/ (told apart by the file's table folder) -> (identity key,
    MatchEvent) per row."""

    def __init__(self, retraction_files: list[str]):
        self._retraction_files = frozenset(retraction_files)

    def process(self, element: tuple[str, pa.Table]) -> Iterator[tuple[str, MatchEvent]]:
        path, table = element
        kind = "retraction" if path in self._retraction_files else "match"
        Metrics.counter(_NS_RECONCILE, f"earlier_{kind}_rows").inc(table.num_rows)
        micros = pc.cast(table.column("matched_at"), pa.timestamp("us", tz="UTC"))
        at = pc.cast(micros, pa.int64()).to_pylist()
        wanted = EVENT_COLUMNS["matches" if kind == "match" else "retractions"]
        columns = {name: table.column(name).to_pylist() for name in wanted if name != "matched_at"}
        none = [None] * table.num_rows
        hashes = ("md5", "sha1", "sha256", "phash", "dhash", "pdq")
        for k in range(table.num_rows):
            event = MatchEvent(
                kind=kind,
                run_id=columns["run_id"][k],
                at=at[k],
                image_url=columns["image_url"][k],
                page_url=columns["page_url"][k],
                hash_type=columns["hash_type"][k],
                list_hash=columns["list_hash"][k],
                source=columns["source"][k],
                category=columns["category"][k],
                list_version=columns["list_version"][k],
                **{h: (columns.get(h, none)[k] if kind == "match" else None) for h in hashes},
            )
            yield (
                match_key(event.image_url, event.page_url, event.hash_type, event.list_hash, event.source),
                event,
            )


class ReadMatchEvents(beam.PTransform):
    """Every earlier report and retraction: ``PCollection[str] (paths) -> PCollection[(identity key,
    MatchEvent)]``.

    The paths are the Parquet files of ``matches/`` and ``retractions/`` (all runs, crawls and rescans),
    resolved by the launcher and checked for the columns of :data:`EVENT_COLUMNS`; ``retraction_files`` says
    which are retractions. One read serves both tables (every column: they are small). Example::

        events = paths | "ReadMatchEvents" >> ReadMatchEvents(retraction_files)
    """

    def __init__(self, retraction_files: list[str]):
        super().__init__()
        self._retraction_files = list(retraction_files)

    def expand(self, paths):
        return (
            paths
            | "Read" >> ReadParquetBatches(columns=None)
            | "Events"
            >> beam.ParDo(_EventsFromBatchFn(self._retraction_files)).with_output_types(
                beam.typehints.Tuple[str, MatchEvent]
            )
        )


# --------------------------------------------------------------------------------------------- reconciling


class _Rules:
    """What decides a retraction, loaded once per worker process: the index (is the entry live?) and the
    tombstones in force (is it deleted?)."""

    def __init__(self, index: KnownHashIndex, tombstones: Tombstones | None):
        self.index = index
        self.tombstones = tombstones

    def is_live(self, hash_type: str, list_hash: str, source: str | None) -> bool:
        """Whether the index holds this exact entry (hash and source) now."""
        if hash_type not in self.index.hash_types:
            return False
        fields: dict = {"bytes_length": 0, "md5": None, "sha1": None, "sha256": None, "crc32c": ""}
        if hash_type in HASH_COLUMNS:
            fields[hash_type] = list_hash
        else:
            fields["extra"] = {hash_type: list_hash}
        options = MatchOptions(thresholds={hash_type: 0}, dihedral=False, hash_types=(hash_type,))
        return any(
            m.list_hash == list_hash and (m.source or "") == (source or "")
            for m in self.index.match(ImageHashes(**fields), options)
        )


def _load_rules(index_ref: IndexRef, tombstones_ref: TombstonesRef) -> _Rules:
    tombstones = None
    if tombstones_ref.path:
        import pyarrow.parquet as pq

        with FileSystems.open(tombstones_ref.path) as handle:
            tombstones = Tombstones.from_table(pq.read_table(pa.BufferReader(handle.read())))
    return _Rules(load_index(index_ref), tombstones)


def _candidate_rank(record: MatchRecord) -> tuple:
    return (
        record.distance,
        record.variant is not None,
        record.variant or "",
        record.hash_value,
        record.final_url or "",
        record.depth,
        record.category or "",
        record.list_version or "",
    )


class _ReconcileFn(beam.DoFn):
    def __init__(
        self,
        run_id: str,
        tombstones_ref: TombstonesRef,
        allowlist: Allowlist | None,
        shared: Shared,
    ):
        self._run_id = run_id
        self._tombstones_ref = tombstones_ref
        self._allowlist = allowlist
        self._shared = shared
        self._rules: _Rules | None = None

    def setup(self):
        def counter(name):
            return Metrics.counter(_NS_RECONCILE, name)

        self._new = counter("new_matches")
        self._reported_again = counter("matches_reported_again_after_retraction")
        self._already = counter("already_active")
        self._retracted = {r: counter(f"retractions_{r}") for r in (REASON_DELETED, REASON_ALLOWLISTED)}
        self._kept_listed = counter("active_unmatched_entry_live")
        self._kept_missing = counter("active_unmatched_entry_gone_without_tombstone")

    def _rules_for(self, ref: IndexRef) -> _Rules:
        if self._rules is None:
            tag = f"{ref.checksum}/{self._tombstones_ref.checksum}"
            self._rules = self._shared.acquire(lambda: _load_rules(ref, self._tombstones_ref), tag=tag)
        return self._rules

    # Output a MatchRecord or a tagged retraction, hinted Any: the coders stay what they were.
    def process(self, element, ref: IndexRef) -> Iterator[Any]:
        _key, groups = element
        candidates = list(groups["candidates"])
        events = list(groups["events"])
        reported = [e for e in events if e.kind == "match"]
        retracted = [e for e in events if e.kind == "retraction"]
        latest = max(reported, key=lambda e: (e.at, e.run_id), default=None)
        retracted_upto = max((e.at for e in retracted), default=None)
        active = latest is not None and (retracted_upto is None or latest.at > retracted_upto)
        if candidates:
            if active:
                self._already.inc()
                return
            (self._reported_again if retracted else self._new).inc()
            yield min(candidates, key=_candidate_rank)
            return
        if not active:
            return
        retraction = self._retraction(latest, ref)
        if retraction is not None:
            self._retracted[retraction.reason].inc()
            yield TaggedOutput(_RETRACTIONS, retraction)

    def _retraction(self, match: MatchEvent, ref: IndexRef) -> RetractionRecord | None:
        rules = self._rules_for(ref)
        fields = dict(
            run_id=self._run_id,
            retracted_at=_now_us(),
            image_url=match.image_url,
            page_url=match.page_url,
            hash_type=match.hash_type,
            list_hash=match.list_hash,
            source=match.source,
            match_run_id=match.run_id,
            matched_at=match.at,
            category=match.category,
            list_version=match.list_version,
            cause_list_version=None,
            allowlist_sha256=None,
            allowlist_scope=None,
            allowlist_hash_type=None,
            allowlist_hash_value=None,
            allowlist_reason=None,
            index_checksum=ref.checksum,
        )
        live = rules.is_live(match.hash_type, match.list_hash, match.source)
        if not live and rules.tombstones is not None:
            deleted, version = rules.tombstones.deleted(match.hash_type, match.list_hash, match.source)
            if deleted:
                return RetractionRecord(reason=REASON_DELETED, **{**fields, "cause_list_version": version})
        if self._allowlist is not None:
            entry = self._allowlist.suppressing(match.hash_type, match.list_hash, image_hashes_mapping(match))
            if entry is not None:
                return RetractionRecord(
                    reason=REASON_ALLOWLISTED,
                    **{
                        **fields,
                        "allowlist_sha256": self._allowlist.sha256,
                        "allowlist_scope": entry.scope,
                        "allowlist_hash_type": entry.hash_type,
                        "allowlist_hash_value": entry.hash_value,
                        "allowlist_reason": entry.reason,
                    },
                )
        (self._kept_listed if live else self._kept_missing).inc()
        return None


class ReconcileResult(NamedTuple):
    matches: beam.PCollection  # [MatchRecord] matches to report now
    retractions: beam.PCollection  # [RetractionRecord]


class ReconcileMatches(beam.PTransform):
    """``(candidates, events) -> ReconcileResult``: what to report and what to retract (module docstring).

    Example::

        result = (found.candidates, events) | "Reconcile" >> ReconcileMatches(
            index_ref, run_id, TombstonesRef(path, checksum), allowlist
        )
    """

    def __init__(
        self,
        index_ref: beam.PCollection,
        run_id: str,
        tombstones_ref: TombstonesRef,
        allowlist: Allowlist | None = None,
    ):
        super().__init__()
        self._index_ref = index_ref
        self._run_id = run_id
        self._tombstones_ref = tombstones_ref
        self._allowlist = allowlist

    def expand(self, pcolls):
        candidates, events = pcolls
        grouped = {"candidates": candidates, "events": events} | "ByIdentity" >> beam.CoGroupByKey()
        outputs = grouped | "Decide" >> beam.ParDo(
            _ReconcileFn(self._run_id, self._tombstones_ref, self._allowlist, Shared()),
            beam.pvalue.AsSingleton(self._index_ref),
        ).with_outputs(_RETRACTIONS, main="matches")
        outputs.matches.element_type = MatchRecord
        outputs[_RETRACTIONS].element_type = RetractionRecord
        return ReconcileResult(matches=outputs.matches, retractions=outputs[_RETRACTIONS])
