"""``cluster.sh stop``'s job stop (hashwatch/flink/rest.py stop-jobs) against a fake Flink REST API on
127.0.0.1: a savepoint per running job, printed; a job Flink refuses one for is cancelled, its latest
checkpoint printed, and the exit status says not every job could be stopped (cluster.sh then keeps the HA
store, so that job resumes at the next start)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from hashwatch.flink.rest import FlinkRest, main, root_cause, stop_jobs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_flink_rest import JOB_ID, JOB_NAME, FakeFlink  # noqa: E402


def test_every_running_job_is_stopped_with_a_savepoint(monkeypatch):
    import hashwatch.flink.rest

    monkeypatch.setattr(hashwatch.flink.rest, "_LAUNCHER_GRACE_S", 0.0)
    with FakeFlink() as flink:
        out = io.StringIO()
        assert stop_jobs(FlinkRest(flink.master), timeout=10, out=out) == 0
        assert flink.stopped_with_savepoint and not flink.cancelled
    assert out.getvalue() == (
        f"flink-cluster: job {JOB_NAME} ({JOB_ID}) stopped with a savepoint: {flink.job['savepoint']}\n"
    )


def test_a_refused_savepoint_cancels_and_names_the_latest_checkpoint():
    with FakeFlink() as flink:
        flink.savepoint_refused = True
        out = io.StringIO()
        assert stop_jobs(FlinkRest(flink.master), timeout=10, out=out) == 1
        assert flink.cancelled
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(
        f"flink-cluster: job {JOB_NAME} ({JOB_ID}): no savepoint: POST /jobs/{JOB_ID}/stop"
    )
    assert lines[1] == f"flink-cluster: job {JOB_NAME} ({JOB_ID}) cancelled; latest checkpoint: file:/c/chk-9"


def test_finished_jobs_are_left_alone_and_an_unreachable_master_fails(capsys):
    with FakeFlink() as flink:
        flink.job["state"] = "FINISHED"
        assert main(["--master", flink.master, "stop-jobs"]) == 0
        assert not flink.stopped_with_savepoint and capsys.readouterr().out == ""
        flink.down()
        assert main(["--master", flink.master, "stop-jobs"]) == 1
    assert "could not list the jobs" in capsys.readouterr().err


def test_root_cause_is_the_innermost_cause():
    trace = "a.B: outer\n\tat x\nCaused by: c.D: middle\nCaused by: e.F: inner one\n\tat y"
    assert root_cause(trace) == "e.F: inner one"
    assert root_cause("only.One: line\n\tat z") == "only.One: line"
    assert root_cause("") == ""
