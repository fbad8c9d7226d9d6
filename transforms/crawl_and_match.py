"""The crawl-and-match graph, one for batch and streaming runs: a source's seeds in, the tables out.

::

    source: PBegin -> SeedStream               seed_source(config): ReadSeeds (batch), WatchedFolderSeeds, ...
      |  seeds [str], dead letters [FetchLogRecord]
    CrawlAndMatch(config, index)
      |- (streaming) WindowSeeds, WindowDeadLetters     fixed windows of --window-length
      |- CrawlRounds                  pages, depth 0..N, and each distinct image as soon as a page shows it
      |                               (Round<d>/FetchPages -> HashImages, HashFetchedImages, fused: image
      |                               bytes never leave the stage)
      |- VideoTasksFromRefs           one task per distinct video URL
      |- FetchVideos                  Fetch -> HashVideos (fused: video bytes never leave the stage)
      |- AllImages, MergeImageRecords one images/ row per image URL
      |- MatchKnownHashes             the index: FixedIndex (batch) or IndexWatch (streaming)
      |- MatchVideos                  the same index: video_md5, vPDQ (and its frames against picture PDQs)
      |- AllFetches, AllMatches
      v  Tables(fetch_log, images, matches, videos)
    sink: Tables -> {table: files}             ParquetTables (batch), WindowedParquetTables (streaming)

A streaming run differs in three places only, all chosen from ``config.streaming``: the seeds are windowed,
:class:`~transforms.streaming_crawl.SeenWithinTtl` drops URLs crawled in earlier windows, and the sink writes
one file per window. Which source, index and sink a run gets is decided in one place each:
:func:`transforms.seed_sources.seed_source`, :func:`index_source`, :func:`table_sink`;
:func:`build_crawl_and_match` wires the three to the graph. docs/architecture.md, "The graph", says how
to add a source or a sink.

Example::

    config = run_config.with_run_id(run_id)
    stream = pipeline | "ReadSeeds" >> ReadSeeds(config.seeds.patterns, run_id=run_id)
    tables = stream | "CrawlAndMatch" >> CrawlAndMatch(config, FixedIndex(ref))
    tables | "WriteTables" >> ParquetTables(config.output.output_dir, run_id, day)
"""

import dataclasses
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.run_config import RunConfig
from schemas import FETCH_LOG_SCHEMA, IMAGES_SCHEMA, MATCHES_SCHEMA, VIDEOS_SCHEMA
from schemas.known_hashes import IndexRef
from transforms.crawl import CrawlRounds
from transforms.fetch_images import FetchImages, ImageTasksFromRefs
from transforms.fetch_videos import FetchVideos, VideoTasksFromRefs
from transforms.hash_images import HashImageBody
from transforms.hash_videos import HashVideoBody
from transforms.index_refresh import IndexWatch
from transforms.match import FixedIndex, IndexSource, MatchKnownHashes
from transforms.match_videos import MatchVideos
from transforms.merge_images import MergeImageRecords
from transforms.parquet_output import WriteParquetTable
from transforms.progress import ProgressConfig
from transforms.seed_sources import seed_source
from transforms.streaming_crawl import SeenWithinTtl, StreamWindowing
from transforms.windowed_parquet import WriteWindowedParquet

__all__ = [
    "TABLE_SCHEMAS",
    "CrawlAndMatch",
    "ParquetTables",
    "Tables",
    "WindowedParquetTables",
    "build_crawl_and_match",
    "index_source",
    "table_sink",
]

# The tables a crawl writes, in the order they are written, with their Parquet schemas.
TABLE_SCHEMAS = {
    "fetch_log": FETCH_LOG_SCHEMA,
    "images": IMAGES_SCHEMA,
    "matches": MATCHES_SCHEMA,
    "videos": VIDEOS_SCHEMA,
}


class Tables(NamedTuple):
    """What the graph gives a sink: the four tables' records (windowed in a streaming run)."""

    fetch_log: PCollection  # [FetchLogRecord] one row per URL attempted or skipped, dead letters included
    images: PCollection  # [ImageRecord] one row per image URL hashed
    matches: PCollection  # [MatchRecord] one row per (page, image or video, list entry matched)
    videos: PCollection  # [VideoRecord] one row per video URL hashed


class CrawlAndMatch(beam.PTransform):
    """``SeedStream -> Tables``: crawl from the seeds, fetch and hash every image, match against the index.

    ``config``: the run's :class:`~hashwatch.run_config.RunConfig`, with its run id
    (:meth:`~hashwatch.run_config.RunConfig.with_run_id`); ``config.streaming`` set means the seeds are
    unbounded and timestamped. ``index``: where the known-hash index comes from (:func:`index_source`).
    ``allowlist``: matches never to report; ``progress``: live progress (:mod:`transforms.progress`).
    """

    def __init__(
        self,
        config: RunConfig,
        index: IndexSource,
        allowlist: Allowlist | None = None,
        progress: ProgressConfig | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._index = index
        self._allowlist = allowlist
        self._progress = progress

    # No hints: Beam warns about any but a PCollection's, and this takes and returns NamedTuples of them.
    def expand(self, stream):  # SeedStream -> Tables
        config, progress = self._config, self._progress
        run_id = config.run_id
        hasher = HashImageBody(run_id, hash_config=config.hashing)
        seeds, dead_letters = stream.seeds, stream.fetch_log
        seen = None  # batch: CrawlRounds' own (each distinct seed once, links checked per host)
        if config.streaming is not None:
            windowing = StreamWindowing(config.streaming.window_length, config.streaming.allowed_lateness)
            seeds = seeds | "WindowSeeds" >> windowing.into()
            dead_letters = dead_letters | "WindowDeadLetters" >> windowing.into()
            seen = SeenWithinTtl(windowing, config.streaming.dedupe_ttl)
        limits = dataclasses.replace(config.video, max_bytes=config.crawl.max_video_bytes)
        fetch_logs = []
        if config.crawl.pipelined_images:
            # The rounds fetch and hash each image as soon as a page shows it, overlapping the page rounds.
            crawl = seeds | "CrawlRounds" >> CrawlRounds(
                config.crawl, run_id, hasher, progress, seen, fetch_images=True
            )
            image_parts, video_refs, late_refs = [crawl.images], crawl.video_refs, crawl.late_image_refs
        else:
            # One image stage after the last round (each distinct image URL with every page that showed it):
            # measured faster end to end than the pipelined form (CrawlConfig.pipelined_images).
            crawl = seeds | "CrawlRounds" >> CrawlRounds(config.crawl, run_id, hasher, progress, seen)
            tasks = crawl.image_refs | "ImageTasksFromRefs" >> ImageTasksFromRefs()
            fetched = tasks | "FetchImages" >> FetchImages(config.crawl, run_id, hasher, progress)
            image_parts, late_refs = [fetched.images], None
            fetch_logs.append(fetched.fetch_log)
            video_refs = (crawl.video_refs, fetched.video_refs) | "AllVideoRefs" >> beam.Flatten()
        video_tasks = video_refs | "VideoTasksFromRefs" >> VideoTasksFromRefs()
        videos = video_tasks | "FetchVideos" >> FetchVideos(
            config.crawl, run_id, HashVideoBody(run_id, limits, hasher), progress
        )
        images = (
            (*image_parts, crawl.inline_images, videos.images)
            | "AllImages" >> beam.Flatten()
            | "MergeImageRecords" >> MergeImageRecords(late_refs)
        )
        image_matches = images | "MatchKnownHashes" >> MatchKnownHashes(
            self._index, run_id, config.matching, self._allowlist, progress
        )
        # Videos match by Meta's vPDQ rule (VideoMatchOptions: pytx's defaults, --vpdq-query-percent, ...).
        video_matches = videos.videos | "MatchVideos" >> MatchVideos(
            self._index, run_id, config.video_matching, progress, self._allowlist
        )
        matches = (image_matches, video_matches) | "AllMatches" >> beam.Flatten()
        fetch_log = (
            dead_letters,
            crawl.fetch_log,
            *fetch_logs,
            videos.fetch_log,
        ) | "AllFetches" >> beam.Flatten()
        return Tables(fetch_log=fetch_log, images=images, matches=matches, videos=videos.videos)


class ParquetTables(beam.PTransform):
    """The batch sink: ``Tables -> {table: PCollection[str] of files written}``, one Parquet folder per table
    and run (``<output>/<table>/dt=<day>/run_id=<run id>/``, :class:`WriteParquetTable`)."""

    def __init__(self, output: str, run_id: str, day: str, codec: str = "zstd") -> None:
        super().__init__()
        self._output, self._run_id, self._day, self._codec = output, run_id, day, codec

    def expand(self, tables):  # Tables -> dict; not hinted: Beam warns about hints of NamedTuples
        return {
            table: getattr(tables, table)
            | f"Write {table}"
            >> WriteParquetTable(self._output, table, schema, self._run_id, self._day, codec=self._codec)
            for table, schema in TABLE_SCHEMAS.items()
        }


class WindowedParquetTables(beam.PTransform):
    """The streaming sink: ``Tables -> {table: files written}``, one Parquet file per table, window and pane
    (:class:`WriteWindowedParquet`)."""

    def __init__(self, output: str, run_id: str, codec: str = "zstd") -> None:
        super().__init__()
        self._output, self._run_id, self._codec = output, run_id, codec

    def expand(self, tables):  # Tables -> dict; not hinted: Beam warns about hints of NamedTuples
        return {
            table: getattr(tables, table)
            | f"Write {table}"
            >> WriteWindowedParquet(self._output, table, schema, self._run_id, codec=self._codec)
            for table, schema in TABLE_SCHEMAS.items()
        }


def index_source(config: RunConfig, ref: IndexRef) -> IndexSource:
    """A batch run matches against the index it started with; a streaming run watches ``--index`` for new
    versions (an index compiled from ``--hash-list`` stays as it is: nothing replaces its file)."""
    if config.streaming is None:
        return FixedIndex(ref)
    spec = config.known.index or ref.path
    return IndexWatch(spec, config.output.output_dir, config.streaming.refresh_index_interval, ref)


def table_sink(config: RunConfig, day: str) -> beam.PTransform:
    """Where the tables go: Parquet per run (batch) or per window (streaming)."""
    output = config.output
    if config.streaming is None:
        return ParquetTables(output.output_dir, config.run_id, day, output.parquet_codec)
    return WindowedParquetTables(output.output_dir, config.run_id, output.parquet_codec)


def build_crawl_and_match(
    pipeline: beam.Pipeline,
    config: RunConfig,
    ref: IndexRef,
    day: str,
    allowlist: Allowlist | None = None,
    progress: ProgressConfig | None = None,
) -> dict:
    """Add the whole job to ``pipeline``: the run's source, the graph, its sink. Returns the sink's
    written-files PCollections by table."""
    source = seed_source(config)
    stream = pipeline | source.label >> source.make(config)
    tables = stream | "CrawlAndMatch" >> CrawlAndMatch(config, index_source(config, ref), allowlist, progress)
    return tables | "WriteTables" >> table_sink(config, day)
