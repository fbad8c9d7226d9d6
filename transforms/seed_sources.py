"""Unbounded seed sources for streaming runs: where new seed URLs come from while the job runs.

A seed source is a ``PTransform`` from ``PBegin`` to :class:`SeedStream`: the seed lines as they arrive
(``PCollection[str]``, timestamped with their arrival time) and dead-letter ``fetch_log`` rows for input that
could not be read at all (a seed file that vanished or cannot be opened). A line that is not a usable URL is
not the source's business: the crawl turns it into a ``failed``/``invalid_url`` row, as in batch.

Sources are chosen by ``--seed-source`` through :data:`SEED_SOURCES` (name -> factory taking the pipeline
options). One exists today:

* ``folder``: :class:`WatchedFolderSeeds`, every new file matching ``--seeds`` (a glob), polled every
  ``--seed-poll-interval`` seconds, read as text (one URL a line, ``#`` comments; ``.gz`` read transparently)
  or CSV/TSV with a URL column.

A message queue plugs in as another entry: a factory returning a transform that reads the queue and maps each
message to its URL string (README, "Streaming", says what Kafka takes).

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import io
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from hashwatch.crawling.fetcher import one_line
from hashwatch.crawling.frontier import skipped_row
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import OUTCOME_FAILED
from transforms.seeds import iter_csv_urls, parse_seed_line, seed_format

__all__ = ["SEED_SOURCES", "SeedSourceConfig", "SeedStream", "WatchedFolderSeeds", "seed_source"]

_NAMESPACE = "SeedSource"
_DEAD = "dead_letters"


class SeedStream(NamedTuple):
    seeds: PCollection  # [str] one element per seed line (URL or junk), timestamped on arrival
    fetch_log: PCollection  # [FetchLogRecord] dead letters: input that could not be read at all


class _ReadSeedFileFn(beam.DoFn):
    """FileMetadata -> seed lines; a file that cannot be read becomes one failed fetch_log row."""

    def __init__(self, run_id: str, url_column: str):
        self._run_id = run_id
        self._url_column = url_column

    def setup(self):
        self._files = Metrics.counter(_NAMESPACE, "seed_files")
        self._lines = Metrics.counter(_NAMESPACE, "seed_lines")
        self._bad_files = Metrics.counter(_NAMESPACE, "unreadable_seed_files")

    def process(self, metadata) -> Iterator[str]:  # seed lines; dead letters tagged
        path = metadata.path
        try:
            urls = list(self._read(path))
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes a dead-letter row
            self._bad_files.inc()
            message = f"seed file could not be read: {type(exc).__name__}: {exc}"
            yield TaggedOutput(
                _DEAD,
                skipped_row(
                    self._run_id,
                    path,
                    0,
                    None,
                    "unreadable_seed_file",
                    one_line(message),
                    outcome=OUTCOME_FAILED,
                ),
            )
            return
        self._files.inc()
        self._lines.inc(len(urls))
        yield from urls

    def _read(self, path: str) -> Iterator[str]:
        from apache_beam.io.filesystems import FileSystems

        # Whole files (seed files are small). Beam's decompressing reader needs a size (read(None) fails)
        # and is no io.RawIOBase for TextIOWrapper.
        chunks = []
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as raw:
            while chunk := raw.read(1 << 20):
                chunks.append(chunk)
        text = b"".join(chunks).decode("utf-8", errors="replace")
        with io.StringIO(text, newline="") as stream:
            if seed_format(path) == "csv":
                yield from iter_csv_urls(stream, path, self._url_column)
                return
            for line in stream:
                url = parse_seed_line(line)
                if url is not None:
                    yield url


class WatchedFolderSeeds(beam.PTransform):
    """Seed lines from new files matching ``pattern``: ``PBegin -> SeedStream``.

    Polls every ``interval_s`` seconds with ``fileio.MatchContinuously`` (which emits each path once:
    ``has_deduplication``; a file rewritten under the same name is not read again, so drop new files under new
    names, written elsewhere and renamed in, so a half-written file is never read). Lines carry the poll's
    time as their timestamp, so they fall into the window of their arrival. ``stop_after_s`` ends the
    polling (tests, benchmarks, ``--run-for``); by default it never ends.

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
    ):
        super().__init__()
        self._pattern = pattern
        self._run_id = run_id
        self._interval_s = interval_s
        self._url_column = url_column
        self._stop_after_s = stop_after_s

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, pbegin):
        start = Timestamp.of(time.time())  # not MatchContinuously's default, which is fixed at import time
        stop = start + self._stop_after_s if self._stop_after_s else MAX_TIMESTAMP
        read = (
            pbegin
            | "MatchContinuously"
            >> fileio.MatchContinuously(
                self._pattern,
                interval=self._interval_s,
                has_deduplication=True,
                start_timestamp=start,
                stop_timestamp=stop,
            )
            | "ReadSeedFile"
            >> beam.ParDo(_ReadSeedFileFn(self._run_id, self._url_column)).with_outputs(_DEAD, main="seeds")
        )
        dead = read[_DEAD]
        dead.element_type = FetchLogRecord
        return SeedStream(seeds=read.seeds, fetch_log=dead)


class SeedSourceConfig(NamedTuple):
    """What every seed source factory gets. ``options`` is the whole ``PipelineOptions``: a source with
    flags of its own (a queue's brokers and topic) reads them through its own options class."""

    patterns: list[str]  # --seeds
    url_column: str  # --seed-url-column
    poll_interval_s: float  # --seed-poll-interval
    run_id: str
    stop_after_s: float | None  # --run-for (None: never)
    options: object = None


def _folder(config: SeedSourceConfig) -> beam.PTransform:
    (pattern,) = config.patterns
    return WatchedFolderSeeds(
        pattern,
        config.run_id,
        interval_s=config.poll_interval_s,
        url_column=config.url_column,
        stop_after_s=config.stop_after_s,
    )


# name -> factory(SeedSourceConfig) -> PTransform[PBegin, SeedStream]
SEED_SOURCES: dict[str, Callable[[SeedSourceConfig], beam.PTransform]] = {"folder": _folder}


def seed_source(name: str, config: SeedSourceConfig) -> beam.PTransform:
    """The seed source named by ``--seed-source``."""
    return SEED_SOURCES[name](config)
