"""Running a streaming job until it stops, and stopping it: the launcher side of ``hashwatch crawl --streaming``.

:func:`run_streaming` starts the pipeline and waits: until the sources end (embedded runner with
``--run-for``), ``--run-for`` seconds pass, the job fails, or Ctrl-C/SIGTERM. On a Flink cluster it watches
the job through Flink's REST API meanwhile (:class:`hashwatch.flink.job_watch.FlinkJobWatch`: restarts and
outages as they happen), stops it with a savepoint (:func:`_stop`) or cancels it (:func:`_cancel`), and reads
the elements Flink dropped as late first (:func:`flink_late_drops`)::

    outcome = run_streaming(pipeline, options, run_for=600)
    outcome.state, outcome.flink_job["savepoint"], outcome.late_drops
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from hashwatch.flink.rest import LATE_DROP_METRIC, cancel_flink_job, flink_job_ids, flink_late_drops

__all__ = [
    "LATE_DROP_METRIC",
    "StreamingOutcome",
    "cancel_flink_job",
    "flink_job_ids",
    "flink_late_drops",
    "run_streaming",
]

_LOGGER = logging.getLogger("hashwatch.streaming")
STREAMING_RUNNER = "apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"  # TestStream tests


class StreamingOutcome(NamedTuple):
    result: object  # the PipelineResult
    state: str
    elapsed_s: float
    late_drops: int | None  # elements Flink dropped as late (cluster runs); None: not read
    # Cluster runs: the job's restarts, outages, savepoint, failure (FlinkJobWatch.summary); else None.
    flink_job: dict | None = None


# Seconds between two looks at a cluster job through Flink's REST API (a few small GETs).
_WATCH_EVERY_S = 2.0


def run_streaming(
    pipeline: beam.Pipeline,
    options: PipelineOptions,
    run_for: float,
    *,
    max_outage: float = 0.0,
    run_id: str | None = None,
    progress_interval: float = 0.0,
) -> StreamingOutcome:
    """Run and wait: until the sources end (embedded runner with --run-for), ``run_for`` seconds pass (other
    runners: the job is stopped), the job fails, or Ctrl-C/SIGTERM.

    On a Flink cluster the job is watched through Flink's REST API meanwhile (:class:`FlinkJobWatch`): its
    restarts and outages are logged as they happen; it keeps being watched when Beam's job server loses it
    (a JobManager that died and was replaced takes the job over from its HA store); and a stop (``run_for``,
    Ctrl-C, SIGTERM) takes a savepoint, whose path is logged (``--savepoint_path`` resumes from it), falling
    back to a cancel. The elements Flink dropped as late are read just before the stop and logged as an
    error if there are any. A job that fails (the restart limit reached) or stays down for more than
    ``max_outage`` seconds (``--max-outage``; 0: never) ends the run as FAILED with the reason in
    ``flink_job["failure"]``. ``options``: the runner's (Flink master, worker pool); ``run_id``: named in the
    resume hint after a savepoint; ``progress_interval``: how often the cluster job's progress is logged."""
    clock = time.monotonic()
    result = pipeline.run()
    embedded = options.view_as(StandardOptions).runner in (STREAMING_RUNNER, "BundleBasedDirectRunner")
    master = _cluster_master(options)
    job_name = (getattr(result, "_job_id", "") or "").split("_", 1)[0]
    watch = _job_watch(options, master, job_name, progress_interval) if master and job_name else None
    waiter = _ResultWaiter(result)
    drops: list[int | None] = [None]
    restore = _sigterm_as_interrupt()  # a scheduler's SIGTERM stops the job too, not only Ctrl-C
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
                state = _stop(result, options, drops, watch, waiter, run_id)
    except KeyboardInterrupt:
        _LOGGER.info("interrupted: stopping the job")
        _stop(result, options, drops, watch, waiter, run_id)
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


def _job_watch(options: PipelineOptions, master: str, job_name: str, progress_interval: float):
    from hashwatch.flink.job_watch import FlinkJobWatch

    portable = options.view_as(PortableOptions)
    pool = portable.environment_config if portable.environment_type == "EXTERNAL" else None
    return FlinkJobWatch(master, job_name, pool=pool, progress_interval=progress_interval)


def _stop(result, options: PipelineOptions, drops: list, watch=None, waiter=None, run_id=None) -> str:
    """End the job: on a Flink cluster, stop it with a savepoint (logged; ``watch.savepoint``), else cancel.
    Reads the late-drop counters first (Flink forgets a job's metrics once it ends)."""
    master = _cluster_master(options)
    job_id = getattr(watch, "job_id", None)
    if not (master and job_id):
        return _cancel(result, options, drops, waiter)
    drops[0] = _read_late_drops(master, watch.job_name)
    from hashwatch.flink.rest import FlinkRest, FlinkRestError, first_line

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
    run_id = run_id or "<this run's --run-id>"
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
