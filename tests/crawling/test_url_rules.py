import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashwatch.crawling import url_rules
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.url_rules import (
    UrlError,
    denied_by,
    host_key,
    in_scope,
    link_skip_reason,
    looks_like_image_url,
    normalize_url,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a/../b?y=2&x=1#top", "http://example.com/b?x=1&y=2"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/%7Euser", "http://example.com:8080/~user"),
        ("http://user:pw@example.com/x", "http://example.com/x"),
        ("http://example.com./x", "http://example.com/x"),
        ("http://bücher.de/x y", "http://xn--bcher-kva.de/x%20y"),
        ("  http://example.com/a#frag  ", "http://example.com/a"),
        ("http://[::1]:80/", "http://[::1]/"),
    ],
)
def test_normalize_golden(raw, expected):
    assert normalize_url(raw) == expected


def test_relative_links_resolve_against_base():
    assert normalize_url("../c.png", base="http://a.com/x/y/z.html") == "http://a.com/x/c.png"
    assert normalize_url("//cdn.example/i.png", base="https://a.com/") == "https://cdn.example/i.png"
    assert normalize_url("?p=2", base="http://a.com/list?p=1") == "http://a.com/list?p=2"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("ftp://example.com/x", "unsupported_scheme"),
        ("file:///etc/passwd", "unsupported_scheme"),
        ("gopher://x/", "unsupported_scheme"),
        ("not a url", "invalid_url"),
        ("http://", "invalid_url"),
        ("http://a b/", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
    ],
)
def test_unusable_urls_raise_with_an_error_kind(raw, kind):
    with pytest.raises(UrlError) as info:
        normalize_url(raw)
    assert info.value.kind == kind


_host = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)
_path = st.lists(st.text(alphabet="abcXYZ019-._~%/ é", max_size=8), max_size=4).map("/".join)
_query = st.dictionaries(
    st.text("abcxyz", min_size=1, max_size=4), st.text("abc 12&=", max_size=5), max_size=3
)


@given(
    scheme=st.sampled_from(["http", "HTTP", "https"]),
    host=_host,
    path=_path,
    query=_query,
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
)
def test_normalize_is_idempotent(scheme, host, path, query, port):
    from urllib.parse import urlencode

    url = f"{scheme}://{host}{port}/{path}" + (f"?{urlencode(query)}" if query else "")
    once = normalize_url(url)
    assert normalize_url(once) == once
    assert once.startswith(("http://", "https://"))
    assert "#" not in once


def test_host_key_distinguishes_ports_and_schemes():
    assert host_key("http://a.com/x") == "http://a.com"
    assert host_key("http://a.com:8080/x") == "http://a.com:8080"
    assert host_key("https://a.com/x") != host_key("http://a.com/x")


def test_registrable_domain_uses_the_bundled_list_without_network(monkeypatch):
    url_rules._tld_extractor.cache_clear()
    registrable_domain.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("tldextract tried to use the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("www.example.com") == "example.com"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"


def test_scopes():
    seed = "http://www.example.com/start"
    host = CrawlConfig()
    domain = CrawlConfig(scope="domain")
    allow = CrawlConfig(scope="allow-list", allowed_hosts=("example.org",))
    assert in_scope("https://www.example.com:8443/x", seed, host)
    assert not in_scope("http://img.example.com/x", seed, host)
    assert in_scope("http://img.example.com/x", seed, domain)
    assert not in_scope("http://example.org/x", seed, domain)
    assert in_scope("http://cdn.example.org/x", seed, allow)
    assert in_scope("http://example.org/x", seed, allow)
    assert not in_scope("http://badexample.org/x", seed, allow)
    assert not in_scope("http://www.example.com/x", seed, allow)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.com/search?q=x",
        "http://a.com/search",
        "http://a.com/find.php?x=1",
        "http://a.com/list?query=cats",
        "http://a.com/?s=term",
        "http://a.com/wp-login.php",
        "http://a.com/logout",
        "http://a.com/w/index.php?action=edit&title=X",
        "http://a.com/calendar/2031/07",
        "http://a.com/events/2024-12",
    ],
)
def test_default_deny_patterns_catch_search_lookup_and_traps(url):
    assert denied_by(url, CrawlConfig()) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://a.com/",
        "http://a.com/gallery/page2.html",
        "http://a.com/researchers.html",
        "http://a.com/a?page=2",
    ],
)
def test_default_deny_patterns_leave_ordinary_pages(url):
    assert denied_by(url, CrawlConfig()) is None


def test_link_skip_reason_order_and_seed_exemption():
    cfg = CrawlConfig(max_depth=2)
    seed = "http://a.com/"
    assert link_skip_reason("http://b.com/x", seed, 3, cfg)[0] == "max_depth"
    assert link_skip_reason("http://b.com/x", seed, 1, cfg)[0] == "out_of_scope"
    assert link_skip_reason("http://a.com/search?q=1", seed, 1, cfg)[0] == "denied_pattern"
    assert link_skip_reason("http://a.com/ok", seed, 2, cfg) is None
    # Seeds are the operator's choice: no scope or deny rules.
    assert link_skip_reason("http://b.com/search?q=1", "http://b.com/search?q=1", 0, cfg) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.com/x.JPG", True),
        ("http://a.com/x.webp?size=2", True),
        ("http://a.com/x.html", False),
        ("http://a.com/png", False),
        ("http://a.com/a.png/view", False),
    ],
)
def test_looks_like_image_url(url, expected):
    assert looks_like_image_url(url) is expected
