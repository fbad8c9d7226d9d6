"""A quiet, threaded static-file server on a loopback address, for demos, tests and benchmarks."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

__all__ = ["StaticServer"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # else each keep-alive response waits 40 ms for a delayed ACK

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class StaticServer:
    """Serve ``root`` on ``address`` (a loopback address such as 127.0.0.1 or 127.0.0.2) and a free port.

    Several servers on different loopback addresses or ports look like different hosts to a crawler. Use as a
    context manager, or call :meth:`start` and :meth:`stop`::

        with StaticServer(site_dir) as server:
            print(server.base_url)  # http://127.0.0.1:40123/
    """

    def __init__(self, root: str | Path, address: str = "127.0.0.1", port: int = 0):
        if not address.startswith("127."):
            raise ValueError(f"StaticServer serves on loopback only, not {address}")
        self.root = Path(root)
        self._server = _Server((address, port), functools.partial(_QuietHandler, directory=str(self.root)))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> StaticServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerProcess:
    """A :class:`StaticServer` in a child process, so serving does not compete with the caller for the GIL
    (benchmarks: a real crawl's server is another machine). Prints nothing; ``base_url`` once started."""

    def __init__(self, root: str | Path, address: str = "127.0.0.1"):
        self.root = Path(root)
        self.address = address
        self._proc = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        import subprocess
        import sys

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "hashwatch.sites.server", str(self.root), self.address],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"the server process did not start (exit code {self._proc.poll()})")
        return self

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def _serve_forever(argv: list[str]) -> None:
    import signal
    import sys

    server = StaticServer(argv[0], argv[1] if len(argv) > 1 else "127.0.0.1")
    server.start()
    print(server.base_url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()


if __name__ == "__main__":
    import sys

    _serve_forever(sys.argv[1:])
