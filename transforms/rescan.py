"""The nightly rescan's transforms: match the images/ history again, and reconcile with what was reported.

::

    images/ paths -> ReadParquetBatches (row groups as Arrow tables) -> MatchHistory -> candidates (by identity)
    matches/ + retractions/ paths -> ReadMatchEvents -> earlier reports and retractions (by identity)
    (candidates, events) -> ReconcileMatches -> new matches, retractions

Thin adapters: the matching of a row group is :func:`hashwatch.rescan.history.match_history_batch`, the
reconciliation rules are :func:`hashwatch.rescan.rules.decide` (no Beam in either); here they get their
inputs, their index (loaded once per worker process), their metrics and their outputs.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquetBatched
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.shared import Shared

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.list_tombstones import Tombstones
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.history import match_history_batch
from hashwatch.rescan.plan import match_delta_batch
from hashwatch.rescan.rules import Rules, decide, events_from_table
from hashwatch.rescan.video_history import match_video_history_batch
from hashwatch.video.video_match import video_match_options
from schemas import MatchEvent, MatchRecord, RejectedRowRecord, RetractionRecord
from schemas.known_hashes import IndexRef
from transforms.match import SharedIndex, load_index

__all__ = [
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


class _MatchHistoryFn(beam.DoFn):
    def __init__(
        self,
        run_id: str,
        match_options: MatchOptions,
        allowlist: Allowlist | None,
        shared: Shared,
        videos: bool = False,
    ):
        self._videos = videos  # the batches are videos/ history (hashwatch.rescan.video_history)
        self._run_id = run_id
        self._options = match_options
        self._allowlist = allowlist
        self._shared = shared
        self._screen_shared = Shared()

    def setup(self):
        self._index_for = SharedIndex(self._shared, _NS_MATCH)
        self._screen_for = SharedIndex(self._screen_shared, _NS_MATCH)
        self._counters = {
            name: Metrics.counter(_NS_MATCH, name)
            for name in (
                "history_rows",
                "rejected_rows",
                "rows_with_a_match",
                "candidate_matches",
                "delta_rows",
            )
        }
        self._counters["allowlisted"] = Metrics.counter(_NS_MATCH, "allowlisted_matches")
        self._lookups: dict[str, tuple[Any, Any]] = {}

    def _time(self, name: str, seconds: float, queries: int) -> None:
        if name not in self._lookups:
            self._lookups[name] = (
                Metrics.counter(_NS_MATCH, f"lookup_us_{name}"),
                Metrics.counter(_NS_MATCH, f"queries_{name}"),
            )
        lookup_us, counted = self._lookups[name]
        lookup_us.inc(int(seconds * 1e6))
        counted.inc(queries)

    # Output (match key, MatchRecord) and tagged rejects, hinted Any: the coders stay what they were.
    def process(self, element: tuple[str, pa.Table], ref: IndexRef, screen: Any = None) -> Iterator[Any]:
        path, table = element
        if screen is not None:  # an old file of an incremental rescan: against the list delta only
            found = match_delta_batch(
                table,
                self._index_for(ref),
                self._screen_for(screen),
                self._options,
                self._allowlist,
                run_id=self._run_id,
                now_us=_now_us(),
                path=path,
                timer=self._time,
            )
            self._counters["delta_rows"].inc(found.rows)
            yield from self._emit(found)
            return
        if self._videos:
            found = match_video_history_batch(
                table,
                self._index_for(ref),
                # --threshold vpdq=N / pdq=N and --match-types as for images; the percentages pytx's
                video_match_options(self._options.thresholds, self._options.hash_types),
                self._allowlist,
                run_id=self._run_id,
                now_us=_now_us(),
                path=path,
            )
            yield from self._emit(found)
            return
        found = match_history_batch(
            table,
            self._index_for(ref),
            self._options,
            self._allowlist,
            run_id=self._run_id,
            now_us=_now_us(),
            path=path,
            timer=self._time,
        )
        yield from self._emit(found)

    def _emit(self, found) -> Iterator[Any]:
        counters = self._counters
        counters["history_rows"].inc(found.rows)
        for rejected in found.rejected:
            counters["rejected_rows"].inc()
            yield TaggedOutput(_REJECTED, rejected)
        if found.rows_hit:
            counters["rows_with_a_match"].inc(found.rows_hit)
        if found.allowlisted is not None:
            counters["allowlisted"].inc(found.allowlisted)
        for keyed in found.candidates:
            counters["candidate_matches"].inc()
            yield keyed


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

    ``screen_ref`` (a one-element ``PCollection[IndexRef]`` of the list delta's screen,
    :func:`hashwatch.rescan.plan.delta_screen`): the batches are old files of an incremental rescan, matched
    against the delta only (:func:`~hashwatch.rescan.plan.match_delta_batch`).
    """

    def __init__(
        self,
        index_ref: beam.PCollection,
        run_id: str,
        match_options: MatchOptions | None = None,
        allowlist: Allowlist | None = None,
        videos: bool = False,
        screen_ref: beam.PCollection | None = None,
    ):
        super().__init__()
        self._videos = videos  # batches of videos/ history: matched by the crawl's video matching
        self._screen_ref = screen_ref
        self._index_ref = index_ref
        self._run_id = run_id
        self._options = match_options or MatchOptions()
        self._allowlist = allowlist

    def expand(self, batches):
        sides = [beam.pvalue.AsSingleton(self._index_ref)]
        if self._screen_ref is not None:
            sides.append(beam.pvalue.AsSingleton(self._screen_ref))
        outputs = batches | "Match" >> beam.ParDo(
            _MatchHistoryFn(self._run_id, self._options, self._allowlist, Shared(), self._videos), *sides
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
        yield from events_from_table(table, kind)


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


def _load_rules(index_ref: IndexRef, tombstones_ref: TombstonesRef, allowlist: Allowlist | None) -> Rules:
    tombstones = None
    if tombstones_ref.path:
        import pyarrow.parquet as pq

        with FileSystems.open(tombstones_ref.path) as handle:
            tombstones = Tombstones.from_table(pq.read_table(pa.BufferReader(handle.read())))
    return Rules(load_index(index_ref), tombstones, allowlist)


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
        self._rules: Rules | None = None

    def setup(self):
        self._outcomes: dict[str, Any] = {}

    def _rules_for(self, ref: IndexRef) -> Rules:
        if self._rules is None:
            tag = f"{ref.checksum}/{self._tombstones_ref.checksum}"
            self._rules = self._shared.acquire(
                lambda: _load_rules(ref, self._tombstones_ref, self._allowlist), tag=tag
            )
        return self._rules

    # Output a MatchRecord or a tagged retraction, hinted Any: the coders stay what they were.
    def process(self, element, ref: IndexRef) -> Iterator[Any]:
        _key, groups = element
        candidates = list(groups["candidates"])
        events = list(groups["events"])
        decision = decide(
            candidates,
            events,
            lambda: self._rules_for(ref),
            run_id=self._run_id,
            index_checksum=ref.checksum,
            now_us=_now_us(),
        )
        if decision.outcome is None:
            return
        if decision.outcome not in self._outcomes:
            self._outcomes[decision.outcome] = Metrics.counter(_NS_RECONCILE, decision.outcome)
        self._outcomes[decision.outcome].inc()
        if isinstance(decision.record, RetractionRecord):
            yield TaggedOutput(_RETRACTIONS, decision.record)
        elif decision.record is not None:
            yield decision.record


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
