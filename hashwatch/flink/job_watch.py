"""The launcher's eye on a streaming job on a Flink cluster: restarts and outages, said as they happen.

While ``hashwatch crawl --streaming`` waits for its job, :class:`FlinkJobWatch` reads the job through Flink's
REST API every few seconds and logs one line when something changes::

    flink: job 3f2a... restarted at 10:15:02 (restart 1): java.util.concurrent.TimeoutException: ...
    flink: worker pool 127.0.0.1:50000 not answering
    flink: JobManager at 127.0.0.1:8081 not answering (ConnectionRefusedError)
    flink: job 3f2a... running again after 24.1 s (restarts 2, restored checkpoint 14)
    flink: job 3f2a... FAILED after 10 restart(s): restart limit reached (ExponentialDelayRestart...); ...

and, every ``--progress-interval`` seconds, ``progress: flink job RUNNING, restarts 2, 1 outage(s) (24 s)``.
An outage lasts from the failure Flink records (or the first look that finds the job not running in full:
restarting, tasks not yet running again, the JobManager or the worker pool not answering) to the first look
that finds every task running again. Flink notices a dead TaskManager only when its heartbeats fail (a few
seconds with the bundled cluster's settings), so the outage it reports starts then, not at the death.
``restarts`` counts Flink's restarts of the job (its ``numRestarts``, and restarts seen in the job's state
timestamps, which a look every few seconds may otherwise miss) plus each takeover by a new JobManager.

Example::

    watch = FlinkJobWatch("127.0.0.1:8081", flink_job_name, pool="127.0.0.1:50000")
    while not watch.finished:
        watch.poll()
        time.sleep(2)
    if watch.state == "FAILED":
        print(watch.failure)
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import time
from typing import Any

from hashwatch.flink.rest import TERMINAL_STATES, FlinkRest, FlinkRestError

__all__ = ["FlinkJobWatch", "on_this_host"]

_LOGGER = logging.getLogger("hashwatch.flink")


def on_this_host(address: str) -> bool:
    """True when ``[scheme://]host[:port]`` names this machine (a loopback address or ``localhost``)."""
    host = address.rsplit("://", maxsplit=1)[-1]
    if host.startswith("["):
        host = host[1:].split("]")[0]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_answers(address: str, timeout: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def _hhmmss(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall))


class FlinkJobWatch:
    """Watches the Flink job named ``job_name`` (Beam's job server names it after its own job id).

    ``pool``: the EXTERNAL worker pool's ``host:port``, checked only when it and the JobManager are on this
    machine (on another cluster ``127.0.0.1:50000`` means "on each TaskManager's host", which this process
    cannot see). ``progress_interval``: seconds between two ``progress:`` lines (0: none; changes are
    logged anyway). ``now``: the wall clock (tests pass their own).
    """

    def __init__(
        self,
        master: str,
        job_name: str,
        pool: str | None = None,
        progress_interval: float = 0.0,
        now=time.time,
    ):
        self.rest = FlinkRest(master, timeout=5.0)
        self.master = master
        self.job_name = job_name
        self.pool = pool if pool and on_this_host(pool) and on_this_host(master) else None
        self.progress_interval = progress_interval
        self._now = now
        self.job_id: str | None = None
        self.state: str | None = None  # Flink's job state; None until the job is seen
        self.failure: str | None = None  # why the job FAILED, one line
        self.savepoint: str | None = None  # where the launcher's stop put the job's savepoint
        self.outages: list[dict[str, Any]] = []  # {"what", "seconds"} of every outage that ended
        self._ever_running = False  # every task of the job ran at least once (start-up is no outage)
        self._down_since: float | None = None  # wall time the current outage began
        self._down_what: str | None = None
        self._last_restart_at = 0.0  # the job's latest RESTARTING time seen (wall, s)
        self._epoch_restarts = 0  # restarts under the current JobManager
        self._earlier_restarts = 0  # restarts under earlier JobManagers, and their takeovers
        self._jobmanager_lost = False
        self._pool_down = False
        self._last_progress = now()

    # --- what the launcher reads --------------------------------------------------------------------------

    @property
    def restarts(self) -> int:
        return self._earlier_restarts + self._epoch_restarts

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def down_for(self) -> float:
        """Seconds the current outage has lasted (0 when the job runs)."""
        return 0.0 if self._down_since is None else max(0.0, self._now() - self._down_since)

    def summary(self) -> dict[str, Any]:
        """For the run manifest: the Flink job, its restarts and outages, savepoint and failure."""
        return {
            "job_id": self.job_id,
            "state": self.state,
            "restarts": self.restarts,
            "outages": len(self.outages) + (self._down_since is not None),
            "outage_seconds": round(sum(o["seconds"] for o in self.outages) + self.down_for, 1),
            "failure": self.failure,
            "savepoint": self.savepoint,
        }

    # --- one look -----------------------------------------------------------------------------------------

    def poll(self) -> str | None:
        """Look at the job once; log what changed. Returns Flink's job state (None: not seen yet)."""
        try:
            self._look()
        except OSError as exc:  # the JobManager is down (or restarting)
            if self.job_id:
                self._jobmanager_lost = True
                self._begin_outage(f"JobManager at {self.master} not answering ({type(exc).__name__})")
        except FlinkRestError as exc:
            if exc.status == 404 and self.job_id:  # a new JobManager that has not taken the job over yet
                self._jobmanager_lost = True
                self._begin_outage(f"job {self.job_id} not known to the JobManager (being recovered?)")
            elif exc.status == 503 and self.job_id:  # a JobManager starting: "ongoing leader election"
                self._jobmanager_lost = True
                self._begin_outage(f"JobManager at {self.master} starting (leader election)")
            else:
                self._begin_outage(f"JobManager at {self.master} answers wrongly: {exc}")
        self._maybe_progress()
        return self.state

    def _look(self) -> None:
        if self.job_id is None:
            jobs = self.rest.jobs(self.job_name)
            if not jobs:
                return  # not submitted yet
            self.job_id = max(jobs, key=lambda job: job.get("start-time", 0))["jid"]
        job = self.rest.job(self.job_id)
        state = job.get("state")
        if self._jobmanager_lost:
            # A new JobManager took the job over (ZooKeeper HA): a restart, and its counts start from 0.
            self._jobmanager_lost = False
            self._earlier_restarts += self._epoch_restarts + 1
            self._epoch_restarts = 0
            self._last_restart_at = 0.0
        self.state = state
        if state == "FAILED":
            with contextlib.suppress(OSError, FlinkRestError):
                # numRestarts is refreshed every few seconds: a job that failed quickly may show 0; every
                # failure but the last one was followed by a restart.
                restarts = max(self.rest.restarts(self.job_id), self.rest.failures(self.job_id) - 1)
                self._epoch_restarts = max(self._epoch_restarts, restarts)
            self.failure = self.rest.failure_reason(self.job_id)
            self._end_outage(quiet=True)
            _LOGGER.error(
                "flink: job %s FAILED after %d restart(s): %s", self.job_id, self.restarts, self.failure
            )
            return
        if state in TERMINAL_STATES:
            self._end_outage(quiet=True)
            return
        self._count_restarts(job)
        pool_ok = self._check_pool()
        tasks_running = state == "RUNNING" and all(
            vertex.get("status") == "RUNNING" for vertex in job.get("vertices", [])
        )
        if tasks_running and pool_ok:
            if not self._ever_running:
                self._ever_running = True
                self._say_restored()
            self._end_outage()
        elif self._ever_running:
            what = f"job {self.job_id} {state}" if state != "RUNNING" else f"job {self.job_id} restoring"
            self._begin_outage(what + ("" if pool_ok else f", worker pool {self.pool} not answering"))

    def _count_restarts(self, job: dict) -> None:
        """Restarts of the current JobManager: Flink's numRestarts (refreshed every few seconds), and the
        job's latest RESTARTING time, which changes with every restart however quick."""
        stamps = job.get("timestamps") or {}
        restarted_at = max(stamps.get("RESTARTING", 0), stamps.get("FAILING", 0)) / 1000
        try:
            metric = self.rest.restarts(self.job_id)
        except (OSError, FlinkRestError):
            metric = 0
        if restarted_at > self._last_restart_at and self._ever_running:
            self._epoch_restarts = max(self._epoch_restarts + 1, metric)
            self._last_restart_at = restarted_at
            cause = self._last_failure()
            if self._down_since is None or restarted_at < self._down_since:
                self._down_since = restarted_at
            self._down_what = f"job {self.job_id} restarted"
            _LOGGER.warning(
                "flink: job %s restarted at %s (restart %d)%s",
                self.job_id,
                _hhmmss(restarted_at),
                self.restarts,
                f": {cause}" if cause else "",
            )
        else:
            self._last_restart_at = max(self._last_restart_at, restarted_at)
            self._epoch_restarts = max(self._epoch_restarts, metric)

    def _say_restored(self) -> None:
        """A job started from a savepoint or checkpoint (``--savepoint_path``) says so once it runs."""
        try:
            restored = ((self.rest.checkpoints(self.job_id) or {}).get("latest") or {}).get("restored") or {}
        except (OSError, FlinkRestError):
            return
        if restored.get("external_path"):
            kind = "savepoint" if restored.get("is_savepoint") else "checkpoint"
            _LOGGER.info("flink: job %s restored from %s %s", self.job_id, kind, restored["external_path"])

    def _check_pool(self) -> bool:
        if self.pool is None:
            return True
        ok = _port_answers(self.pool)
        if not ok and not self._pool_down:
            _LOGGER.warning("flink: worker pool %s not answering", self.pool)
        elif ok and self._pool_down:
            _LOGGER.info("flink: worker pool %s answers again", self.pool)
        self._pool_down = not ok
        return ok

    def _last_failure(self) -> str:
        try:
            failure = self.rest.last_failure(self.job_id)
        except (OSError, FlinkRestError):
            return ""
        return failure[1] if failure else ""

    def _begin_outage(self, what: str) -> None:
        if self._down_since is not None and what == self._down_what:
            return
        if self._down_since is None:
            self._down_since = self._now()
        self._down_what = what
        _LOGGER.warning("flink: %s", what)

    def _end_outage(self, quiet: bool = False) -> None:
        if self._down_since is None:
            return
        seconds = self.down_for
        self.outages.append({"what": self._down_what, "seconds": round(seconds, 1)})
        self._down_since = None
        self._down_what = None
        if quiet:
            return
        restored = ""
        try:
            latest = (self.rest.checkpoints(self.job_id) or {}).get("latest") or {}
            if latest.get("restored"):
                restored = f", restored checkpoint {latest['restored'].get('id')}"
        except (OSError, FlinkRestError):
            pass
        _LOGGER.info(
            "flink: job %s running again after %.1f s (restarts %d%s)",
            self.job_id,
            seconds,
            self.restarts,
            restored,
        )

    def _maybe_progress(self) -> None:
        if self.progress_interval <= 0 or self._now() - self._last_progress < self.progress_interval:
            return
        self._last_progress = self._now()
        down = sum(o["seconds"] for o in self.outages) + self.down_for
        count = len(self.outages) + (self._down_since is not None)
        now_down = (
            f", down for {self.down_for:.0f} s: {self._down_what}" if self._down_since is not None else ""
        )
        _LOGGER.info(
            "progress: flink job %s, restarts %d, %d outage(s) (%.0f s)%s",
            self.state or "not submitted yet",
            self.restarts,
            count,
            down,
            now_down,
        )
