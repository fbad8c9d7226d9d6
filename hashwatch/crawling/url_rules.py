"""URL rules: normalisation (the dedupe key), host keys, scope, deny patterns and denied hosts.

One normal form per URL, used for dedupe, fetching and every output column: w3lib's ``canonicalize_url``
(percent-encoding made safe, query arguments sorted, fragment dropped, host lower-cased and IDNA-encoded) plus
default ports removed. Only ``http`` and ``https`` are ever fetched.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from hashwatch.crawling.address_guard import parse_ip_literal

if TYPE_CHECKING:
    from hashwatch.crawling.config import CrawlConfig

FETCHABLE_SCHEMES = frozenset({"http", "https"})
# Links with these schemes are not resources a crawler could fetch: dropped without a fetch_log row.
IGNORED_LINK_SCHEMES = frozenset({"javascript", "mailto", "tel", "sms", "callto", "about", "blob", "data"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class UrlError(ValueError):
    """A URL that cannot be used. ``kind`` is an error kind (invalid_url | unsupported_scheme)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def scheme_of(url: str) -> str:
    """The lower-cased scheme of ``url`` ('' when it has none)."""
    head, sep, _ = url.strip().partition(":")
    if not sep or not head or not head[0].isalpha():
        return ""
    if not all(c.isalnum() or c in "+-." for c in head):
        return ""
    return head.lower()


def normalize_url(url: str, base: str | None = None) -> str:
    """The canonical absolute form of ``url`` (resolved against ``base``), or raise :class:`UrlError`.

    >>> normalize_url("HTTP://Example.COM:80/a/../b?y=2&x=1#top")
    'http://example.com/b?x=1&y=2'
    """
    raw = url.strip()
    if base is not None:
        try:
            raw = urljoin(base, raw)
        except ValueError as exc:  # e.g. an invalid IPv6 literal in the link
            raise UrlError(
                "invalid_url", f"cannot resolve link against its page: {type(exc).__name__}"
            ) from exc
    # A "%" that starts no escape is a literal percent: write it as %25 first. w3lib decodes %41 but keeps a
    # stray "%2" in a path, so "/%2%41" became "/%2A" (then "/*" when normalised again) and "/%%41%41" the
    # byte escape "/%AA": another resource, and no fixed point for dedupe (found by tests/fuzz).
    raw = _STRAY_PERCENT.sub("%25", raw)
    scheme = scheme_of(raw)
    if scheme not in FETCHABLE_SCHEMES:
        kind = "unsupported_scheme" if scheme else "invalid_url"
        what = f"scheme {scheme!r} is not http or https" if scheme else "not an absolute http(s) URL"
        raise UrlError(kind, what)
    try:
        canonical = canonicalize_url(raw, keep_fragments=False)
        parts = urlsplit(canonical)
        host = parts.hostname
        port = parts.port  # raises ValueError for a bad port
    except (ValueError, UnicodeError) as exc:
        raise UrlError("invalid_url", f"unparsable URL ({type(exc).__name__})") from exc
    if not host:
        raise UrlError("invalid_url", "URL has no host")
    host = host.rstrip(".")
    if ":" in host:  # an IPv6 literal (urlsplit checked its brackets)
        host_part = f"[{host}]"
    elif host and all(c.isalnum() or c in "-._" for c in host) and host.isascii():
        host_part = host
    else:
        raise UrlError("invalid_url", "URL host has characters a host name cannot have")
    # Credentials in URLs are never sent (dropped); default ports are implied.
    netloc = host_part if port is None or port == _DEFAULT_PORTS[parts.scheme] else f"{host_part}:{port}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def host_key(url: str) -> str:
    """The politeness and robots key of a normalised URL: ``scheme://host[:port]``.

    Two servers on one machine (different ports) are different hosts; http and https of one name are too,
    as robots.txt is defined per scheme, host and port (RFC 9309).
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def hostname(url: str) -> str:
    """The lower-case host name (or IP literal, without brackets) of a URL; '' if it has none."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


@functools.lru_cache(maxsize=1)
def _tld_extractor():
    import tldextract

    # The bundled Public Suffix List snapshot only: no network, no cache directory written.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@functools.lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """``a.b.example.co.uk`` -> ``example.co.uk``; an IP address or bare suffix returns the host itself."""
    result = _tld_extractor()(host)
    if result.domain and result.suffix:
        return f"{result.domain}.{result.suffix}"
    return host


def in_scope(url: str, seed_url: str, config: CrawlConfig) -> bool:
    """Whether a page link is inside the crawl scope of the seed its path started from."""
    from hashwatch.crawling.config import SCOPE_ALLOW_LIST, SCOPE_DOMAIN, SCOPE_HOST

    host = hostname(url)
    if not host:
        return False
    if config.scope == SCOPE_HOST:
        return host == hostname(seed_url)
    if config.scope == SCOPE_DOMAIN:
        return registrable_domain(host) == registrable_domain(hostname(seed_url))
    if config.scope == SCOPE_ALLOW_LIST:
        return any(host == allowed or host.endswith("." + allowed) for allowed in config.allowed_hosts)
    raise ValueError(f"unknown scope {config.scope!r}")


def denied_host_message(url: str, entry: str) -> str:
    return f"host {hostname(url)} is denied by --deny-host {entry}"


def denied_by(url: str, config: CrawlConfig) -> str | None:
    """The first deny pattern that refuses page link ``url``, or None."""
    for regex in config.deny_regexes:
        if regex.search(url):
            return regex.pattern
    return None


def image_denied_by(url: str, config: CrawlConfig) -> str | None:
    """The first deny pattern that refuses image ``url``, or None.

    Only the operator's own patterns apply to images: the built-in ones describe search pages and link traps,
    and would refuse ordinary images (``avatar?s=80``, ``/_next/image?url=...&q=75``,
    ``/events/2024/05/photo.jpg``).
    """
    for regex in config.image_deny_regexes:
        if regex.search(url):
            return regex.pattern
    return None


def parse_deny_host(entry: str) -> str:
    """The normal form of a ``--deny-host`` entry, or raise ``ValueError`` saying what is wrong with it.

    An entry is a host name (``cdn.example.com``), an IP address, or ``*.example.com``: example.com and every
    name under it. Names are lower-cased and IDNA-encoded as URLs are.

    >>> parse_deny_host("*.Example.COM.")
    '*.example.com'
    >>> parse_deny_host("[::1]")
    '::1'
    """
    text = entry.strip().lower().rstrip(".")
    if not text:
        raise ValueError("empty host")
    if "/" in text or "@" in text:
        raise ValueError("a host name or address, not a URL")
    wildcard = text.startswith("*.")
    name = text[2:] if wildcard else text
    if "*" in name:
        raise ValueError("'*' is only allowed as a leading '*.' (e.g. *.example.com)")
    if not wildcard:
        ip = parse_ip_literal(name)  # every spelling a URL host may use: 10.0.0.1, [::1], 167772161
        if ip is not None:
            return str(ip)
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid host name") from None
    labels = name.split(".")
    if len(name) > 253 or not all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) for label in labels
    ):
        raise ValueError("not a valid host name (letters, digits, '-', '_' and dots; ports are not allowed)")
    return f"*.{name}" if wildcard else name


def denied_host(url: str, config: CrawlConfig) -> str | None:
    """The ``--deny-host`` entry that refuses the host of ``url``, or None.

    IP literals are compared by value, so every spelling of a denied address (``2130706433``, ``127.1``) is
    denied too.
    """
    if not config.deny_hosts:
        return None
    host = hostname(url)
    ip = parse_ip_literal(host)
    if ip is not None:
        key = str(ip)
        return key if key in config.deny_host_names else None
    if host in config.deny_host_names:
        return host
    for suffix in config.deny_host_suffixes:
        if host == suffix or host.endswith("." + suffix):
            return "*." + suffix
    return None


def link_skip_reason(url: str, seed_url: str, depth: int, config: CrawlConfig) -> tuple[str, str] | None:
    """Why a discovered page link at ``depth`` is not fetched, as (error kind, message), or None to fetch it.

    Seeds (depth 0) are the operator's choice: scope and deny patterns do not apply to them (denied hosts do).
    """
    if depth > config.max_depth:
        return "max_depth", f"found at depth {depth - 1}, the last round (--max-depth {config.max_depth})"
    entry = denied_host(url, config)
    if entry is not None:
        return "denied_host", denied_host_message(url, entry)
    if depth == 0:
        return None
    if not in_scope(url, seed_url, config):
        return "out_of_scope", f"host {hostname(url)} is outside --scope {config.scope} of its seed"
    pattern = denied_by(url, config)
    if pattern is not None:
        return "denied_pattern", f"matches deny pattern {pattern!r}"
    return None


IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".avif",
        ".heic",
        ".heif",
        ".jxl",
        ".ico",
        ".svg",
    }
)


def looks_like_image_url(url: str) -> bool:
    """Whether a link's path ends in an image file extension (``a href`` to such a file is an image ref)."""
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot != -1 and "/" not in path[dot:] and path[dot:] in IMAGE_EXTENSIONS


VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".webm",
        ".mkv",
        ".avi",
        ".ts",
        ".m2ts",
        ".mpg",
        ".mpeg",
        ".flv",
        ".3gp",
        ".ogv",
    }
)


def looks_like_video_url(url: str) -> bool:
    """Whether a link's path ends in a video file extension (``a href`` to such a file is a video ref).

    >>> looks_like_video_url("https://example.org/clips/a.MP4?x=1")
    True
    """
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return dot != -1 and "/" not in path[dot:] and path[dot:] in VIDEO_EXTENSIONS
