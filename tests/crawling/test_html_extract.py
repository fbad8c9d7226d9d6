import base64
import hashlib

import pytest
from local_http import png_bytes

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.data_uri import parse_data_uri
from hashwatch.crawling.frontier import page_links
from hashwatch.crawling.html_extract import extract_page, parse_srcset

PAGE = "http://site.test/dir/page.html"


def extract(html: str, **kwargs):
    options = {"max_url_length": 2048, "max_data_uri_bytes": 10_000, **kwargs}
    return extract_page(html.encode(), PAGE, **options)


def test_every_image_source_is_found():
    html = """<html><head>
      <meta property="og:image" content="/og.jpg"><meta name="twitter:image" content="tw.png">
      <link rel="image_src" href="linked.png"><style>.x{background:url('block.gif')}</style></head><body>
      <img src="a.png" srcset="b.png 1x, c.png 2x" data-src="lazy.webp">
      <picture><source srcset="p1.avif 1x, p2.avif 2x" type="image/avif"><img src="p3.jpg"></picture>
      <video poster="poster.jpg"><source src="movie.mp4"></video>
      <input type="image" src="button.png"><input type="text" src="no.png">
      <div style="background-image: url(&quot;css.png&quot;)"></div>
      <a href="photo.JPEG">photo</a><a href="next.html">next</a>
    </body></html>"""
    got = extract(html).image_urls
    base = "http://site.test/dir/"
    expected = {
        base + n
        for n in [
            "a.png",
            "b.png",
            "c.png",
            "lazy.webp",
            "p1.avif",
            "p2.avif",
            "p3.jpg",
            "poster.jpg",
            "button.png",
            "css.png",
            "linked.png",
            "tw.png",
            "block.gif",
            "photo.JPEG",
        ]
    } | {"http://site.test/og.jpg"}
    assert set(got) == expected
    assert len(got) == len(set(got))


def test_links_are_resolved_normalised_and_deduplicated():
    html = """<a href="next.html#a">1</a><a href="NEXT.html">case</a><a href="./next.html#b">2</a>
      <area href="/map"><iframe src="//other.test/frame"></iframe><a href="#top">self</a>
      <a href="javascript:void(0)">js</a><a href="mailto:x@y">m</a><a href="ftp://files.test/x">ftp</a>
      <a href="http://[broken/">bad</a>"""
    out = extract(html)
    assert out.links == [
        "http://site.test/dir/next.html",
        "http://site.test/dir/NEXT.html",
        "http://site.test/map",
        "http://other.test/frame",
    ]
    assert out.skipped_links == [("ftp://files.test/x", "unsupported_scheme")]
    assert out.dropped == 1


def test_base_href_changes_resolution():
    out = extract('<head><base href="http://cdn.test/assets/"></head><img src="x.png"><a href="p">p</a>')
    assert out.image_urls == ["http://cdn.test/assets/x.png"]
    assert out.links == ["http://cdn.test/assets/p"]


def test_malformed_html_still_yields_what_is_there():
    html = "<html><body><div><p>unclosed <b><img src=a.png><table><tr><td><img src='b.png'<a href=c.html>x"
    out = extract(html)
    assert "http://site.test/dir/a.png" in out.image_urls
    garbage = extract("\x00\x01\x02<<<>>>&&&<img src=>" * 100)
    assert garbage.image_urls == [] and garbage.links == []


def test_meta_robots_nofollow_drops_links_but_keeps_images():
    html = '<meta name="robots" content="noindex, nofollow"><img src="a.png"><a href="b.html">b</a>'
    out = extract(html)
    assert out.nofollow and out.links == [] and out.image_urls == ["http://site.test/dir/a.png"]
    assert extract(html, obey_meta_robots=False).links == ["http://site.test/dir/b.html"]


def test_overlong_urls_are_dropped_and_counted():
    out = extract(f'<img src="/{"a" * 100}.png"><a href="/{"b" * 100}">x</a>', max_url_length=50)
    assert out.image_urls == [] and out.links == [] and out.dropped == 2


def test_inline_data_images_are_identified_by_hash_never_by_content():
    png = png_bytes(shade=9)
    encoded = base64.b64encode(png).decode()
    html = f'<img src="data:image/png;base64,{encoded}"><img srcset="data:image/png;base64,{encoded} 2x">'
    out = extract(html)
    assert len(out.data_images) == 1
    image = out.data_images[0]
    assert image.uri_id == f"data:image/png;sha256={hashlib.sha256(png).hexdigest()}"
    assert image.body == png and image.error_kind is None
    assert encoded not in repr(out)  # the bytes are never part of a printable form
    assert out.image_urls == []


def test_data_uri_parsing_caps_and_errors():
    big = b"\x89PNG" + b"\x00" * 5000
    too_big = parse_data_uri("data:image/png;base64," + base64.b64encode(big).decode(), max_bytes=1000)
    assert too_big.error_kind == "data_uri_too_large" and too_big.body is None
    assert too_big.uri_id.endswith(hashlib.sha256(big).hexdigest())
    assert too_big.decoded_length == len(big)
    broken = parse_data_uri("data:image/png;base64,@@@not base64@@@", max_bytes=1000)
    assert broken.error_kind == "invalid_url" and broken.body is None
    percent = parse_data_uri("data:image/svg+xml,%3Csvg%3E%3C/svg%3E", max_bytes=1000)
    assert percent.body == b"<svg></svg>"
    assert parse_data_uri("data:text/html,<b>x</b>", max_bytes=1000) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("a.png", ["a.png"]),
        ("  a.png 100w,b.png 200w  ", ["a.png", "b.png"]),
        ("/img,w_200/a.png 1x, /img,w_400/a.png 2x", ["/img,w_200/a.png", "/img,w_400/a.png"]),
        ("a.png, b.png", ["a.png", "b.png"]),
        ("", []),
    ],
)
def test_srcset(value, expected):
    assert parse_srcset(value) == expected


def test_links_per_page_cap_marks_the_rest():
    cfg = CrawlConfig(max_links_per_page=2)
    links = page_links(
        ["http://a/1", "http://a/2", "http://a/3"],
        [("ftp://x/", "unsupported_scheme")],
        "http://a/",
        0,
        "http://a/",
        cfg,
    )
    assert [(link.url, link.depth, link.skip_kind) for link in links] == [
        ("http://a/1", 1, None),
        ("http://a/2", 1, None),
        ("http://a/3", 1, "links_per_page_cap"),
        ("ftp://x/", 1, "unsupported_scheme"),
    ]
