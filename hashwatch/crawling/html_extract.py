"""Image references and links from one HTML page, with a real parser (selectolax's lexbor engine).

Images: ``img`` ``src`` and every ``srcset`` candidate (and the lazy-loading ``data-src``/``data-srcset``/
``data-original``/``data-lazy-src`` spellings), ``picture > source srcset``, ``input type=image``, ``video
poster``, ``a href`` to image files, ``og:image``/``twitter:image`` meta tags, ``link rel=image_src``, CSS
``url()`` in ``style`` attributes and ``<style>`` blocks, and inline ``data:`` images (decoded, capped).
Videos: ``video src``, ``source src`` inside ``video``, ``a href`` to video files (by extension:
:data:`~hashwatch.crawling.url_rules.VIDEO_EXTENSIONS`) and ``og:video``/``og:video:url``/
``og:video:secure_url`` meta tags. Links: ``a``/``area`` ``href`` and ``frame``/``iframe`` ``src``, unless ``<meta name=robots
content=nofollow>`` says not to follow them (honoured unless ``ignore_robots``). Everything is resolved
against ``<base href>`` or the page URL and normalised (``url_rules.normalize_url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from hashwatch.crawling.data_uri import DataUriImage, parse_data_uri
from hashwatch.crawling.url_rules import (
    IGNORED_LINK_SCHEMES,
    UrlError,
    looks_like_image_url,
    looks_like_video_url,
    normalize_url,
    scheme_of,
)

_IMG_URL_ATTRS = ("src", "data-src", "data-original", "data-lazy-src", "data-lazy")
_IMG_SRCSET_ATTRS = ("srcset", "data-srcset", "data-lazy-srcset")
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.IGNORECASE)
_VIDEO_META = frozenset({"og:video", "og:video:url", "og:video:secure_url"})
_IMAGE_META = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src", "image"}
)


@dataclass
class PageExtraction:
    """What a page refers to. URLs are normalised, distinct, in document order."""

    image_urls: list[str] = field(default_factory=list)
    video_urls: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    data_images: list[DataUriImage] = field(default_factory=list)  # distinct by id
    skipped_links: list[tuple[str, str]] = field(
        default_factory=list
    )  # (url, error kind): non-http(s) schemes
    dropped: int = 0  # unusable or overlong references, counted, not kept (never logged: page content)
    nofollow: bool = False


def parse_srcset(value: str) -> list[str]:
    """Every candidate URL of a ``srcset`` (``"a.png 1x, b.png 2x"`` -> ``["a.png", "b.png"]``).

    Splits on commas that follow whitespace-free URL tokens, so URLs with commas inside (``/img,w_200/a.png``)
    survive, as in the HTML standard's parsing algorithm.
    """
    urls = []
    position, length = 0, len(value)
    while position < length:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        if position >= length:
            break
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # skip the descriptors up to the next comma
            while position < length and value[position] != ",":
                position += 1
        if url:
            urls.append(url)
    return urls


def extract_page(
    html: bytes, page_url: str, *, max_url_length: int, max_data_uri_bytes: int, obey_meta_robots: bool = True
) -> PageExtraction:
    """Parse ``html`` (bytes, any encoding: lexbor detects it) served at ``page_url``."""
    tree = LexborHTMLParser(html)
    out = PageExtraction()
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        try:
            base = normalize_url(base_node.attributes.get("href") or "", base=page_url)
        except UrlError:
            base = page_url

    images: dict[str, None] = {}
    videos: dict[str, None] = {}
    links: dict[str, None] = {}
    data_ids: dict[str, DataUriImage] = {}
    skipped: dict[str, str] = {}

    def add_image(raw: str | None) -> None:
        if raw is None:
            return
        raw = raw.strip()
        if not raw:
            return
        if raw[:5].lower() == "data:":
            image = parse_data_uri(raw, max_data_uri_bytes)
            if image is not None and image.uri_id not in data_ids:
                data_ids[image.uri_id] = image
            return
        url = _resolve(raw, base, max_url_length)
        if url is None:
            out.dropped += 1
        elif url is not False:
            images.setdefault(url, None)

    def add_video(raw: str | None) -> None:
        if raw is None or not raw.strip() or raw.strip()[:5].lower() == "data:":
            return  # inline data: videos are not fetched (nothing to request; pages rarely carry them)
        url = _resolve(raw.strip(), base, max_url_length)
        if url is None:
            out.dropped += 1
        elif url is not False:
            videos.setdefault(url, None)

    def add_link(raw: str | None) -> None:
        if raw is None:
            return
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            return
        scheme = scheme_of(raw)
        if scheme == "data":
            add_image(raw)  # an <a href="data:image/..."> is an inline image
            return
        if scheme in IGNORED_LINK_SCHEMES:
            return
        try:
            url = normalize_url(raw, base=base)
        except UrlError as exc:
            if exc.kind == "unsupported_scheme" and len(raw) <= max_url_length:
                skipped.setdefault(raw.split("#", 1)[0], exc.kind)
            else:
                out.dropped += 1
            return
        if len(url) > max_url_length:
            out.dropped += 1
            return
        if looks_like_image_url(url):
            images.setdefault(url, None)
        elif looks_like_video_url(url):
            videos.setdefault(url, None)
        else:
            links.setdefault(url, None)

    for node in tree.css("img, source, input, video, image"):
        attrs = node.attributes
        tag = node.tag
        if tag == "input" and (attrs.get("type") or "").lower() != "image":
            continue
        if tag == "source" and _source_is_video(node):
            add_video(attrs.get("src"))
            continue
        if tag == "source" and not _source_is_image(node):
            continue
        if tag == "video":
            add_image(attrs.get("poster"))
            add_video(attrs.get("src"))
            continue
        if tag == "image":  # SVG <image href>
            add_image(attrs.get("href") or attrs.get("xlink:href"))
            continue
        for name in _IMG_URL_ATTRS:
            add_image(attrs.get(name))
        for name in _IMG_SRCSET_ATTRS:
            value = attrs.get(name)
            if value:
                for candidate in parse_srcset(value):
                    add_image(candidate)

    for node in tree.css("meta[content]"):
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").strip().lower()
        if key in _IMAGE_META:
            add_image(attrs.get("content"))
        elif key in _VIDEO_META:
            add_video(attrs.get("content"))
        elif key == "robots" and obey_meta_robots:
            directives = {d.strip().lower() for d in (attrs.get("content") or "").split(",")}
            if directives & {"nofollow", "none"}:
                out.nofollow = True

    for node in tree.css("link[href]"):
        rel = {r.lower() for r in (node.attributes.get("rel") or "").split()}
        if "image_src" in rel:
            add_image(node.attributes.get("href"))

    for node in tree.css("[style]"):
        for raw in _css_urls(node.attributes.get("style") or ""):
            add_image(raw)
    for node in tree.css("style"):
        for raw in _css_urls(node.text(deep=True) or ""):
            add_image(raw)

    for node in tree.css("a[href], area[href]"):
        add_link(node.attributes.get("href"))
    for node in tree.css("frame[src], iframe[src]"):
        add_link(node.attributes.get("src"))

    out.image_urls = list(images)
    out.video_urls = [url for url in videos if url not in images]
    out.data_images = list(data_ids.values())
    if out.nofollow:
        out.links = []
    else:
        out.links = [url for url in links if url not in images and url not in videos]
        out.skipped_links = sorted(skipped.items())
    return out


def _source_is_image(node) -> bool:
    """``<source>`` inside ``<picture>`` (or typed image/*) is an image; inside audio/video it is not."""
    parent = node.parent
    if parent is not None and parent.tag == "picture":
        return True
    kind = (node.attributes.get("type") or "").lower()
    return kind.startswith("image/")


def _source_is_video(node) -> bool:
    """``<source src>`` inside ``<video>`` (or typed video/*) is a video."""
    parent = node.parent
    if parent is not None and parent.tag == "video":
        return True
    return (node.attributes.get("type") or "").lower().startswith("video/")


def _css_urls(css: str) -> list[str]:
    return [a or b or c for a, b, c in _CSS_URL.findall(css) if (a or b or c)]


def _resolve(raw: str, base: str, max_url_length: int) -> str | None | bool:
    """A normalised http(s) URL; None for an unusable one (counted as dropped); False to ignore quietly."""
    scheme = scheme_of(raw)
    if scheme and scheme not in ("http", "https"):
        return False  # blob:, about:, javascript: ... are not fetchable images
    try:
        url = normalize_url(raw, base=base)
    except UrlError:
        return None
    if len(url) > max_url_length:
        return None
    return url
