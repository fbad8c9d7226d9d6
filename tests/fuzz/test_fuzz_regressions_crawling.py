"""Regression tests for URL normalisation and data: URIs: every failure the fuzz and property tests found,
with its minimal input as data. Each test failed before its fix.
"""

from __future__ import annotations

import pytest

from hashwatch.crawling.data_uri import parse_data_uri
from hashwatch.crawling.html_extract import extract_page
from hashwatch.crawling.url_rules import normalize_url

# ---------------------------------------------------------------- url_rules.normalize_url


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://h/%2%41", "http://h/%252A"),  # was "http://h/%2A", then "http://h/*": no fixed point
        ("http://h/%%41%41", "http://h/%25AA"),  # was "http://h/%AA": the byte 0xAA, another resource
        ("http://h/%zz", "http://h/%25zz"),
        ("http://h/a%", "http://h/a%25"),
        ("http://h/?q=%2%41", "http://h/?q=%252A"),  # w3lib already did this in queries
    ],
)
def test_stray_percent_is_a_literal_percent(url, normal):
    assert normalize_url(url) == normal
    assert normalize_url(normal) == normal


# ---------------------------------------------------------------- data_uri.parse_data_uri


def test_data_uri_mime_must_be_ascii():
    """'ŧ'.isalnum() is True: a non-ASCII mime type went into the image's id (its URL in every output)."""
    assert parse_data_uri("data:image/pnŧ;base64,AAAA", 100) is None
    page = extract_page(
        b"<img src='data:image/p\xc5\xa7;base64,AAAA'>",
        "http://a/",
        max_url_length=100,
        max_data_uri_bytes=100,
    )
    assert page.data_images == [] and page.image_urls == []
    assert parse_data_uri("data:image/png;base64,AAAA", 100).uri_id.isascii()
