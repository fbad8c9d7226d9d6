"""Reuse the bundled cluster's running job server instead of starting one per run.

``--flink_job_server_jar=JAR`` makes Beam start a job server (a JVM, ~3 s, cold: the first translation
and submission of a JVM run 3-4x slower than the next) for every run and stop it when the launcher exits.
``deploy/flink/cluster.sh start --with-job-server`` (``make flink-start``) keeps one running, warm, next to
the cluster, started so that it stages no jars with a job (docs/flink.md, "Where a job's time goes").
When a run names that cluster's ``--flink_master`` and no ``--job_endpoint``, :func:`warm_job_endpoint`
finds that job server from the cluster's saved settings and the launcher submits to it::

    endpoint = warm_job_endpoint("127.0.0.1:8081")   # "127.0.0.1:8099", or None: no such job server
    if endpoint:
        options.view_as(PortableOptions).job_endpoint = endpoint

Standard library only (the launcher imports it before Beam runs anything).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

__all__ = ["cluster_settings", "default_cluster_dir", "warm_job_endpoint"]

_SETTING = re.compile(r'^declare -g (\w+)="(.*)"$')
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def default_cluster_dir() -> Path:
    """``$FLINK_CLUSTER_DIR``, else ``<checkout>/.cache/flink-cluster`` (cluster.sh's default)."""
    if os.environ.get("FLINK_CLUSTER_DIR"):
        return Path(os.environ["FLINK_CLUSTER_DIR"])
    return Path(__file__).resolve().parents[2] / ".cache" / "flink-cluster"


def cluster_settings(cluster_dir: Path) -> dict[str, str]:
    """The settings a running cluster saved (``cluster.env``, written by cluster.sh); {} if none."""
    try:
        lines = (cluster_dir / "cluster.env").read_text().splitlines()
    except OSError:
        return {}
    return {m.group(1): m.group(2) for m in map(_SETTING.match, lines) if m}


def _job_server_runs(cluster_dir: Path, job_port: str) -> bool:
    """A pid in the cluster's job-server pid file is a live job server on ``job_port`` (not a reused pid)."""
    try:
        pids = (cluster_dir / "pid" / "job-server.pid").read_text().split()
    except OSError:
        return False
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if f"--job-port={job_port} " in cmdline + " ":
            return True
    return False


def _host(name: str) -> str:
    return "127.0.0.1" if name in _LOOPBACK else name.strip("[]")


def warm_job_endpoint(flink_master: str, cluster_dir: Path | None = None) -> str | None:
    """``host:port`` of the job server of the cluster at ``flink_master`` that ``cluster.sh`` keeps
    running, if it runs and answers; else None (a run then starts its own, as Beam does)."""
    if not flink_master or flink_master.startswith("["):  # [local], [auto]: no cluster of ours
        return None
    master = flink_master.split("://", 1)[-1].rstrip("/")
    host, _, port = master.rpartition(":")
    settings = cluster_settings(cluster_dir or default_cluster_dir())
    if not settings or settings.get("with_job_server") != "1" or settings.get("rest_port") != port:
        return None
    bind_host = settings.get("bind_host", "127.0.0.1")
    if _host(host) != _host(bind_host):
        return None
    job_port = settings.get("job_port", "")
    if not job_port.isdigit() or not _job_server_runs(cluster_dir or default_cluster_dir(), job_port):
        return None
    try:
        socket.create_connection((_host(bind_host), int(job_port)), timeout=2).close()
    except OSError:
        return None
    url_host = f"[{bind_host}]" if ":" in bind_host else bind_host
    return f"{url_host}:{job_port}"
