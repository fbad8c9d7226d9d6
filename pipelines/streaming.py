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

import contextlib
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
from transforms.seed_file_ledger import ledger_dir
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
) -> StreamingTables:
    """Seeds (unwindowed, timestamped) and the index watch in; the three tables' records, windowed, out.
    ``hash_config``: what to hash (:func:`pipelines.options.hash_config_from`; None: the defaults)."""
    hasher = HashImageBody(run_id, hash_config=hash_config)
    seeds = seed_stream.seeds | "WindowSeeds" >> windowing.into()
    crawl = seeds | "CrawlRounds" >> StreamingCrawlRounds(crawl_config, run_id, hasher, windowing, dedupe_ttl)
    tasks = crawl.image_refs | "ImageTasksFromRefs" >> ImageTasksFromRefs()
    fetched = tasks | "FetchImages" >> FetchImages(crawl_config, run_id, hasher)
    images = (
        (fetched.images, crawl.inline_images)
        | "AllImages" >> beam.Flatten()
        | "MergeImageRecords" >> MergeImageRecords()
    )
    matches = images | "MatchKnownHashes" >> MatchKnownHashes(index_watch, run_id, match_options, allowlist)
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
    pipeline: beam.Pipeline, app, run_id: str, ref: IndexRef, index_spec: str, allowlist=None
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


class StreamingOutcome(NamedTuple):
    result: object  # the PipelineResult
    state: str
    elapsed_s: float
    late_drops: int | None  # elements Flink dropped as late (cluster runs); None: not read
    # Cluster runs: the job's restarts, outages, savepoint, failure (FlinkJobWatch.summary); else None.
    flink_job: dict | None = None


# Seconds between two looks at a cluster job through Flink's REST API (a few small GETs).
_WATCH_EVERY_S = 2.0


def run_streaming(pipeline: beam.Pipeline, options: PipelineOptions, run_for: float) -> StreamingOutcome:
    """Run and wait: until the sources end (embedded runner with --run-for), ``run_for`` seconds pass (other
    runners: the job is stopped), the job fails, or Ctrl-C/SIGTERM.

    On a Flink cluster the job is watched through Flink's REST API meanwhile (:class:`FlinkJobWatch`): its
    restarts and outages are logged as they happen; it keeps being watched when Beam's job server loses it
    (a JobManager that died and was replaced takes the job over from its HA store); and a stop (``run_for``,
    Ctrl-C, SIGTERM) takes a savepoint, whose path is logged (``--savepoint_path`` resumes from it), falling
    back to a cancel. The elements Flink dropped as late are read just before the stop and logged as an
    error if there are any. A job that fails (the restart limit reached) or stays down for more than
    ``--max-outage`` seconds ends the run as FAILED with the reason in ``flink_job["failure"]``."""
    clock = time.monotonic()
    result = pipeline.run()
    embedded = options.view_as(StandardOptions).runner in (STREAMING_RUNNER, "BundleBasedDirectRunner")
    master = _cluster_master(options)
    job_name = (getattr(result, "_job_id", "") or "").split("_", 1)[0]
    watch = _job_watch(options, master, job_name) if master and job_name else None
    waiter = _ResultWaiter(result)
    drops: list[int | None] = [None]
    restore = _sigterm_as_interrupt()  # a scheduler's SIGTERM stops the job too, not only Ctrl-C
    max_outage = options.view_as(StreamingOptions).max_outage
    try:
        state = None
        while state is None:
            waiter.wait(_WATCH_EVERY_S)
            if watch is not None:
                watch.poll()
                if watch.finished:
                    state = _STATE_OF_FLINK[watch.state]
                elif max_outage and watch.down_for > max_outage:
                    watch.failure = (
                        f"the job has not run for {watch.down_for:.0f} s (--max-outage {max_outage:.0f})"
                    )
                    _LOGGER.error("flink: %s: giving up; it stays on the cluster as it is", watch.failure)
                    state = "FAILED"
            if state is None and waiter.done:
                if watch is None or not watch.job_id or waiter.state == "DONE":
                    # DONE: the job finished (e.g. stopped with a savepoint by `cluster.sh stop`).
                    state = waiter.state
                elif not waiter.reported_loss:
                    # Beam's job server gave up on the job (its JobManager died); Flink may still run it.
                    waiter.reported_loss = True
                    _LOGGER.info("Beam's job server reports %s; following the Flink job itself", waiter.state)
            if state is None and run_for and not embedded and time.monotonic() - clock >= run_for:
                _LOGGER.info("--run-for %.0f s reached: stopping the job", run_for)
                state = _stop(result, options, drops, watch, waiter)
    except KeyboardInterrupt:
        _LOGGER.info("interrupted: stopping the job")
        _stop(result, options, drops, watch, waiter)
        raise
    finally:
        restore()
    summary = watch.summary() if watch is not None else None
    return StreamingOutcome(result, state, time.monotonic() - clock, drops[0], summary)


_STATE_OF_FLINK = {"FINISHED": "DONE", "CANCELED": "CANCELLED", "FAILED": "FAILED"}


class _ResultWaiter:
    """``result.wait_until_finish()`` in a thread, so the launcher's main thread can watch the job and
    receive signals meanwhile. ``done`` once Beam knows the job's final state (``state``)."""

    def __init__(self, result):
        import threading

        self.state: str | None = None
        self.reported_loss = False
        self._result = result
        self._thread = threading.Thread(target=self._wait, name="wait_until_finish", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        try:
            state = self._result.wait_until_finish()
        except Exception as exc:  # noqa: BLE001 - the portable runner raises for any state but DONE
            state = next((s for s in ("CANCELLED", "FAILED", "DONE") if s in str(exc)), "FAILED")
        self.state = str(state).rsplit(".", 1)[-1]

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> None:
        self._thread.join(seconds)


def _job_watch(options: PipelineOptions, master: str, job_name: str):
    from pipelines.flink_job_watch import FlinkJobWatch

    everything = options.get_all_options()
    pool = everything.get("environment_config") if everything.get("environment_type") == "EXTERNAL" else None
    interval = float(everything.get("progress_interval") or 0)
    return FlinkJobWatch(master, job_name, pool=pool, progress_interval=interval)


def _stop(result, options: PipelineOptions, drops: list, watch=None, waiter=None) -> str:
    """End the job: on a Flink cluster, stop it with a savepoint (logged; ``watch.savepoint``), else cancel.
    Reads the late-drop counters first (Flink forgets a job's metrics once it ends)."""
    master = _cluster_master(options)
    job_id = getattr(watch, "job_id", None)
    if not (master and job_id):
        return _cancel(result, options, drops, waiter)
    drops[0] = _read_late_drops(master, watch.job_name)
    from hashwatch.flink_rest import FlinkRest, FlinkRestError, first_line

    try:
        path = FlinkRest(master).stop_with_savepoint(job_id, timeout=_SAVEPOINT_TIMEOUT_S)
    except (OSError, FlinkRestError, TimeoutError) as exc:
        # E.g. tasks not all running yet (a job still starting or restoring): Flink refuses a savepoint.
        checkpoint = None
        with contextlib.suppress(OSError, FlinkRestError):
            checkpoint = FlinkRest(master).latest_checkpoint_path(job_id)
        _LOGGER.warning(
            "flink: no savepoint (%s): cancelling the job instead; its latest checkpoint: %s",
            first_line(str(exc), 200),
            f"{checkpoint} (resume: --savepoint_path={checkpoint})" if checkpoint else "none",
        )
        return _cancel(result, options, None, waiter)
    watch.savepoint = path
    run_id = options.get_all_options().get("run_id") or "<this run's --run-id>"
    _LOGGER.info(
        "flink: job %s stopped with a savepoint: %s (resume: the same flags plus --savepoint_path=%s --run-id=%s)",
        job_id,
        path,
        path,
        run_id,
    )
    if waiter is not None:
        waiter.wait(30)  # Beam's job server sees the job finish
    watch.poll()  # FINISHED, for the summary
    return "DONE"


# A savepoint of a crawl's state (seen files, URL dedupe, open windows) takes seconds; a stuck one is given
# up for a cancel after this.
_SAVEPOINT_TIMEOUT_S = 120.0


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


def _cancel(result, options: PipelineOptions, drops: list | None = None, waiter=None):
    """Cancel through the job server, and on a Flink cluster also through Flink's REST API: with Beam 2.62 the
    job server reports CANCELLED for a streaming job on a remote cluster while the Flink job keeps running
    (and keeps its task slots). On a cluster, first read the late-drop counters into ``drops[0]`` (Flink
    forgets a job's metrics once it is cancelled). ``waiter``: the thread already waiting for the result
    (a second ``wait_until_finish`` on the same job breaks Beam's gRPC streams)."""
    master = _cluster_master(options)
    job_name = (getattr(result, "_job_id", "") or "").split("_", 1)[0]
    if master and job_name and drops is not None:
        drops[0] = _read_late_drops(master, job_name)
    state = "CANCELLED"
    try:
        result.cancel()
        if waiter is not None:
            waiter.wait(60)
            state = waiter.state or state
        else:
            state = result.wait_until_finish(duration=60_000) or result.state
    except Exception as exc:  # noqa: BLE001 - the portable runner raises on CANCELLED, or a gRPC error after it
        if "CANCELLED" not in str(exc):
            _LOGGER.info("after cancelling: %s", str(exc).splitlines()[0][:200])
    if master and job_name:
        cancel_flink_job(master, job_name)
    return state


def _rest_get(flink_master: str, path: str, timeout: float = 10.0):
    """GET ``path`` from Flink's REST API, parsed JSON."""
    from hashwatch.flink_rest import FlinkRest

    return FlinkRest(flink_master, timeout).call(path)


def _flink_jobs(flink_master: str, job_name: str, timeout: float = 10.0) -> list[dict]:
    """The Flink jobs named ``job_name`` (Beam's job server names the Flink job after its own id)."""
    from hashwatch.flink_rest import FlinkRest

    return FlinkRest(flink_master, timeout).jobs(job_name)


def flink_job_ids(flink_master: str, job_name: str, timeout: float = 10.0) -> list[str]:
    """Ids of the Flink jobs named ``job_name``."""
    return [j["jid"] for j in _flink_jobs(flink_master, job_name, timeout)]


def cancel_flink_job(flink_master: str, job_name: str, timeout: float = 30.0) -> list[str]:
    """Cancel every unfinished Flink job named ``job_name`` (REST: PATCH /jobs/<id>?mode=cancel); wait until
    they are CANCELED. Returns their ids."""
    from hashwatch.flink_rest import TERMINAL_STATES, FlinkRest, FlinkRestError

    rest = FlinkRest(flink_master)
    ids = []
    try:
        for job in rest.jobs(job_name):
            if job["state"] not in TERMINAL_STATES:
                rest.cancel(job["jid"])
                ids.append(job["jid"])
        rest.wait_until_terminal(ids, timeout)
    except (OSError, FlinkRestError) as exc:
        _LOGGER.warning("could not cancel the Flink job %s through %s: %s", job_name, rest.base, exc)
    if ids:
        _LOGGER.info("cancelled Flink job(s) %s through %s", ", ".join(ids), rest.base)
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
