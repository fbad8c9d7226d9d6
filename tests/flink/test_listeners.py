"""Where the Flink set-up listens: what we configure is on 127.0.0.1, and Beam's wildcard servers are known.

We control Flink's own servers (JobManager REST and RPC, blob server, TaskManager RPC and data: all bound
through FLINK_BIND_HOST / local-conf), the worker pool (hashwatch.flink.worker_pool) and which address
everything is contacted on (127.0.0.1). Beam 2.62 binds its Java gRPC servers (job server, artifact
staging, the TaskManager's Fn API servers) on the wildcard address whatever we ask; the audit recognises
them (a Beam JVM, the wildcard address, a gRPC answer) and fails on anything else off loopback.

The first tests need no Flink: they check the classifier and the gRPC probe on loopback servers.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from concurrent import futures

import grpc
import pytest
from flink_support import (
    BEAM_PYTHON_LOOPBACK_EXCEPTION,
    LOOPBACK,
    Listener,
    classify_listener,
    speaks_grpc,
)

JAVA = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
TASK_MANAGER = (
    f"{JAVA} -Xmx1g -classpath x org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir c"
)
JOB_SERVER = "java -jar launcher.jar --flink-master=[local] --job-host=127.0.0.1 --job-port=8099"
JOB_MANAGER = f"{JAVA} -classpath x org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
POOL = "/repo/.venv/bin/python -m hashwatch.flink.worker_pool --host 127.0.0.1 --port 50000"


def _listener(command: str, address: str = "::", pid: int = 100) -> Listener:
    return Listener(pid, ipaddress.ip_address(address), 40000, 1, command)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
@pytest.mark.parametrize("command", [TASK_MANAGER, JOB_MANAGER, POOL])
def test_loopback_is_always_fine(command, address):
    listener = _listener(command, address)
    if listener.address.version == 6 and listener.address.ipv4_mapped:  # as _tcp_listeners reports it
        listener = _listener(command, str(listener.address.ipv4_mapped))
    assert classify_listener(listener, grpc=False) == "loopback"


@pytest.mark.parametrize("command", [TASK_MANAGER, JOB_SERVER])
def test_beam_grpc_servers_on_the_wildcard_are_the_known_exception(command):
    for address in ("::", "0.0.0.0"):
        reason = classify_listener(_listener(command, address), grpc=True)
        assert reason is not None and "Beam" in reason
    # A Fn API server whose stage ended before the probe reached it: trusted in a Beam JVM only.
    assert "closed before the probe" in classify_listener(_listener(command), grpc=None)


@pytest.mark.parametrize(
    ("command", "address", "grpc_answer"),
    [
        (TASK_MANAGER, "::", False),  # a Flink server of the TaskManager on the wildcard: our config failed
        (JOB_SERVER, "0.0.0.0", False),  # not a gRPC server, e.g. embedded Flink's blob server or REST
        (TASK_MANAGER, "192.0.2.2", True),  # a routable address, even for Beam
        (JOB_MANAGER, "::", True),  # the JobManager runs no Beam servers
        (JOB_MANAGER, "::", None),
        (POOL, "::", True),  # our worker pool must bind 127.0.0.1
        (POOL, "0.0.0.0", None),
    ],
)
def test_everything_else_off_loopback_fails(command, address, grpc_answer):
    assert classify_listener(_listener(command, address), grpc=grpc_answer) is None


def test_python_loopback_service_only_for_the_named_launcher():
    launcher = _listener("/repo/.venv/bin/python -m pipelines.flink_smoke --flink_master=[local]", pid=7)
    assert classify_listener(launcher, True, frozenset({7})) == BEAM_PYTHON_LOOPBACK_EXCEPTION
    assert classify_listener(launcher, True, frozenset({8})) is None
    assert classify_listener(launcher, False, frozenset({7})) is None


def test_the_probe_tells_grpc_from_http_and_from_nothing():
    executor = futures.ThreadPoolExecutor(1)
    server = grpc.server(executor)
    grpc_port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    http_server = http.server.HTTPServer((LOOPBACK, 0), http.server.BaseHTTPRequestHandler)
    http_thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    http_thread.start()
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        closed_port = probe.getsockname()[1]
    try:
        assert speaks_grpc(grpc_port) is True
        assert speaks_grpc(http_server.server_address[1]) is False
        assert speaks_grpc(closed_port) is None
    finally:
        server.stop(0).wait()
        executor.shutdown()
        http_server.shutdown()
        http_server.server_close()


# --- the real services ---------------------------------------------------------------------------------------


def _by_role(listeners: tuple[Listener, ...]) -> dict[str, list[Listener]]:
    roles: dict[str, list[Listener]] = {}
    for listener in listeners:
        if "StandaloneSessionClusterEntrypoint" in listener.command:
            role = "jobmanager"
        elif "FlinkZooKeeperQuorumPeer" in listener.command:
            role = "zookeeper"
        elif "TaskManagerRunner" in listener.command:
            role = "taskmanager"
        elif listener.beam_role == "job server":
            role = "job server"
        else:
            role = "worker pool"
        roles.setdefault(role, []).append(listener)
    return roles


def _check_job_server(listeners: list[Listener], ports: dict[str, int]) -> None:
    """Beam binds the job and artifact services on the wildcard (the known exception); nothing else."""
    off_loopback = {listener.port: listener for listener in listeners if not listener.on_loopback}
    assert set(off_loopback) == {ports["job_server"], ports["artifacts"]}, [str(x) for x in listeners]
    for port, listener in off_loopback.items():
        assert listener.address.is_unspecified
        assert speaks_grpc(port) is True
        assert classify_listener(listener, True) is not None


@pytest.mark.flink
@pytest.mark.slow
def test_cluster_services_listen_where_we_configured_them(flink_cluster):
    ports = flink_cluster.ports
    roles = _by_role(flink_cluster.listeners_at_start)
    assert set(roles) == {"zookeeper", "jobmanager", "taskmanager", "worker pool", "job server"}, roles
    by_port = {listener.port: listener for listener in flink_cluster.listeners_at_start}
    for name in ("rest", "rpc", "worker_pool", "zookeeper"):
        assert by_port[ports[name]].address == ipaddress.ip_address(LOOPBACK), by_port[ports[name]]
    # Flink's own servers (RPC, REST, blob server, TaskManager RPC and data, metrics), ZooKeeper (client port
    # only: its admin web server is off) and the pool: loopback.
    for role in ("zookeeper", "jobmanager", "taskmanager", "worker pool"):
        assert all(listener.on_loopback for listener in roles[role]), [str(x) for x in roles[role]]
    assert len(roles["taskmanager"]) >= 2  # RPC and the data port at least: the audit sees the TaskManager
    _check_job_server(roles["job server"], ports)


@pytest.mark.flink
@pytest.mark.slow
def test_embedded_flink_job_server_and_pool_listen_where_we_configured_them(flink_local_options):
    ports = flink_local_options.ports
    roles = _by_role(flink_local_options.listeners_at_start)
    (pool,) = roles["worker pool"]
    assert (pool.address, pool.port) == (ipaddress.ip_address(LOOPBACK), ports["worker_pool"])
    _check_job_server(roles["job server"], ports)
