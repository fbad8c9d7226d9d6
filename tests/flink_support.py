"""Pytest fixtures that run any Beam pipeline of this project on Flink (loaded by tests/conftest.py).

Session-scoped fixtures, each a :class:`FlinkTarget` except the jar:

- ``flink_job_server_jar``: the job-server launcher jar (deploy/flink/fetch-job-server.sh, Maven once).
- ``flink_local_options``: embedded Flink (``--flink_master=[local]``).
- ``flink_cluster``: the standalone Flink 1.19 cluster of deploy/flink/cluster.sh, started for the session in
  a folder of its own with free ports, and stopped whatever happens (test failure, Ctrl-C, SIGTERM).

Both targets run SDK workers as separate processes of the project's interpreter through an EXTERNAL worker
pool bound to 127.0.0.1 (for [local], a pool inside the pytest process), and talk to a job server the
fixture started (``--job_endpoint``), so each session
starts one job-server JVM per target, its log is a known file and teardown stops it. A pipeline that passes
here also passes with ``--flink_job_server_jar``; tests/flink/test_flink_smoke.py checks that path too.

An end-to-end test is a few lines::

    @pytest.mark.flink
    @pytest.mark.slow
    @pytest.mark.parametrize("target", ["flink_local_options", "flink_cluster"])
    def test_same_rows_on_flink(target, request, tmp_path):
        flink = request.getfixturevalue(target)
        run(argv=[FNAPI_RUNNER, f"--output_dir={tmp_path}/ref"])
        run(argv=flink.argv(f"--output_dir={tmp_path}/flink", parallelism=2))
        assert parquet_rows(tmp_path / "flink/matches", drop={"run_id"}) == parquet_rows(...)

Skipped, with the reason, only when ``java`` is missing, or ``mvn`` is missing and the jar is not cached
yet.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FETCH_SCRIPT = REPO / "deploy" / "flink" / "fetch-job-server.sh"
CLUSTER_SCRIPT = REPO / "deploy" / "flink" / "cluster.sh"
# Flink configuration that keeps embedded Flink ([local]) on loopback; pass it as FLINK_CONF_DIR.
LOCAL_FLINK_CONF_DIR = REPO / "deploy" / "flink" / "local-conf"
LOOPBACK = "127.0.0.1"

# The embedded runner as a --runner value: Beam 2.62 rejects the short name "FnApiRunner".
FNAPI_RUNNER = "--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"

__all__ = [
    "FNAPI_RUNNER",
    "LOCAL_FLINK_CONF_DIR",
    "FlinkTarget",
    "Listener",
    "ListenerAudit",
    "classify_listener",
    "flink_timed",
    "flink_cluster",
    "flink_job_server_jar",
    "flink_local_options",
    "listeners_of",
    "parquet_rows",
    "speaks_grpc",
]


@dataclass(frozen=True)
class FlinkTarget:
    """Where a pipeline runs: ``argv()`` gives its options, ``log_dir`` the logs to read when it fails."""

    name: str
    args: tuple[str, ...]
    log_dir: Path
    rest_url: str | None = None
    started_pids: tuple[int, ...] = ()  # job server, Flink daemons, worker pool (their children count too)
    ports: dict[str, int] = field(default_factory=dict)  # what the fixture chose: job_server, worker_pool...
    listeners_at_start: tuple[Listener, ...] = ()  # the services' listeners once started, before any job
    # How many SDK worker processes the target's worker pool has started so far.
    workers_started: Callable[[], int] = lambda: 0
    cluster_dir: Path | None = None  # the standalone cluster's folder (deploy/flink/cluster.sh)
    env: dict[str, str] = field(default_factory=dict)  # the environment cluster.sh commands need

    @property
    def service_pids(self) -> tuple[int, ...]:
        """The services' pids now: a cluster's supervisor replaces the parts that die (the fault tests kill
        some), so they are read from its pid files; else the pids at start."""
        if self.cluster_dir is None:
            return self.started_pids
        pids = []
        for pid_file in sorted((self.cluster_dir / "pid").glob("*.pid")):
            for text in pid_file.read_text().split():
                if text.isdigit() and Path(f"/proc/{text}").exists():
                    pids.append(int(text))
        return tuple(pids)

    def cluster(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``deploy/flink/cluster.sh ARGS`` for this cluster."""
        assert self.cluster_dir is not None, f"{self.name} is not a standalone cluster"
        return _cluster(args[0], self.env, *args[1:], timeout=timeout)

    def argv(self, *extra: str, parallelism: int = 2) -> list[str]:
        """Pipeline options for this target; ``extra`` (the pipeline's own flags) come last and win.

        ``parallelism`` sets Flink's parallelism and the number of Python SDK worker processes per
        TaskManager alike: with one worker process, parallel subtasks share one interpreter and its GIL.
        """
        return [
            *self.args,
            f"--parallelism={parallelism}",
            f"--sdk_worker_parallelism={parallelism}",
            *extra,
        ]

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of every log of this target, to put in an assertion message."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts) or f"(no logs in {self.log_dir})"


def parquet_rows(
    path: str | os.PathLike, drop: set[str] | frozenset[str] = frozenset()
) -> collections.Counter:
    """Rows of every Parquet file under ``path`` as a multiset, without the ``drop`` columns.

    Order-free and shard-free: two runs that wrote the same rows compare equal whatever the runner,
    parallelism or file names. Hive partition folders (``dt=.../run_id=...``) become columns, so they can
    be dropped too. Lists become tuples and structs sorted tuples, so rows are hashable.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(str(path))
    kept = [name for name in table.column_names if name not in drop]
    return collections.Counter(
        tuple((name, _hashable(row[name])) for name in kept) for row in table.select(kept).to_pylist()
    )


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


# --- timings, printed at the end of the session ------------------------------------------------------------

_TIMINGS: list[tuple[str, float]] = []


@contextlib.contextmanager
def flink_timed(what: str) -> Iterator[None]:
    """Time a block; the session summary lists every timed block (``make test`` shows it)."""
    start = time.monotonic()
    try:
        yield
    finally:
        _TIMINGS.append((what, time.monotonic() - start))


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("Flink timings")
        for what, seconds in _TIMINGS:
            terminalreporter.write_line(f"{seconds:7.1f} s  {what}")


# --- which addresses the services listen on -----------------------------------------------------------------

# Beam 2.62's Java gRPC servers bind the wildcard address: ServerFactory builds them with
# NettyServerBuilder.forPort(port), whatever host their URL names, and no option or system property changes
# that. They are the job server's job and artifact services, and the Fn API servers (control, data, state,
# logging, artifact retrieval, provisioning) a TaskManager opens for each stage it runs Python in, which the
# job-server JVM does itself for [local]. The tests start and stop them and only ever contact them on
# loopback; docs/flink.md says what that means for a deployment.
BEAM_WILDCARD_EXCEPTION = "Beam's Java gRPC server on the wildcard address (ServerFactory.forPort, Beam 2.62)"
# Beam Python's LOOPBACK worker service (embedded Flink without a worker pool) binds [::] too.
BEAM_PYTHON_LOOPBACK_EXCEPTION = (
    "Beam Python's LOOPBACK worker service on [::] (its own code, not configurable)"
)

# An HTTP/2 client connection preface and an empty SETTINGS frame: a gRPC server answers with a SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_HTTP2_SETTINGS = 4


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket of one process."""

    pid: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    inode: int
    command: str

    @property
    def on_loopback(self) -> bool:
        return self.address.is_loopback

    @property
    def beam_role(self) -> str | None:
        """``job server`` or ``TaskManager`` when this is a JVM that runs Beam's Java gRPC servers."""
        executable = self.command.split(" ", 1)[0]
        if not (executable == "java" or executable.endswith("/java")):
            return None
        if "TaskManagerRunner" in self.command:
            return "TaskManager"
        if "--job-port" in self.command:  # Beam's job server: ours, or one Beam started from the jar
            return "job server"
        return None

    def __str__(self) -> str:
        return f"pid {self.pid} [{self.address}]:{self.port} {self.command[:160]}"


def classify_listener(
    listener: Listener, grpc: bool | None, python_loopback_pids: frozenset[int] = frozenset()
) -> str | None:
    """Why a listener is acceptable, or None when it is not.

    Loopback is always fine. Off loopback, only the known Beam exceptions are: the wildcard address (never a
    routable address of this host) in a Beam JVM (job server, TaskManager) on a port that answers as a gRPC
    server, or in a process given as Beam Python's LOOPBACK launcher. ``grpc`` is the probe's answer:
    True, False, or None when the socket closed before it could be probed (a Fn API server of a stage that
    just finished: only trusted in a Beam JVM).
    """
    if listener.on_loopback:
        return "loopback"
    if not listener.address.is_unspecified:
        return None
    if listener.pid in python_loopback_pids and grpc is not False:
        return BEAM_PYTHON_LOOPBACK_EXCEPTION
    if listener.beam_role is not None and grpc is not False:
        closed = " (closed before the probe)" if grpc is None else ""
        return f"{BEAM_WILDCARD_EXCEPTION}, {listener.beam_role}{closed}"
    return None


def speaks_grpc(port: int, host: str = LOOPBACK, timeout: float = 5.0) -> bool | None:
    """True if the server on ``host:port`` answers an HTTP/2 preface with SETTINGS (gRPC does), False if it
    answers otherwise or not at all, None if nothing listens there any more."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(_HTTP2_PREFACE)
            header = b""
            while len(header) < 9:
                chunk = conn.recv(9 - len(header))
                if not chunk:
                    break
                header += chunk
    except ConnectionRefusedError:
        return None
    except OSError:  # reset or timed out: not a gRPC server
        return False
    return len(header) == 9 and header[3] == _HTTP2_SETTINGS and header[5:9] == b"\0\0\0\0"


def listeners_of(pids) -> list[Listener]:
    """Every TCP listener of ``pids`` and their descendants, now (Linux /proc)."""
    owners = _socket_owners(_descendants(set(pids)))
    return [
        Listener(owners[inode], address, port, inode, _command_line(owners[inode]))
        for address, port, inode in _tcp_listeners()
        if inode in owners
    ]


class ListenerAudit:
    """Samples, while active, the TCP listeners of some processes and their descendants (Linux /proc).

    ``with ListenerAudit(target.service_pids) as audit: run(...)``, then:

    - ``unexpected``: every listener seen off loopback that is not a known Beam exception (tests assert it
      is empty): Flink's own servers, our worker pool and SDK workers, anything on a routable address;
    - ``beam_internal``: the known exceptions (:func:`classify_listener`), with the reason;
    - ``not_loopback``: both together.

    Every new wildcard listener is probed as soon as it is seen, with an HTTP/2 preface (``_probe``).
    ``python_loopback_pids``: launching processes whose Beam Python LOOPBACK service may bind [::].
    """

    def __init__(self, pids, interval: float = 0.2, python_loopback_pids=()):
        self._roots = set(pids)
        self._interval = interval
        self._python_loopback_pids = frozenset(python_loopback_pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._seen: set[int] = set()  # socket inodes already judged
        self.beam_internal: dict[str, str] = {}
        self.unexpected: set[str] = set()
        self.samples = 0

    @property
    def not_loopback(self) -> set[str]:
        return set(self.beam_internal) | self.unexpected

    def __enter__(self) -> ListenerAudit:
        if not Path("/proc/net/tcp").exists():
            pytest.skip("listener audit needs Linux /proc")
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # at least one sample at the end, however short the block

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    @staticmethod
    def _probe(listener: Listener, attempts: int = 3) -> bool | None:
        """Probe a wildcard listener over loopback (Java's [::] is dual-stack). A server that is shutting
        down (a Fn API server at the end of its stage) may accept and then close without a word: when the
        socket is gone afterwards, that is "closed before the probe" (None); while it still listens, try
        again (a loaded JVM may be slow), and a server that never answers as gRPC is not one (False)."""
        for attempt in range(attempts):
            answer = speaks_grpc(listener.port)
            if answer is True:
                return True
            if answer is None or listener.inode not in {inode for _, _, inode in _tcp_listeners()}:
                return None
            if attempt + 1 < attempts:
                time.sleep(0.5)
        return False

    def _sample(self) -> None:
        self.samples += 1
        for listener in listeners_of(self._roots):
            if listener.on_loopback or listener.inode in self._seen:
                continue
            self._seen.add(listener.inode)
            grpc = self._probe(listener) if listener.address.is_unspecified else False
            reason = classify_listener(listener, grpc, self._python_loopback_pids)
            if reason is None:
                self.unexpected.add(str(listener))
            else:
                self.beam_internal[str(listener)] = reason


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _descendants(roots: set[int]) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _socket_owners(pids: set[int]) -> dict[int, int]:
    owners = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            # One fd closed between the listing and here (a busy process: pytest's own fetch and gRPC
            # threads) must not hide the rest of that process's sockets: it once hid the in-process worker
            # pool's listener (test_listeners: KeyError 'worker pool' in a full run, passing alone).
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[int(target[8:-1])] = pid
    return owners


def _tcp_listeners():
    """(address, port, inode) of every listening TCP socket in this network namespace."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != "0A":  # LISTEN
                continue
            hex_address, hex_port = local.split(":")
            # The kernel prints the address as native-endian 32-bit words.
            raw = b"".join(
                int(hex_address[i : i + 8], 16).to_bytes(4, sys.byteorder)
                for i in range(0, len(hex_address), 8)
            )
            address = ipaddress.ip_address(raw)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            yield address, int(hex_port, 16), inode


# --- the job server ---------------------------------------------------------------------------------------


def _require_java() -> None:
    if shutil.which("java") is None:
        pytest.skip("java not found: Flink tests need Java 17 (apt-get install openjdk-17-jdk-headless)")


@pytest.fixture(scope="session")
def flink_job_server_jar() -> Path:
    """The launcher jar for ``--flink_job_server_jar``; fetched with Maven into .cache/ on first use."""
    _require_java()
    cached = subprocess.run(
        [str(FETCH_SCRIPT), "--print-path"], capture_output=True, text=True, check=False, timeout=60
    )
    if cached.returncode != 0 and shutil.which("mvn") is None:
        pytest.skip("mvn not found and the Flink job server is not cached: apt-get install maven")
    with flink_timed("fetch job server (cached after the first time)"):
        fetched = subprocess.run(
            [str(FETCH_SCRIPT)], capture_output=True, text=True, check=False, timeout=1800
        )
    if fetched.returncode != 0:
        pytest.fail(f"{FETCH_SCRIPT} failed:\n{fetched.stderr[-5000:]}", pytrace=False)
    return Path(fetched.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, timeout: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


class _JobServer:
    """``java -jar <launcher> --flink-master=...`` on 127.0.0.1, logging to ``log_path``."""

    def __init__(self, jar: Path, flink_master: str, workdir: Path, flink_conf_dir: Path | None = None):
        self.port = _free_port()
        self.artifact_port = _free_port()
        self.log_path = workdir / "job-server.log"
        command = [
            "java",
            "-jar",
            str(jar),
            f"--flink-master={flink_master}",
            f"--job-host={LOOPBACK}",
            f"--job-port={self.port}",
            f"--artifact-port={self.artifact_port}",
            "--expansion-port=0",
            f"--artifacts-dir={workdir / 'artifacts'}",
        ]
        if flink_conf_dir is not None:
            command.append(f"--flink-conf-dir={flink_conf_dir}")
        with self.log_path.open("ab") as log:
            # Its own session: a Ctrl-C in the terminal reaches pytest, and teardown stops the JVM.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        if not _wait_for_port(self.port, 90, alive=lambda: self._process.poll() is None):
            self.stop()
            raise RuntimeError(f"job server did not start; see {self.log_path}")

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


# --- embedded Flink ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def flink_local_options(flink_job_server_jar, tmp_path_factory) -> Iterator[FlinkTarget]:
    """Embedded Flink: ``--flink_master=[local]``, SDK workers from a worker pool in this process."""
    from hashwatch.flink.worker_pool import WorkerPool

    workdir = tmp_path_factory.mktemp("flink-local")
    pool = WorkerPool(host=LOOPBACK, port=0).start()
    try:
        with flink_timed("start job server for [local]"):
            job_server = _JobServer(flink_job_server_jar, "[local]", workdir, LOCAL_FLINK_CONF_DIR)
    except BaseException:
        pool.stop()
        raise
    try:
        yield FlinkTarget(
            name="flink-local",
            args=(
                "--runner=FlinkRunner",
                "--flink_master=[local]",
                f"--job_endpoint={job_server.endpoint}",
                "--environment_type=EXTERNAL",
                f"--environment_config={pool.address}",
            ),
            log_dir=workdir,
            started_pids=(job_server.pid, os.getpid()),  # the worker pool runs in this process
            ports={
                "job_server": job_server.port,
                "artifacts": job_server.artifact_port,
                "worker_pool": pool.port,
            },
            listeners_at_start=tuple(listeners_of([job_server.pid]))
            + tuple(listener for listener in listeners_of([os.getpid()]) if listener.port == pool.port),
            workers_started=lambda: pool.workers_started,
        )
    finally:
        job_server.stop()
        pool.stop()


# --- the standalone cluster -------------------------------------------------------------------------------


def _cluster(
    command: str, env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLUSTER_SCRIPT), command, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def flink_cluster(flink_job_server_jar, tmp_path_factory) -> Iterator[FlinkTarget]:
    """A standalone Flink 1.19 cluster (ZooKeeper, JobManager, TaskManager with 2 slots, worker pool, job
    server, supervisor).

    Its folder is the session's own and its ports are free ones, so it never meets a cluster started by
    hand or by another session. It is stopped at the end of the session whatever happens: the fixture's
    teardown runs on failures and Ctrl-C, SIGTERM is turned into KeyboardInterrupt meanwhile, and an
    atexit hook catches what is left.
    """
    cluster_dir = tmp_path_factory.mktemp("flink-cluster")
    env = {
        **os.environ,
        "FLINK_CLUSTER_DIR": str(cluster_dir),
        "FLINK_BIND_HOST": LOOPBACK,
        "FLINK_REST_PORT": str(_free_port()),
        "FLINK_RPC_PORT": str(_free_port()),
        "ZOOKEEPER_PORT": str(_free_port()),
        "WORKER_POOL_PORT": str(_free_port()),
        "JOB_SERVER_PORT": str(_free_port()),
        "JOB_SERVER_ARTIFACT_PORT": str(_free_port()),
        "FLINK_TASK_SLOTS": "2",
        "WORKER_POOL_PYTHON": sys.executable,
    }
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            with flink_timed("stop standalone cluster"):
                _cluster("stop", env, timeout=120)

    atexit.register(stop)
    restore_sigterm = _sigterm_as_keyboard_interrupt()
    try:
        with flink_timed("start standalone cluster + worker pool + job server"):
            started = _cluster("start", env, "--with-job-server")
        if started.returncode != 0:
            pytest.fail(
                f"deploy/flink/cluster.sh start failed ({started.returncode}), "
                f"logs in {cluster_dir / 'log'}:\n{started.stderr[-5000:]}",
                pytrace=False,
            )
        options = _cluster("options", env)
        args = tuple(
            line
            for line in options.stdout.splitlines()
            if line and not line.startswith(("--parallelism=", "--sdk_worker_parallelism="))
        )
        service_pids = tuple(
            int(text)
            for pid_file in sorted((cluster_dir / "pid").glob("*.pid"))
            for text in pid_file.read_text().split()
        )
        yield FlinkTarget(
            name="flink-cluster",
            args=args,
            log_dir=cluster_dir / "log",
            rest_url=f"http://{LOOPBACK}:{env['FLINK_REST_PORT']}",
            started_pids=service_pids,
            cluster_dir=cluster_dir,
            env=env,
            ports={
                "rest": int(env["FLINK_REST_PORT"]),
                "rpc": int(env["FLINK_RPC_PORT"]),
                "zookeeper": int(env["ZOOKEEPER_PORT"]),
                "worker_pool": int(env["WORKER_POOL_PORT"]),
                "job_server": int(env["JOB_SERVER_PORT"]),
                "artifacts": int(env["JOB_SERVER_ARTIFACT_PORT"]),
            },
            listeners_at_start=tuple(listeners_of(service_pids)),
            workers_started=lambda: _count_lines(
                cluster_dir / "log" / "worker-pool.log", "Started SDK worker"
            ),
        )
    finally:
        try:
            stop()
        finally:
            restore_sigterm()
            atexit.unregister(stop)


def _count_lines(path: Path, text: str) -> int:
    try:
        return sum(text in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _sigterm_as_keyboard_interrupt():
    """Until the returned function is called, SIGTERM unwinds like Ctrl-C, so fixture teardowns run."""

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
