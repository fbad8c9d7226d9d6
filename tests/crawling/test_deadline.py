"""The total deadline (``--total-deadline``) holds on every kind of response a server can send slowly.

Per-read timeouts cannot stop a server that sends one byte every 0.1 s, so here they are set far above the
deadline (10 s): only the deadline's watchdog can end these fetches in time. Each server would go on for 30 s.
"""

import os
import time

import pytest
from local_http import TRICKLE_KINDS, SlowTlsServer, tls_cert_path

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.fetcher import Fetcher

pytestmark = pytest.mark.network

DEADLINE = 1.0
SLOW = CrawlConfig(
    allow_private_networks=True,
    per_host_delay=0,
    total_deadline=DEADLINE,
    connect_timeout=10.0,
    read_timeout=10.0,
    max_retries=0,
)
TLS_KINDS = ("tls-handshake-stall", "tls-handshake-trickle")
HTTPS_KINDS = ("https-keep-alive", "https-close")


@pytest.fixture
def fetcher():
    with Fetcher(SLOW) as f:
        yield f


@pytest.fixture
def slow_tls():
    started = []

    def start(mode):
        server = SlowTlsServer(mode)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.mark.parametrize("kind", TRICKLE_KINDS + TLS_KINDS + HTTPS_KINDS)
def test_the_total_deadline_holds_on_every_kind_of_response(kind, servers, slow_tls, fetcher):
    if kind in TLS_KINDS:
        url = slow_tls(kind.rsplit("-", 1)[1]).url("/slow")
    elif kind in HTTPS_KINDS:
        site = servers(tls=True)
        site.trickle("/slow", kind.removeprefix("https-"))
        url = site.url("/slow")
        fetcher._session.verify = tls_cert_path()  # trust the test's self-signed certificate
    else:
        site = servers()
        site.trickle("/slow", kind)
        url = site.url("/slow")
    started = time.monotonic()
    result = fetcher.fetch(url, max_bytes=1_000_000)
    elapsed = time.monotonic() - started
    # A cut-off handshake may surface as a TLS error; everything else is the deadline's timeout.
    kinds = ("timeout", "tls") if kind in TLS_KINDS else ("timeout",)
    assert result.error_kind in kinds, (result.error_kind, result.error_message)
    assert result.outcome == "failed" and result.body is None
    assert DEADLINE - 0.1 <= elapsed <= DEADLINE + 1.0, f"{kind}: ended after {elapsed:.1f} s"


def test_an_https_page_is_fetched_with_the_test_certificate(servers, fetcher):
    """The HTTPS cases above fail for the deadline, not for the certificate."""
    site = servers(tls=True)
    site.html("/", "<p>over TLS</p>")
    fetcher._session.verify = tls_cert_path()
    result = fetcher.fetch(site.url("/"), max_bytes=10_000)
    assert result.ok and b"over TLS" in result.body


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_the_deadline_keeps_no_descriptor_after_a_fetch(servers, fetcher):
    site = servers()
    site.html("/", "<p>page</p>")
    site.add("/close", b"<html>bye</html>", "text/html", headers={"Connection": "close"})
    site.trickle("/slow", "close", seconds=5)
    for path in ("/", "/close", "/slow"):  # warm up: pool, watchdog thread
        fetcher.fetch(site.url(path), max_bytes=10_000)
    before = _open_descriptors()
    for _ in range(10):
        assert fetcher.fetch(site.url("/"), max_bytes=10_000).ok
        assert fetcher.fetch(site.url("/close"), max_bytes=10_000).ok
    assert fetcher.fetch(site.url("/slow"), max_bytes=10_000).error_kind == "timeout"
    assert _open_descriptors() <= before + 1  # the pooled keep-alive connection may be new


def test_a_finished_fetch_never_shuts_the_pooled_connection_later(servers, fetcher):
    """After a fetch ends, its deadline must not fire on the keep-alive connection the next fetch reuses."""
    site = servers()
    site.html("/", "<p>page</p>")
    assert fetcher.fetch(site.url("/"), max_bytes=10_000).ok
    time.sleep(DEADLINE + 0.3)  # the first fetch's deadline has passed
    second = fetcher.fetch(site.url("/"), max_bytes=10_000)
    assert second.ok, second.error_message
    clients = {seen.client for seen in site.requests}
    assert len(clients) == 1, clients  # one connection served both
