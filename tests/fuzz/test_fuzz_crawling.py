"""Property tests of the crawler's parsers on hostile input: URL normalisation, HTML extraction, data: URIs and
robots.txt. The contracts are the docstrings of the ``check_*`` functions in ``fuzz_targets.py``; here
Hypothesis builds structured inputs (URLs from a grammar of the awkward parts, pages from tags and
attributes), where random bytes would rarely reach the interesting code. ``test_fuzz_atheris.py`` runs the
same checks coverage-guided.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib

from fuzz_config import fuzz_settings
from fuzz_targets import (
    MAX_DATA_URI_BYTES,
    check_data_uri,
    check_html,
    check_normalized,
    check_robots,
    check_url,
    check_url_text,
)
from hypothesis import given
from hypothesis import strategies as st

from hashwatch.crawling.data_uri import parse_data_uri
from hashwatch.crawling.url_rules import UrlError, normalize_url

# ---------------------------------------------------------------- a grammar of awkward URLs

_PIECES = st.sampled_from(
    [
        *"%/.?#&=;@:[]\\ \t\n\x00\x7f\x85\u00a0\u3000\ufeff-_~+*'\"<>{}|^`",
        *"aZ0é",
        "%2",
        "%41",
        "%e2%82%ac",
        "%ZZ",
        "%00",
        "%20",
        "%2F",
        "//",
        "..",
        "[::1]",
        "[fe80::1%25eth0]",
        "xn--",
        "xn--bcher-kva",
        "ß",
        "ǅ",
        "İ",
        "\u212a",
        "ﬀ",
        "①",
        "．",
        "。",
        "\ud800",
        "\udcff",
        "\U0001f600",
        "１",
        "80",
        "99999",
    ]
)
_SCHEMES = st.sampled_from(
    ["http", "https", "HTTP", "hTTps", "ftp", "", "data", "javascript", "h\ttp", "ht-tp"]
)
_SEPARATORS = st.sampled_from(["://", ":", ":/", ":///", "", "//", ":\\\\"])
_USERINFO = st.sampled_from(["", "u@", "u:p@", "@", "a@b@", "%40@"])
_PORTS = st.sampled_from(["", ":", ":80", ":443", ":8080", ":0", ":65536", ":-1", ": 80", ":８０", ":0x50"])


def _joined(max_size: int, prefix: str = "") -> st.SearchStrategy[str]:
    return st.lists(_PIECES, max_size=max_size).map(lambda parts: (prefix + "".join(parts)) if parts else "")


urls = st.builds(
    lambda *parts: "".join(parts),
    _SCHEMES,
    _SEPARATORS,
    _USERINFO,
    _joined(8),
    _PORTS,
    _joined(6, "/"),
    _joined(4, "?"),
    _joined(3, "#"),
)
bases = st.one_of(
    st.none(), urls, st.sampled_from(["http://site.test/dir/page.html", "https://[::1]:8443/a/b?c"])
)


@fuzz_settings(400)
@given(urls, bases)
def test_normalize_url_returns_a_fixed_point_or_its_own_error(url, base):
    """``normalize_url`` either raises UrlError (with a kind) or returns a normalised URL that normalising
    again leaves unchanged: the brute-force oracle of idempotence, on URLs built from the awkward parts."""
    check_url_text(url, base)


@fuzz_settings(200)
@given(st.binary(max_size=200))
def test_normalize_url_on_raw_bytes(data):
    check_url(data)


@fuzz_settings(200)
@given(
    scheme=st.sampled_from(["http", "HTTPS"]),
    host=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,8}(\.[A-Za-z0-9-]{1,6}){0,3}\.?", fullmatch=True),
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    path=st.lists(st.text(alphabet="aZ09-._~%!$&'()*+,;=:@ é/", max_size=6), max_size=4).map("/".join),
    query=st.lists(st.tuples(st.text("ab=&+% é", max_size=4), st.text("ab=&+% é", max_size=4)), max_size=3),
)
def test_valid_urls_normalise_and_keep_their_host(scheme, host, port, path, query):
    """Well-formed http(s) URLs always normalise (the oracle: the host comes out lower-cased, without the
    default port or a trailing dot), and the result is a fixed point."""
    from urllib.parse import quote

    q = "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
    url = f"{scheme}://{host}{port}/{quote(path, safe='/%')}" + (f"?{q}" if q else "")
    try:
        out = normalize_url(url)
    except UrlError as exc:
        # Only the host can make a URL from this grammar unusable: a label that IDNA rejects.
        assert exc.kind == "invalid_url" and ("--" in host or host.startswith("-") or ".-" in host), url
        return
    check_normalized(out)
    want_port = "" if port in ("", ":80" if scheme == "http" else ":443") else port
    assert out.split("/")[2] == host.lower().rstrip(".") + want_port


# ---------------------------------------------------------------- HTML pages

_ATTR_VALUES = st.one_of(
    urls, st.sampled_from(["", " ", "a.png 1x, b.png 2x", "/img,w_1/x.jpg 2x,", "data:,"])
)
_TAGS = st.sampled_from(
    [
        "img",
        "source",
        "input",
        "video",
        "image",
        "meta",
        "link",
        "a",
        "area",
        "frame",
        "iframe",
        "base",
        "div",
    ]
)
_ATTRS = st.sampled_from(
    [
        "src",
        "srcset",
        "data-src",
        "data-srcset",
        "href",
        "xlink:href",
        "poster",
        "content",
        "property",
        "name",
        "rel",
        "type",
        "style",
    ]
)


@st.composite
def pages(draw) -> bytes:
    """An HTML page of image and link tags whose attributes come from the URL grammar (escaped or raw)."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        tag = draw(_TAGS)
        attrs = []
        for _ in range(draw(st.integers(0, 3))):
            value = draw(_ATTR_VALUES)
            if draw(st.booleans()):
                value = html_lib.escape(value)
            if draw(st.booleans()):
                value = f"url({value})"
            attrs.append(f'{draw(_ATTRS)}="{value}"')
        parts.append(
            f"<{tag} {' '.join(attrs)}>" + draw(st.sampled_from(["", f"</{tag}>", "<style>", "<picture>"]))
        )
    page = "<!doctype html><html><head>" + "".join(parts) + "</head></html>"
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "surrogateescape"]))
    if encoding == "surrogateescape":
        return page.encode("utf-8", "surrogatepass")
    return page.encode(encoding, "replace")


@fuzz_settings(150)
@given(pages())
def test_html_extractor_keeps_only_normalised_urls(page):
    """``extract_page`` never raises and returns only normalised http(s) URLs and capped inline images."""
    check_html(page)


@fuzz_settings(100)
@given(st.binary(max_size=2000))
def test_html_extractor_on_raw_bytes(data):
    check_html(data)


# ---------------------------------------------------------------- data: URIs


@fuzz_settings(150)
@given(
    body=st.binary(max_size=300),
    mime=st.sampled_from(["image/png", "IMAGE/GIF", "image/svg+xml", "image/x-icon"]),
    params=st.sampled_from([";base64", ";BASE64", ";charset=utf-8;base64", " ; base64 "]),
    wrap=st.integers(0, 80),
    cap=st.integers(0, 400),
)
def test_data_uri_base64_round_trip(body, mime, params, wrap, cap):
    """Oracle: a body written as base64 (wrapped or not) decodes to exactly that body within the cap, or is
    reported too large (with its true length and the id of its bytes) above it."""
    text = base64.b64encode(body).decode()
    if wrap:
        text = "\n ".join(text[i : i + wrap] for i in range(0, len(text), wrap))
    image = parse_data_uri(f"data:{mime}{params},{text}", cap)
    assert image is not None
    assert image.uri_id == f"data:{mime.lower()};sha256={hashlib.sha256(body).hexdigest()}"
    assert image.decoded_length == len(body)
    if len(body) <= cap:
        assert image.body == body and image.error_kind is None
    else:
        assert image.body is None and image.error_kind == "data_uri_too_large"


@fuzz_settings(100)
@given(body=st.binary(max_size=200), cap=st.integers(0, 300))
def test_data_uri_percent_encoded_round_trip(body, cap):
    """Oracle: a percent-encoded (not base64) body decodes to the same bytes."""
    from urllib.parse import quote_from_bytes

    image = parse_data_uri("data:image/svg+xml," + quote_from_bytes(body), cap)
    assert image is not None and image.decoded_length == len(body)
    assert image.body == (body if len(body) <= cap else None)


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_data_uri_on_raw_bytes(data):
    check_data_uri(data)


@fuzz_settings(100)
@given(st.text(alphabet="AaZz09+/=-_%\n \t,;:", max_size=200), st.integers(0, MAX_DATA_URI_BYTES))
def test_data_uri_malformed_base64(payload, cap):
    check_data_uri(bytes([cap // 4 % 256]) + b"data:image/png;base64," + payload.encode())


# ---------------------------------------------------------------- robots.txt

_ROBOTS_LINES = st.sampled_from(
    [
        "User-agent: *",
        "User-agent: hashwatch",
        "user-agent: HashWatch/1.0",
        "Disallow: /",
        "Disallow:",
        "Disallow: /private/",
        "Disallow: /*.jpg$",
        "Disallow: /%E2%82%AC",
        "Disallow: /€",
        "Allow: /private/ok",
        "Allow: /*?",
        "Crawl-delay: 2",
        "Crawl-delay: -1",
        "Crawl-delay: 1e309",
        "Crawl-delay: nan",
        "Crawl-delay: ",
        "Request-rate: 1/5",
        "Request-rate: 0/0",
        "Request-rate: 1/0s",
        "Sitemap: http://site.test/s.xml",
        "Host: site.test",
        "Visit-time: 0600-0845",
        "# comment",
        "",
        ":",
        "Disallow: /[",
        "Disallow: /(",
        "Disallow: *",
        "Disallow: $",
        "\ufeffUser-agent: *",
    ]
)


@fuzz_settings(300)
@given(st.lists(_ROBOTS_LINES, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]))
def test_robots_always_answers(lines, newline):
    """Any robots.txt made of real directives (and broken ones) parses, and every URL gets allowed or
    disallowed: ``rules_from_fetch`` and ``verdict`` never raise."""
    check_robots(newline.join(lines).encode())


@fuzz_settings(200)
@given(st.binary(max_size=600))
def test_robots_on_raw_bytes(data):
    check_robots(data)
