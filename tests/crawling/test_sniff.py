import pytest
from local_http import gif_bytes, jpeg_bytes, png_bytes

from hashwatch.crawling.sniff import declared_mime, is_html, is_image_type, sniff_content_type


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png_bytes(), "image/png"),
        (jpeg_bytes(), "image/jpeg"),
        (gif_bytes(), "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", "image/bmp"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "image/x-icon"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
        (b"<svg width='1'></svg>", "image/svg+xml"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html></html>", "text/html"),
        (b"\n\n<HTML><body>x</body></HTML>", "text/html"),
        (b"<!-- c --><p>x", "text/html"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"></html>', "text/html"),
        (b'<?xml version="1.0"?><rss></rss>', "application/xml"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x1f\x8b\x08\x00", "application/gzip"),
        (b"hello world, plain text", "text/plain"),
        (b"<abbr>not a sniffable tag", "text/plain"),
        (b"\x00\x01\x02garbage", "application/octet-stream"),
        (b"BM but not a bitmap", "text/plain"),
        (b"", None),
    ],
)
def test_sniff(data, expected):
    assert sniff_content_type(data) == expected


def test_declared_mime_and_html_decision():
    assert declared_mime("Text/HTML; charset=UTF-8") == "text/html"
    assert declared_mime("") is None
    assert is_html("text/html", "image/png")  # the bytes win over a wrong header
    assert is_html("text/plain", "text/html")  # a page starting with text before the first tag
    assert not is_html("image/png", "text/html")
    assert not is_html("application/pdf", "text/html")
    assert is_image_type("image/webp") and not is_image_type("text/html") and not is_image_type(None)
