"""Inline ``data:`` images: decoded in memory, identified by the SHA-256 of their bytes, never shown.

An inline data URI *is* image content, so it is never logged, emitted or stored: everywhere outside this
module it is known only by its id ``data:<mime>;sha256=<hex of the decoded bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes


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
    if not sep or head[:5].lower() != "data:":
        return None
    params = [p.strip() for p in head[5:].split(";")]
    mime = (params[0] or "text/plain").lower()
    # ASCII only (RFC 2045 tokens): str.isalnum() also passes "ŧ", which then went into the id (found by fuzzing)
    if not mime.startswith("image/") or not all(c.isascii() and (c.isalnum() or c in "/+-.") for c in mime):
        return None
    is_base64 = any(p.lower() == "base64" for p in params[1:])
    error = None
    try:
        if is_base64:
            compact = "".join(payload.split())
            compact += "=" * (-len(compact) % 4)
            decoded = base64.b64decode(unquote_to_bytes(compact), validate=True)
        else:
            decoded = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        decoded = payload.encode("utf-8", errors="replace")
        error = ("invalid_url", "malformed base64 in an inline data: image")
    uri_id = data_uri_id(mime, decoded)
    if error is not None:
        return DataUriImage(uri_id, mime, len(decoded), None, *error)
    if len(decoded) > max_bytes:
        return DataUriImage(
            uri_id,
            mime,
            len(decoded),
            None,
            "data_uri_too_large",
            f"inline image of {len(decoded)} bytes is over the {max_bytes} byte cap (--max-data-uri-bytes)",
        )
    return DataUriImage(uri_id, mime, len(decoded), decoded)
