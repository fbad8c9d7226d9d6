"""The Beam-free crawl driver end to end against the small loopback site: every outcome, and the accounting
invariant (every seed and discovered URL ends as exactly one fetch_log row)."""

import collections
import hashlib
import time

import pytest
from local_http import CONTENT_MARKER, SMALL_SITE_CONFIG_KWARGS, png_bytes

from benchmarks.crawl_driver import crawl
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.image_handler import DigestImageHandler, HandledImage
from hashwatch.crawling.politeness import HostSlots
from hashwatch.crawling.robots import RobotsCache

pytestmark = pytest.mark.network


def _crawl(seeds, handler=None, **overrides):
    config = CrawlConfig(**{**SMALL_SITE_CONFIG_KWARGS, **overrides})
    return crawl(seeds, config, handler or DigestImageHandler(), run_id="t", slots=HostSlots(),
                 robots_cache=RobotsCache())  # fmt: skip


@pytest.fixture(scope="module")
def site(small_site):
    return small_site


@pytest.fixture(scope="module")
def report(site):
    before = len(site.a.requests)
    result = _crawl([site.seed, site.seed + "#dup", "  " + site.seed, "not a url"])
    result.a_paths = site.a.paths()[before:]  # what this crawl asked host a for
    return result


def test_every_page_url_ends_exactly_once_with_its_expected_outcome(site, report):
    pages = [r for r in report.fetch_log if r.kind == "page"]
    counts = collections.Counter(r.url for r in pages)
    assert [url for url, n in counts.items() if n > 1] == []
    got = {r.url: (r.outcome, r.error_kind) for r in pages}
    expected = dict(site.expected_pages)
    expected["not a url"] = ("failed", "invalid_url")
    assert got == expected


def test_every_image_url_ends_exactly_once_with_its_expected_outcome(site, report):
    images = [r for r in report.fetch_log if r.kind == "image" and not r.url.startswith("data:")]
    counts = collections.Counter(r.url for r in images)
    assert [url for url, n in counts.items() if n > 1] == []
    assert {r.url: (r.outcome, r.error_kind) for r in images} == site.expected_images
    hashed = {record.image_url for record in report.images}
    assert hashed == {url for url, (outcome, _) in site.expected_images.items() if outcome == "ok"}
    a_png = next(r for r in report.images if r.image_url == site.a.url("/img/a.png"))
    assert a_png.sha256 == hashlib.sha256(png_bytes(shade=1)).hexdigest() and a_png.run_id == "t"
    assert a_png.page_urls == sorted(
        {
            site.a.url("/"),
            site.a.url("/gallery.html"),
            site.a.url("/redirect-in"),
            site.a.url("/malformed.html"),
        }
    )
    assert a_png.depth == 0


def test_inline_data_images_get_one_row_per_page_and_never_show_content(site, report):
    data_rows = [r for r in report.fetch_log if r.url.startswith("data:")]
    expected_id = f"data:image/png;sha256={hashlib.sha256(site.data_png).hexdigest()}"
    got = sorted((r.url, r.parent_url, r.outcome, r.error_kind) for r in data_rows)
    assert got == sorted(site.expected_data_rows)
    assert all(r.robots == "n/a" and r.depth in (0, 1) for r in data_rows)
    inline = sorted((r.image_url, tuple(r.page_urls)) for r in report.inline_images)
    assert inline == sorted(
        [
            (expected_id, (site.a.url("/"),)),
            (expected_id, (site.a.url("/gallery.html"),)),
            (expected_id, (site.a.url("/more.html"),)),
            (site.a.url("/img-no-extension"), (site.a.url("/"),)),
        ]
    )


def test_rows_carry_the_details(site, report):
    rows = {r.url: r for r in report.fetch_log}
    seed = rows[site.seed]
    assert (
        seed.depth == 0 and seed.parent_url is None and seed.http_status == 200 and seed.robots == "allowed"
    )
    assert seed.content_type == "text/html" and seed.bytes_length > 0 and seed.attempts == 1
    redirected = rows[site.a.url("/redirect-in")]
    assert redirected.final_url == site.a.url("/about.html") and redirected.redirect_count == 1
    assert rows[site.a.url("/flaky")].attempts == 2  # one retry (max_retries=1)
    assert rows[site.a.url("/private/secret.html")].robots == "disallowed"
    wrong_type = rows[site.a.url("/img/b.jpg")]
    assert wrong_type.content_type == "image/jpeg" and wrong_type.declared_content_type == "text/html"
    assert rows[site.a.url("/gallery2.html")].depth == 2
    assert rows[site.a.url("/gallery3.html")].parent_url == site.a.url("/gallery2.html")


def test_rows_use_only_the_closed_vocabularies(report):
    from schemas.outcomes import ERROR_KINDS, FETCH_KINDS, OUTCOMES, ROBOTS_DECISIONS

    assert {r.error_kind for r in report.fetch_log} - {None} <= ERROR_KINDS
    assert {r.outcome for r in report.fetch_log} <= OUTCOMES
    assert {r.kind for r in report.fetch_log} <= FETCH_KINDS
    assert {r.robots for r in report.fetch_log} <= ROBOTS_DECISIONS
    # the site exercises most of the vocabulary
    assert len({r.error_kind for r in report.fetch_log} - {None}) >= 20


def test_no_message_is_multiline_or_contains_content(report):
    for row in report.fetch_log:
        message = row.error_message or ""
        assert "\n" not in message and CONTENT_MARKER not in message and len(message) <= 300
        assert (row.outcome == "ok") == (row.error_kind is None)


def test_robots_txt_is_fetched_once_per_host_and_disallowed_urls_never(site, report):
    paths = report.a_paths
    assert paths.count("/robots.txt") == 1
    assert "/private/secret.html" not in paths and "/img/blocked.png" not in paths
    assert "/gallery3.html" not in paths and "/search?q=cats" not in paths


def test_seeds_are_deduplicated_but_each_kept_row_is_the_normalised_url(site, report):
    assert sum(1 for r in report.fetch_log if r.url == site.seed) == 1


def test_ignore_robots_fetches_what_robots_forbids(site):
    before = len(site.a.requests)
    report = _crawl([site.seed], ignore_robots=True, max_depth=1)
    rows = {r.url: r for r in report.fetch_log}
    assert rows[site.a.url("/private/secret.html")].outcome == "ok"
    assert rows[site.a.url("/private/secret.html")].robots == "ignored"
    assert "/robots.txt" not in site.a.paths()[before:]


def test_a_link_trap_is_bounded_by_depth_when_deny_patterns_are_off(servers):
    site = servers()

    def month(handler):
        number = int(handler.path.rsplit("/", 1)[1])
        body = f'<html><body><a href="/calendar/{number + 1}">next</a></body></html>'.encode()
        handler.send_body(200, body, "text/html")

    site.prefix_routes.append(("/calendar/", month))
    report = _crawl([site.url("/calendar/1")], deny_patterns=(), max_depth=3)
    outcomes = [(r.url.rsplit("/", 1)[1], r.outcome, r.error_kind) for r in report.fetch_log]
    assert outcomes == [
        ("1", "ok", None),
        ("2", "ok", None),
        ("3", "ok", None),
        ("4", "ok", None),
        ("5", "skipped", "max_depth"),
    ]


def test_caps_on_links_per_page_and_pages_per_host(servers):
    site = servers()
    site.html("/", "".join(f'<a href="/p{i}.html">{i}</a>' for i in range(6)))
    for i in range(6):
        site.html(f"/p{i}.html", "leaf")
    report = _crawl([site.url("/")], max_links_per_page=4, max_pages_per_host=3)
    got = {r.url.rsplit("/", 1)[1]: (r.outcome, r.error_kind) for r in report.fetch_log}
    assert got == {
        "": ("ok", None),
        "p0.html": ("ok", None),
        "p1.html": ("ok", None),
        "p2.html": ("skipped", "host_page_cap"),
        "p3.html": ("skipped", "host_page_cap"),
        "p4.html": ("skipped", "links_per_page_cap"),
        "p5.html": ("skipped", "links_per_page_cap"),
    }


def test_domain_scope_follows_sibling_hosts(servers):
    # 127.0.0.x are IPs: each is its own "registrable domain", so scope "domain" keeps them apart too.
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    a.html("/", f'<a href="{b.url("/")}">b</a>')
    b.html("/", "b")
    assert {r.url: r.error_kind for r in _crawl([a.url("/")], scope="domain").fetch_log}[
        b.url("/")
    ] == "out_of_scope"
    allow = _crawl([a.url("/")], scope="allow-list", allowed_hosts=("127.0.0.1", "127.0.0.2"))
    assert {r.url: r.outcome for r in allow.fetch_log}[b.url("/")] == "ok"


def test_politeness_delay_per_host_holds_and_hosts_overlap(servers):
    a, b = servers("127.0.0.1"), servers("127.0.0.2")
    for server in (a, b):
        server.html("/", "".join(f'<a href="/p{i}">{i}</a>' for i in range(4)))
        for i in range(4):
            server.html(f"/p{i}", "leaf")
    started = time.monotonic()
    _crawl([a.url("/"), b.url("/")], per_host_delay=0.2, max_depth=1)
    elapsed = time.monotonic() - started
    for server in (a, b):
        times = [r.at for r in server.requests]  # robots.txt, /, p0..p3
        assert len(times) == 6
        gaps = [y - x for x, y in zip(times, times[1:])]
        assert min(gaps) >= 0.2 - 0.01, gaps
    # The two hosts were crawled side by side: each one's first request comes before the other's last.
    assert a.requests[0].at < b.requests[-1].at and b.requests[0].at < a.requests[-1].at
    assert elapsed >= 5 * 0.2


def test_robots_crawl_delay_is_honoured_up_to_the_cap(servers):
    site = servers()
    site.add("/robots.txt", "User-agent: *\nCrawl-delay: 0.3\n", "text/plain")
    site.html("/", '<a href="/a">a</a><a href="/b">b</a>')
    site.html("/a", "a")
    site.html("/b", "b")
    _crawl([site.url("/")], per_host_delay=0, max_depth=1)
    times = [r.at for r in site.requests]
    assert [r.path for r in site.requests][0] == "/robots.txt"
    gaps = [y - x for x, y in zip(times, times[1:])]
    assert min(gaps) >= 0.3 - 0.01, gaps

    capped = servers()
    capped.add("/robots.txt", "User-agent: *\nCrawl-delay: 60\n", "text/plain")
    capped.html("/", '<a href="/a">a</a>')
    capped.html("/a", "a")
    started = time.monotonic()
    _crawl([capped.url("/")], per_host_delay=0, max_crawl_delay=0.2, max_depth=1)
    assert time.monotonic() - started < 20  # uncapped, the crawl would take at least 60 s


def test_robots_server_error_means_disallow_all(servers):
    site = servers()
    site.add("/robots.txt", "oops", "text/plain", status=503)
    site.html("/", "x")
    report = _crawl([site.url("/")], max_retries=0)
    assert [(r.outcome, r.error_kind) for r in report.fetch_log] == [("skipped", "robots_disallowed")]
    assert site.paths() == ["/robots.txt"]


class _ExplodingHandler(DigestImageHandler):
    def __call__(self, task, fetched):
        if task.image_url.endswith("a.png"):
            raise ValueError(f"bad bytes {fetched.body[:20]!r} " + CONTENT_MARKER)
        if task.image_url.endswith("d.png"):
            record = super().__call__(task, fetched).record
            return HandledImage(record, "decode_error", "truncated image\nsecond line")
        return super().__call__(task, fetched)


def test_handler_errors_become_rows_without_their_text(site):
    report = _crawl([site.seed], handler=_ExplodingHandler(), max_depth=0)
    rows = {r.url: r for r in report.fetch_log}
    exploded = rows[site.a.url("/img/a.png")]
    assert (exploded.outcome, exploded.error_kind) == ("failed", "internal")
    assert CONTENT_MARKER not in exploded.error_message and "bad bytes" not in exploded.error_message
    assert exploded.error_message == "image handler raised ValueError"


def test_handler_record_and_error_together(site):
    report = _crawl([site.seed], handler=_ExplodingHandler(), max_depth=1)
    rows = {r.url: r for r in report.fetch_log}
    decode = rows[site.a.url("/img/d.png")]
    assert (decode.outcome, decode.error_kind, decode.error_message) == (
        "failed",
        "decode_error",
        "truncated image second line",
    )
    assert any(r.image_url == site.a.url("/img/d.png") for r in report.images)  # hashes kept
