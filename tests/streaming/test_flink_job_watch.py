"""The launcher's watch of a cluster job (hashwatch/flink/job_watch.py) against a fake Flink REST API on
127.0.0.1: restarts (also one quicker than a look), outages and their end, a lost JobManager and its
replacement, a dead worker pool, the restart limit; and run_streaming stopping a job with a savepoint and
failing loudly when the job fails."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from hashwatch.flink.job_watch import FlinkJobWatch, on_this_host
from pipelines import streaming_launcher as streaming

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_flink_rest import JOB_ID, JOB_NAME, FakeFlink  # noqa: E402

LIMIT_TRACE = (
    "org.apache.flink.runtime.JobException: Recovery is suppressed by "
    "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, backoffTimeMS=500)\n"
    "\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(...)\n"
    "Caused by: java.lang.RuntimeException: worker pool gone\n"
    "Caused by: java.net.ConnectException: Connection refused: /127.0.0.1:50000\n"
)


class Clock:
    def __init__(self):
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def flink():
    with FakeFlink() as fake:
        yield fake


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hashwatch.flink"]


def test_a_restart_quicker_than_a_look_is_seen_and_its_outage_measured(flink, caplog):
    clock = Clock()
    watch = FlinkJobWatch(flink.master, JOB_NAME, now=clock)
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        assert watch.poll() == "RUNNING"
        assert watch.job_id == JOB_ID and watch.restarts == 0 and _lines(caplog) == []
        # Between two looks: the TaskManager died at t=1010, the job restarted and runs again.
        flink.job.update(
            restarting_ms=1_010_000,
            exceptions=[
                {"timestamp": 1_010_000, "stacktrace": "x\nCaused by: java.lang.Exception: TaskManager lost"}
            ],
        )
        clock.t = 1_030.0
        watch.poll()
    lines = _lines(caplog)
    assert any(
        "restarted at" in line and "(restart 1): java.lang.Exception: TaskManager lost" in line
        for line in lines
    ), lines
    assert any("running again after 20.0 s (restarts 1" in line for line in lines), lines
    assert watch.summary()["outages"] == 1 and watch.summary()["outage_seconds"] == 20.0


def test_restarting_then_restoring_then_running_again(flink, caplog):
    clock = Clock()
    watch = FlinkJobWatch(flink.master, JOB_NAME, now=clock)
    watch.poll()
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        flink.job.update(state="RESTARTING", tasks="CANCELING", restarting_ms=1_001_000, num_restarts=1)
        clock.t = 1_002.0
        watch.poll()
        flink.job.update(state="RUNNING", tasks="DEPLOYING")
        clock.t = 1_010.0
        watch.poll()
        assert watch.down_for == pytest.approx(9.0)
        flink.job.update(tasks="RUNNING", restored_id=7)
        clock.t = 1_030.0
        watch.poll()
    lines = _lines(caplog)
    assert "restoring" in " ".join(lines)
    assert any("running again after 29.0 s (restarts 1, restored checkpoint 7)" in line for line in lines), (
        lines
    )
    assert watch.restarts == 1 and watch.down_for == 0


def test_a_job_started_from_a_savepoint_says_so(flink, caplog):
    flink.job.update(state="RUNNING", tasks="DEPLOYING", restored_id=1)
    watch = FlinkJobWatch(flink.master, JOB_NAME)
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        watch.poll()
        flink.job.update(tasks="RUNNING")
        watch.poll()
        watch.poll()
    assert _lines(caplog) == [f"flink: job {JOB_ID} restored from savepoint file:/c/chk-1"]


def test_start_up_is_not_an_outage(flink, caplog):
    flink.job.update(state="INITIALIZING", tasks="CREATED")
    watch = FlinkJobWatch(flink.master, JOB_NAME)
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        watch.poll()
        flink.job.update(state="RUNNING", tasks="DEPLOYING")
        watch.poll()
        flink.job.update(tasks="RUNNING")
        watch.poll()
    assert _lines(caplog) == [] and watch.summary()["outages"] == 0


def test_a_lost_jobmanager_and_its_replacement(flink, caplog):
    clock = Clock()
    watch = FlinkJobWatch(flink.master, JOB_NAME, now=clock)
    flink.job.update(num_restarts=2)
    watch.poll()
    assert watch.restarts == 2
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        flink.down()
        clock.t = 1_005.0
        watch.poll()
        flink.up(status=503)
        clock.t = 1_020.0
        watch.poll()
        flink.up(status=200)
        flink.job.update(num_restarts=0, restored_id=4)  # a new JobManager counts from 0
        clock.t = 1_050.0
        watch.poll()
    lines = _lines(caplog)
    assert any("not answering (URLError)" in line for line in lines), lines
    assert any("starting (leader election)" in line for line in lines), lines
    assert any("running again after 45.0 s (restarts 3, restored checkpoint 4)" in line for line in lines), (
        lines
    )
    assert watch.restarts == 3  # two before, and the takeover


def test_a_dead_worker_pool_is_reported(flink, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    watch = FlinkJobWatch(flink.master, JOB_NAME, pool=dead)
    watch._ever_running = True  # the job ran before the pool died
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        watch.poll()
    assert any(f"worker pool {dead} not answering" in line for line in _lines(caplog))
    assert watch.down_for >= 0 and watch.summary()["outages"] == 1
    # On another host, 127.0.0.1:50000 is each TaskManager's own pool: not checked from here.
    assert FlinkJobWatch("jobmanager.example:8081", JOB_NAME, pool="127.0.0.1:50000").pool is None


def test_the_restart_limit_is_the_failure_reason(flink, caplog):
    watch = FlinkJobWatch(flink.master, JOB_NAME)
    # numRestarts not refreshed yet (Flink updates metrics every few seconds); three failures recorded.
    failures = [{"timestamp": t, "stacktrace": "x"} for t in (1, 2, 3)]
    flink.job.update(
        state="FAILED", tasks="FAILED", num_restarts=0, exceptions=failures, root_exception=LIMIT_TRACE
    )
    with caplog.at_level(logging.INFO, logger="hashwatch.flink"):
        assert watch.poll() == "FAILED"
    assert watch.finished
    assert watch.failure == (
        "restart limit reached (FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, "
        "backoffTimeMS=500)); last failure: java.net.ConnectException: Connection refused: /127.0.0.1:50000"
    )
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "FAILED after 2 restart(s): restart limit reached" in error.getMessage()


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1:8081", True),
        ("http://localhost:8081", True),
        ("[::1]:50000", True),
        ("10.0.0.5:8081", False),
    ],
)
def test_on_this_host(address, local):
    assert on_this_host(address) is local


# --- run_streaming with the watch ----------------------------------------------------------------------------


class _Result:
    """A PipelineResult as Beam's portable runner gives it for a cluster job: runs until the job ends."""

    _job_id = f"{JOB_NAME}_1234"

    def __init__(self, flink: FakeFlink):
        self._flink = flink
        self.cancelled = False

    def wait_until_finish(self, duration=None):
        import time

        while self._flink.job["state"] not in ("FINISHED", "FAILED", "CANCELED") and not self.cancelled:
            time.sleep(0.05)
        if self.cancelled:  # Beam's job server says CANCELLED at once (the Flink job may run on)
            raise RuntimeError("Pipeline failed in state CANCELLED")
        if self._flink.job["state"] != "FINISHED":
            raise RuntimeError(f"Pipeline failed in state {self._flink.job['state']}")
        return "DONE"

    def cancel(self):
        self.cancelled = True


class _Pipeline:
    def __init__(self, result):
        self._result = result

    def run(self):
        return self._result


def _options(flink, *extra):
    return PipelineOptions(
        ["--runner=FlinkRunner", f"--flink_master={flink.master}", "--streaming", "--run-id=r1", *extra]
    )


def test_run_for_stops_the_job_with_a_savepoint(flink, monkeypatch, caplog):
    monkeypatch.setattr(streaming, "_WATCH_EVERY_S", 0.1)
    with caplog.at_level(logging.INFO):
        outcome = streaming.run_streaming(
            _Pipeline(_Result(flink)), _options(flink), run_for=0.5, run_id="r1"
        )
    assert flink.stopped_with_savepoint and not flink.cancelled
    assert outcome.state == "DONE"
    assert outcome.flink_job["savepoint"] == flink.job["savepoint"]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"--savepoint_path={flink.job['savepoint']} --run-id=r1" in said


def test_a_stop_without_a_possible_savepoint_cancels_and_names_the_latest_checkpoint(
    flink, monkeypatch, caplog
):
    monkeypatch.setattr(streaming, "_WATCH_EVERY_S", 0.1)
    flink.savepoint_refused = True
    with caplog.at_level(logging.INFO):
        outcome = streaming.run_streaming(_Pipeline(_Result(flink)), _options(flink), run_for=0.5)
    assert flink.cancelled and not flink.stopped_with_savepoint
    assert outcome.state == "CANCELLED" and outcome.flink_job["savepoint"] is None
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "no savepoint" in said and "--savepoint_path=file:/c/chk-9" in said


def test_a_failed_job_ends_the_run_with_its_reason(flink, monkeypatch):
    monkeypatch.setattr(streaming, "_WATCH_EVERY_S", 0.1)
    flink.job.update(state="FAILED", tasks="FAILED", root_exception=LIMIT_TRACE)
    outcome = streaming.run_streaming(_Pipeline(_Result(flink)), _options(flink), run_for=0)
    assert outcome.state == "FAILED"
    assert outcome.flink_job["failure"].startswith("restart limit reached")


def test_a_job_down_longer_than_max_outage_fails_the_run(flink, monkeypatch):
    monkeypatch.setattr(streaming, "_WATCH_EVERY_S", 0.1)
    result = _Result(flink)
    watch_polls = []
    real = FlinkJobWatch.poll

    def poll(self):
        watch_polls.append(1)
        if len(watch_polls) == 2:
            flink.down()  # the JobManager dies and never comes back
        return real(self)

    monkeypatch.setattr(FlinkJobWatch, "poll", poll)
    outcome = streaming.run_streaming(_Pipeline(result), _options(flink), run_for=0, max_outage=0.5)
    assert outcome.state == "FAILED"
    assert (
        "has not run for" in outcome.flink_job["failure"] and "--max-outage" in outcome.flink_job["failure"]
    )
