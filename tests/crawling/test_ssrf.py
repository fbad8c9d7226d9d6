"""SSRF attempts against a fetcher with the guard on, and with --allow-private-networks.

127.0.0.2 plays a public web server (exempted with --allow-network 127.0.0.2/32); everything else on
loopback is the "internal" side the guard must protect. A server on 127.0.0.1 (and on [::1] where
available) proves that no request ever reached it. Under --allow-private-networks, loopback is open and the
targets are link-local, metadata and other never-opened addresses: ``connections`` records every connect
the guard lets through and refuses any that would leave loopback, so no test sends a packet off the machine.
"""

import ipaddress
import socket

import pytest
from local_http import ipv6_loopback_available

from benchmarks.crawl_driver import crawl
from hashwatch.crawling import address_guard
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.fetcher import Fetcher
from hashwatch.crawling.image_handler import DigestImageHandler

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


def test_the_flag_opens_loopback_for_intranets(public_and_internal):
    _, internal = public_and_internal
    with Fetcher(GUARDED.replace(allow_private_networks=True)) as open_fetcher:
        assert open_fetcher.fetch(internal.url("/secret"), max_bytes=1000).ok


# --- under --allow-private-networks ---------------------------------------------------------------------

PRIVATE_OPEN = CrawlConfig(per_host_delay=0, allow_private_networks=True, connect_timeout=1, total_deadline=3)


@pytest.fixture
def connections(monkeypatch):
    """Every address the guarded connection tried to connect to. Loopback connects go through; any other
    is recorded and refused here, without a packet being sent."""
    attempts = []
    real_create = address_guard.urllib3_connection.create_connection

    def recorder(address, *args, **kwargs):
        attempts.append(address[0])
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError("the test refuses to leave loopback")
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(address_guard.urllib3_connection, "create_connection", recorder)
    return attempts


NEVER_OPENED_BY_THE_FLAG = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://169.254.170.2/v2/credentials/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",
    "http://[fe80::1]/",
    "http://0.0.0.0:{port}/secret",
    "http://0:{port}/secret",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://100.64.0.1/",
    "http://192.0.2.1/",
    "http://[::ffff:127.0.0.1]:{port}/secret",
]


@pytest.mark.parametrize("target", NEVER_OPENED_BY_THE_FLAG)
def test_the_flag_keeps_metadata_link_local_and_the_like_blocked(servers, connections, target):
    site = servers("127.0.0.1")
    site.html("/secret", "x")
    url = target.format(port=site.port)
    site.redirect("/jump", url)
    with Fetcher(PRIVATE_OPEN) as fetcher:
        direct = fetcher.fetch(url, max_bytes=1000)
        redirected = fetcher.fetch(site.url("/jump"), max_bytes=1000)
    assert direct.error_kind == "blocked_address" and direct.status is None, direct.error_message
    assert redirected.error_kind == "blocked_address" and redirected.status == 302, redirected.error_message
    assert "--allow-network" in redirected.error_message
    assert connections == ["127.0.0.1"]  # the redirecting server only; nothing else was dialled
    assert site.paths() == ["/jump"]


@pytest.mark.parametrize("metadata", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_a_name_resolving_to_a_metadata_address_is_refused_under_the_flag(
    servers, connections, monkeypatch, metadata
):
    site = servers("127.0.0.1")
    site.redirect("/jump", "http://metadata.google.internal/computeMetadata/v1/")
    family = socket.AF_INET6 if ":" in metadata else socket.AF_INET
    monkeypatch.setattr(
        address_guard,
        "resolve",
        lambda host, port: (
            [(family, socket.SOCK_STREAM, 6, "", (metadata, port))]
            if host == "metadata.google.internal"
            else [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        ),
    )
    with Fetcher(PRIVATE_OPEN) as fetcher:
        result = fetcher.fetch(site.url("/jump"), max_bytes=1000)
    assert result.error_kind == "blocked_address"
    assert f"resolves to {metadata}, a cloud metadata address" in result.error_message
    assert connections == ["127.0.0.1"]


def test_dns_rebinding_to_metadata_is_caught_under_the_flag(servers, connections, monkeypatch):
    """The name answers loopback (open under the flag) first and the metadata address afterwards: the
    connection goes to the address checked, and the later answer is refused before any connect."""
    site = servers("127.0.0.1")
    site.html("/data", "loopback data")
    answers = ["127.0.0.1"]
    asked = []

    def rebinding_resolve(host, port):
        asked.append(host)
        address = answers.pop(0) if answers else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(address_guard, "resolve", rebinding_resolve)
    with Fetcher(PRIVATE_OPEN) as fetcher:
        first = fetcher.fetch(f"http://rebind.test:{site.port}/data", max_bytes=1000)
        second = fetcher.fetch(f"http://rebind2.test:{site.port}/data", max_bytes=1000)
    assert first.ok and b"loopback data" in first.body
    assert asked == ["rebind.test", "rebind2.test"]  # resolved once per connection, checked, connected to
    assert second.error_kind == "blocked_address" and "169.254.169.254" in second.error_message
    assert connections == ["127.0.0.1"]


def test_a_crawl_under_the_flag_logs_the_metadata_redirect_as_blocked(servers, connections):
    """The issue's case end to end: a loopback site whose seed and image redirect to the metadata service."""
    site = servers("127.0.0.1")
    site.add("/robots.txt", "", "text/plain")
    site.html("/", '<img src="/img/creds.png"><a href="/page">p</a>')
    site.html("/page", "ok")
    site.redirect("/img/creds.png", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    site.redirect("/seed", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    report = crawl(
        [site.url("/seed"), site.url("/")], PRIVATE_OPEN.replace(max_depth=1), DigestImageHandler()
    )
    rows = {(row.kind, row.url): row for row in report.fetch_log}
    for key in (("page", site.url("/seed")), ("image", site.url("/img/creds.png"))):
        row = rows[key]
        assert (row.outcome, row.error_kind) == ("failed", "blocked_address"), row
        assert "169.254.169.254 is a cloud metadata address" in row.error_message
        assert row.http_status == 302
    assert rows[("page", site.url("/page"))].outcome == "ok"  # loopback itself is open under the flag
    assert set(connections) == {"127.0.0.1"}
