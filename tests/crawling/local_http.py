"""Real HTTP servers on loopback addresses for the crawler tests, and synthetic images.

Each :class:`LocalServer` binds 127.0.0.x on a free port, serves a route table (exact path with query, or a
prefix route) and records every request it receives (path, time, User-Agent, client address). Servers on
different 127.0.0.x addresses are different hosts to the crawler. ``LocalServer(tls=True)`` serves HTTPS with
a self-signed certificate made for the test (``TLS_CERT_PATH``). :meth:`LocalServer.trickle` serves a response
that never ends in each way a server can frame one (``TRICKLE_KINDS``: HTTP/1.1 keep-alive, HTTP/1.0,
``Connection: close``, chunked, slow status line and headers); :class:`SlowTlsServer` accepts TCP and stalls
or trickles the TLS handshake. Every slow route stops when its server closes, so no thread outlives the
test. Nothing here talks beyond loopback.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
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
    client: str = ""  # host:port the request came from (one per connection)


Route = Callable[["RequestHandler"], None]


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        owner.record(Seen(self.path, time.monotonic(), self.headers.get("User-Agent"), owner.netloc, client))
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
    """A threaded HTTP server on ``address`` (a loopback IP), with routes and a request log; HTTPS with
    ``tls=True`` (certificate for 127.0.0.1 in ``TLS_CERT_PATH``, which a client must be told to trust)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, tls: bool = False) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        server_cls = type("_S", (_Server,), {"address_family": family})
        self._server = server_cls((address, port), RequestHandler)
        if tls:
            self._server.socket = _tls_context().wrap_socket(self._server.socket, server_side=True)
        self._server.owner = self
        self.stopped = threading.Event()  # set by close(): slow routes end their loops on it
        self.address = address
        self.port = self._server.server_address[1]
        host = f"[{address}]" if ":" in address else address
        self.netloc = f"{host}:{self.port}"
        self.base = f"{'https' if tls else 'http'}://{self.netloc}"
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

    def trickle(self, path: str, kind: str, interval: float = 0.1, seconds: float = 30.0) -> None:
        """Serve ``path`` as a response that sends one byte per ``interval`` for ``seconds`` (or until the
        server closes), framed as ``kind`` (one of ``TRICKLE_KINDS``)."""
        if kind not in TRICKLE_KINDS:
            raise ValueError(f"unknown trickle kind {kind!r}")
        stopped = self.stopped

        def drip(h: RequestHandler, data: bytes) -> bool:
            """Send ``data`` a byte at a time; False once time is up or the server closes."""
            for byte in data:
                if stopped.wait(interval):
                    return False
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
            return True

        def route(h: RequestHandler) -> None:
            h.close_connection = kind in ("http/1.0", "close", "slow-headers")
            count = int(seconds / interval)
            if kind == "slow-headers":
                drip(h, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * count)
                return
            if kind == "http/1.0":
                h.protocol_version = (
                    "HTTP/1.0"  # the status line says 1.0; the body ends when the socket does
                )
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            if kind == "keep-alive":
                h.send_header("Content-Length", str(count))
            elif kind == "close":
                h.send_header("Connection", "close")
            elif kind == "chunked":
                h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            h.wfile.flush()
            for _ in range(count):
                piece = b"1\r\nx\r\n" if kind == "chunked" else b"x"
                if not drip(h, piece):
                    return
            if kind == "chunked":
                h.wfile.write(b"0\r\n\r\n")

        self.routes[path] = route

    def close(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


TRICKLE_KINDS = ("keep-alive", "http/1.0", "close", "chunked", "slow-headers")


class SlowTlsServer:
    """Accepts TCP on 127.0.0.1 and never completes a TLS handshake: reads the ClientHello, then either says
    nothing (``mode="stall"``) or trickles one byte of a 16 KiB handshake record per ``interval``
    (``mode="trickle"``), so every read of the client succeeds and no per-read timeout fires. Stops when
    closed."""

    def __init__(self, mode: str, interval: float = 0.1) -> None:
        if mode not in ("stall", "trickle"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode, self.interval = mode, interval
        self.stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def url(self, path: str = "/") -> str:
        return self.base + path

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            conn.recv(65536)  # the ClientHello
            if self.mode == "trickle":
                conn.sendall(b"\x16\x03\x03\x40\x00")  # handshake record header: 16 KiB follow...
                while not self.stopped.wait(self.interval):
                    conn.sendall(b"\x00")  # ...one byte at a time
            self.stopped.wait()

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepter.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)


@functools.lru_cache(maxsize=1)
def _tls_files() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key, made once per test process in a temporary
    folder (the ``cryptography`` package, a test dependency)."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tempfile.mkdtemp(prefix="hashwatch-test-tls-")
    cert_path, key_path = f"{folder}/cert.pem", f"{folder}/key.pem"
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def tls_cert_path() -> str:
    """The PEM file a client must trust to talk to a ``LocalServer(tls=True)``."""
    return _tls_files()[0]


def _tls_context():
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_tls_files())
    return context


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


def _server_factory():
    started: list[LocalServer] = []

    def start(address: str = "127.0.0.1", port: int = 0, tls: bool = False) -> LocalServer:
        if ":" not in address and not loopback_alias_available(address):
            pytest.skip(f"cannot bind {address}")
        try:
            server = LocalServer(address, port, tls=tls)
        except OSError as exc:
            pytest.skip(f"cannot bind {address}:{port} ({exc})")
        started.append(server)
        return server

    return start, started


@pytest.fixture
def servers():
    """A factory: ``servers("127.0.0.2")`` starts a server there (``tls=True`` for HTTPS); all are stopped after
    the test."""
    start, started = _server_factory()
    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def module_servers():
    """Like ``servers``, for servers shared by the tests of a module."""
    start, started = _server_factory()
    yield start
    for server in started:
        server.close()


# --- a small site with failures of every kind
# -----------------------------------------------------------------


@dataclass
class SmallSite:
    """Host ``a`` (the seed's, 127.0.0.1) and host ``b`` (127.0.0.2, out of scope), with expectations.

    Crawled with ``SMALL_SITE_CONFIG_KWARGS``: the SSRF guard is on, with 127.0.0.1 and 127.0.0.2 exempted as
    "public", so 127.0.0.3 and 169.254.169.254 are refused. Names ending in ``.invalid`` must not resolve:
    the fixture that builds the site patches the guard's resolver so no DNS query leaves the machine.
    """

    a: LocalServer
    b: LocalServer
    data_png: bytes
    expected_pages: dict  # url -> (outcome, error_kind)
    expected_images: dict  # url -> (outcome, error_kind)
    expected_data_rows: list  # (data: id, parent page, outcome, error_kind), one per embedding page

    @property
    def seed(self) -> str:
        return self.a.url("/")


def _trickle_route(handler: RequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(100000):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.05)


def build_small_site(start: Callable[..., LocalServer]) -> SmallSite:
    """Start the servers of the small site (``start`` is the ``servers`` fixture) and return it.

    Crawl it with ``SMALL_SITE_CONFIG`` (max depth 2). Every page URL and image URL the crawl can discover is
    in
    ``expected_pages`` / ``expected_images`` with the outcome it must end with.
    """
    import base64

    a, b = start("127.0.0.1"), start("127.0.0.2")
    A, B = a.url, b.url
    data_png = png_bytes(shade=42)
    data_uri = "data:image/png;base64," + base64.b64encode(data_png).decode()
    big_png = png_bytes(shade=3) + bytes(range(256)) * 16  # over the 2,000-byte data: cap of the config below
    big_data_uri = "data:image/png;base64," + base64.b64encode(big_png).decode()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{closed_port}/nothing.html"
    tls = f"https://127.0.0.1:{a.port}/tls.html"  # TLS to a plain-HTTP server: the handshake fails
    blocked_image = f"http://127.0.0.3:{a.port}/i.png"  # not exempted: the guard refuses it
    a.add("/robots.txt", "User-agent: *\nDisallow: /private/\nDisallow: /img/blocked.png\n", "text/plain")
    b.add("/robots.txt", "", "text/plain")
    a.html(
        "/",
        f"""<img src="/img/a.png"><img srcset="/img/b.jpg 1x, /img/a.png 2x"><img src="{data_uri}">
        <img src="/img/blocked.png"><img src="/img/missing.png"><img src="/img/notimage.png">
        <img src="{B("/img/c.gif")}"><a href="/img/linked.png">linked image</a>
        <a href="/gallery.html">g</a><a href="/gallery.html#again">g</a><a href="/private/secret.html">p</a>
        <a href="/broken.html">404</a><a href="/flaky">503</a><a href="/redirect-in">r</a>
        <a href="/loop1">l</a>
        <a href="/calendar/2024/01">cal</a><a href="/search?q=cats">s</a><a href="{B("/")}">other host</a>
        <a href="/doc">pdf</a><a href="/img-no-extension">img</a><a href="/slow">slow</a>
        <a href="/big.html">big</a>
        <a href="ftp://files.test/x">ftp</a><a href="/to-b">to b</a><a href="/malformed.html">m</a>
        <a href="/more.html">more failures</a>
        <a href="javascript:alert(1)">js</a>""",
    )
    a.html(
        "/more.html",
        f"""<a href="{closed}">closed port</a><a href="{tls}">tls</a><a href="/garbage.html">garbage</a>
        <a href="/badgzip.html">bad gzip</a><a href="/r0">long redirect chain</a>
        <img src="http://nowhere.invalid/i.png"><img src="{blocked_image}"><img src="/img/to-metadata.png">
        <img src="{big_data_uri}"><img src="{data_uri}">""",
    )
    a.html(
        "/gallery.html",
        f"""<img src="/img/a.png"><img src="img/d.png"><img src="{data_uri}">
        <a href="/gallery2.html">next</a><a href="/">home</a>""",
    )
    a.html("/gallery2.html", '<img src="/img/e.webp"><a href="/gallery3.html">deeper</a>')
    a.html("/gallery3.html", "never fetched: depth 3")
    a.html("/private/secret.html", "robots says no")
    a.html("/about.html", '<img src="/img/a.png">')
    a.redirect("/redirect-in", "/about.html", 301)
    a.redirect("/loop1", "/loop2")
    a.redirect("/loop2", "/loop1")
    a.redirect("/to-b", B("/"))
    a.html("/calendar/2024/01", '<a href="/calendar/2024/02">next month</a>')
    a.add("/doc", b"%PDF-1.4 " + CONTENT_MARKER.encode(), "text/html")
    a.add("/img-no-extension", png_bytes(shade=7), "application/octet-stream")
    a.routes["/slow"] = _trickle_route
    a.add("/big.html", b"<html>" + b"x" * 300_000 + b"</html>", "text/html")
    a.add("/flaky", b"", "text/html", status=503)
    a.routes["/garbage.html"] = _garbage_route
    a.add(
        "/badgzip.html",
        b"\x1f\x8b\x08\x00" + CONTENT_MARKER.encode() * 10,
        "text/html",
        headers={"Content-Encoding": "gzip"},
    )
    for i in range(8):
        a.redirect(f"/r{i}", f"/r{i + 1}")
    a.redirect("/img/to-metadata.png", "http://169.254.169.254/latest/meta-data/")
    a.add(
        "/malformed.html",
        b"<html><body><div><p>unclosed <img src='/img/a.png'><table><tr><td><a href=/gallery.html>g"
        + b"\x00\xff\xfe broken bytes <<<>>>",
        "text/html",
    )
    a.add("/img/a.png", png_bytes(shade=1), "image/png")
    a.add("/img/b.jpg", jpeg_bytes(), "text/html")  # wrong declared type: still an image
    a.add("/img/d.png", png_bytes(shade=4), "image/png")
    a.add("/img/e.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp")
    a.add("/img/linked.png", png_bytes(shade=5), "image/png")
    a.add("/img/notimage.png", "<html>" + CONTENT_MARKER + "</html>", "image/png")
    a.add("/img/blocked.png", png_bytes(shade=6), "image/png")
    b.html("/", "other host")
    b.add("/img/c.gif", gif_bytes(), "image/gif")

    pages = {
        A("/"): ("ok", None),
        A("/gallery.html"): ("ok", None),
        A("/gallery2.html"): ("ok", None),
        A("/gallery3.html"): ("skipped", "max_depth"),
        A("/private/secret.html"): ("skipped", "robots_disallowed"),
        A("/broken.html"): ("failed", "bad_status"),
        A("/flaky"): ("failed", "bad_status"),
        A("/redirect-in"): ("ok", None),
        A("/loop1"): ("failed", "redirect_loop"),
        A("/calendar/2024/01"): ("skipped", "denied_pattern"),
        A("/search?q=cats"): ("skipped", "denied_pattern"),
        B("/"): ("skipped", "out_of_scope"),
        A("/doc"): ("failed", "not_html"),
        A("/img-no-extension"): ("ok", None),
        A("/slow"): ("failed", "timeout"),
        A("/big.html"): ("failed", "too_large"),
        "ftp://files.test/x": ("skipped", "unsupported_scheme"),
        A("/to-b"): ("failed", "out_of_scope"),
        A("/malformed.html"): ("ok", None),
        A("/more.html"): ("ok", None),
        closed: ("failed", "connect"),
        tls: ("failed", "tls"),
        A("/garbage.html"): ("failed", "protocol"),
        A("/badgzip.html"): ("failed", "content_encoding"),
        A("/r0"): ("failed", "too_many_redirects"),
    }
    images = {
        A("/img/a.png"): ("ok", None),
        A("/img/b.jpg"): ("ok", None),
        A("/img/d.png"): ("ok", None),
        A("/img/e.webp"): ("ok", None),
        A("/img/linked.png"): ("ok", None),
        A("/img/blocked.png"): ("skipped", "robots_disallowed"),
        A("/img/missing.png"): ("failed", "bad_status"),
        A("/img/notimage.png"): ("failed", "not_an_image"),
        B("/img/c.gif"): ("ok", None),
        "http://nowhere.invalid/i.png": ("failed", "dns"),
        blocked_image: ("failed", "blocked_address"),
        A("/img/to-metadata.png"): ("failed", "blocked_address"),
    }
    data_id = f"data:image/png;sha256={hashlib.sha256(data_png).hexdigest()}"
    big_id = f"data:image/png;sha256={hashlib.sha256(big_png).hexdigest()}"
    data_rows = [
        (data_id, A("/"), "ok", None),
        (data_id, A("/gallery.html"), "ok", None),
        (data_id, A("/more.html"), "ok", None),
        (big_id, A("/more.html"), "skipped", "data_uri_too_large"),
    ]
    return SmallSite(a, b, data_png, pages, images, data_rows)


def _garbage_route(handler: RequestHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 OOPS " + CONTENT_MARKER.encode() + b"\r\n\r\n")
    handler.close_connection = True


def _no_invalid_names(real_resolve):
    def resolve(host, port):
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_resolve(host, port)

    return resolve


@pytest.fixture(scope="module")
def small_site(module_servers):
    """The small site, with ``.invalid`` names failing locally for the whole module."""
    from hashwatch.crawling import address_guard

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(address_guard, "resolve", _no_invalid_names(address_guard.resolve))
        yield build_small_site(module_servers)


SMALL_SITE_CONFIG_KWARGS = dict(
    allowed_networks=("127.0.0.1/32", "127.0.0.2/32"),
    per_host_delay=0,
    max_data_uri_bytes=2000,
    max_redirects=5,
    max_depth=2,
    max_page_bytes=100_000,
    total_deadline=1.5,
    read_timeout=1.0,
    max_retries=1,
    retry_backoff=0.05,
)
