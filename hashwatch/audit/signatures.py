"""File signatures of images and videos, in raw bytes and in the bytes an encoded run decodes to.

Two kinds of check, for two kinds of data:

- :func:`raw_signatures`: the signature anywhere in a value or a text file's raw bytes. hashwatch writes text
  (URLs, hex hashes, messages, counts), where none of these byte patterns occurs by chance.
- :func:`decoded_signatures`: the signature in the bytes a base64/hex/escaped run decodes to. Such runs are
  mostly hashwatch's own hex hashes and URL pieces, which are random-looking, so a 3-byte JPEG marker turns up
  by chance: about one md5 in 70 million starts with ``ffd8ff`` and a valid marker. A *strong* signature
  (48 bits or more fixed: PNG, GIF, WebP, a JPEG whose first segment is JFIF/Exif/XMP/a quantisation table or
  is followed by a second valid marker, MP4's ``ftyp`` box with a printable brand, ...) counts anywhere; a
  *weak* one (a bare JPEG/TIFF/BMP/EBML start) counts only where the run starts with it and decodes to
  :data:`WEAK_MIN_BYTES` or more, longer than any hash hashwatch writes.

>>> [(s.offset, s.name, s.strong) for s in decoded_signatures(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(20))]
[(0, 'PNG', True)]
>>> raw_signatures(b"GIF89a...")
[(0, 'GIF')]
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "WEAK_MIN_BYTES",
    "Signature",
    "decoded_signatures",
    "prefix_literals",
    "raw_signatures",
]

# Longer than every hash hashwatch writes (sha256/PDQ 32 bytes; the "hex of 8-64 bytes").
WEAK_MIN_BYTES = 96

# Raw values and text. BMP and TIFF are short, so they are only trusted where a value/text is being scanned
# (never in raw binary blobs); BMP also needs its reserved header bytes to be zero. The video containers (MP4,
# MOV, 3GP, EBML for WebM/MKV, FLV) and the animation frame chunks hold NUL or bytes that UTF-8 text never
# holds (0xf9, a lone NUL, 0x1a); AVI is RIFF's fixed 12 bytes; MPEG-TS is checked by :func:`_mpeg_ts`.
_RAW: list[tuple[str, re.Pattern[bytes]]] = [
    ("JPEG", re.compile(rb"\xff\xd8\xff[\xc0-\xfe]")),
    ("PNG", re.compile(rb"\x89PNG\r\n\x1a\n")),
    ("GIF", re.compile(rb"GIF8[79]a")),
    ("WebP", re.compile(rb"RIFF....WEBP", re.DOTALL)),
    ("BMP", re.compile(rb"BM....\x00\x00\x00\x00", re.DOTALL)),
    ("TIFF", re.compile(rb"II\*\x00|MM\x00\*")),
    ("MP4", re.compile(rb"\x00\x00[\x00-\x01][\x08-\xff]ftyp[\x20-\x7e]{4}")),
    ("WebM/MKV", re.compile(rb"\x1a\x45\xdf\xa3")),
    ("AVI", re.compile(rb"RIFF....AVI ", re.DOTALL)),
    ("FLV", re.compile(rb"FLV\x01[\x00-\x0f]\x00\x00\x00\x09")),
    # A QuickTime file without ftyp (older MOV) starts with one of these atoms; 32-bit size, NUL-led.
    ("MOV", re.compile(rb"\x00[\x00-\x7f][\x00-\xff][\x08-\xff](?:moov|mdat|wide)")),
    # Animation frames without their file's header: a GIF graphic-control block followed by an image
    # descriptor, an APNG frame-control or animation-control chunk, a WebP animation frame (ANMF + VP8/ALPH).
    ("GIF frame", re.compile(rb"\x21\xf9\x04.{4}\x00\x2c", re.DOTALL)),
    ("APNG frame", re.compile(rb"\x00\x00\x00\x1afcTL|\x00\x00\x00\x08acTL")),
    ("WebP frame", re.compile(rb"ANMF.{20}(?:VP8[ LX]|ALPH)", re.DOTALL)),
]

# MPEG transport stream: 188-byte packets, each starting with the sync byte 0x47 (and a clear transport error
# bit). Four packets in a row, and, so that a text whose 'G's happen to fall 188 bytes apart never counts, a
# control byte (0x00-0x08, 0x0e-0x1f) among their header bytes, which UTF-8 text never holds: real packets
# carry PIDs (0x0000 PAT, 0x0100 video) and continuity counters in those bytes.
_TS_PACKET = 188
_TS_RUN = 4
_TS_CANDIDATE = re.compile(
    rb"\x47[\x00-\x7f]" + (rb".{%d}\x47[\x00-\x7f]" % (_TS_PACKET - 2)) * (_TS_RUN - 1), re.DOTALL
)
_CONTROL = frozenset([*range(0x00, 0x09), *range(0x0E, 0x20)])


def _mpeg_ts(data: bytes, start: int = 0) -> int | None:
    """The offset of the first run of :data:`_TS_RUN` MPEG-TS packets at or after ``start``, or None."""
    at = start
    while True:
        match = _TS_CANDIDATE.search(data, at)
        if match is None:
            return None
        first = match.start()
        headers = b"".join(
            data[first + k * _TS_PACKET + 1 : first + k * _TS_PACKET + 4] for k in range(_TS_RUN)
        )
        if any(b in _CONTROL for b in headers):
            return first
        at = first + 1


def _iso_brand_name(brand: bytes) -> str:
    """The container an ISO BMFF ``ftyp`` brand names: MOV (QuickTime), 3GP, else MP4 (also HEIC/AVIF)."""
    if brand == b"qt  ":
        return "MOV"
    if brand[:3] in (b"3gp", b"3g2"):
        return "3GP"
    return "MP4"


def raw_signatures(data: bytes) -> list[tuple[int, str]]:
    """``(offset, format)`` of the first occurrence of each signature in ``data`` (raw bytes)."""
    found = []
    for name, pattern in _RAW:
        match = pattern.search(data)
        if match is None:
            continue
        at = match.start()
        if name == "MP4":
            found.append((at, _iso_brand_name(data[at + 8 : at + 12])))
        elif name != "MOV" or not any(n in ("MP4", "MOV", "3GP") for _, n in found):
            found.append((at, name))  # an ISO file's own moov/mdat atoms are not a second finding
    ts = _mpeg_ts(data)
    if ts is not None:
        found.append((ts, "MPEG-TS"))
    return found


class Signature(NamedTuple):
    offset: int
    name: str
    strong: bool


# Candidates in decoded bytes; each is then judged strong or weak by _judge.
_DECODED = re.compile(
    rb"\xff\xd8\xff[\xc0-\xcf\xda-\xfe]"  # JPEG: SOI, then any marker but RSTn/SOI/EOI
    rb"|\x89PNG\r\n\x1a\n"
    rb"|GIF8[79]a"
    rb"|RIFF.{4}(?:WEBP|AVI |WAVE)"
    rb"|BM.{4}\x00\x00\x00\x00"
    rb"|II\*\x00|MM\x00\*"
    rb"|\x1a\x45\xdf\xa3"
    rb"|\x00\x00[\x00-\x01][\x08-\xff]ftyp"
    rb"|FLV\x01[\x00-\x0f]\x00\x00\x00\x09"
    rb"|\x00[\x00-\x7f][\x00-\xff][\x08-\xff](?:moov|mdat|wide)"
    rb"|\x21\xf9\x04.{4}\x00\x2c"
    rb"|\x00\x00\x00\x1afcTL|\x00\x00\x00\x08acTL"
    rb"|ANMF.{20}(?:VP8[ LX]|ALPH)",
    re.DOTALL,
)
_JPEG_FIRST_SEGMENTS = (
    (0xE0, 6, b"JFIF\x00"),
    (0xE0, 6, b"JFXX\x00"),
    (0xE1, 6, b"Exif\x00\x00"),
    (0xE1, 6, b"http://ns.adobe.com/"),
    (0xEE, 6, b"Adobe"),
)


def _jpeg_strong(data: bytes, at: int) -> bool:
    marker = data[at + 3]
    for want_marker, offset, ident in _JPEG_FIRST_SEGMENTS:
        if marker == want_marker and data[at + offset : at + offset + len(ident)] == ident:
            return True
    if marker == 0xDB and data[at + 4 : at + 6] in (b"\x00\x43", b"\x00\x84", b"\x00\xc5"):
        return True  # one, two or three 8-bit quantisation tables
    # Otherwise the first segment must end where a second valid marker starts.
    if len(data) < at + 6:
        return False
    after = at + 4 + int.from_bytes(data[at + 4 : at + 6], "big")
    return (
        data[at + 4 : at + 6] >= b"\x00\x02"
        and len(data) >= after + 2
        and data[after] == 0xFF
        and 0xC0 <= data[after + 1] <= 0xFE
        and not 0xD0 <= data[after + 1] <= 0xD9
    )


def _judge(data: bytes, at: int) -> tuple[str, bool]:
    head = data[at : at + 4]
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG", _jpeg_strong(data, at)
    if head == b"\x89PNG":
        return "PNG", True
    if head == b"GIF8":
        return "GIF", True
    if head == b"RIFF":
        kind = data[at + 8 : at + 12]
        return {b"WEBP": "WebP", b"AVI ": "AVI"}.get(kind, "RIFF"), kind != b"WAVE"
    if head[:2] == b"BM":
        # The info header's size is one of the few BMP versions', its high bytes zero.
        size = data[at + 14 : at + 18]
        return "BMP", len(size) == 4 and size[0] in (12, 40, 52, 56, 64, 108, 124) and size[1:] == b"\x00" * 3
    if head in (b"II*\x00", b"MM\x00*"):
        first_ifd = data[at + 4 : at + 8]
        return "TIFF", first_ifd in (b"\x08\x00\x00\x00", b"\x00\x00\x00\x08")
    if head == b"\x1a\x45\xdf\xa3":
        doc = data[at + 4 : at + 64]
        return "WebM/MKV", b"webm" in doc or b"matroska" in doc
    if head == b"FLV\x01":
        return "FLV", True  # 9 fixed bytes (72 bits) but the flags
    if head[:3] == b"\x21\xf9\x04":
        return "GIF frame", True  # 6 fixed bytes and a block structure
    if data[at + 4 : at + 8] in (b"fcTL", b"acTL"):
        return "APNG frame", True  # a 4-byte length that must be 26 or 8, and the chunk type
    if head == b"ANMF":
        return "WebP frame", True
    atom = data[at + 4 : at + 8]
    if atom in (b"moov", b"mdat", b"wide"):
        # A movie header box first in moov is a strong sign; a bare mdat/wide atom only where a run starts.
        return "MOV", atom == b"moov" and data[at + 12 : at + 16] == b"mvhd"
    # ISO BMFF (MP4, MOV, 3GP, HEIC, AVIF): a printable brand after "ftyp".
    brand = data[at + 8 : at + 12]
    strong = len(brand) == 4 and all(0x20 <= b <= 0x7E for b in brand) and brand.strip() != b""
    return _iso_brand_name(brand), strong


def decoded_signatures(data: bytes) -> list[Signature]:
    """Every signature in ``data`` (the bytes an encoded run decodes to), judged strong or weak."""
    found = []
    for match in _DECODED.finditer(data):
        name, strong = _judge(data, match.start())
        if name in ("RIFF",):  # WAVE audio: not an image or video
            continue
        found.append(Signature(match.start(), name, strong))
    ts = _mpeg_ts(data) if len(data) >= _TS_PACKET * (_TS_RUN - 1) + 4 else None
    if ts is not None:  # 4 sync bytes at 188 and a control byte: 2^-32 at a random position
        found.append(Signature(ts, "MPEG-TS", True))
    return found


def prefix_literals(signature: bytes) -> set[bytes]:
    """The base64 text every encoding of ``signature`` contains, at each of the 3 byte alignments.

    Base64 maps 3 bytes to 4 characters, so a signature that starts at byte offset ``3k + shift`` shows as the
    characters fully determined by its bits: ``/9j/`` for JPEG's ``ff d8 ff`` at shift 0.

    >>> sorted(prefix_literals(b"\\xff\\xd8\\xff"))
    [b'/2P', b'/9j/', b'/Y/']
    """
    import base64

    literals = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + signature)
        first = -(-8 * shift // 6)  # the first character whose 6 bits all come from the signature
        last = 8 * (shift + len(signature)) // 6
        if last - first >= 2:
            literals.add(encoded[first:last])
    return literals
