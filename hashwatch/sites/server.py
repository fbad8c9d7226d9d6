"""A quiet, threaded static-file server on a loopback address, for demos, tests and benchmarks."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

__all__ = ["StaticServer"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

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
