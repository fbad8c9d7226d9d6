"""Flink's REST API, the few calls hashwatch needs: a job's state, restarts, last failure, checkpoints and the
elements it dropped as late; stop with a savepoint; cancel. Standard library only, so
``deploy/flink/cluster.sh stop`` runs this file with the system's ``python3`` (no virtualenv needed to stop a
cluster)::

    rest = FlinkRest("127.0.0.1:8081")
    for job in rest.jobs():
        print(job["name"], job["state"], rest.restarts(job["jid"]))
    path = rest.stop_with_savepoint(job_id)        # the savepoint's folder, e.g. file:/.../savepoint-1a2b3c-...

    flink_late_drops("127.0.0.1:8081", job_id)     # {operator metric: elements dropped as late}
    cancel_flink_job("127.0.0.1:8081", job_name)   # every unfinished job of that name, waited for

    python3 hashwatch/flink/rest.py --master 127.0.0.1:8081 stop-jobs   # what `cluster.sh stop` does

Every call raises :class:`OSError` when the JobManager cannot be reached and :class:`FlinkRestError` when it
answers with something else than expected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "LATE_DROP_METRIC",
    "TERMINAL_STATES",
    "FlinkRest",
    "FlinkRestError",
    "cancel_flink_job",
    "first_line",
    "flink_job_ids",
    "flink_late_drops",
    "root_cause",
]

_LOGGER = logging.getLogger("hashwatch.flink")

# Flink job states after which nothing runs any more (a suspended job of a JobManager that shuts down in HA
# mode is not one: its replacement takes it over).
TERMINAL_STATES = frozenset({"FINISHED", "CANCELED", "FAILED"})


class FlinkRestError(ValueError):
    """The JobManager answered, but not as expected (an error status, or not the JSON of the call).
    ``status``: the HTTP status when there was one (404: no such job, e.g. not recovered yet)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def first_line(text: str, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def root_cause(stacktrace: str) -> str:
    """The innermost ``Caused by:`` line of a Java stack trace (or its first line), without the prefix."""
    lines = (stacktrace or "").splitlines()
    causes = [
        line.strip()[len("Caused by:") :].strip() for line in lines if line.strip().startswith("Caused by:")
    ]
    return first_line(causes[-1] if causes else stacktrace or "")


class FlinkRest:
    """A client of one JobManager's REST API (``host:port`` or ``http://host:port``)."""

    def __init__(self, master: str, timeout: float = 10.0):
        self.base = master.rstrip("/") if "://" in master else f"http://{master.rstrip('/')}"
        self.timeout = timeout

    def call(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the user's master
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise FlinkRestError(
                f"{method} {path}: HTTP {exc.code}: {first_line(detail)}", exc.code
            ) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise FlinkRestError(f"{method} {path}: not JSON: {raw[:80]!r}") from None

    # --- jobs -------------------------------------------------------------------------------------------

    def jobs(self, name: str | None = None) -> list[dict]:
        """Jobs (``jid``, ``name``, ``state``, ``start-time`` ...), all or those named ``name`` (Beam's job
        server names the Flink job after its own job id)."""
        try:
            jobs = self.call("/jobs/overview")["jobs"]
        except (KeyError, TypeError):
            raise FlinkRestError("/jobs/overview: no 'jobs' list") from None
        return [job for job in jobs if name is None or job.get("name") == name]

    def job(self, job_id: str) -> dict:
        """A job's details: ``state``, ``vertices`` (each with its ``status``), ``timestamps``."""
        return self.call(f"/jobs/{job_id}")

    def all_tasks_running(self, job_id: str) -> bool:
        """True when the job and every one of its vertices is RUNNING (a restored job is RUNNING while its
        tasks are still being deployed)."""
        job = self.job(job_id)
        vertices = job.get("vertices", [])
        return (
            job.get("state") == "RUNNING"
            and bool(vertices)
            and all(vertex.get("status") == "RUNNING" for vertex in vertices)
        )

    def restarts(self, job_id: str) -> int:
        """How often the job restarted since this JobManager took it over (Flink's ``numRestarts``)."""
        for metric in self.call(f"/jobs/{job_id}/metrics?get=numRestarts") or []:
            if metric.get("id") == "numRestarts":
                return int(float(metric.get("value", 0)))
        return 0

    def last_failure(self, job_id: str) -> tuple[float, str] | None:
        """(time in s since the epoch, root cause in one line) of the job's latest failure, or None."""
        answer = self.call(f"/jobs/{job_id}/exceptions?maxExceptions=1")
        entries = (answer.get("exceptionHistory") or {}).get("entries") or []
        if entries:
            latest = max(entries, key=lambda entry: entry.get("timestamp", 0))
            return latest.get("timestamp", 0) / 1000, root_cause(latest.get("stacktrace", ""))
        if answer.get("root-exception"):
            return answer.get("timestamp", 0) / 1000, root_cause(answer["root-exception"])
        return None

    def failures(self, job_id: str) -> int:
        """How many failures the job's exception history holds (Flink keeps the last 16 by default)."""
        answer = self.call(f"/jobs/{job_id}/exceptions?maxExceptions=100")
        return len((answer.get("exceptionHistory") or {}).get("entries") or [])

    def failure_reason(self, job_id: str) -> str:
        """Why a FAILED job failed, in one line: the restart limit (Flink says "Recovery is suppressed by
        <strategy>") and the last failure's root cause."""
        answer = self.call(f"/jobs/{job_id}/exceptions?maxExceptions=1")
        trace = answer.get("root-exception") or ""
        suppressed = [line.strip() for line in trace.splitlines() if "Recovery is suppressed by" in line]
        cause = root_cause(trace) if trace else "no exception recorded"
        if suppressed:
            strategy = suppressed[0].split("Recovery is suppressed by", 1)[1].strip()
            return f"restart limit reached ({first_line(strategy, 160)}); last failure: {cause}"
        return cause

    def checkpoints(self, job_id: str) -> dict:
        """Checkpoint statistics: ``counts`` (completed, failed, restored), ``latest`` (``completed``: id,
        ``external_path``; ``restored``: id, ``restore_timestamp``, ``external_path``)."""
        return self.call(f"/jobs/{job_id}/checkpoints")

    def latest_checkpoint_path(self, job_id: str) -> str | None:
        completed = ((self.checkpoints(job_id) or {}).get("latest") or {}).get("completed") or {}
        return completed.get("external_path") or None

    # --- stopping -----------------------------------------------------------------------------------------

    def stop_with_savepoint(self, job_id: str, target_dir: str | None = None, timeout: float = 120.0) -> str:
        """Stop the job with a savepoint (Flink's "stop": sources stop, a final savepoint, the job
        FINISHED); return the savepoint's path. Raises FlinkRestError when Flink reports a failure (no
        ``state.savepoints.dir`` and no ``target_dir``, a task that cannot take it) or TimeoutError."""
        body: dict = {"drain": False}
        if target_dir:
            body["targetDirectory"] = target_dir
        trigger = self.call(f"/jobs/{job_id}/stop", method="POST", body=body)
        request_id = (trigger or {}).get("request-id")
        if not request_id:
            raise FlinkRestError(f"stop of job {job_id}: no request-id in {trigger!r}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call(f"/jobs/{job_id}/savepoints/{request_id}")
            if (status.get("status") or {}).get("id") == "COMPLETED":
                operation = status.get("operation") or {}
                if operation.get("location"):
                    return operation["location"]
                cause = operation.get("failure-cause") or {}
                raise FlinkRestError(
                    f"savepoint of job {job_id} failed: "
                    f"{root_cause(cause.get('stack-trace', '')) or cause.get('class', '?')}"
                )
            time.sleep(0.5)
        raise TimeoutError(f"savepoint of job {job_id} not done after {timeout:.0f} s")

    def cancel(self, job_id: str) -> None:
        self.call(f"/jobs/{job_id}?mode=cancel", method="PATCH")

    def wait_until_terminal(self, job_ids, timeout: float = 30.0) -> bool:
        ids = set(job_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {job["jid"]: job["state"] for job in self.jobs()}
            if all(states.get(jid, "FINISHED") in TERMINAL_STATES for jid in ids):
                return True
            time.sleep(0.5)
        return False


# --- what the launcher reads and does at a job's end ------------------------------------------------------


def flink_job_ids(flink_master: str, job_name: str, timeout: float = 10.0) -> list[str]:
    """Ids of the Flink jobs named ``job_name`` (Beam's job server names the Flink job after its own id)."""
    return [job["jid"] for job in FlinkRest(flink_master, timeout).jobs(job_name)]


def cancel_flink_job(flink_master: str, job_name: str, timeout: float = 30.0) -> list[str]:
    """Cancel every unfinished Flink job named ``job_name`` (REST: PATCH /jobs/<id>?mode=cancel); wait until
    they are CANCELED. Returns their ids; a JobManager that cannot be reached is a warning, not an error."""
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
    rest = FlinkRest(flink_master, timeout)
    drops: dict[str, int] = {}
    for vertex in rest.job(job_id).get("vertices", []):
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        names = [m["id"] for m in rest.call(path) if m["id"].endswith(LATE_DROP_METRIC)]
        for start in range(0, len(names), 20):  # keep the query string short
            query = urllib.parse.urlencode({"get": ",".join(names[start : start + 20]), "agg": "sum"})
            for metric in rest.call(f"{path}?{query}"):
                count = int(float(metric.get("sum", 0) or 0))
                if count:
                    drops[metric["id"]] = drops.get(metric["id"], 0) + count
    return drops


def stop_jobs(rest: FlinkRest, timeout: float, out=sys.stdout) -> int:
    """Stop every unfinished job with a savepoint; a job whose savepoint fails is cancelled (its latest
    retained checkpoint printed, to resume from). Returns how many jobs could not be savepointed."""
    failed = 0
    stopped = []
    for job in rest.jobs():
        if job["state"] in TERMINAL_STATES:
            continue
        jid, name = job["jid"], job.get("name", "?")
        try:
            path = rest.stop_with_savepoint(jid, timeout=timeout)
            print(f"flink-cluster: job {name} ({jid}) stopped with a savepoint: {path}", file=out)
            stopped.append(jid)
            continue
        except (OSError, FlinkRestError) as exc:
            failed += 1
            print(f"flink-cluster: job {name} ({jid}): no savepoint: {exc}", file=out)
        try:
            checkpoint = rest.latest_checkpoint_path(jid)
            rest.cancel(jid)
            rest.wait_until_terminal([jid])
            print(
                f"flink-cluster: job {name} ({jid}) cancelled; latest checkpoint: {checkpoint or 'none'}",
                file=out,
            )
        except (OSError, FlinkRestError) as exc:
            print(f"flink-cluster: job {name} ({jid}) could not be cancelled: {exc}", file=out)
    if stopped and rest.wait_until_terminal(stopped, 30):
        # A launcher watching a job looks every 2 s: let it see the job FINISHED before the JobManager goes
        # (else it takes the JobManager's end for a crash and waits for it, up to --max-outage).
        time.sleep(_LAUNCHER_GRACE_S)
    return failed


_LAUNCHER_GRACE_S = 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 hashwatch/flink/rest.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--master", required=True, help="the JobManager's REST address, host:port")
    commands = parser.add_subparsers(dest="command", required=True)
    stop = commands.add_parser(
        "stop-jobs", help="stop every running job with a savepoint (cancel on failure)"
    )
    stop.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each savepoint")
    args = parser.parse_args(argv)
    rest = FlinkRest(args.master)
    try:
        return 1 if stop_jobs(rest, args.timeout) else 0
    except (OSError, FlinkRestError) as exc:
        print(f"flink-cluster: could not list the jobs through {rest.base}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
