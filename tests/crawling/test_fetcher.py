"""The fetcher against real loopback servers that misbehave in every way we could think of."""

import functools
import gzip
import socket
import threading
import time
import tracemalloc
import zlib

import brotli
import pytest
from local_http import CONTENT_MARKER, png_bytes

from hashwatch.crawling import address_guard
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.fetcher import Fetcher

pytestmark = pytest.mark.network

OPEN = CrawlConfig(allow_private_networks=True, per_host_delay=0, retry_backoff=0.05, total_deadline=2.0,
                   read_timeout=1.0, connect_timeout=1.0)  # fmt: skip


@pytest.fixture
def fetcher():
    with Fetcher(OPEN) as f:
        yield f


def _no_content_in_message(result):
    assert CONTENT_MARKER not in (result.error_message or "")
    assert "\n" not in (result.error_message or "")


def test_ok_page_has_status_types_and_body(servers, fetcher):
    site = servers()
    site.html("/", "<p>hello</p>")
    result = fetcher.fetch(site.url("/"), max_bytes=10_000)
    assert result.ok and result.status == 200 and result.outcome == "ok"
    assert result.content_type == "text/html" and result.declared_content_type == "text/html"
    assert result.final_url == site.url("/") and result.redirect_chain == ()
    assert b"hello" in result.body and result.bytes_length == len(result.body)
    assert result.attempts == 1 and result.elapsed_s > 0
    assert site.requests[0].user_agent == OPEN.user_agent


def test_image_served_with_a_wrong_type_is_sniffed(servers, fetcher):
    site = servers()
    site.add("/img", png_bytes(), "text/html")
    result = fetcher.fetch(site.url("/img"), max_bytes=10_000)
    assert result.content_type == "image/png" and result.declared_content_type == "text/html"


def test_redirect_chain_is_followed_and_recorded(servers, fetcher):
    site = servers()
    site.redirect("/a", "/b", 301)
    site.redirect("/b", site.url("/c"), 307)
    site.redirect("/c", "d", 308)
    site.html("/d", "end")
    result = fetcher.fetch(site.url("/a"), max_bytes=10_000)
    assert result.ok and result.final_url == site.url("/d")
    assert result.redirect_chain == (site.url("/b"), site.url("/c"), site.url("/d"))
    assert result.requests_made == 4


def test_redirect_loop(servers, fetcher):
    site = servers()
    site.redirect("/a", "/b")
    site.redirect("/b", "/a")
    result = fetcher.fetch(site.url("/a"), max_bytes=10_000)
    assert result.error_kind == "redirect_loop" and result.outcome == "failed"
    assert site.paths() == ["/a", "/b"]


def test_too_many_redirects(servers):
    site = servers()
    for i in range(10):
        site.redirect(f"/{i}", f"/{i + 1}")
    with Fetcher(OPEN.replace(max_redirects=3)) as f:
        result = f.fetch(site.url("/0"), max_bytes=10_000)
    assert result.error_kind == "too_many_redirects"
    assert site.paths() == ["/0", "/1", "/2", "/3"]


def test_redirect_to_another_scheme_is_refused(servers, fetcher):
    site = servers()
    site.redirect("/a", "file:///etc/passwd")
    result = fetcher.fetch(site.url("/a"), max_bytes=10_000)
    assert result.error_kind == "unsupported_scheme"


def test_cross_host_redirect_is_vetted_by_the_hop_check(servers, fetcher):
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    a.redirect("/go", b.url("/there"))
    b.html("/there", "x")
    vetted = []

    def hop_check(url):
        vetted.append(url)
        return (
            ("failed", "out_of_scope", "host 127.0.0.2 is outside --scope host")
            if "127.0.0.2" in url
            else None
        )

    result = fetcher.fetch(a.url("/go"), max_bytes=10_000, hop_check=hop_check)
    assert result.error_kind == "out_of_scope" and vetted == [b.url("/there")]
    assert b.paths() == []  # never requested
    assert fetcher.fetch(a.url("/go"), max_bytes=10_000).final_url == b.url("/there")


def test_silence_hits_the_read_timeout(servers, fetcher):
    site = servers()

    def silent(handler):
        time.sleep(3)

    site.routes["/silent"] = silent
    result = fetcher.fetch(site.url("/silent"), max_bytes=10_000)
    assert result.error_kind == "timeout"  # had we waited, the server would have closed: a protocol error


def test_an_endless_body_stops_at_the_cap(servers, fetcher):
    site = servers()

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()  # no length: the body ends when the connection does, i.e. never
        chunk = CONTENT_MARKER.encode() * 4096
        while True:
            handler.wfile.write(chunk)

    site.routes["/endless"] = endless
    result = fetcher.fetch(site.url("/endless"), max_bytes=200_000)
    assert result.error_kind == "too_large" and result.body is None
    _no_content_in_message(result)


def test_declared_length_over_the_cap_is_refused_before_reading(servers, fetcher):
    site = servers()
    site.add("/big", b"z" * 50_000, "image/png")
    result = fetcher.fetch(site.url("/big"), max_bytes=1000)
    assert result.error_kind == "too_large" and "Content-Length 50000" in result.error_message


@functools.lru_cache(maxsize=1)
def _gzip_bomb() -> bytes:
    """64 MiB of zeros, gzipped to about 64 KiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_it(servers, fetcher):
    site = servers()
    bomb = _gzip_bomb()
    assert len(bomb) < 100_000
    site.add("/bomb", bomb, "text/html", headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        result = fetcher.fetch(site.url("/bomb"), max_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error_kind == "too_large" and "after decompression" in result.error_message
    assert peak < 4 * (1 << 20), f"peak {peak} bytes while reading a 64 MiB bomb capped at 1 MiB"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
def test_compressed_bodies_are_decoded(servers, fetcher, encoding, encode):
    site = servers()
    page = b"<html><body>" + b"compressible " * 500 + b"</body></html>"
    site.add("/c", encode(page), "text/html", headers={"Content-Encoding": encoding})
    result = fetcher.fetch(site.url("/c"), max_bytes=100_000)
    assert result.ok and result.body == page and result.content_type == "text/html"


def test_broken_compression_is_a_content_encoding_error(servers, fetcher):
    site = servers()
    site.add(
        "/broken",
        b"\x1f\x8b\x08\x00" + CONTENT_MARKER.encode() * 20,
        "text/html",
        headers={"Content-Encoding": "gzip"},
    )
    result = fetcher.fetch(site.url("/broken"), max_bytes=100_000)
    assert result.error_kind == "content_encoding"
    _no_content_in_message(result)


def test_malformed_http_is_a_protocol_error_without_echoing_it(servers, fetcher):
    site = servers()

    def garbage(handler):
        handler.wfile.write(b"HTTP/1.1 OOPS " + CONTENT_MARKER.encode() + b"\r\n\r\n")
        handler.close_connection = True

    site.routes["/garbage"] = garbage
    result = fetcher.fetch(site.url("/garbage"), max_bytes=1000)
    assert result.error_kind == "protocol"
    _no_content_in_message(result)


def _flaky(statuses, headers):
    calls = []

    def route(handler):
        status = statuses[min(len(calls), len(statuses) - 1)]
        calls.append(time.monotonic())
        body = b"ok " + CONTENT_MARKER.encode() if status == 200 else b""
        handler.send_body(status, body, "text/plain", headers if status != 200 else None)

    route.calls = calls
    return route


def test_retry_after_is_honoured(servers, fetcher):
    site = servers()
    route = _flaky([503, 200], {"Retry-After": "1"})
    site.routes["/flaky"] = route
    result = fetcher.fetch(site.url("/flaky"), max_bytes=1000)
    assert result.ok and result.attempts == 2
    assert route.calls[1] - route.calls[0] >= 0.95


def test_retry_after_http_date_is_understood(servers, fetcher):
    from email.utils import formatdate

    site = servers()
    # HTTP dates have whole seconds: "now + 2 s" is between 1 and 2 s away.
    route = _flaky([429, 200], {"Retry-After": formatdate(time.time() + 2, usegmt=True)})
    site.routes["/date"] = route
    assert fetcher.fetch(site.url("/date"), max_bytes=1000).ok
    assert route.calls[1] - route.calls[0] >= 0.9


def test_a_retry_after_over_the_cap_ends_the_retries(servers, fetcher):
    site = servers()
    route = _flaky([429], {"Retry-After": "3600"})
    site.routes["/later"] = route
    started = time.monotonic()
    result = fetcher.fetch(site.url("/later"), max_bytes=1000)
    assert result.error_kind == "bad_status" and "Retry-After 3600" in result.error_message
    assert len(route.calls) == 1 and time.monotonic() - started < 10


def test_persistent_5xx_is_retried_with_backoff_then_bad_status(servers, fetcher):
    site = servers()
    route = _flaky([500], {})
    site.routes["/down"] = route
    result = fetcher.fetch(site.url("/down"), max_bytes=1000)
    assert result.error_kind == "bad_status" and result.status == 500
    assert len(route.calls) == OPEN.max_retries + 1 == result.attempts
    gaps = [b - a for a, b in zip(route.calls, route.calls[1:])]
    assert gaps[1] >= 2 * OPEN.retry_backoff * 0.9  # the wait doubles


def test_404_is_not_retried(servers, fetcher):
    site = servers()
    result = fetcher.fetch(site.url("/missing"), max_bytes=1000)
    assert result.error_kind == "bad_status" and result.status == 404 and result.attempts == 1
    assert result.error_message == "HTTP 404"


def test_connection_refused(fetcher):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = fetcher.fetch(f"http://127.0.0.1:{port}/", max_bytes=1000)
    assert result.error_kind == "connect"


def test_dns_failure(monkeypatch, fetcher):
    def no_such_host(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(address_guard, "resolve", no_such_host)
    result = fetcher.fetch("http://no-such-host.test/", max_bytes=1000)
    assert result.error_kind == "dns" and "no-such-host.test" in result.error_message


def test_fetches_run_concurrently_on_one_fetcher(servers, fetcher):
    site = servers()

    def slowish(handler):
        time.sleep(0.3)
        handler.send_body(200, b"<html></html>", "text/html")

    site.routes["/s"] = slowish
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(fetcher.fetch(site.url("/s"), max_bytes=100)))
        for _ in range(6)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results) and len(results) == 6
    assert time.monotonic() - started < 6 * 0.3  # not one after the other
