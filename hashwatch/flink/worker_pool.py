"""A Beam worker pool for Flink's EXTERNAL environment: the process that runs our code on a TaskManager.

With ``--environment_type=EXTERNAL --environment_config=HOST:PORT`` each Flink TaskManager asks the worker
pool at HOST:PORT to start Python SDK workers for a job (``--sdk_worker_parallelism`` of them), and those
workers run our DoFns. They run with *this* interpreter, so the pool must run from a Python environment
that has hashwatch installed (``pip install .``): this kind of worker does not install what
``--setup_file`` or ``--requirements_file`` stage.

Run it on every TaskManager host::

    python -m hashwatch.flink.worker_pool --port 50000            # binds 127.0.0.1:50000

It is Beam's own pool (``apache_beam.runners.worker.worker_pool_main``) with three fixes:

- it binds one address, 127.0.0.1 by default, where Beam's binds every interface (``[::]``): anyone who can
  reach the pool can make it run code, and a TaskManager only ever calls the pool on its own host;
- each SDK worker runs with ``sys.executable``, where Beam's runs whatever ``python`` is first on PATH (a
  worker started that way outside the virtualenv dies with ``No module named 'apache_beam'`` and the Flink job
  hangs in RUNNING);
- the workers' stdout goes to the pool's stdout, where Beam's sends it into a pipe nobody reads (a DoFn that
  prints more than the pipe buffer would block its worker);
- the workers log: hashwatch's INFO lines (progress) and every warning go to the pool's output, where Beam's
  workers set up no logging and drop everything below WARNING.

SIGTERM and SIGINT stop the pool and its workers.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor

__all__ = ["WorkerPool", "main", "run_sdk_worker"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50000

# What each SDK worker process runs: run_sdk_worker() below, i.e. the SDK harness entry point Beam's pool uses
# (apache_beam 2.62) plus logging. Only the interpreter and the logging differ from Beam's pool.
_HARNESS_CODE = (
    "from hashwatch.flink.worker_pool import run_sdk_worker; "
    "run_sdk_worker({control!r}, worker_id={worker_id!r}, state_cache_size={state_cache_size:d}, "
    "data_buffer_time_limit_ms={data_buffer_time_limit_ms:d})"
)


def configure_worker_logging(worker_id: str) -> None:
    """In an SDK worker process: hashwatch's INFO lines and everyone's warnings to stderr, naming the worker."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s sdk-worker {worker_id} pid %(process)d %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("hashwatch").setLevel(logging.INFO)


def run_sdk_worker(
    control_address: str, *, worker_id: str, state_cache_size: int, data_buffer_time_limit_ms: int
) -> None:
    """Run one SDK worker (Beam's ``SdkHarness``) in this process until its runner lets it go.

    Beam's pool starts the harness with no logging set up, so a DoFn's log lines go nowhere below WARNING
    (hashwatch's progress reporter logs at INFO). Here hashwatch's loggers log at INFO and every logger's
    warnings too, to stderr, which is the pool's stdout/stderr (``worker-pool.log`` on the bundled cluster),
    each line naming the worker. Beam's own INFO chatter stays out.
    """
    configure_worker_logging(worker_id)
    from apache_beam.runners.worker.sdk_worker import SdkHarness

    SdkHarness(
        control_address,
        worker_id=worker_id,
        state_cache_size=state_cache_size,
        data_buffer_time_limit_ms=data_buffer_time_limit_ms,
    ).run()


class _ProcessWorkerPoolServicer(worker_pool_main.BeamFnExternalWorkerPoolServicer):
    """Beam's servicer, starting each SDK worker as a child process of this interpreter."""

    def __init__(self, state_cache_size: int, data_buffer_time_limit_ms: int):
        super().__init__(
            use_process=True,
            state_cache_size=state_cache_size,
            data_buffer_time_limit_ms=data_buffer_time_limit_ms,
        )
        self.workers_started = 0

    def StartWorker(self, start_worker_request, unused_context):  # noqa: N802 (gRPC method name)
        command = [
            sys.executable,
            "-c",
            _HARNESS_CODE.format(
                control=start_worker_request.control_endpoint.url,
                worker_id=start_worker_request.worker_id,
                state_cache_size=self._state_cache_size,
                data_buffer_time_limit_ms=self._data_buffer_time_limit_ms,
            ),
        ]
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            _LOGGER.error("Could not start SDK worker %s: %s", start_worker_request.worker_id, exc)
            return beam_fn_api_pb2.StartWorkerResponse(error=f"could not start SDK worker: {exc}")
        self._worker_processes[start_worker_request.worker_id] = process
        self.workers_started += 1
        _LOGGER.info(
            "Started SDK worker %s (pid %d) for control endpoint %s",
            start_worker_request.worker_id,
            process.pid,
            start_worker_request.control_endpoint.url,
        )
        return beam_fn_api_pb2.StartWorkerResponse()

    def stop_all_workers(self) -> None:
        for worker_id in list(self._worker_processes):
            process = self._worker_processes.pop(worker_id, None)
            if process is not None:
                worker_pool_main.kill_process_gracefully(process, timeout=5)


class WorkerPool:
    """A running worker pool: ``WorkerPool(host, port).start()``, then ``stop()``.

    ``port=0`` picks a free port; ``address`` says which one was bound.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        state_cache_size: int = 0,
        data_buffer_time_limit_ms: int = -1,
    ):
        self.host = host
        self.port = port
        self._servicer = _ProcessWorkerPoolServicer(state_cache_size, data_buffer_time_limit_ms)
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def workers_started(self) -> int:
        """How many SDK worker processes this pool has started so far."""
        return self._servicer.workers_started

    def start(self) -> WorkerPool:
        # The same gRPC options as Beam's pool: TaskManagers keep idle connections open for a long time.
        server = grpc.server(
            thread_pool_executor.shared_unbounded_instance(),
            options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
        )
        beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(self._servicer, server)
        bind = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            bound_port = server.add_insecure_port(bind)
        except RuntimeError as exc:  # grpcio raises when the address is taken
            raise OSError(f"worker pool cannot bind {bind}: {exc}") from exc
        if not bound_port:
            raise OSError(f"worker pool cannot bind {bind} (address in use?)")
        self.port = bound_port
        server.start()
        self._server = server
        _LOGGER.info("Beam worker pool listening on %s, SDK workers run %s", self.address, sys.executable)
        return self

    def stop(self, grace_seconds: float = 1.0) -> None:
        if self._server is not None:
            self._server.stop(grace_seconds).wait()
            self._server = None
        self._servicer.stop_all_workers()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hashwatch.flink.worker_pool",
        description="Beam worker pool for --environment_type=EXTERNAL on Flink (see docs/flink.md).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port",
        "--service_port",
        dest="port",
        type=int,
        default=DEFAULT_PORT,
        help="port to bind (default %(default)s; 0 picks a free one)",
    )
    parser.add_argument(
        "--state_cache_size",
        type=int,
        default=0,
        help="SDK worker state cache size in bytes (as Beam's pool, default 0)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stopping = threading.Event()

    def _request_stop(signum, _frame):
        _LOGGER.info("Signal %d: stopping the worker pool", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)

    try:
        pool = WorkerPool(args.host, args.port, state_cache_size=args.state_cache_size).start()
    except OSError as exc:
        print(f"hashwatch.flink.worker_pool: error: {exc}", file=sys.stderr)
        return 2
    # One line on stdout that scripts can wait for.
    print(f"worker pool listening on {pool.address}", flush=True)
    try:
        while not stopping.wait(3600):
            pass
    finally:
        pool.stop()
    _LOGGER.info("Worker pool stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
