"""Real HTTP servers on loopback addresses for the crawler tests, and synthetic images.

Each :class:`LocalServer` binds 127.0.0.x on a free port, serves a route table (exact path with query, or a
prefix route) and records every request it receives (path, time, User-Agent). Servers on different 127.0.0.x
addresses are different hosts to the crawler. Nothing here talks beyond loopback.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Every body the servers send contains this marker; no error message or log line may ever contain it.
CONTENT_MARKER = "SECRET-BODY-CONTENT"


def png_bytes(width: int = 4, height: int = 4, shade: int = 0) -> bytes:
    """A valid RGB PNG (synthetic)."""
    raw = b"".join(
        b"\x00" + bytes([shade % 256, (shade * 7) % 256, (shade * 13) % 256]) * width for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(shade: int = 128) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, shade // 2)).save(out, "JPEG")
    return out.getvalue()


def gif_bytes() -> bytes:
    return bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
    )


@dataclass
class Seen:
    path: str
    at: float  # time.monotonic()
    user_agent: str | None
    server: str  # host:port that answered


Route = Callable[["RequestHandler"], None]


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.record(Seen(self.path, time.monotonic(), self.headers.get("User-Agent"), owner.netloc))
        route = owner.find(self.path)
        if route is None:
            self.send_body(404, b"<html>not found " + CONTENT_MARKER.encode() + b"</html>", "text/html")
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def send_body(
        self, status: int, body: bytes, content_type: str | None = None, headers: dict | None = None
    ):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LocalServer


class LocalServer:
    """A threaded HTTP server on ``address`` (a loopback IP), with routes and a request log."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        server_cls = type("_S", (_Server,), {"address_family": family})
        self._server = server_cls((address, 0), RequestHandler)
        self._server.owner = self
        self.address = address
        self.port = self._server.server_address[1]
        host = f"[{address}]" if ":" in address else address
        self.netloc = f"{host}:{self.port}"
        self.base = f"http://{self.netloc}"
        self.routes: dict[str, Route] = {}
        self.prefix_routes: list[tuple[str, Route]] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return self.base + path

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def find(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        for prefix, route in self.prefix_routes:
            if path.startswith(prefix):
                return route
        return None

    # --- route helpers ---
    def add(
        self,
        path: str,
        body: bytes | str,
        content_type: str | None = "text/html",
        status: int = 200,
        headers: dict | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body

        def route(h: RequestHandler) -> None:
            h.send_body(status, data, content_type, headers)

        self.routes[path] = route

    def html(self, path: str, inner: str) -> None:
        head = "<!DOCTYPE html><html><head><title>t</title></head>"
        self.add(path, f"{head}<body><!-- {CONTENT_MARKER} -->{inner}</body></html>")

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.add(path, b"", None, status, {"Location": location})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def loopback_alias_available(address: str) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def servers():
    """A factory: ``servers("127.0.0.2")`` starts a server there; all are stopped after the test."""
    started: list[LocalServer] = []

    def start(address: str = "127.0.0.1") -> LocalServer:
        if ":" not in address and not loopback_alias_available(address):
            pytest.skip(f"cannot bind {address}")
        server = LocalServer(address)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
