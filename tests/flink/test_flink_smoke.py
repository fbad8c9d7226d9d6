"""pipelines.flink_smoke on embedded Flink and on the standalone cluster writes what the FnApiRunner writes.

Also checks where the DoFn ran: in SDK worker processes of the project's interpreter (so the worker pool
really imported our modules), that parallelism 2 started two SDK workers; and that every server the run
started (job server, Flink, Beam's Fn API servers, worker pool) listened on loopback, except the known
exception: Beam 2.62's Java gRPC servers bind the wildcard address (flink_support.classify_listener).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from flink_support import FNAPI_RUNNER, LOCAL_FLINK_CONF_DIR, ListenerAudit, flink_timed, parquet_rows

from pipelines.flink_smoke import run

pytestmark = [pytest.mark.flink, pytest.mark.slow]

ITEMS = 400


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int
    executable: str
    version: str


def _workers(output_dir: Path) -> set[Worker]:
    workers = set()
    for path in (output_dir / "workers").glob("part-*.txt"):
        for line in path.read_text().splitlines():
            host, pid, executable, version = line.split("\t")
            workers.add(Worker(host, int(pid), executable, version))
    return workers


@pytest.fixture(scope="module")
def reference_rows(tmp_path_factory):
    """What the embedded FnApiRunner writes: the rows every Flink run must reproduce."""
    output = tmp_path_factory.mktemp("smoke-fnapi")
    with flink_timed(f"flink_smoke, {ITEMS} items, FnApiRunner (reference)"):
        run([FNAPI_RUNNER, f"--output_dir={output}", f"--items={ITEMS}"])
    rows = parquet_rows(output / "buckets")
    assert sum(dict(row)["item_count"] for row in rows) == ITEMS
    return rows


def _check_flink_run(target, output: Path, reference_rows, workers_started: int) -> None:
    rows = parquet_rows(output / "buckets")
    assert rows == reference_rows, f"{target.name} wrote other rows; logs:\n{target.log_tail()}"
    workers = _workers(output)
    assert workers, f"no worker identities written; logs:\n{target.log_tail()}"
    # SDK worker processes of this very interpreter ran the DoFn: the worker pool imported our modules.
    assert {w.executable for w in workers} == {sys.executable}
    assert os.getpid() not in {w.pid for w in workers}
    # --sdk_worker_parallelism=2 reached the TaskManager: it started two Python processes, not one for both
    # slots. Which of them runs a stage's subtask is Beam's choice: a TaskManager hands its SDK workers out in
    # turn to every stage subtask it opens, so both subtasks of the hashing stage can land in one (seen in
    # about one run in four). Hence "at most two ran it", not "two".
    assert workers_started >= 2, workers_started
    assert len({w.pid for w in workers}) <= 2, workers


def test_embedded_flink_writes_the_reference_rows(flink_local_options, reference_rows, tmp_path):
    target = flink_local_options
    before = target.workers_started()
    with (
        flink_timed(f"flink_smoke, {ITEMS} items, [local] parallelism 2"),
        ListenerAudit(target.service_pids) as audit,
    ):
        run(target.argv(f"--output_dir={tmp_path}", f"--items={ITEMS}", parallelism=2))
    _check_flink_run(target, tmp_path, reference_rows, target.workers_started() - before)
    assert not audit.unexpected


def test_cluster_writes_the_reference_rows(flink_cluster, reference_rows, tmp_path):
    target = flink_cluster
    before = target.workers_started()
    with (
        flink_timed(f"flink_smoke, {ITEMS} items, cluster parallelism 2"),
        ListenerAudit(target.service_pids) as audit,
    ):
        run(target.argv(f"--output_dir={tmp_path}", f"--items={ITEMS}", parallelism=2))
    started = target.workers_started() - before
    _check_flink_run(target, tmp_path, reference_rows, started)
    # One SDK worker per slot for the whole job: the environment cache holds, since Beam's runner is on the
    # cluster's class path (docs/flink.md, "Where a job's time goes"). With Beam shipped in the job's jars,
    # Beam closed the environments whenever a group of stages ended: 8-10 workers for this job.
    assert started == 2, f"{started} SDK workers started for one job; logs:\n{target.log_tail()}"
    assert audit.samples > 5
    assert not audit.unexpected
    # The TaskManager opened Beam's Fn API servers for the job, on the wildcard address: the known exception
    # was seen (and recognised as gRPC). If Beam ever binds them to loopback, docs/flink.md needs updating.
    assert any("TaskManager" in reason for reason in audit.beam_internal.values()), audit.beam_internal


def _run_module(args: list[str], audit_pids: tuple[int, ...] = (), env=None, timeout: float = 600):
    """Run ``python -m pipelines.flink_smoke ARGS``, auditing listeners: (completed process, audit, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.flink_smoke", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Without a worker pool ([local], LOOPBACK) Beam Python's worker service in the launcher binds [::].
    with ListenerAudit((process.pid, *audit_pids), python_loopback_pids=(process.pid,)) as audit:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), audit, process.pid


def test_command_line_with_only_the_job_server_jar(flink_job_server_jar, reference_rows, tmp_path):
    """What docs/flink.md tells a user to type for embedded Flink: no worker pool, no job server to start.

    Beam starts the job server and runs the DoFns in the launching process (LOOPBACK). FLINK_CONF_DIR only
    keeps embedded Flink's own servers on loopback (docs/flink.md); the run works without it too.
    """
    with flink_timed(
        f"flink_smoke, {ITEMS} items, [local] from the command line, Beam starts the job server"
    ):
        out, audit, launcher_pid = _run_module(
            [
                "--runner=FlinkRunner",
                "--flink_master=[local]",
                f"--flink_job_server_jar={flink_job_server_jar}",
                f"--output_dir={tmp_path}",
                f"--items={ITEMS}",
            ],
            env={**os.environ, "FLINK_CONF_DIR": str(LOCAL_FLINK_CONF_DIR)},
        )
    assert out.returncode == 0, out.stderr[-5000:]
    assert parquet_rows(tmp_path / "buckets") == reference_rows
    # Known exceptions only: Beam Python's LOOPBACK service in the launcher, and the Java gRPC servers of the
    # job-server JVM Beam started (job, artifacts, and embedded Flink's Fn API servers). Embedded Flink's
    # own servers (RPC, blob, REST) stay on loopback with local-conf.
    assert not audit.unexpected
    assert any(entry.startswith(f"pid {launcher_pid} ") for entry in audit.beam_internal), audit.beam_internal


def test_command_line_on_the_cluster_with_the_job_server_jar(
    flink_cluster, flink_job_server_jar, reference_rows, tmp_path
):
    """The remote-cluster command of docs/flink.md: --flink_master=HOST:PORT and --flink_job_server_jar."""
    options = [a for a in flink_cluster.argv(parallelism=2) if not a.startswith("--job_endpoint=")]
    options.append(f"--flink_job_server_jar={flink_job_server_jar}")
    with flink_timed(
        f"flink_smoke, {ITEMS} items, cluster from the command line, Beam starts the job server"
    ):
        out, audit, _ = _run_module(
            [*options, f"--output_dir={tmp_path}", f"--items={ITEMS}"], audit_pids=flink_cluster.service_pids
        )
    assert out.returncode == 0, out.stderr[-5000:]
    assert parquet_rows(tmp_path / "buckets") == reference_rows
    assert {w.executable for w in _workers(tmp_path)} == {sys.executable}
    assert not audit.unexpected
