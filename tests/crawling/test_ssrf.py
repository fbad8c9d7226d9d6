"""SSRF attempts against a fetcher with the guard on.

127.0.0.2 plays a public web server (exempted with --allow-network 127.0.0.2/32); everything else on
loopback is the "internal" side the guard must protect. A server on 127.0.0.1 (and on [::1] where
available) proves that no request ever reached it.
"""

import socket

import pytest
from local_http import ipv6_loopback_available

from hashwatch.crawling import address_guard
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.fetcher import Fetcher

pytestmark = pytest.mark.network

GUARDED = CrawlConfig(
    per_host_delay=0, allowed_networks=("127.0.0.2/32",), connect_timeout=1, total_deadline=3
)


@pytest.fixture
def fetcher():
    with Fetcher(GUARDED) as f:
        yield f


@pytest.fixture
def public_and_internal(servers):
    public = servers("127.0.0.2")
    internal = servers("127.0.0.1")
    internal.html("/secret", "internal admin page")
    public.html("/", "<p>public</p>")
    return public, internal


def test_the_public_side_is_reachable(public_and_internal, fetcher):
    public, _ = public_and_internal
    assert fetcher.fetch(public.url("/"), max_bytes=1000).ok


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f000001:{port}/secret",
        "http://0177.0.0.1:{port}/secret",
        "http://127.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://[::1]:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://0.0.0.0:{port}/secret",
    ],
)
def test_direct_and_redirected_attempts_are_blocked(public_and_internal, fetcher, target, monkeypatch):
    public, internal = public_and_internal
    url = target.format(port=internal.port)
    connects = []
    real_create = address_guard.urllib3_connection.create_connection

    def spy(address, *args, **kwargs):
        connects.append(address)
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(address_guard.urllib3_connection, "create_connection", spy)

    direct = fetcher.fetch(url, max_bytes=1000)
    assert direct.error_kind == "blocked_address", direct.error_message
    assert direct.outcome == "failed" and direct.status is None

    public.redirect("/jump", url)
    redirected = fetcher.fetch(public.url("/jump"), max_bytes=1000)
    assert redirected.error_kind == "blocked_address"
    assert redirected.status == 302 and redirected.redirect_chain[-1].startswith("http://")

    assert internal.paths() == []
    assert all(host == "127.0.0.2" for host, _ in connects), (
        connects
    )  # only the public server was connected to


def test_nothing_reaches_an_ipv6_loopback_server(servers, fetcher):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback here")
    internal6 = servers("::1")
    internal6.html("/secret", "x")
    result = fetcher.fetch(internal6.url("/secret"), max_bytes=1000)
    assert result.error_kind == "blocked_address" and internal6.paths() == []


def test_a_name_that_resolves_to_loopback_is_blocked(public_and_internal, fetcher, monkeypatch):
    _, internal = public_and_internal
    real = address_guard.resolve
    monkeypatch.setattr(
        address_guard,
        "resolve",
        lambda host, port: real("127.0.0.1", port) if host == "intranet.test" else real(host, port),
    )
    result = fetcher.fetch(f"http://intranet.test:{internal.port}/secret", max_bytes=1000)
    assert result.error_kind == "blocked_address" and "resolves to 127.0.0.1" in result.error_message
    assert internal.paths() == []


def test_dns_rebinding_cannot_switch_the_address_after_the_check(servers, fetcher, monkeypatch):
    """The name answers public first, loopback afterwards: the connection must go to the address checked."""
    public = servers("127.0.0.2")
    internal = servers("127.0.0.1")
    if internal.port != public.port:
        # Same port on both addresses, so only the address decides which server answers.
        internal = servers("127.0.0.1", public.port)
    public.html("/data", "public data")
    internal.html("/data", "internal data")
    answers = ["127.0.0.2"]

    def rebinding_resolve(host, port):
        address = answers.pop(0) if answers else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(address_guard, "resolve", rebinding_resolve)
    result = fetcher.fetch(f"http://rebind.test:{public.port}/data", max_bytes=1000)
    assert result.ok and b"public data" in result.body
    assert internal.paths() == [] and public.paths() == ["/data"]
    second = fetcher.fetch(f"http://rebind2.test:{public.port}/data", max_bytes=1000)  # now answers loopback
    assert second.error_kind == "blocked_address" and internal.paths() == []


def test_the_guard_can_be_turned_off_for_intranets(public_and_internal):
    _, internal = public_and_internal
    with Fetcher(GUARDED.replace(allow_private_networks=True)) as open_fetcher:
        assert open_fetcher.fetch(internal.url("/secret"), max_bytes=1000).ok
