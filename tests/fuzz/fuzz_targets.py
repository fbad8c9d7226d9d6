"""The fuzz targets: one function per parser that takes raw bytes and checks the parser's contract.

Each ``check_*`` function feeds its input to one parser and raises :class:`ContractViolation` when the parser
breaks its contract (the contracts are in each function's docstring). Any other exception escaping a target is
a crash: a parser that raised what it promised never to raise. The same functions serve the Hypothesis tests
(``test_fuzz_*.py``, bounded, in ``make test``) and the coverage-guided atheris runs (``fuzz_runner.py``,
``make fuzz``), so a contract is written down once.

Nothing here writes an image anywhere but a directory the caller passes (pytest's ``tmp_path``), and no check
message quotes an image's bytes: image targets report exception types and code locations only.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["TARGETS", "ContractViolation"]


class ContractViolation(AssertionError):
    """A parser returned something its contract rules out (an exception of its own kind is not this)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def _text(data: bytes) -> str:
    """Fuzz bytes as text: UTF-8 with surrogate escapes, so every byte string maps to a distinct str (lone
    surrogates included: they reach the parsers from HTML attributes and percent-decoding)."""
    return data.decode("utf-8", errors="surrogateescape")


# ---------------------------------------------------------------- URL normalisation

_URL_KINDS = frozenset({"invalid_url", "unsupported_scheme"})
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def check_normalized(url: str) -> None:
    """What every URL that leaves ``normalize_url`` must be: http(s), no whitespace or control characters, a
    lower-case host, and a fixed point of the normalisation (normalising it again gives it back)."""
    from urllib.parse import urlsplit

    from hashwatch.crawling.url_rules import normalize_url

    _require(url.startswith(("http://", "https://")), f"not http(s): {url!r}")
    _require(not _BAD_URL_CHARS.search(url), f"whitespace or control character in {url!r}")
    _require(url.isascii(), f"non-ASCII character in {url!r}")
    netloc = urlsplit(url).netloc
    _require(netloc == netloc.lower(), f"host not lower-cased in {url!r}")
    _require("@" not in netloc, f"credentials kept in {url!r}")
    again = normalize_url(url)
    _require(again == url, f"not idempotent: {url!r} -> {again!r}")


def check_url(data: bytes) -> None:
    """URL normalisation: ``normalize_url(url, base=...)`` returns a normalised URL (see
    :func:`check_normalized`) or raises its own ``UrlError`` with a kind (invalid_url | unsupported_scheme);
    never any other exception. The input's first line is the URL, the second (if any) its base."""

    url, _, base = _text(data).partition("\n")
    check_url_text(url, base.partition("\n")[0] or None)


def check_url_text(url: str, base: str | None = None) -> None:
    """:func:`check_url` on text: ``url`` alone, and resolved against ``base`` when one is given."""
    from hashwatch.crawling.url_rules import UrlError, normalize_url, scheme_of

    for b in (None, base) if base is not None else (None,):
        try:
            out = normalize_url(url, base=b)
        except UrlError as exc:
            _require(exc.kind in _URL_KINDS, f"UrlError kind {exc.kind!r}")
            continue
        check_normalized(out)
    scheme_of(url)


# ---------------------------------------------------------------- HTML extraction

PAGE_URL = "http://site.test/dir/page.html"
MAX_URL_LENGTH = 2048
MAX_DATA_URI_BYTES = 4096


def check_html(data: bytes) -> None:
    """HTML extraction: ``extract_page`` never raises on any bytes; it returns only normalised http(s) URLs
    (images and links, each at most ``max_url_length`` long) and inline images known by their
    ``data:<mime>;sha256=<hex>`` id whose body, when kept, is within ``max_data_uri_bytes``."""
    from hashwatch.crawling.html_extract import extract_page

    for obey in (True, False):
        page = extract_page(
            data,
            PAGE_URL,
            max_url_length=MAX_URL_LENGTH,
            max_data_uri_bytes=MAX_DATA_URI_BYTES,
            obey_meta_robots=obey,
        )
        for url in (*page.image_urls, *page.links):
            _require(len(url) <= MAX_URL_LENGTH, f"URL over the length cap ({len(url)})")
            check_normalized(url)
        _require(len(set(page.image_urls)) == len(page.image_urls), "duplicate image URLs")
        _require(not set(page.links) & set(page.image_urls), "a URL both link and image")
        for image in page.data_images:
            _check_data_image(image, MAX_DATA_URI_BYTES)
        for raw, kind in page.skipped_links:
            _require(kind == "unsupported_scheme", f"skipped link kind {kind!r}")
            _require(len(raw) <= MAX_URL_LENGTH, "skipped link over the length cap")
        _require(page.dropped >= 0, "negative dropped count")
        if page.nofollow:
            _require(obey and not page.links, "nofollow page with links")


# ---------------------------------------------------------------- data: URIs

_DATA_KINDS = frozenset({"data_uri_too_large", "invalid_url"})
_DATA_ID = re.compile(r"data:image/[a-z0-9/+.-]*;sha256=[0-9a-f]{64}")


def _check_data_image(image, max_bytes: int) -> None:
    _require(bool(_DATA_ID.fullmatch(image.uri_id)), f"bad data: id {image.uri_id[:80]!r}")
    _require(image.uri_id.startswith(f"data:{image.mime};"), "id and mime differ")
    if image.body is None:
        _require(image.error_kind in _DATA_KINDS, f"no body and error kind {image.error_kind!r}")
        _require(bool(image.error_message) and "\n" not in image.error_message, "bad error message")
    else:
        _require(image.error_kind is None, "a body and an error kind")
        _require(len(image.body) <= max_bytes, f"body of {len(image.body)} bytes over the cap {max_bytes}")
        _require(image.decoded_length == len(image.body), "decoded_length is not the body's length")
    if image.error_kind == "data_uri_too_large":
        _require(image.decoded_length > max_bytes, "too large but within the cap")


def check_data_uri(data: bytes) -> None:
    """``data:`` URIs: ``parse_data_uri(uri, max_bytes)`` returns None (not an image data URI) or a
    :class:`DataUriImage` that either holds the decoded body (within ``max_bytes``) or none with an error kind
    (data_uri_too_large | invalid_url); never raises. The first input byte picks the cap (0..1020 bytes)."""
    from hashwatch.crawling.data_uri import parse_data_uri

    if not data:
        return
    cap = data[0] * 4
    uri = _text(data[1:])
    for candidate in (uri, "data:" + uri, "data:image/png;base64," + uri):
        image = parse_data_uri(candidate, cap)
        if image is not None:
            _check_data_image(image, cap)


# ---------------------------------------------------------------- robots.txt

_ROBOTS_URLS = (
    "http://site.test/",
    "http://site.test/private/x.html",
    "http://site.test/a%2Fb?q=1",
    "http://site.test/%E2%82%AC/*$",
)


def check_robots(data: bytes) -> None:
    """robots.txt: any 2xx body parses (``rules_from_fetch`` never raises) and every question gets an
    answer: ``verdict`` returns allowed or disallowed with a known decision, and ``crawl_delay`` a float or
    None; never an exception. The input is the body; its first line is also asked about as a URL path."""
    from hashwatch.crawling.robots import rules_from_fetch, verdict
    from hashwatch.crawling.url_rules import UrlError, normalize_url
    from schemas.outcomes import ROBOTS_DECISIONS

    rules = rules_from_fetch(200, data, None, None)
    path = _text(data).partition("\n")[0][:200]
    urls = list(_ROBOTS_URLS)
    with contextlib.suppress(UrlError):  # the crawler asks about normalised URLs only
        urls.append(normalize_url("http://site.test/" + path.lstrip("/")))
    for agent in ("hashwatch", "*", path[:20] or "x"):
        delay = rules.crawl_delay(agent)
        _require(delay is None or isinstance(delay, float), f"crawl delay {delay!r}")
        for url in urls:
            v = verdict(rules, url, agent, False)
            _require(isinstance(v.allowed, bool) and v.decision in ROBOTS_DECISIONS, f"verdict {v!r}")
            _require(v.allowed or v.error_kind == "robots_disallowed", f"verdict {v!r}")


# ---------------------------------------------------------------- list files

LIST_FORMATS = (".csv", ".tsv", ".txt", ".parquet", ".csv.gz", ".tsv.gz", ".lst", ".txt.gz")


def _one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "\r" not in message


def check_list_file(path: str) -> None:
    """List parsers (CSV, TSV, Parquet, pytx lines, gzip): ``read_list``, ``load_lists`` and
    ``read_tombstones`` either load the file or raise ``UserError`` with a one-line message that names the
    file; never a bare traceback type (UnicodeDecodeError, KeyError, IndexError, csv.Error, pyarrow errors).
    With ``skip_invalid=True`` the same holds, and a file that loads without it loads with it too."""
    from hashwatch.errors import UserError
    from hashwatch.hashing.known_hash_list import load_lists
    from hashwatch.hashing.list_file import read_list
    from hashwatch.hashing.list_tombstones import read_tombstones

    strict_ok = True
    for skip in (False, True):
        for reader in (read_list, lambda p, skip_invalid: load_lists([p], skip_invalid=skip_invalid)):
            try:
                reader(path, skip_invalid=skip)
            except UserError as exc:
                message = str(exc)
                _require(_one_line(message), f"UserError message is not one line: {message!r}")
                _require(path in message, f"UserError does not name the file: {message!r}")
                if skip:
                    _require(not strict_ok, f"loads strictly but not with skip_invalid: {message!r}")
                else:
                    strict_ok = False
    try:
        read_tombstones([path])
    except UserError as exc:
        _require(path in str(exc) and _one_line(str(exc)), f"bad tombstone error {str(exc)!r}")


def check_list(data: bytes) -> None:
    """:func:`check_list_file` on the input written to a file; the first byte picks the file name's ending
    (``LIST_FORMATS``), the rest is the content (``.csv.gz`` and ``.tsv.gz`` get it gzipped; ``.txt.gz`` is
    written as it is, so damaged gzip streams are tried too)."""
    import gzip

    if not data:
        return
    suffix = LIST_FORMATS[data[0] % len(LIST_FORMATS)]
    body = data[1:]
    if suffix in (".csv.gz", ".tsv.gz"):
        body = gzip.compress(body, mtime=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "list" + suffix)
        Path(path).write_bytes(body)
        check_list_file(path)


# ---------------------------------------------------------------- index files

INDEX_PROBES = {
    "md5": ["0" * 32, "f" * 32],
    "sha256": ["0" * 64],
    "phash": ["0" * 16, "f" * 16, "0123456789abcdef"],
    "dhash": ["0" * 16, "8000000000000001"],
    "pdq": ["0" * 64, "f" * 64, "0123456789abcdef" * 4],
}


def check_index_file(path: str) -> None:
    """The index reader: ``KnownHashIndex.load`` (with and without ``verify``) either opens the file or raises
    ``UserError`` (one line, naming the file); an index it opened answers ``lookup``, ``match_many`` and
    ``query_hits`` or raises ``UserError``. Never a numpy or Python error (IndexError, ValueError, KeyError,
    TypeError, UnicodeDecodeError...), never a crash of the C extension (a segfault kills the fuzzer, which
    records it), never an out-of-bounds read."""
    import numpy as np

    from hashwatch.errors import UserError
    from hashwatch.hashing.image_hashes import ImageHashes
    from hashwatch.hashing.known_hash_index import KnownHashIndex

    for verify in (False, True):
        try:
            index = KnownHashIndex.load(path, verify=verify)
        except UserError as exc:
            _require(_one_line(str(exc)) and path in str(exc), f"bad index error {str(exc)!r}")
            continue
        try:
            index.describe()
            for name, values in INDEX_PROBES.items():
                for radius in (None, 0, 8):
                    index.lookup(name, values, radius)
                raw = np.frombuffer(bytes.fromhex("".join(values)), np.uint8).reshape(len(values), -1)
                index.query_hits(name, raw)
            probe = ImageHashes(
                bytes_length=1,
                md5="0" * 32,
                sha1="0" * 40,
                sha256="0" * 64,
                crc32c="0" * 8,
                phash="0" * 16,
                dhash="0" * 16,
                pdq="0" * 64,
                pdq_dihedral=tuple("f" * 64 for _ in range(7)),
            )
            index.match_many([probe, probe])
        except UserError as exc:
            _require(_one_line(str(exc)) and path in str(exc), f"bad index error {str(exc)!r}")


def check_index(data: bytes) -> None:
    """:func:`check_index_file` on the input written to a file (the seeds are real index files)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzzed.hwidx")
        Path(path).write_bytes(data)
        check_index_file(path)


# ---------------------------------------------------------------- image decode


def check_image(data: bytes) -> None:
    """Image decode (``decode_image`` and ``compute_image_hashes``, which the pipeline calls): any bytes give
    a result with a known ``decode_status`` (ok, too_small, decode_error, too_many_pixels, unsupported_format,
    ...) and a one-line message that never quotes the data; never an exception, never a MemoryError. An ok
    image has a working image within ``max_decoded_pixels``; a too_many_pixels one declared or needed more.
    Time and memory per input are bounded by the runner (libFuzzer's ``-timeout`` and ``-rss_limit_mb``; the
    Hypothesis tests time each input)."""
    from hashwatch.hashing.decode import DEFAULT_DECODE_CONFIG, DecodeStatus, decode_image
    from hashwatch.hashing.image_hashes import compute_image_hashes

    try:
        decoded = decode_image(data)
        hashes = compute_image_hashes(data)
    except Exception as exc:
        # Never pass the exception's text on: decoder messages can quote the image's bytes.
        raise ContractViolation(f"decode path raised {_where(exc)}") from None
    for status, message in (
        (decoded.status, decoded.error_message),
        (hashes.decode_status, hashes.error_message),
    ):
        _require(status in DecodeStatus.ALL, f"unknown status {status!r}")
        if message is not None:
            _require(_one_line(message), "multi-line error message")
            _require("b'" not in message and "\\x" not in message, "error message quotes bytes")
    _require(hashes.decode_status in (decoded.status, DecodeStatus.HASH_ERROR), "decode and hash disagree")
    _require(hashes.decode_status != DecodeStatus.HASH_ERROR, f"hash_error: {hashes.error_message}")
    if decoded.status == DecodeStatus.OK:
        w, h = decoded.image.size
        _require(w * h <= DEFAULT_DECODE_CONFIG.max_decoded_pixels, "working image over the pixel cap")
        _require(hashes.phash is not None and hashes.dhash is not None, "ok without perceptual hashes")


def _where(exc: BaseException) -> str:
    """An exception's type and innermost code location: no message (it may hold image bytes)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    at = f" at {os.path.basename(last.filename)}:{last.lineno} in {last.name}" if last else ""
    return f"{type(exc).__name__}{at}"


# ---------------------------------------------------------------- registry

TARGETS: dict[str, Callable[[bytes], None]] = {
    "url": check_url,
    "html": check_html,
    "data_uri": check_data_uri,
    "robots": check_robots,
    "list": check_list,
    "index": check_index,
    "image": check_image,
}
