"""The EXTERNAL worker pool binds loopback only and starts SDK workers with our own interpreter."""

import socket
import subprocess
import sys

import grpc
import pytest
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc, endpoints_pb2

from hashwatch.flink.worker_pool import WorkerPool

pytestmark = pytest.mark.network


def _start_worker(address: str, worker_id: str) -> beam_fn_api_pb2.StartWorkerResponse:
    with grpc.insecure_channel(address) as channel:
        stub = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel)
        # Nothing listens on port 9 (discard): the worker starts, fails to reach its runner, and is stopped.
        request = beam_fn_api_pb2.StartWorkerRequest(
            worker_id=worker_id,
            control_endpoint=endpoints_pb2.ApiServiceDescriptor(url="127.0.0.1:9"),
        )
        return stub.StartWorker(request, timeout=10)


def test_pool_binds_loopback_and_runs_workers_with_this_interpreter():
    pool = WorkerPool(port=0).start()
    try:
        assert pool.address.startswith("127.0.0.1:")
        assert pool.workers_started == 0
        response = _start_worker(pool.address, "w-1")
        assert response.error == ""
        assert pool.workers_started == 1
        # The pool's bookkeeping is private; this test is the one place that looks at it.
        process = pool._servicer._worker_processes["w-1"]
        assert process.args[0] == sys.executable
    finally:
        pool.stop()
    assert process.poll() is not None, "stop() must end the SDK workers it started"


def test_pool_is_not_reachable_on_other_addresses():
    pool = WorkerPool(port=0).start()
    try:
        other = _non_loopback_address()
        if other is None:
            pytest.skip("this host has no non-loopback IPv4 address to probe")
        with pytest.raises(OSError):
            socket.create_connection((other, pool.port), timeout=2).close()
    finally:
        pool.stop()


def test_command_line_reports_a_taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "hashwatch.flink.worker_pool", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert out.returncode == 2
    assert "cannot bind" in out.stderr


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_sdk_workers_log_hashwatch_info_and_warnings_to_the_pool_output():
    """Beam's pool drops a worker's INFO lines (the progress reporter's); ours keeps hashwatch's."""
    code = (
        "import logging; from hashwatch.flink.worker_pool import configure_worker_logging; "
        "configure_worker_logging('w-7'); "
        "logging.getLogger('hashwatch.progress').info('progress: fetches=3'); "
        "logging.getLogger('apache_beam.runners.worker.sdk_worker').info('beam chatter'); "
        "logging.getLogger('apache_beam.io').warning('a beam warning')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stderr.splitlines()
    assert any("sdk-worker w-7" in line and "progress: fetches=3" in line for line in lines), lines
    assert any("WARNING" in line and "a beam warning" in line for line in lines), lines
    assert not any("beam chatter" in line for line in lines), lines
