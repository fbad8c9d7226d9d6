"""The launcher submits to the bundled cluster's running job server, and only to a live one of that cluster.

No Java: a cluster folder as cluster.sh leaves it (``cluster.env``, ``pid/job-server.pid``) and a Python
process standing in for the job server (its command line names ``--job-port=PORT``, as the real one's does,
and it listens on that port on 127.0.0.1).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from hashwatch.flink.warm_job_server import warm_job_endpoint
from pipelines.options import apply_portable_runner_defaults

LISTENER = textwrap.dedent(
    """
    import socket, sys, time
    port = int(sys.argv[1].split("=")[1])
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(8)
    print("up", flush=True)
    time.sleep(120)
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def job_server(tmp_path):
    """(cluster folder, REST port, job port) of a fake cluster whose job server runs."""
    rest_port, job_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", LISTENER, f"--job-port={job_port}"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "up"
    cluster = tmp_path / "cluster"
    (cluster / "pid").mkdir(parents=True)
    (cluster / "pid" / "job-server.pid").write_text(f"{process.pid}\n")
    _write_settings(cluster, rest_port, job_port, with_job_server=1)
    yield cluster, rest_port, job_port
    process.kill()
    process.wait()


def _write_settings(cluster: Path, rest_port: int, job_port: int, with_job_server: int) -> None:
    (cluster / "cluster.env").write_text(
        f'declare -g bind_host="127.0.0.1"\ndeclare -g rest_port="{rest_port}"\n'
        f'declare -g job_port="{job_port}"\ndeclare -g with_job_server="{with_job_server}"\n'
    )


def test_finds_the_running_job_server_of_that_cluster(job_server):
    cluster, rest_port, job_port = job_server
    assert warm_job_endpoint(f"127.0.0.1:{rest_port}", cluster) == f"127.0.0.1:{job_port}"
    assert warm_job_endpoint(f"http://localhost:{rest_port}", cluster) == f"127.0.0.1:{job_port}"


def test_not_for_another_master_or_embedded_flink(job_server):
    cluster, rest_port, _ = job_server
    assert warm_job_endpoint(f"127.0.0.1:{rest_port + 1}", cluster) is None
    assert warm_job_endpoint(f"10.1.2.3:{rest_port}", cluster) is None
    assert warm_job_endpoint("[local]", cluster) is None
    assert warm_job_endpoint("", cluster) is None


def test_not_when_the_job_server_is_gone_or_not_part_of_the_cluster(job_server, tmp_path):
    cluster, rest_port, job_port = job_server
    _write_settings(cluster, rest_port, job_port, with_job_server=0)
    assert warm_job_endpoint(f"127.0.0.1:{rest_port}", cluster) is None
    _write_settings(cluster, rest_port, job_port, with_job_server=1)
    # A pid that is not a job server on that port (a reused pid): this test's own process.
    (cluster / "pid" / "job-server.pid").write_text("1\n")
    assert warm_job_endpoint(f"127.0.0.1:{rest_port}", cluster) is None
    assert warm_job_endpoint(f"127.0.0.1:{rest_port}", tmp_path / "no-cluster") is None


def test_not_when_the_port_does_not_answer(tmp_path):
    rest_port, job_port = _free_port(), _free_port()
    # A live process naming the port, but nothing listens there.
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", f"--job-port={job_port}"]
    )
    try:
        cluster = tmp_path / "cluster"
        (cluster / "pid").mkdir(parents=True)
        (cluster / "pid" / "job-server.pid").write_text(f"{process.pid}\n")
        _write_settings(cluster, rest_port, job_port, with_job_server=1)
        assert warm_job_endpoint(f"127.0.0.1:{rest_port}", cluster) is None
    finally:
        process.kill()
        process.wait()


def test_the_launcher_submits_there_unless_told_otherwise(job_server, monkeypatch):
    cluster, rest_port, job_port = job_server
    monkeypatch.setenv("FLINK_CLUSTER_DIR", str(cluster))
    argv = ["--runner=FlinkRunner", f"--flink_master=127.0.0.1:{rest_port}", "--flink_job_server_jar=x.jar"]
    options = PipelineOptions(argv)
    assert apply_portable_runner_defaults(options, argv)["job_endpoint"] == f"127.0.0.1:{job_port}"
    assert options.view_as(PortableOptions).job_endpoint == f"127.0.0.1:{job_port}"

    argv = ["--runner=FlinkRunner", f"--flink_master=127.0.0.1:{rest_port}", "--job_endpoint=127.0.0.1:1"]
    options = PipelineOptions(argv)
    assert "job_endpoint" not in apply_portable_runner_defaults(options, argv)
    assert options.view_as(PortableOptions).job_endpoint == "127.0.0.1:1"
