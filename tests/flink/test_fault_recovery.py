"""Faults on the bundled cluster (the session's, deploy/flink/cluster.sh): survived, and said so.

- The supervisor restarts a TaskManager and a worker pool killed with SIGKILL, and logs each restart;
  ``restart worker-pool`` replaces the pool by hand.
- A streaming crawl whose worker pool and SDK workers are killed mid-stream: the job runs again by itself,
  the launcher says so, no match is lost or duplicated (against the batch crawl of the same seeds on the
  embedded runner), every row is in the window of the time the poll found its seed file, and the seed files
  the outage held up are readable within window + 2 polls + 20 s of the job running again. (The full
  test, TaskManager, worker pool and JobManager against an undisturbed streaming run, takes about 9
  minutes: ``make flink-fault-test``, docs/flink.md "Faults".)
- A job that reaches its restart limit fails the run loudly: exit status 1, one line saying why.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flink_support import FNAPI_RUNNER, flink_timed

from benchmarks.flink_fault_checks import check_launcher, check_outages, check_windows, compare_tables
from benchmarks.flink_faults import Cluster, _write_list, run_stream

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.network]


def _restarts(cluster_dir: Path, part: str) -> list[str]:
    log = cluster_dir / "log" / "supervisor.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if f"supervisor: {part}: restarted, now pid" in line]


def _wait(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def test_the_supervisor_restarts_what_dies(flink_cluster):
    cluster = Cluster(flink_cluster.cluster_dir, flink_cluster.env)
    before = {part: len(_restarts(cluster.folder, part)) for part in ("taskmanager", "worker-pool")}
    killed = {part: cluster.pids(part) for part in ("taskmanager", "worker-pool")}
    with flink_timed("supervisor: a killed TaskManager and worker pool restarted"):
        for pids in killed.values():
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
        back = _wait(
            lambda: all(
                set(cluster.pids(part)) - set(killed[part])
                and len(_restarts(cluster.folder, part)) > before[part]
                for part in killed
            ),
            120,
        )
        assert back, f"not restarted; supervisor log:\n{cluster.supervisor_log()[-3000:]}"
        slots = _wait(lambda: cluster.rest.call("/overview").get("slots-total") == 2, 120)
    assert slots, "the new TaskManager did not register its 2 slots"
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ supervisor: ", _restarts(cluster.folder, "taskmanager")[-1]
    )
    status = flink_cluster.cluster("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Restarts by the supervisor" in status.stdout

    pool = cluster.pids("worker-pool")
    restarted = flink_cluster.cluster("restart", "worker-pool")
    assert restarted.returncode == 0, restarted.stderr
    assert cluster.pids("worker-pool") and not set(cluster.pids("worker-pool")) & set(pool)


def _fresh_taskmanager(target) -> None:
    """Beam 2.62 leaks the Fn API servers of every environment it fails to create (about 86 wildcard
    listeners per attempt of this job, which stop answering gRPC): restart the session's TaskManager so the
    listener audits of later tests see a clean one (docs/flink.md, "Faults")."""
    cluster = Cluster(target.cluster_dir, target.env)
    with flink_timed("restart the TaskManager after a job that could not create its environment"):
        restarted = target.cluster("restart", "taskmanager")
        assert restarted.returncode == 0, restarted.stderr
        ready = _wait(lambda: cluster.rest.call("/overview").get("slots-available") == 2, 120)
    assert ready, "the restarted TaskManager did not register its 2 free slots"


def _small_site(root: Path, pages: int, per_page: int) -> Path:
    from benchmarks.bench_pipeline import build_bench_site

    build_bench_site(root, pages * per_page, per_page)  # synthetic pictures, in the test's own folder
    return root


def test_a_worker_pool_killed_mid_stream_costs_no_row_and_no_window(flink_cluster, tmp_path):
    from hashwatch.sites.server import ServerProcess
    from pipelines.crawl_match import run

    args = argparse.Namespace(
        seeds=8, every=3.0, window=10.0, poll=2.0, checkpoint_ms=5000, settle=8.0, per_page=3
    )
    site = _small_site(tmp_path / "site", 24, args.per_page)
    _write_list(site, 24, args.per_page, tmp_path / "list.csv")
    cluster = Cluster(flink_cluster.cluster_dir, flink_cluster.env)
    with ServerProcess(site) as server:
        pages = [f"{server.base_url}page/{p}.html" for p in range(24)]
        with flink_timed("streaming crawl, the worker pool and its SDK workers killed mid-stream"):
            faulted = run_stream(
                "faulted", cluster, pages, tmp_path / "list.csv", tmp_path, args, ("worker-pool",)
            )
        # The reference: the same seed pages, crawled by the batch job on the embedded runner.
        seeds = tmp_path / "all-seeds.txt"
        seeds.write_text("\n".join(faulted.landed) + "\n")
        run(
            argv=[
                FNAPI_RUNNER,
                f"--seeds={seeds}",
                f"--hash-list={tmp_path / 'list.csv'}",
                f"--output-dir={tmp_path / 'batch-out'}",
                "--allow-private-networks",
                "--per-host-delay=0",
                "--max-depth=0",
                "--progress-interval=0",
            ]
        )
    failures = compare_tables(faulted.output, tmp_path / "batch-out")
    failures += check_windows(faulted) + check_outages(faulted, args) + check_launcher(faulted)
    assert not failures, f"{failures}\nlauncher log:\n{faulted.launcher_log[-4000:]}"
    assert [o.part for o in faulted.outages] == ["worker-pool"]
    assert faulted.launcher_rc == 130  # stopped by SIGTERM, as a scheduler does: with a savepoint


def test_a_job_at_its_restart_limit_fails_the_run_in_one_line(flink_cluster, served_demo_site, tmp_path):
    """The worker pool named in the options never answers, so every start of the job fails; with two
    restarts allowed the job fails, and the launcher says why and exits 1 (it used to wait for ever under
    Flink's default strategy, saying nothing)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_pool = f"127.0.0.1:{probe.getsockname()[1]}"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    argv = flink_cluster.argv(
        "--streaming",
        "--checkpointing_interval=5000",
        f"--environment_config={dead_pool}",
        "--number_of_execution_retries=2",
        "--execution_retry_delay=500",
        f"--seeds={incoming}/*.txt",
        f"--hash-list={served_demo_site.hash_list}",
        f"--output-dir={tmp_path / 'out'}",
        "--allow-private-networks",
        "--window-length=10",
        "--progress-interval=0",
        parallelism=1,
    )
    hashwatch = Path(sys.executable).with_name("hashwatch")
    try:
        with flink_timed("streaming job at its restart limit (2 restarts)"):
            done = subprocess.run(
                [str(hashwatch), "crawl", *argv], capture_output=True, text=True, timeout=400, check=False
            )
    finally:
        _fresh_taskmanager(flink_cluster)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("hashwatch crawl: error:")]
    assert len(errors) == 1, output[-4000:]
    assert errors[0].startswith(
        "hashwatch crawl: error: the Flink job failed: restart limit reached "
        "(FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2"
    ), errors[0]
    assert "last failure: " in errors[0]
    assert "Traceback" not in output
    assert "FAILED after 2 restart(s)" in output
