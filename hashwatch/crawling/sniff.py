"""Content type from the first bytes of a body (magic numbers), not from the Content-Type header.

Servers lie about content types (images served as text/html, pages as application/octet-stream), so hashwatch
decides what a body is from its bytes, following the spirit of the WHATWG MIME Sniffing Standard.
"""

from __future__ import annotations

IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "image/x-icon",
        "image/avif",
        "image/heic",
        "image/jxl",
        "image/svg+xml",
    }
)
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/3gpp",
        "video/webm",
        "video/x-matroska",
        "video/x-msvideo",
        "video/mp2t",
        "video/x-flv",
        "video/mpeg",
        "video/ogg",
    }
)
HTML_TYPE = "text/html"
HTML_DECLARED_TYPES = frozenset({"text/html", "application/xhtml+xml"})

_HTML_TAGS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
    b"<meta",
    b"<link",
    b"<img",
)
_ISO_BMFF_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heic",
    b"msf1": "image/heic",
}
# WHATWG "binary data bytes": control characters that never appear in text.
_BINARY_BYTES = frozenset(set(range(0x00, 0x09)) | {0x0B} | set(range(0x0E, 0x1B)) | set(range(0x1C, 0x20)))


def sniff_content_type(data: bytes) -> str | None:
    """The MIME type the bytes are, or None for an empty body.

    Images: JPEG, PNG, GIF, WebP, BMP, TIFF, ICO, AVIF/HEIC, JPEG XL, SVG. Documents: HTML, XML, PDF, JSON-ish
    text is ``text/plain``; other binary data is ``application/octet-stream``.

    >>> sniff_content_type(bytes.fromhex("89504e470d0a1a0a") + b"...")
    'image/png'
    """
    if not data:
        return None
    head = data[:512]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"BM") and len(head) >= 18 and head[6:10] == b"\x00\x00\x00\x00":
        return "image/bmp"  # "BM" alone is too weak: also check the reserved (zero) header words
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "image/x-icon"
    if head[4:8] == b"ftyp" and head[8:12] in _ISO_BMFF_BRANDS:
        return _ISO_BMFF_BRANDS[head[8:12]]
    video = _sniff_video(data)
    if video is not None:
        return video
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "image/jxl"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"

    text = _strip_text_prefix(head)
    lowered = text[:256].lower()
    if lowered.startswith((b"<?xml", b"<svg", b"<!doctype svg")):
        # An XML document: SVG if <svg> comes before any <html>, XHTML if it has <html>, else XML.
        window = data[:4096].lower()
        svg_at, html_at = window.find(b"<svg"), window.find(b"<html")
        if svg_at != -1 and (html_at == -1 or svg_at < html_at):
            return "image/svg+xml"
        if html_at != -1:
            return HTML_TYPE
        return "application/xml"
    for tag in _HTML_TAGS:
        if lowered.startswith(tag):
            after = lowered[len(tag) : len(tag) + 1]
            if after in (b" ", b">", b"\t", b"\n", b"\r", b"\x0c", b"/") or (tag == b"<!--" and after):
                return HTML_TYPE
    if any(byte in _BINARY_BYTES for byte in head):
        return "application/octet-stream"
    return "text/plain"


# ISO base media (MP4, MOV, 3GP): the ``ftyp`` box's major brand; any other brand is MP4 (isom, mp41, avc1,
# dash, M4V ...). Image brands (AVIF, HEIC) are decided before this.
_VIDEO_BRANDS = {b"qt  ": "video/quicktime", b"3gp": "video/3gpp", b"3g2": "video/3gpp"}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_TS_PACKET = 188


def _sniff_video(data: bytes) -> str | None:
    """The video container ``data`` starts with, or None: MP4/MOV/3GP (``ftyp``, or a bare QuickTime atom),
    WebM/Matroska (EBML), AVI (RIFF), MPEG-TS (a 0x47 sync byte every 188 bytes, or every 192 in M2TS), FLV,
    MPEG-PS (pack header), Ogg."""
    head = data[:64]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return _VIDEO_BRANDS.get(brand) or _VIDEO_BRANDS.get(brand[:3]) or "video/mp4"
    if head[4:8] in _QUICKTIME_ATOMS and head[0] == 0 and int.from_bytes(head[:4], "big") >= 8:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: the DocType says WebM or Matroska
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video/mpeg"  # an MPEG program stream's pack header, or an elementary stream's sequence header
    if head.startswith(b"OggS") and b"theora" in data[:128].lower():
        return "video/ogg"
    for offset, stride in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):  # MPEG-TS; M2TS has a 4-byte prefix
        packets = min(4, (len(data) - offset - 1) // stride + 1)
        if packets >= 3 and all(data[offset + k * stride] == 0x47 for k in range(packets)):
            return "video/mp2t"
    return None


def is_video_type(content_type: str | None) -> bool:
    return content_type in VIDEO_TYPES


def _strip_text_prefix(head: bytes) -> bytes:
    """Drop a byte-order mark and leading whitespace."""
    for bom in (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe"):
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    return head.lstrip(b" \t\n\r\x0c")


def is_image_type(content_type: str | None) -> bool:
    return content_type in IMAGE_TYPES


def declared_mime(header: str | None) -> str | None:
    """``'text/HTML; charset=utf-8'`` -> ``'text/html'``; None for a missing or empty header."""
    if not header:
        return None
    mime = header.split(";", 1)[0].strip().lower()
    return mime or None


def is_html(sniffed: str | None, declared: str | None) -> bool:
    """Whether a page body should be parsed as HTML.

    HTML by its bytes; or declared HTML and not sniffed as something else (pages that start with plain text
    before the first tag are still pages).
    """
    if sniffed == HTML_TYPE:
        return True
    return sniffed in (None, "text/plain") and declared_mime(declared) in HTML_DECLARED_TYPES
