"""Deny patterns on image URLs, and the host deny list (``--deny-host``, ``--deny-hosts-file``)."""

import argparse
import socket

import pytest
from local_http import png_bytes

from benchmarks.crawl_driver import crawl
from hashwatch.crawling import address_guard
from hashwatch.crawling.config import (
    DEFAULT_DENY_PATTERNS,
    CrawlConfig,
    add_crawl_arguments,
    read_deny_hosts_file,
)
from hashwatch.crawling.image_handler import DigestImageHandler
from hashwatch.crawling.url_rules import denied_host, image_denied_by, link_skip_reason, parse_deny_host
from hashwatch.errors import UserError

# --- entries and matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "normal"),
    [
        ("Example.COM.", "example.com"),
        ("*.Example.com", "*.example.com"),
        ("10.0.0.1", "10.0.0.1"),
        ("167772161", "10.0.0.1"),
        ("[::1]", "::1"),
        ("2001:DB8::0:1", "2001:db8::1"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("under_score.example", "under_score.example"),
    ],
)
def test_deny_host_entries_are_normalised(entry, normal):
    assert parse_deny_host(entry) == normal


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("", "empty"),
        ("http://example.com/", "not a URL"),
        ("example.com:8080", "ports are not allowed"),
        ("a.*.example.com", "leading"),
        ("*", "leading"),
        ("exa mple.com", "not a valid host name"),
        ("a..b", "not a valid host name"),
    ],
)
def test_bad_deny_host_entries_say_what_is_wrong(entry, problem):
    with pytest.raises(ValueError, match=problem):
        parse_deny_host(entry)
    with pytest.raises(UserError, match="--deny-host"):
        CrawlConfig(deny_hosts=(entry,))


def test_denied_hosts_match_names_suffixes_and_every_spelling_of_an_address():
    config = CrawlConfig(deny_hosts=("*.cdn.test", "ads.example.com", "10.0.0.1"))
    assert denied_host("http://cdn.test/a.png", config) == "*.cdn.test"
    assert denied_host("http://img.eu.cdn.test/a.png", config) == "*.cdn.test"
    assert denied_host("http://ads.example.com:8080/", config) == "ads.example.com"
    assert denied_host("http://0x0a000001/", config) == "10.0.0.1"
    for url in ("http://notcdn.test/", "http://example.com/", "http://cdn.test.evil/", "http://10.0.0.2/"):
        assert denied_host(url, config) is None, url


def test_a_denied_host_skips_links_even_in_scope():
    config = CrawlConfig(deny_hosts=("a.com",), max_depth=3)
    assert link_skip_reason("http://a.com/x", "http://a.com/", 1, config) == (
        "denied_host",
        "host a.com is denied by --deny-host a.com",
    )


def test_only_the_operators_patterns_apply_to_images():
    config = CrawlConfig(deny_patterns=(*DEFAULT_DENY_PATTERNS, r"/ads/"))
    assert image_denied_by("http://a.com/ads/banner.png", config) == "/ads/"
    # The built-in patterns describe search pages and link traps; these are ordinary images.
    for url in (
        "http://a.com/avatar?s=80",
        "http://a.com/_next/image?q=75&url=x",
        "http://a.com/events/2024/05/p.jpg",
    ):
        assert image_denied_by(url, config) is None, url
    assert image_denied_by("http://a.com/search/x.png", CrawlConfig(deny_patterns=(r"/search",))) == "/search"


# --- the hosts file and the flags ----------------------------------------------------------------------


def test_the_hosts_file_takes_comments_and_blank_lines(tmp_path):
    listing = tmp_path / "deny.txt"
    listing.write_text("# ad networks\n*.ads.test\n\n  tracker.test   # inline comment\n10.0.0.1\n")
    assert read_deny_hosts_file(str(listing)) == ("*.ads.test", "tracker.test", "10.0.0.1")


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"ok.test\n# fine\nhttp://bad.test/\n", 3),
        (b"ok.test\nhost.test:80\n", 2),
        (b"ok.test\n\xff\xfe\n", 2),
    ],
)
def test_a_bad_line_in_the_hosts_file_names_file_and_line(tmp_path, content, line):
    listing = tmp_path / "deny.txt"
    listing.write_bytes(content)
    with pytest.raises(UserError) as caught:
        read_deny_hosts_file(str(listing))
    message = str(caught.value)
    assert message.startswith(f"{listing}:{line}: ") and "\n" not in message


def test_a_missing_hosts_file_is_a_start_up_error(tmp_path):
    with pytest.raises(UserError, match="--deny-hosts-file .*cannot read it"):
        read_deny_hosts_file(str(tmp_path / "nope.txt"))


def test_flags_and_file_combine(tmp_path):
    listing = tmp_path / "deny.txt"
    listing.write_text("b.test\n*.c.test\n")
    parser = argparse.ArgumentParser()
    add_crawl_arguments(parser)
    args = parser.parse_args(
        ["--deny-host", "a.test", "--deny-host", "B.test", "--deny-hosts-file", str(listing)]
    )
    config = CrawlConfig.from_options(args)
    assert config.deny_hosts == ("a.test", "b.test", "*.c.test")


def test_the_crawl_command_exits_2_on_a_bad_hosts_file_before_any_work(tmp_path, capsys):
    from pipelines.crawl_match import main

    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://example.com/\n")
    listing = tmp_path / "list.csv"
    listing.write_text("hash_type,hash_value,category,source,list_version,deleted\n")
    deny = tmp_path / "deny.txt"
    deny.write_text("ok.test\nnot a host\n")
    out = tmp_path / "out"
    argv = [f"--seeds={seeds}", f"--hash-list={listing}", f"--output-dir={out}", f"--deny-hosts-file={deny}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{deny}:2:" in err
    assert not out.exists()  # nothing written: not even the compiled index


# --- a crawl ----------------------------------------------------------------------------------------------


@pytest.fixture
def names(monkeypatch):
    """*.test names resolve to 127.0.0.1, so a name-based deny entry can be crawled against loopback."""
    real = address_guard.resolve

    def resolve(host, port):
        if host.endswith(".test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port)

    monkeypatch.setattr(address_guard, "resolve", resolve)


@pytest.mark.network
def test_denied_hosts_and_image_patterns_are_never_requested(servers, names):
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    port_b = b.port
    a.add("/robots.txt", "", "text/plain")
    b.add("/robots.txt", "", "text/plain")
    a.html(
        "/",
        f"""<img src="/ads/banner.png"><img src="/avatar.png?s=80">
        <img src="http://127.0.0.2:{port_b}/img.png"><img src="http://img.cdn.test:{a.port}/x.png">
        <img src="/img/hop.png">
        <a href="http://127.0.0.2:{port_b}/">b</a><a href="/to-b">to b</a><a href="/ok.html">ok</a>""",
    )
    a.html("/ok.html", "fine")
    a.add("/ads/banner.png", png_bytes(shade=1), "image/png")
    a.add("/avatar.png?s=80", png_bytes(shade=2), "image/png")
    a.add("/x.png", png_bytes(shade=3), "image/png")
    a.redirect("/img/hop.png", f"http://127.0.0.2:{port_b}/img.png")
    a.redirect("/to-b", f"http://127.0.0.2:{port_b}/")
    b.html("/", "denied")
    b.add("/img.png", png_bytes(shade=4), "image/png")
    config = CrawlConfig(
        per_host_delay=0,
        allow_private_networks=True,
        max_depth=1,
        scope="domain",
        deny_patterns=(*DEFAULT_DENY_PATTERNS, r"/ads/"),
        deny_hosts=("127.0.0.2", "*.cdn.test"),
    )
    seeds = [a.url("/"), f"http://cdn.test:{a.port}/", f"http://2130706434:{port_b}/seed"]
    report = crawl(seeds, config, DigestImageHandler())
    rows = {(r.kind, r.url): (r.outcome, r.error_kind) for r in report.fetch_log}
    B = f"http://127.0.0.2:{port_b}"
    assert rows == {
        ("page", a.url("/")): ("ok", None),
        ("page", f"http://cdn.test:{a.port}/"): ("skipped", "denied_host"),
        ("page", f"http://2130706434:{port_b}/seed"): ("skipped", "denied_host"),
        ("page", B + "/"): ("skipped", "denied_host"),
        ("page", a.url("/to-b")): ("failed", "denied_host"),
        ("page", a.url("/ok.html")): ("ok", None),
        ("image", a.url("/ads/banner.png")): ("skipped", "denied_pattern"),
        ("image", a.url("/avatar.png?s=80")): ("ok", None),
        ("image", B + "/img.png"): ("skipped", "denied_host"),
        ("image", f"http://img.cdn.test:{a.port}/x.png"): ("skipped", "denied_host"),
        ("image", a.url("/img/hop.png")): ("failed", "denied_host"),
    }
    assert b.paths() == []  # not even robots.txt
    assert "/ads/banner.png" not in a.paths() and "/x.png" not in a.paths()
    assert len(report.images) == 1


@pytest.mark.network
def test_a_robots_txt_redirect_to_a_denied_host_is_not_followed(servers):
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    a.redirect("/robots.txt", b.url("/robots.txt"))
    a.html("/", "page")
    b.add("/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    config = CrawlConfig(
        per_host_delay=0, allow_private_networks=True, max_depth=0, deny_hosts=("127.0.0.2",)
    )
    report = crawl([a.url("/")], config, DigestImageHandler())
    (row,) = report.fetch_log
    assert (row.outcome, row.robots) == ("ok", "unavailable")  # an answer we will not follow: no rules
    assert b.paths() == [] and a.paths() == ["/robots.txt", "/"]
