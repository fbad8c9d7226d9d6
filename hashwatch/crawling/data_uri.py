"""Inline ``data:`` images: decoded in memory, identified by the SHA-256 of their bytes, never shown.

An inline data URI *is* image content, so it is never logged, emitted or stored: everywhere outside this
module it is known only by its id ``data:<mime>;sha256=<hex of the decoded bytes>``.

w3lib's :func:`w3lib.url.parse_data_uri` checks the scheme and percent-decodes the body. It follows RFC 2397 to
the letter, and browsers do not: we read the header as Chromium does (``net::DataURL::Parse``), so what we hash
is what a page shows::

    data:image/svg+xml;utf8,<svg ...>      a parameter without "=": ignored (w3lib refuses the URI)
    data:image/png;BASE64,...              the base64 flag in any case, with spaces, anywhere among the
    data:image/png; base64;charset=x,...   parameters (w3lib: exactly ";base64", last)
    data:image/gif;base64,R0lGODlhAQABAA   padding optional (w3lib: binascii.Error)
    data:image/png;base64,iVBO!!Rw0K       a character outside the alphabet is malformed (w3lib drops it)
    data:image/png;base64                  no comma: not a data URI (w3lib: an empty body)
    data:image%2Fpng,...                   the media type is not percent-decoded (w3lib decodes it)

tests/crawling/test_data_uri.py pins each of these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from w3lib.url import parse_data_uri as parse_rfc2397

# The id is the image's URL in every output: its media type keeps to the characters registered image types use
# (IANA: letters, digits, "+", "-", "."), so no "%", "#", "&" or non-ASCII letter reaches a tool that parses
# it ("ŧ".isalnum() once let one through: found by fuzzing). One subtype, not empty. Matched before lower-casing,
# ASCII only: "\u212a".lower() is "k".
_IMAGE_MIME = re.compile(r"image/[a-z0-9+.-]+", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class DataUriImage:
    """One decoded inline image. ``body`` is None when it was over the size cap or malformed."""

    uri_id: str  # data:<mime>;sha256=<hex>
    mime: str
    decoded_length: int
    body: bytes | None = field(repr=False, default=None)
    error_kind: str | None = None  # data_uri_too_large | invalid_url (malformed)
    error_message: str | None = None


def data_uri_id(mime: str, decoded: bytes) -> str:
    return f"data:{mime};sha256={hashlib.sha256(decoded).hexdigest()}"


def parse_data_uri(uri: str, max_bytes: int) -> DataUriImage | None:
    """Decode an inline ``data:image/...`` URI; None when it is not an image data URI at all.

    A body over ``max_bytes`` (decoded) is still hashed for its id (the page that carried it is already in
    memory, within the page cap) but not handed on: ``error_kind`` says ``data_uri_too_large``.
    """
    head, sep, payload = uri.strip().partition(",")
    if not sep:
        return None
    scheme, _, header = head.partition(":")
    media_type, *params = (p.strip() for p in header.split(";"))
    if not _IMAGE_MIME.fullmatch(media_type):
        return None
    mime = media_type.lower()
    try:
        parsed = parse_rfc2397(f"{scheme}:{mime},{payload}".encode("utf-8", "surrogatepass"))
    except ValueError:  # not data:
        return None
    decoded = parsed.data
    if any(p.lower() == "base64" for p in params):
        try:
            decoded = _forgiving_base64(decoded)
        except binascii.Error:
            raw = payload.encode("utf-8", errors="replace")
            return DataUriImage(
                data_uri_id(mime, raw),
                mime,
                len(raw),
                None,
                "invalid_url",
                "malformed base64 in an inline data: image",
            )
    if len(decoded) > max_bytes:
        return DataUriImage(
            data_uri_id(mime, decoded),
            mime,
            len(decoded),
            None,
            "data_uri_too_large",
            f"inline image of {len(decoded)} bytes is over the {max_bytes} byte cap (--max-data-uri-bytes)",
        )
    return DataUriImage(data_uri_id(mime, decoded), mime, len(decoded), decoded)


def _forgiving_base64(text: bytes) -> bytes:
    """Base64 as browsers decode it (WHATWG "forgiving-base64"), after percent-decoding: ASCII white space
    ignored (attributes wrap long bodies), padding optional; any other byte outside the alphabet raises
    :class:`binascii.Error`."""
    compact = text.translate(None, b" \t\n\f\r")
    return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
