"""Base64, hex and escaped-byte runs in text, found without being told where, and decoded (bounded).

A leak of image bytes into a text output is most likely encoded: base64 (standard or URL-safe, wrapped at 64
or 76 columns or not, padded or not, maybe percent-encoded in a URL or with JSON's ``\\/``), hex (either
case), or Python/JSON escapes (``b'\\xff\\xd8...'``, ``"\\u00ff\\u00d8..."``). :func:`encoded_runs` finds such
runs in a buffer and hands each one over decoded at every alignment it could have (4 for base64, 2 for hex,
since a run may start mid-group), for the caller to check for signatures and content runs.

Which runs are decoded, and why (hashwatch's outputs are full of hex hashes of 4-64 bytes and URL pieces, so
looking at every run would be slow and find signatures by chance):

- a run holding the base64/hex text of a signature's first bytes (:data:`_LITERALS`, one Aho-Corasick pass);
- a run long enough to matter: :data:`LONG_RUN_BYTES` decoded bytes (longer than any hash), or
  :data:`CONTENT_RUN_BYTES` when reference images are given (a 64-byte content run).

A run that decodes to :data:`BLOB_BYTES` or more of binary data (no alignment decodes to text) whose
characters have high entropy (:data:`_MIN_CHAR_ENTROPY`) is itself a finding: a fragment of an image has no
signature, and hashwatch's outputs hold no such blobs (a 2048-bit RSA signature in a signed URL decodes to 256
bytes, below the limit).

>>> import base64
>>> run = next(encoded_runs(b"log line " + base64.b64encode(bytes(range(200))) + b" end"))
>>> run.coding, run.start, len(run.phases[0])
('base64', 9, 198)
"""

from __future__ import annotations

import binascii
import codecs
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from ahocorasick_rs import BytesAhoCorasick

from hashwatch.audit.signatures import prefix_literals

__all__ = ["BLOB_BYTES", "CONTENT_RUN_BYTES", "LONG_RUN_BYTES", "EncodedRun", "encoded_runs"]

LONG_RUN_BYTES = 96  # longer than any hash hashwatch writes
CONTENT_RUN_BYTES = 64  # the content-run length (--images)
BLOB_BYTES = 512
_WINDOW_CHARS = 1 << 20  # a longer run is decoded a window at a time (bounded memory)
_WINDOW_OVERLAP = 176  # characters: a 64-byte content run fits in 88 base64 or 128 hex characters
_WRAP_MIN = 40  # wrapped base64 lines are 64 or 76 characters; a shorter equal-width column is not a wrap
# Bits per character above which a binary run is a blob. Measured here on 768-byte samples: random and
# JPEG/PNG/WebP/GIF middles 5.88-5.96 (base64) and 3.86-3.99 (hex), raw BMP pixels 5.45 / 3.86; the Arrow
# schema (a flatbuffer) in every Parquet footer 3.41 / 3.58.
_MIN_CHAR_ENTROPY = {"base64": 5.0, "base64url": 5.0, "hex": 3.5}
_MIN_ESCAPED_ENTROPY = 6.0  # bits per decoded byte: raw BMP pixels 6.9, JPEG 7.56 on the same samples

_SIGNATURE_STARTS = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF8",
    b"RIFF",
    b"II*\x00",
    b"MM\x00*",
    b"\x1a\x45\xdf\xa3",
    b"ftyp",
    b"FLV\x01",
    b"moov",
    b"fcTL",
    b"acTL",
    b"ANMF",
]


def _signature_literals() -> list[bytes]:
    literals: set[bytes] = set()
    for start in _SIGNATURE_STARTS:
        for literal in prefix_literals(start):
            literals.add(literal)
            literals.add(literal.translate(bytes.maketrans(b"+/", b"-_")))
        literals.add(start.hex().encode())
        literals.add(start.hex().upper().encode())
    return sorted(literals)


_LITERALS = _signature_literals()
_SEARCH = BytesAhoCorasick(_LITERALS)
_SLICE = 1 << 20  # the matches of a slice are Python tuples: bounded however many a pathological text has


def _literal_hits(buf: bytes) -> np.ndarray:
    """Where any signature literal occurs, and the payload of every ``base64,`` data URI.

    Aho-Corasick (ahocorasick-rs) over all literals at once: 27 ms for 7.8 MB of hash columns, against
    469 ms for a bytes.find pass per literal and about 1.4 s for one regex alternation (docs/benchmarks.md)."""
    view = memoryview(buf)
    longest = max(len(literal) for literal in _LITERALS)
    hits = []
    for start in range(0, len(buf), _SLICE):
        piece = view[start : start + _SLICE + longest - 1]
        hits += [start + at for _, at, _ in _SEARCH.find_matches_as_indexes(piece)]
    at = buf.find(b"base64,")
    while at >= 0:
        hits.append(at + 7)  # a data URI's payload is decoded whatever its length
        at = buf.find(b"base64,", at + 1)
    return np.unique(np.array(hits, dtype=np.int64))


def _lut(chars: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    return table


_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CLASSES = {
    "base64": _lut(_ALNUM + b"+/"),
    "base64url": _lut(_ALNUM + b"-_"),
    "hex": _lut(b"0123456789abcdefABCDEF"),
}
_CHARS_PER_BYTE = {"base64": 4 / 3, "base64url": 4 / 3, "hex": 2.0}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


@dataclass
class EncodedRun:
    """One decoded run (or one window of a long run). ``phases``: its bytes at each alignment."""

    start: int  # offset of its first character in the buffer
    coding: str  # base64 | base64url | hex | escaped
    chars: int  # characters in the whole run (separators excluded)
    phases: list[bytes]
    first_window: bool = True
    after_data_uri: bool = False  # preceded by "base64,"
    blob: str | None = None  # a blob finding's detail, on the first window only


def _char_entropy(text: bytes) -> float:
    counts = np.bincount(np.frombuffer(text, dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / len(text)
    return float(-(p * np.log2(p)).sum())


def _is_text(data: bytes) -> bool:
    try:
        text, _ = codecs.utf_8_decode(data, "strict", False)
    except UnicodeDecodeError:
        return False
    controls = sum(1 for c in text if c < " " and c not in "\t\r\n")
    return len(text) > 0 and controls <= len(text) // 20


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).view(np.int8)))
    return edges[0::2], edges[1::2]


def _separator(buf: bytes, end: int) -> int:
    """Length of the line break at ``buf[end:]`` (CR/LF bytes, at most 4: CRLF, or an escaped one made real)."""
    n = 0
    while n < 4 and end + n < len(buf) and buf[end + n] in b"\r\n":
        n += 1
    return n


def _chains(
    buf: bytes, starts: np.ndarray, ends: np.ndarray, keep: np.ndarray, wrapped: bool
) -> Iterator[tuple[list[tuple[int, int]], bool]]:
    """Runs as lists of pieces, each with whether a piece of it is in ``keep``: wrapped base64 (lines of one
    width, the last one shorter or equal) joined, other runs alone. A wrapped run is worth decoding when a
    piece of it is, or when it is long enough as a whole (the caller checks its length)."""
    widths = ends - starts
    n = len(starts)
    wrap = np.zeros(n, dtype=bool)
    if wrapped and n > 1:
        gaps = starts[1:] - ends[:-1]
        arr = np.frombuffer(buf, dtype=np.uint8)
        breaks = (arr[ends[:-1]] == 10) | (arr[ends[:-1]] == 13)
        wrap[:-1] = (widths[:-1] >= _WRAP_MIN) & (gaps <= 4) & breaks & (widths[1:] <= widths[:-1])
    done = -1
    for i in np.flatnonzero(keep | wrap).tolist():
        if i <= done:
            continue
        chain = [(int(starts[i]), int(ends[i]))]
        j = i
        while wrap[j] and _separator(buf, int(ends[j])) == starts[j + 1] - ends[j]:
            chain.append((int(starts[j + 1]), int(ends[j + 1])))
            j += 1
            if widths[j] != widths[i]:
                break  # the short last line ends the chain
        done = j
        yield chain, bool(keep[i]) if j == i else bool(keep[i : j + 1].any())


def _decode(coding: str, text: bytes) -> list[bytes]:
    if coding == "hex":
        return [bytes.fromhex(text[p : p + (len(text) - p) // 2 * 2].decode("ascii")) for p in range(2)]
    if coding == "base64url":
        text = text.translate(_TO_STANDARD)
    return [binascii.a2b_base64(text[p : p + (len(text) - p) // 4 * 4]) for p in range(4)]


def _normalise(text: bytes) -> bytes:
    # Percent-encoded (%2F, %2B) and JSON-escaped (\/) characters, marked as part of runs below.
    if b"%" in text:
        for quoted, plain in ((b"%2F", b"/"), (b"%2f", b"/"), (b"%2B", b"+"), (b"%2b", b"+")):
            text = text.replace(quoted, plain)
    return text.replace(b"\\/", b"/")


def _standard_mask(buf: bytes, arr: np.ndarray) -> np.ndarray:
    mask = _CLASSES["base64"][arr]
    if b"%2" in buf:
        pct = np.zeros(len(arr), dtype=bool)
        pct[:-2] = (arr[:-2] == ord("%")) & (arr[1:-1] == ord("2")) & np.isin(arr[2:], list(b"BbFf"))
        mask |= pct
    if b"\\/" in buf:
        mask[:-1] |= (arr[:-1] == ord("\\")) & (arr[1:] == ord("/"))
    return mask


def _blob_detail(run: EncodedRun, text: bytes) -> str | None:
    if run.chars / _CHARS_PER_BYTE[run.coding] < BLOB_BYTES:
        return None
    entropy = _char_entropy(text[: 1 << 16])
    if entropy < _MIN_CHAR_ENTROPY[run.coding] or any(_is_text(p[:4096]) for p in run.phases):
        return None
    size = run.chars / _CHARS_PER_BYTE[run.coding]
    return f"{_size(size)} of high-entropy binary data ({run.coding}, {entropy:.2f} bits/char)"


def _size(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n:.0f} bytes"


def _coded_runs(
    buf: bytes, arr: np.ndarray, coding: str, min_bytes: int, hits: np.ndarray
) -> Iterator[EncodedRun]:
    mask = _standard_mask(buf, arr) if coding == "base64" else _CLASSES[coding][arr]
    starts, ends = _runs(mask)
    if len(starts) == 0:
        return
    min_chars = math.ceil(min_bytes * _CHARS_PER_BYTE[coding])
    keep = ends - starts >= min_chars
    if len(hits):
        # A signature literal inside a run: decode that run whatever its length.
        owner = np.searchsorted(starts, hits, side="right") - 1
        inside = (owner >= 0) & (hits < ends[np.maximum(owner, 0)])
        keep[owner[inside]] = True
    # Hex lines are never joined: a file of sha256 values, one a line, looks like base64 wrapped at 64.
    for chain, kept in _chains(buf, starts, ends, keep, wrapped=coding != "hex"):
        text = b"".join(buf[s:e] for s, e in chain)
        if not kept and len(text) < min_chars:
            continue
        if coding == "base64":
            if not text.strip(b"0123456789abcdefABCDEF"):
                continue  # hex digits only: a hash (the hex pass decodes it), not base64
            if b"+" not in text and b"/" not in text and _touches(buf, chain, b"-_"):
                continue  # a piece of a URL-safe run: decoded whole there
            text = _normalise(text)
        elif coding == "base64url" and b"-" not in text and b"_" not in text:
            continue  # the same characters as a standard run: decoded there
        yield from _windows(buf, chain[0][0], coding, text)


def _touches(buf: bytes, chain: list[tuple[int, int]], chars: bytes) -> bool:
    start, end = chain[0][0], chain[-1][1]
    return (start > 0 and buf[start - 1] in chars) or (end < len(buf) and buf[end] in chars)


def _windows(buf: bytes, start: int, coding: str, text: bytes) -> Iterator[EncodedRun]:
    after_uri = buf[max(0, start - 7) : start] == b"base64,"
    step = _WINDOW_CHARS - _WINDOW_OVERLAP
    for offset in range(0, max(1, len(text) - _WINDOW_OVERLAP), step):
        window = text[offset : offset + _WINDOW_CHARS]
        try:
            phases = _decode(coding, window)
        except (binascii.Error, ValueError):
            continue
        run = EncodedRun(start, coding, len(text), phases, offset == 0, after_uri)
        if offset == 0:
            run.blob = _blob_detail(run, window)
        yield run


_ESCAPE = re.compile(rb"\\(?:x([0-9a-fA-F]{2})|u00([0-9a-fA-F]{2})|([nrt0\\'\"]))")
_SIMPLE = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"0": b"\x00", b"\\": b"\\", b"'": b"'", b'"': b'"'}
_ESCAPE_GAP = 16  # printable characters between two escapes of one run (b'\xff\xd8\xff\xe0\x00\x10JFIF...')


def _escaped_runs(buf: bytes) -> Iterator[EncodedRun]:
    """Runs of Python/C ``\\xNN`` or JSON ``\\u00NN`` escapes (a repr of bytes, latin-1 text in JSON)."""
    if b"\\x" not in buf and b"\\u00" not in buf:
        return
    spans: list[list[int]] = []
    for match in _ESCAPE.finditer(buf):
        if match.group(3) is not None:
            continue
        if spans and match.start() - spans[-1][1] <= _ESCAPE_GAP:
            spans[-1][1] = match.end()
            spans[-1][2] += 1
        else:
            spans.append([match.start(), match.end(), 1])
    for start, end, count in spans:
        if count < 4:
            continue
        data = _ESCAPE.sub(_unescape, buf[start:end])
        # A repr keeps printable bytes as they are: b'RIFF\x10...AVI ', b'FLV\x01...', b'G@\x00...' (MPEG-TS)
        # start before the first escape. A second phase has them, so such a signature is seen whole.
        lead = _printable_lead(buf, start)
        run = EncodedRun(start, "escaped", end - start, [data, lead + data] if lead else [data])
        if len(data) >= BLOB_BYTES:
            entropy = _char_entropy(data[: 1 << 16])
            if entropy >= _MIN_ESCAPED_ENTROPY:
                run.blob = (
                    f"{_size(len(data))} of high-entropy binary data (escaped, {entropy:.2f} bits/byte)"
                )
        yield run


def _printable_lead(buf: bytes, start: int) -> bytes:
    """The printable bytes (no quote, backslash or space) right before ``buf[start]``, at most _ESCAPE_GAP."""
    at = start
    while at > 0 and start - at < _ESCAPE_GAP and 0x21 <= buf[at - 1] <= 0x7E and buf[at - 1] not in b"'\"\\":
        at -= 1
    return buf[at:start]


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1) or match.group(2)
    return bytes.fromhex(code.decode()) if code else _SIMPLE[match.group(3)]


def encoded_runs(buf: bytes, min_bytes: int = LONG_RUN_BYTES) -> Iterator[EncodedRun]:
    """Every run in ``buf`` worth decoding: signature literals, runs of ``min_bytes`` or more, escapes.

    Pass ``min_bytes=CONTENT_RUN_BYTES`` when the decoded bytes will be searched for content runs."""
    if len(buf) < 8:
        return
    lines = buf
    if b"\\n" in buf or b"\\r" in buf:
        # Escaped line breaks of a wrapped run inside a JSON string: same length, so offsets still hold.
        lines = buf.replace(b"\\r\\n", b"\r\n\r\n").replace(b"\\n", b"\n\n").replace(b"\\r", b"\r\r")
    arr = np.frombuffer(lines, dtype=np.uint8)
    hits = _literal_hits(lines)
    for coding in ("base64", "base64url", "hex"):
        yield from _coded_runs(lines, arr, coding, min_bytes, hits)
    yield from _escaped_runs(buf)
