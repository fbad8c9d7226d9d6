"""The crawl-and-match pipeline as an unbounded job (``hashwatch crawl --streaming``).

::

    seed source (watched folder; later a queue) -> fixed windows (--window-length)
      -> StreamingCrawlRounds (depth 0..N per window; URLs deduplicated across windows for --dedupe-ttl)
      -> ImageTasksFromRefs -> FetchImages -> MergeImageRecords
      -> MatchKnownHashes (side input: WatchIndex, the index re-read every --refresh-index-interval)
      -> matches/, images/, fetch_log/: one Parquet file per window and pane (WriteWindowedParquet)

:func:`pipelines.crawl_match.run` calls :func:`run_streaming` (:mod:`pipelines.streaming_launcher`: the
wait, the watch of a cluster job, the stop) when ``--streaming`` is given. It runs on
Flink, embedded (``--flink_master=[local]``) or on a cluster, with the Flink flags as for batch plus
``--checkpointing_interval``; see :func:`configure_streaming_runner` for why not on an embedded Beam runner.
The graph itself (:func:`build_streaming_graph`) is tested with TestStream on the bundle-based DirectRunner.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import PCollection

from hashwatch.crawling.config import CrawlConfig
from hashwatch.errors import UserError
from pipelines.options import KnownHashOptions, hash_config_from, match_options_from

# The launcher side (run, watch, stop) lives in its own module; public here too (crawl_match, benchmarks).
from pipelines.streaming_launcher import (
    STREAMING_RUNNER,
    StreamingOutcome,
    cancel_flink_job,
    flink_job_ids,
    flink_late_drops,
    run_streaming,
)
from schemas import FETCH_LOG_SCHEMA, IMAGES_SCHEMA, MATCHES_SCHEMA
from schemas.known_hashes import IndexRef
from transforms.crawl import CrawlOptions, CrawlRounds, FetchImages, ImageTasksFromRefs
from transforms.hash_images import HashImageBody
from transforms.index_refresh import IndexWatch
from transforms.match import MatchKnownHashes
from transforms.merge_images import MergeImageRecords
from transforms.progress import ProgressConfig
from transforms.seed_file_ledger import ledger_dir
from transforms.seed_sources import SEED_SOURCES, SeedSourceConfig, SeedStream, seed_source
from transforms.streaming_crawl import SeenWithinTtl, StreamWindowing
from transforms.windowed_parquet import WriteWindowedParquet

__all__ = [
    "STREAMING_RUNNER",
    "FlinkStreamingOptions",
    "StreamingOptions",
    "StreamingOutcome",
    "build_streaming_pipeline",
    "cancel_flink_job",
    "flink_job_ids",
    "flink_late_drops",
    "run_streaming",
]

_LOGGER = logging.getLogger("hashwatch.streaming")
# Java 17 closes java.util to reflection; Flink's Kryo needs it open for Beam's state (the cluster's own
# config opens it; embedded Flink inherits the job server's JVM options).
_JAVA17_OPENS = "--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED"


class StreamingOptions(PipelineOptions):
    """Flags of ``--streaming`` runs (Beam's own ``--streaming`` switches the mode on)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--seed-source",
            dest="seed_source",
            default="folder",
            choices=sorted(SEED_SOURCES),
            help="streaming: where seeds arrive; 'folder' watches the --seeds glob for new files",
        )
        parser.add_argument(
            "--seed-poll-interval",
            dest="seed_poll_interval",
            type=float,
            default=10.0,
            help="streaming: seconds between two listings of the watched seed folder",
        )
        parser.add_argument(
            "--window-length",
            dest="window_length",
            type=float,
            default=60.0,
            help="streaming: seconds per output window (one Parquet file per table, window and pane)",
        )
        parser.add_argument(
            "--allowed-lateness",
            dest="allowed_lateness",
            type=float,
            default=0.0,
            help="streaming: seconds a late seed may still join its window (written as a later pane)",
        )
        parser.add_argument(
            "--dedupe-ttl",
            dest="dedupe_ttl",
            type=float,
            default=24 * 3600.0,
            help="streaming: a URL crawled is not crawled again for this many seconds (state per URL)",
        )
        parser.add_argument(
            "--refresh-index-interval",
            dest="refresh_index_interval",
            type=float,
            default=300.0,
            help="streaming: seconds between two checks of --index for a new compiled index",
        )
        parser.add_argument(
            "--run-for",
            dest="run_for",
            type=float,
            default=0.0,
            help="streaming: stop after this many seconds (embedded runner: sources end and the job "
            "drains; a Flink cluster: the job is stopped with a savepoint); 0 = until interrupted",
        )
        parser.add_argument(
            "--max-outage",
            dest="max_outage",
            type=float,
            default=900.0,
            help="streaming on a Flink cluster: fail the run when the job has not run for this many seconds "
            "(JobManager unreachable, job restarting); Flink's restart limit fails it sooner; 0 = never",
        )


def _true_or_false(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"expected true or false, not {text!r}")
    return value in ("true", "1", "yes")


class FlinkStreamingOptions(PipelineOptions):
    """Options of Flink's Java runner that Beam's Python SDK does not declare: declared here so they pass
    the strict flag check and reach the job server (which reads them by name)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--checkpointing_interval",
            type=int,
            default=None,
            help="Flink: milliseconds between checkpoints (streaming; off by default)",
        )
        parser.add_argument(
            "--finish_bundle_before_checkpointing",
            type=_true_or_false,
            nargs="?",
            const=True,
            default=None,
            help="Flink: finish the bundle in flight before a checkpoint (no outputs buffered in it); "
            "on by default for --streaming, =false turns it off",
        )
        parser.add_argument(
            "--number_of_execution_retries",
            type=int,
            default=None,
            help="Flink: restarts of the job before it fails (a fixed-delay strategy for this job; default: "
            "the cluster's restart strategy)",
        )
        parser.add_argument(
            "--execution_retry_delay",
            type=int,
            default=None,
            help="Flink: milliseconds between two restarts, with --number_of_execution_retries",
        )
        parser.add_argument(
            "--savepoint_path",
            default=None,
            help="Flink: start the job from this savepoint or retained checkpoint (the path a stop printed, "
            "or <checkpoints>/<job id>/chk-N); give the same flags and --run-id as the run that wrote it",
        )
        parser.add_argument(
            "--allow_non_restored_state",
            type=_true_or_false,
            nargs="?",
            const=True,
            default=None,
            help="Flink: with --savepoint_path, start even if some saved state belongs to no operator",
        )
        parser.add_argument(
            "--externalized_checkpoints_enabled",
            type=_true_or_false,
            nargs="?",
            const=True,
            default=None,
            help="Flink: keep the job's latest checkpoints when it fails (on by default for --streaming)",
        )
        parser.add_argument(
            "--retain_externalized_checkpoints_on_cancellation",
            type=_true_or_false,
            nargs="?",
            const=True,
            default=None,
            help="Flink: keep them when it is cancelled too (on by default for --streaming)",
        )
        parser.add_argument(
            "--shutdown_sources_after_idle_ms",
            type=int,
            default=None,
            help="Flink: stop idle sources after this many ms (-1: never; Beam's default when checkpointing)",
        )


class StreamingTables(NamedTuple):
    fetch_log: PCollection
    images: PCollection
    matches: PCollection


def build_streaming_graph(
    seed_stream: SeedStream,
    index_watch: IndexWatch,
    *,
    crawl_config: CrawlConfig,
    run_id: str,
    windowing: StreamWindowing,
    dedupe_ttl: float,
    match_options=None,
    allowlist=None,
    hash_config=None,
    progress: ProgressConfig | None = None,
) -> StreamingTables:
    """Seeds (unwindowed, timestamped) and the index watch in; the three tables' records, windowed, out.
    ``hash_config``: what to hash (:func:`pipelines.options.hash_config_from`; None: the defaults);
    ``progress``: live progress (:mod:`transforms.progress`)."""
    hasher = HashImageBody(run_id, hash_config=hash_config)
    seeds = seed_stream.seeds | "WindowSeeds" >> windowing.into()
    crawl = seeds | "CrawlRounds" >> CrawlRounds(
        crawl_config, run_id, hasher, progress, seen=SeenWithinTtl(windowing, dedupe_ttl)
    )
    tasks = crawl.image_refs | "ImageTasksFromRefs" >> ImageTasksFromRefs()
    fetched = tasks | "FetchImages" >> FetchImages(crawl_config, run_id, hasher, progress)
    images = (
        (fetched.images, crawl.inline_images)
        | "AllImages" >> beam.Flatten()
        | "MergeImageRecords" >> MergeImageRecords()
    )
    matches = images | "MatchKnownHashes" >> MatchKnownHashes(
        index_watch, run_id, match_options, allowlist, progress
    )
    dead_letters = seed_stream.fetch_log | "WindowDeadLetters" >> windowing.into()
    fetch_log = (crawl.fetch_log, fetched.fetch_log, dead_letters) | "AllFetches" >> beam.Flatten()
    return StreamingTables(fetch_log=fetch_log, images=images, matches=matches)


def write_tables(tables: StreamingTables, output: str, run_id: str, codec: str) -> dict[str, PCollection]:
    written = {}
    for table, records, schema in (
        ("fetch_log", tables.fetch_log, FETCH_LOG_SCHEMA),
        ("images", tables.images, IMAGES_SCHEMA),
        ("matches", tables.matches, MATCHES_SCHEMA),
    ):
        written[table] = records | f"Write {table}" >> WriteWindowedParquet(
            output, table, schema, run_id, codec=codec
        )
    return written


def build_streaming_pipeline(
    pipeline: beam.Pipeline,
    app,
    run_id: str,
    ref: IndexRef,
    index_spec: str,
    allowlist=None,
    progress: ProgressConfig | None = None,
):
    """Add the whole streaming job to ``pipeline``: the seed source of ``--seed-source``, the index watch,
    the graph and the writers. Returns the written-files PCollections by table."""
    stream = app.view_as(StreamingOptions)
    stop_after = stream.run_for or None
    source = SeedSourceConfig(
        patterns=list(app.seeds),
        url_column=app.seed_url_column,
        poll_interval_s=stream.seed_poll_interval,
        run_id=run_id,
        stop_after_s=stop_after,
        options=app,
        ledger_folder=ledger_dir(app.output_dir, run_id),
    )
    seed_stream = pipeline | "Seeds" >> seed_source(stream.seed_source, source)
    watch = IndexWatch(index_spec, app.output_dir, stream.refresh_index_interval, ref)
    tables = build_streaming_graph(
        seed_stream,
        watch,
        crawl_config=CrawlConfig.from_options(app.view_as(CrawlOptions)),
        run_id=run_id,
        windowing=StreamWindowing(stream.window_length, stream.allowed_lateness),
        dedupe_ttl=stream.dedupe_ttl,
        match_options=match_options_from(app.view_as(KnownHashOptions)),
        allowlist=allowlist,
        hash_config=hash_config_from(app.view_as(KnownHashOptions)),
        progress=progress,
    )
    return write_tables(tables, app.output_dir, run_id, app.parquet_codec)


def validate_streaming(app) -> None:
    """Start-up checks of a ``--streaming`` run; raises :class:`UserError` saying what to change."""
    stream = app.view_as(StreamingOptions)
    if stream.seed_source == "folder" and len(app.seeds) != 1:
        raise UserError(
            "--streaming with --seed-source=folder watches one glob: give --seeds 'DIR/*.txt' once"
        )
    for flag, value in (
        ("--window-length", stream.window_length),
        ("--seed-poll-interval", stream.seed_poll_interval),
        ("--dedupe-ttl", stream.dedupe_ttl),
        ("--refresh-index-interval", stream.refresh_index_interval),
    ):
        if value <= 0:
            raise UserError(f"{flag} must be a positive number of seconds, not {value}")
    if stream.allowed_lateness < 0 or stream.run_for < 0 or stream.max_outage < 0:
        raise UserError("--allowed-lateness, --run-for and --max-outage cannot be negative")


def configure_streaming_runner(options: PipelineOptions) -> None:
    """A streaming run needs a runner that runs splittable DoFns unboundedly (the watched folder's poll clock
    defers itself, like ``PeriodicImpulse``): Flink, embedded (``--flink_master=[local]``) or a cluster. Beam
    2.62's embedded runners cannot: the FnApiRunner is batch-only, and the bundle-based DirectRunner fails on
    ``PeriodicImpulse`` (``OffsetRestrictionTracker is not done``; it runs TestStream, which the tests use)."""
    standard = options.view_as(StandardOptions)
    if not standard.runner or standard.runner in ("DirectRunner", "FnApiRunner", "BundleBasedDirectRunner"):
        raise UserError(
            "--streaming runs on Flink: add --runner=FlinkRunner --flink_master=[local] "
            '--flink_job_server_jar="$(deploy/flink/fetch-job-server.sh)" for embedded Flink, or the options '
            "of a cluster (deploy/flink/cluster.sh options); see README, Streaming"
        )
    flink = options.view_as(FlinkStreamingOptions)
    if flink.finish_bundle_before_checkpointing is None:
        # Two windows of seeds vanished without an error in one cluster run without it; none with it (README).
        flink.finish_bundle_before_checkpointing = True
        _LOGGER.info("--finish_bundle_before_checkpointing (hashwatch's default for --streaming on Flink)")
    # Checkpoints outlive the job (Beam deletes them when it ends): a job that failed on its restart limit,
    # or whose launcher cancelled it, can be started again from its latest one (--savepoint_path).
    if flink.externalized_checkpoints_enabled is None:
        flink.externalized_checkpoints_enabled = True
    if flink.retain_externalized_checkpoints_on_cancellation is None:
        flink.retain_externalized_checkpoints_on_cancellation = True
    master = options.get_all_options().get("flink_master") or ""
    if master.startswith("[") and "add-opens" not in os.environ.get("JDK_JAVA_OPTIONS", ""):
        os.environ["JDK_JAVA_OPTIONS"] = f"{os.environ.get('JDK_JAVA_OPTIONS', '')} {_JAVA17_OPENS}".strip()


def day_of(started: dt.datetime) -> str:
    return f"{started:%Y-%m-%d}"
