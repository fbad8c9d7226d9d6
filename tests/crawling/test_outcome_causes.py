"""Each fetch_log row names what really happened to its URL, and a blocked seed says how to crawl a local site.

A seed's robots.txt is fetched first, so before this, a seed the address guard refused was logged as
"robots.txt unreachable: ..." and nothing told the user what to change.
"""

import logging
import socket

import pytest

from benchmarks.crawl_driver import crawl
from hashwatch.crawling import address_guard, crawl_worker
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.image_handler import DigestImageHandler

pytestmark = pytest.mark.network

GUARDED = CrawlConfig(per_host_delay=0, max_depth=0, max_retries=0, connect_timeout=1, read_timeout=0.5)
OPEN = GUARDED.replace(allow_private_networks=True)


def _rows(seeds, config):
    report = crawl(seeds, config, DigestImageHandler())
    return {row.url: row for row in report.fetch_log}


@pytest.fixture
def fresh_hint(monkeypatch):
    """The hint is logged once per process: give this test a process-fresh one."""
    monkeypatch.setattr(crawl_worker, "_BLOCKED_SEED_HINT", crawl_worker._Once())


@pytest.fixture
def no_connects(monkeypatch):
    """Fails any connect at all: the guard must refuse before one."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError("no connection expected")

    monkeypatch.setattr(address_guard.urllib3_connection, "create_connection", refuse)
    return attempts


def test_a_seed_on_loopback_names_the_address_rule_and_the_flag(servers, fresh_hint, no_connects):
    site = servers("127.0.0.1")
    site.html("/", "a local site")
    row = _rows([site.url("/")], GUARDED)[site.url("/")]
    assert (row.outcome, row.error_kind) == ("failed", "blocked_address")
    assert row.error_message == (
        "host 127.0.0.1 is a loopback address; --allow-private-networks opens loopback and private ranges"
    )
    assert row.robots == "n/a" and row.attempts == 0  # robots.txt was not even asked
    assert site.paths() == [] and no_connects == []


def test_a_seed_whose_name_resolves_to_an_intranet_address_says_so(monkeypatch, fresh_hint, no_connects):
    monkeypatch.setattr(
        address_guard,
        "resolve",
        lambda host, port: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))],
    )
    row = _rows(["http://intranet.test/"], GUARDED)["http://intranet.test/"]
    assert (row.outcome, row.error_kind) == ("failed", "blocked_address")
    assert row.error_message.startswith("host intranet.test resolves to 10.0.0.5, a private address;")
    assert "--allow-private-networks" in row.error_message and "robots" not in row.error_message
    assert no_connects == []


def test_a_metadata_seed_does_not_suggest_the_flag(fresh_hint, no_connects):
    row = _rows(["http://169.254.169.254/latest/meta-data/"], OPEN)[
        "http://169.254.169.254/latest/meta-data/"
    ]
    assert row.error_kind == "blocked_address"
    assert "cloud metadata address; blocked under every flag" in row.error_message
    assert "opens loopback" not in row.error_message
    assert no_connects == []


def test_the_first_blocked_seed_logs_one_hint_line(servers, fresh_hint, caplog):
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    with caplog.at_level(logging.WARNING, logger="hashwatch.crawl"):
        _rows([a.url("/"), b.url("/")], GUARDED)
        _rows([a.url("/again")], GUARDED)
    hints = [r for r in caplog.records if r.name == "hashwatch.crawl" and r.levelno == logging.WARNING]
    assert len(hints) == 1, [r.getMessage() for r in hints]
    text = hints[0].getMessage()
    assert "\n" not in text
    assert "local or intranet site" in text
    assert "--allow-private-networks" in text and "--allow-network CIDR" in text


def test_no_hint_when_the_seed_is_not_blocked(servers, fresh_hint, caplog):
    site = servers("127.0.0.1")
    site.html("/", "ok")
    with caplog.at_level(logging.WARNING, logger="hashwatch.crawl"):
        assert _rows([site.url("/")], OPEN)[site.url("/")].outcome == "ok"
    assert not [r for r in caplog.records if r.name == "hashwatch.crawl"]


def test_an_unresolvable_seed_is_a_dns_failure_naming_the_host(monkeypatch):
    def no_such_host(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(address_guard, "resolve", no_such_host)
    row = _rows(["http://nowhere.test/"], OPEN)["http://nowhere.test/"]
    assert (row.error_kind, row.error_message) == ("dns", "could not resolve host nowhere.test")


def test_a_closed_port_is_a_connect_failure_naming_the_host():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    row = _rows([url], OPEN)[url]
    assert row.error_kind == "connect" and row.error_message.startswith("could not connect to 127.0.0.1")


def test_a_robots_txt_that_times_out_says_the_url_was_not_requested(servers):
    site = servers("127.0.0.1")
    site.html("/", "page")
    site.routes["/robots.txt"] = lambda handler: site.stopped.wait(3)  # says nothing
    row = _rows([site.url("/")], OPEN)[site.url("/")]
    assert row.error_kind == "timeout"
    assert row.error_message == (
        "robots.txt could not be fetched: 127.0.0.1 sent nothing within the read timeout; "
        "the URL was not requested"
    )
    assert site.paths() == ["/robots.txt"]


def test_a_robots_txt_redirected_to_a_blocked_address_says_where(servers):
    site = servers("127.0.0.1")
    site.html("/", "page")
    site.redirect("/robots.txt", "http://169.254.169.254/robots.txt")
    row = _rows([site.url("/")], OPEN)[site.url("/")]
    assert row.error_kind == "blocked_address"
    assert row.error_message.startswith(
        "robots.txt could not be fetched: host 169.254.169.254 is a cloud metadata address"
    )
    assert site.paths() == ["/robots.txt"]
