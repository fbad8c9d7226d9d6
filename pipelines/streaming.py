"""The crawl-and-match pipeline as an unbounded job (``hashwatch crawl --streaming``).

::

    seed source (watched folder; later a queue) -> fixed windows (--window-length)
      -> StreamingCrawlRounds (depth 0..N per window; URLs deduplicated across windows for --dedupe-ttl)
      -> ImageTasksFromRefs -> FetchImages -> MergeImageRecords
      -> MatchKnownHashes (side input: WatchIndex, the index re-read every --refresh-index-interval)
      -> matches/, images/, fetch_log/: one Parquet file per window and pane (WriteWindowedParquet)

:func:`pipelines.crawl_match.run` calls :func:`run_streaming` when ``--streaming`` is given. It runs on
Flink, embedded (``--flink_master=[local]``) or on a cluster, with the Flink flags as for batch plus
``--checkpointing_interval``; see :func:`configure_streaming_runner` for why not on an embedded Beam runner.
The graph itself (:func:`build_streaming_graph`) is tested with TestStream on the bundle-based DirectRunner.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import PCollection

from hashwatch.crawling.config import CrawlConfig
from hashwatch.errors import UserError
from pipelines.options import KnownHashOptions, hash_config_from, match_options_from
from schemas import FETCH_LOG_SCHEMA, IMAGES_SCHEMA, MATCHES_SCHEMA
from schemas.known_hashes import IndexRef
from transforms.crawl import CrawlOptions, FetchImages, ImageTasksFromRefs
from transforms.hash_images import HashImageBody
from transforms.index_refresh import IndexWatch
from transforms.match import MatchKnownHashes
from transforms.merge_images import MergeImageRecords
from transforms.progress import ProgressConfig
from transforms.seed_sources import SEED_SOURCES, SeedSourceConfig, SeedStream, seed_source
from transforms.streaming_crawl import StreamingCrawlRounds, StreamWindowing
from transforms.windowed_parquet import WriteWindowedParquet

__all__ = [
    "STREAMING_RUNNER",
    "FlinkStreamingOptions",
    "StreamingOptions",
    "StreamingOutcome",
    "build_streaming_pipeline",
    "flink_late_drops",
    "run_streaming",
]

_LOGGER = logging.getLogger("hashwatch.streaming")
STREAMING_RUNNER = "apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"  # TestStream tests
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
            "drains; other runners: the job is cancelled); 0 = until interrupted",
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
    crawl = seeds | "CrawlRounds" >> StreamingCrawlRounds(
        crawl_config, run_id, hasher, windowing, dedupe_ttl, progress
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
    if stream.allowed_lateness < 0 or stream.run_for < 0:
        raise UserError("--allowed-lateness and --run-for cannot be negative")


def configure_streaming_runner(options: PipelineOptions) -> None:
    """A streaming run needs a runner that runs splittable DoFns unboundedly (the watched folder polls with
    ``PeriodicImpulse``): Flink, embedded (``--flink_master=[local]``) or a cluster. Beam 2.62's embedded
    runners cannot: the FnApiRunner is batch-only, and the bundle-based DirectRunner fails on
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
    master = options.get_all_options().get("flink_master") or ""
    if master.startswith("[") and "add-opens" not in os.environ.get("JDK_JAVA_OPTIONS", ""):
        os.environ["JDK_JAVA_OPTIONS"] = f"{os.environ.get('JDK_JAVA_OPTIONS', '')} {_JAVA17_OPENS}".strip()


class StreamingOutcome(NamedTuple):
    result: object  # the PipelineResult
    state: str
    elapsed_s: float
    late_drops: int | None  # elements Flink dropped as late (cluster runs); None: not read


def run_streaming(pipeline: beam.Pipeline, options: PipelineOptions, run_for: float) -> StreamingOutcome:
    """Run and wait: until the sources end (embedded runner with --run-for), the job is cancelled after
    ``run_for`` seconds (other runners), or Ctrl-C (which cancels the job). On a Flink cluster, the elements
    Flink dropped as late are read just before the cancel and logged as an error if there are any."""
    clock = time.monotonic()
    result = pipeline.run()
    embedded = options.view_as(StandardOptions).runner in (STREAMING_RUNNER, "BundleBasedDirectRunner")
    drops: list[int | None] = [None]
    restore = _sigterm_as_interrupt()  # a scheduler's SIGTERM cancels the job too, not only Ctrl-C
    try:
        if run_for and not embedded:
            state = result.wait_until_finish(duration=int(run_for * 1000))
            if not _terminal(state):
                _LOGGER.info("--run-for %.0f s reached: cancelling the job", run_for)
                state = _cancel(result, options, drops)
        else:
            state = result.wait_until_finish()
    except KeyboardInterrupt:
        _LOGGER.info("interrupted: cancelling the job")
        _cancel(result, options, drops)
        raise
    except RuntimeError as exc:  # the portable runner raises when the job ends CANCELLED, as we asked
        if "CANCELLED" not in str(exc):
            raise
        state = "CANCELLED"
    finally:
        restore()
    return StreamingOutcome(result, state or result.state, time.monotonic() - clock, drops[0])


def _sigterm_as_interrupt():
    """Until the returned function is called, SIGTERM (Airflow, systemd, kill) raises KeyboardInterrupt in
    the main thread, so the launcher cancels its job instead of leaving it running on the cluster."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _cluster_master(options: PipelineOptions) -> str:
    master = options.get_all_options().get("flink_master") or ""
    return "" if master.startswith("[") else master


def _read_late_drops(master: str, job_name: str) -> int | None:
    """Sum of Flink's ``droppedDueToLateness`` over the running jobs named ``job_name``; logs an error when
    it is not zero. None when the REST API cannot be read."""
    try:
        drops: dict[str, int] = {}
        for job_id in flink_job_ids(master, job_name):
            drops.update(flink_late_drops(master, job_id))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # unreachable, or not the JSON expected:
        # never let the read stop the cancel that follows it
        _LOGGER.warning("could not read Flink's late-drop counters through %s: %r", master, exc)
        return None
    total = sum(drops.values())
    if total:
        _LOGGER.error(
            "Flink dropped %d element(s) as late: their rows are missing from the output (%s)",
            total,
            "; ".join(f"{name}: {count}" for name, count in sorted(drops.items())),
        )
    else:
        _LOGGER.info("Flink dropped no element as late")
    return total


def _cancel(result, options: PipelineOptions, drops: list | None = None):
    """Cancel through the job server, and on a Flink cluster also through Flink's REST API: with Beam 2.62 the
    job server reports CANCELLED for a streaming job on a remote cluster while the Flink job keeps running
    (and keeps its task slots). On a cluster, first read the late-drop counters into ``drops[0]`` (Flink
    forgets a job's metrics once it is cancelled)."""
    master = _cluster_master(options)
    job_name = (getattr(result, "_job_id", "") or "").split("_", 1)[0]
    if master and job_name and drops is not None:
        drops[0] = _read_late_drops(master, job_name)
    state = "CANCELLED"
    try:
        result.cancel()
        state = result.wait_until_finish(duration=60_000) or result.state
    except Exception as exc:  # noqa: BLE001 - the portable runner raises on CANCELLED, or a gRPC error after it
        if "CANCELLED" not in str(exc):
            _LOGGER.info("after cancelling: %s", str(exc).splitlines()[0][:200])
    if master and job_name:
        cancel_flink_job(master, job_name)
    return state


def _rest_base(flink_master: str) -> str:
    return flink_master if "://" in flink_master else f"http://{flink_master}"


def _rest_get(flink_master: str, path: str, timeout: float = 10.0):
    """GET ``path`` from Flink's REST API, parsed JSON."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{_rest_base(flink_master)}{path}", timeout=timeout) as response:  # noqa: S310
        return json.load(response)


def _flink_jobs(flink_master: str, job_name: str, timeout: float = 10.0) -> list[dict]:
    """The Flink jobs named ``job_name`` (Beam's job server names the Flink job after its own id)."""
    return [j for j in _rest_get(flink_master, "/jobs/overview", timeout)["jobs"] if j["name"] == job_name]


def flink_job_ids(flink_master: str, job_name: str, timeout: float = 10.0) -> list[str]:
    """Ids of the Flink jobs named ``job_name``."""
    return [j["jid"] for j in _flink_jobs(flink_master, job_name, timeout)]


def cancel_flink_job(flink_master: str, job_name: str, timeout: float = 30.0) -> list[str]:
    """Cancel every unfinished Flink job named ``job_name`` (REST: PATCH /jobs/<id>?mode=cancel); wait until
    they are CANCELED. Returns their ids."""
    import urllib.request

    base = _rest_base(flink_master)
    done = ("CANCELED", "FINISHED", "FAILED")
    ids = []
    try:
        for job in _flink_jobs(flink_master, job_name):
            if job["state"] not in done:
                request = urllib.request.Request(f"{base}/jobs/{job['jid']}?mode=cancel", method="PATCH")
                urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
                ids.append(job["jid"])
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            if all(j["state"] in done for j in _flink_jobs(flink_master, job_name)):
                break
            time.sleep(0.5)
    except OSError as exc:
        _LOGGER.warning("could not cancel the Flink job %s through %s: %s", job_name, base, exc)
    if ids:
        _LOGGER.info("cancelled Flink job(s) %s through %s", ", ".join(ids), base)
    return ids


LATE_DROP_METRIC = "droppedDueToLateness"


def flink_late_drops(flink_master: str, job_id: str, timeout: float = 10.0) -> dict[str, int]:
    """Elements Flink dropped as late in a job (Beam's ``droppedDueToLateness`` counters, read through
    Flink's REST API, summed over subtasks), by operator metric; empty when none were dropped.

    A windowed GroupByKey drops an element that arrives after the watermark passed its window's end plus
    ``--allowed-lateness``, and says so only in this counter. hashwatch reads it when a cluster job ends so
    that such a loss is logged as an error instead of passing unseen.
    """
    import urllib.parse

    drops: dict[str, int] = {}
    for vertex in _rest_get(flink_master, f"/jobs/{job_id}", timeout).get("vertices", []):
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        names = [
            m["id"] for m in _rest_get(flink_master, path, timeout) if m["id"].endswith(LATE_DROP_METRIC)
        ]
        for start in range(0, len(names), 20):  # keep the query string short
            query = urllib.parse.urlencode({"get": ",".join(names[start : start + 20]), "agg": "sum"})
            for metric in _rest_get(flink_master, f"{path}?{query}", timeout):
                count = int(float(metric.get("sum", 0) or 0))
                if count:
                    drops[metric["id"]] = drops.get(metric["id"], 0) + count
    return drops


def _terminal(state) -> bool:
    return str(state).rsplit(".", 1)[-1] in {"DONE", "FAILED", "CANCELLED", "UPDATED", "DRAINED"}


def day_of(started: dt.datetime) -> str:
    return f"{started:%Y-%m-%d}"
