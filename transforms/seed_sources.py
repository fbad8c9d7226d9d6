"""Seed sources: where a run's seed URLs come from, batch and streaming, in one registry.

A seed source is a ``PTransform`` from ``PBegin`` to :class:`SeedStream`: the seed lines
(``PCollection[str]``; a streaming source's timestamped with their arrival time) and dead-letter
``fetch_log`` rows for input that could not be read at all (a seed file that vanished, a line that is not
UTF-8). A line that is not a usable URL is not the source's business: the crawl turns it into a
``failed``/``invalid_url`` row. :class:`transforms.crawl_and_match.CrawlAndMatch` takes the stream from there.

:data:`SEED_SOURCES` maps a name to a :class:`SeedSource`: whether it is unbounded (a streaming run's
``--seed-source`` chooses among those) and a factory taking the run's
:class:`~hashwatch.run_config.RunConfig`. Two exist today:

* ``files`` (batch): :class:`transforms.seeds.ReadSeeds`, every file matching ``--seeds``, read once.
* ``folder`` (streaming): :class:`WatchedFolderSeeds`, every new file matching ``--seeds`` (a glob), polled
  every ``--seed-poll-interval`` seconds, read as text (one URL a line, ``#`` comments; ``.gz`` read
  transparently) or CSV/TSV with a URL column.

Adding one (a message queue, an archive reader) is one entry here and its transform: a queue's maps each
message to its URL string (README, "Streaming", says what Kafka takes); settings of its own go into the
run config (docs/architecture.md, "The graph").

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import math
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.userstate import CombiningValueStateSpec
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from hashwatch.run_config import RunConfig
from schemas.fetch_log import FetchLogRecord
from transforms.seed_file_ledger import SeedFileLedger, ledger_dir
from transforms.seeds import (
    INVALID_SEED,
    InvalidSeed,
    ReadSeeds,
    SeedStream,
    iter_seed_file,
    seed_dead_letter,
)

__all__ = [
    "SEED_SOURCES",
    "SeedSource",
    "SeedStream",
    "WatchedFolderSeeds",
    "seed_source",
    "streaming_source_names",
]

_NAMESPACE = "SeedSource"
_DEAD = "dead_letters"


class _ReadSeedFileFn(beam.DoFn):
    """FileMetadata -> seed lines, read as in batch (:func:`transforms.seeds.iter_seed_file`): a line that is
    not UTF-8, or a file that cannot be read (from the start or part-way), becomes a failed fetch_log row."""

    def __init__(self, run_id: str, url_column: str):
        self._run_id = run_id
        self._url_column = url_column

    def setup(self):
        self._files = Metrics.counter(_NAMESPACE, "seed_files")
        self._lines = Metrics.counter(_NAMESPACE, "seed_lines")
        self._bad_lines = Metrics.counter(_NAMESPACE, "invalid_seed_lines")
        self._bad_files = Metrics.counter(_NAMESPACE, "unreadable_seed_files")

    def process(self, metadata) -> Iterator[str]:  # seed lines; dead letters tagged
        self._files.inc()
        for seed in iter_seed_file(metadata.path, self._url_column):
            if isinstance(seed, InvalidSeed):
                counter = self._bad_lines if seed.error_kind == INVALID_SEED else self._bad_files
                counter.inc()
                yield TaggedOutput(_DEAD, seed_dead_letter(self._run_id, seed))
                continue
            self._lines.inc()
            yield seed


class _PollTicks(beam.RestrictionProvider):
    """Tick ``i`` of a ``(start, stop, interval)`` element is due at ``start + i * interval``: the restriction
    is the range of ticks not polled yet, as in Beam's ``PeriodicImpulse``."""

    def initial_restriction(self, element) -> OffsetRange:
        start, stop, interval = element
        return OffsetRange(0, max(1, math.ceil((stop - start) / interval)))

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return 8  # one small element at a time; the size only guides splitting, which this never does

    def truncate(self, element, restriction):  # on drain: poll no more
        return None


_TICKS_PARAM = beam.DoFn.RestrictionParam(_PollTicks())
_WATERMARK_PARAM = beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())


class _PollClockFn(beam.DoFn):
    """``(start, stop, interval)`` -> one element per folder poll, its value and timestamp the wall-clock time
    of the poll; the watermark is the time the next poll is due.

    Unlike Beam's ``PeriodicImpulse`` (whose element *i* is stamped with its due time ``start + i * interval``),
    a job restored from a checkpoint does not replay the polls it missed while it was down: that made every
    seed file that landed during an outage carry the time of the first missed poll, so all of them went into
    the window of the restored checkpoint, and the windows after it stayed empty. Here the missed polls are
    skipped and the next one is stamped with the time it really runs. ``clock``: the wall clock (tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element,
        tracker=_TICKS_PARAM,
        watermark=_WATERMARK_PARAM,
    ):
        start, _stop, interval = element
        now = self._clock()
        index = tracker.current_restriction().start
        # Skip ticks whose time has passed (the job was down): the latest one due is polled, once.
        latest_due = math.floor((now - start) / interval)
        index = max(index, min(latest_due, tracker.current_restriction().stop - 1))
        due = start + interval * index
        if due > now:  # not due yet (a restore within one interval)
            tracker.defer_remainder(Timestamp.of(due))
            return
        if not tracker.try_claim(index):
            return
        yield TimestampedValue(now, Timestamp.of(now))
        # No later poll runs before the next tick is due: windows ending before it can close now.
        following = start + interval * (index + 1)
        watermark.set_watermark(Timestamp.of(following))
        tracker.defer_remainder(Timestamp.of(following))


_SEEN = CombiningValueStateSpec("seen", combine_fn=sum)
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)


class _FirstSightingFn(beam.DoFn):
    """``(path, FileMetadata)`` keyed by path -> the file's metadata the first time its path is seen, stamped
    with the time of the poll that first found it (from the ledger when a restored job finds it again)."""

    def __init__(self, ledger_folder: str | None):
        self._ledger = SeedFileLedger(ledger_folder) if ledger_folder else None

    def process(self, element, timestamp=beam.DoFn.TimestampParam, seen=_SEEN_PARAM):
        path, metadata = element
        if seen.read():
            return
        seen.add(1)
        found_at = float(timestamp)
        if self._ledger is not None:
            found_at = self._ledger.first_found(path, found_at)
        yield TimestampedValue(metadata, Timestamp.of(found_at))


class WatchedFolderSeeds(beam.PTransform):
    """Seed lines from new files matching ``pattern``: ``PBegin -> SeedStream``.

    Lists the folder every ``interval_s`` seconds (``fileio.MatchAll``) and reads each path once (keyed
    state; a file rewritten under the same name is not read again, so drop new files under new names, written
    elsewhere and renamed in, so a half-written file is never read). Lines carry the time of the poll that
    found their file as their timestamp, so they fall into the window of their arrival, also in a job
    restored from a checkpoint (:class:`_PollClockFn`): ``ledger_folder`` (see
    :mod:`transforms.seed_file_ledger`) keeps each file's first-found time, so a file found again after a
    restore keeps its window. ``stop_after_s`` ends the polling (tests, benchmarks, ``--run-for``); by
    default it never ends.

    Example::

        stream = pipeline | "Seeds" >> WatchedFolderSeeds("/data/incoming/*.txt", run_id, interval_s=5)
        stream.seeds | ...
    """

    def __init__(
        self,
        pattern: str,
        run_id: str,
        interval_s: float = 10.0,
        url_column: str = "url",
        stop_after_s: float | None = None,
        ledger_folder: str | None = None,
    ):
        super().__init__()
        self._pattern = pattern
        self._run_id = run_id
        self._interval_s = interval_s
        self._url_column = url_column
        self._stop_after_s = stop_after_s
        self._ledger_folder = ledger_folder

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, pbegin):
        start = time.time()
        stop = start + self._stop_after_s if self._stop_after_s else float(MAX_TIMESTAMP.micros) / 1e6
        pattern = self._pattern
        read = (
            pbegin
            | "Start" >> beam.Create([(start, stop, self._interval_s)])
            | "PollClock" >> beam.ParDo(_PollClockFn())
            | "Pattern" >> beam.Map(lambda _tick: pattern)
            | "ListFolder" >> fileio.MatchAll(EmptyMatchTreatment.ALLOW)
            | "ByPath"
            >> beam.Map(lambda metadata: (metadata.path, metadata)).with_output_types(
                tuple[str, FileMetadata]
            )
            | "FirstSighting" >> beam.ParDo(_FirstSightingFn(self._ledger_folder))
            | "ReadSeedFile"
            >> beam.ParDo(_ReadSeedFileFn(self._run_id, self._url_column)).with_outputs(_DEAD, main="seeds")
        )
        dead = read[_DEAD]
        dead.element_type = FetchLogRecord
        return SeedStream(seeds=read.seeds, fetch_log=dead)


class SeedSource(NamedTuple):
    """One way seeds arrive. ``unbounded``: a streaming source (``--seed-source`` names one); a batch run
    reads a bounded one. ``make``: the run's config -> ``PTransform[PBegin, SeedStream]``. ``label``: its
    step's name (a failure in it is reported as "... in step '<label>/...'")."""

    unbounded: bool
    make: Callable[[RunConfig], beam.PTransform]
    label: str


def _files(config: RunConfig) -> beam.PTransform:
    return ReadSeeds(config.seeds.patterns, config.seeds.url_column, config.run_id)


def _folder(config: RunConfig) -> beam.PTransform:
    (pattern,) = config.seeds.patterns
    stream = config.streaming
    return WatchedFolderSeeds(
        pattern,
        config.run_id,
        interval_s=stream.seed_poll_interval,
        url_column=config.seeds.url_column,
        stop_after_s=stream.run_for or None,
        ledger_folder=ledger_dir(config.output.output_dir, config.run_id),
    )


SEED_SOURCES: dict[str, SeedSource] = {
    "files": SeedSource(unbounded=False, make=_files, label="ReadSeeds"),
    "folder": SeedSource(unbounded=True, make=_folder, label="Seeds"),
}


def streaming_source_names() -> list[str]:
    """The names ``--seed-source`` accepts."""
    return sorted(name for name, source in SEED_SOURCES.items() if source.unbounded)


def seed_source(config: RunConfig) -> SeedSource:
    """The source of a run: seed files for a batch run, ``--seed-source`` for a streaming one::

    source = seed_source(config)
    stream = pipeline | source.label >> source.make(config)
    """
    name = config.streaming.seed_source if config.streaming is not None else "files"
    return SEED_SOURCES[name]
