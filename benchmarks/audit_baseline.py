"""The first analyst-safety audit (main before issue 17), kept unchanged as bench_audit's baseline.

Not used by hashwatch: ``hashwatch.audit`` replaced it. What follows is its original docstring.

Analyst safety, proven: scan every file a run wrote for image content.

hashwatch promises that no image bytes, thumbnails or content fragments reach any output, log or temp file.
:func:`audit_tree` checks that promise on a finished run's output folder (logs included) and reports:

- ``signature``: an image file signature (JPEG, PNG, GIF, WebP, BMP, TIFF) in a Parquet value, in a text
  file, or a ``base64,`` data-URI payload that starts like an image;
- ``content_run``: any run of 64 bytes of a reference image (the images the run fetched), raw or base64-coded;
- ``binary_file``: a file that is neither Parquet, a compiled hash index, nor UTF-8 text (hashwatch writes
  nothing else).

Parquet files are decoded (their pages are compressed, so a raw byte scan would miss everything): every
value of every column, nested ones included, and the file's key-value metadata are scanned. Findings never
quote content.

Content runs are found with a rolling hash: each reference image is cut into 32-byte blocks at offsets that
are multiples of 32, so any 64-byte run it shares with a scanned file contains one whole block; every 32-byte
window of the scanned data is hashed (vectorised with numpy) and candidates are verified byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import os
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["AuditFinding", "ContentIndex", "audit_tree", "register"]

_BLOCK = 32
_BASE = np.uint64(0x100000001B3)  # FNV prime: any odd 64-bit multiplier works for a polynomial hash
_POWERS = np.array([_BASE ** np.uint64(_BLOCK - 1 - k) for k in range(_BLOCK)], dtype=np.uint64)
_CHUNK = 4 << 20

# Binary signatures. BMP and TIFF are short, so they are only trusted where a value/text is being scanned
# (never in raw binary blobs); BMP also needs its reserved header bytes to be zero.
_SIGNATURES: list[tuple[str, re.Pattern[bytes]]] = [
    ("JPEG", re.compile(rb"\xff\xd8\xff[\xc0-\xfe]")),
    ("PNG", re.compile(rb"\x89PNG\r\n\x1a\n")),
    ("GIF", re.compile(rb"GIF8[79]a")),
    ("WebP", re.compile(rb"RIFF....WEBP", re.DOTALL)),
    ("BMP", re.compile(rb"BM....\x00\x00\x00\x00", re.DOTALL)),
    ("TIFF", re.compile(rb"II\*\x00|MM\x00\*")),
]
# Image payloads in data URIs (JPEG /9j/, PNG iVBORw0KGgo, GIF R0lGOD, WebP UklGR, BMP Qk).
_BASE64_IMAGE = re.compile(rb"base64,\s*(/9j/|iVBORw0KGgo|R0lGOD|UklGR|Qk[0-9A-Za-z+/]{2}AAAAA)")


@dataclass(frozen=True)
class AuditFinding:
    path: str
    where: str  # "byte 123", "column page_url row 4", "metadata"
    kind: str  # signature | content_run | binary_file | unreadable
    detail: str  # e.g. "JPEG", "64+ bytes of reference image 3 (base64)"; never content

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.kind}: {self.detail}"


def _window_hashes(data: np.ndarray) -> np.ndarray:
    """Polynomial hash of every 32-byte window of ``data`` (uint8), wrapping mod 2**64."""
    n = len(data) - _BLOCK + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    wide = data.astype(np.uint64)
    out = np.zeros(n, dtype=np.uint64)
    for k in range(_BLOCK):
        out += wide[k : k + n] * _POWERS[k]
    return out


class ContentIndex:
    """The 32-byte blocks of a set of reference images, raw and base64-coded, for finding 64-byte runs."""

    def __init__(self) -> None:
        self._blocks: dict[int, list[tuple[int, bytes, str]]] = {}
        self._names: list[str] = []
        self._sorted: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._names)

    def add(self, content: bytes, name: str) -> None:
        image_id = len(self._names)
        self._names.append(name)
        encodings = [(content, "raw")]
        encodings += [(base64.b64encode(content[shift:]), "base64") for shift in range(3)]
        for data, coding in encodings:
            usable = len(data) // _BLOCK * _BLOCK
            if usable == 0:
                continue
            blocks = np.frombuffer(data[:usable], dtype=np.uint8).reshape(-1, _BLOCK).astype(np.uint64)
            hashes = (blocks * _POWERS).sum(axis=1, dtype=np.uint64)
            for i, h in enumerate(hashes.tolist()):
                block = data[i * _BLOCK : (i + 1) * _BLOCK]
                self._blocks.setdefault(h, []).append((image_id, block, coding))
        self._sorted = None

    def add_files(self, paths: Iterable[str]) -> None:
        for path in paths:
            with open(path, "rb") as handle:
                self.add(handle.read(), os.path.basename(path))

    def find(self, data: bytes) -> Iterator[tuple[int, str, str]]:
        """Yield ``(offset, image name, coding)`` for each reference block found in ``data``."""
        if not self._blocks or len(data) < _BLOCK:
            return
        if self._sorted is None:
            self._sorted = np.array(sorted(self._blocks), dtype=np.uint64)
        for start in range(0, len(data), _CHUNK):
            piece = data[start : start + _CHUNK + _BLOCK - 1]
            hashes = _window_hashes(np.frombuffer(piece, dtype=np.uint8))
            hits = np.nonzero(np.isin(hashes, self._sorted))[0]
            for offset in hits.tolist():
                window = piece[offset : offset + _BLOCK]
                for image_id, block, coding in self._blocks[int(hashes[offset])]:
                    if block == window:
                        yield start + offset, self._names[image_id], coding
                        break


def _scan_value(blob: bytes, path: str, where: str, index: ContentIndex | None) -> Iterator[AuditFinding]:
    for name, pattern in _SIGNATURES:
        match = pattern.search(blob)
        if match:
            yield AuditFinding(path, f"{where} byte {match.start()}", "signature", name)
    match = _BASE64_IMAGE.search(blob)
    if match:
        yield AuditFinding(path, f"{where} byte {match.start()}", "signature", "base64 image data URI")
    if index is not None:
        for offset, image, coding in index.find(blob):
            yield AuditFinding(path, f"{where} byte {offset}", "content_run", f"bytes of {image} ({coding})")
            break  # one per value is enough to fail; avoid thousands of lines


def _flatten_column(column) -> list[bytes]:
    """Every leaf value of an Arrow column (nested lists/maps/structs included) as bytes."""
    import pyarrow as pa

    values: list[bytes] = []
    binary_types = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary)

    def visit(array) -> None:
        kind = array.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
            visit(array.flatten())
        elif pa.types.is_struct(kind):
            for i in range(kind.num_fields):
                visit(array.field(i))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values.extend(v.encode("utf-8") for v in array.to_pylist() if v is not None)
        elif any(check(kind) for check in binary_types):
            values.extend(v for v in array.to_pylist() if v is not None)

    for chunk in column.chunks:
        if pa.types.is_map(chunk.type):
            visit(chunk.keys)
            visit(chunk.items)
        else:
            visit(chunk)
    return values


def _audit_parquet(path: str, index: ContentIndex | None) -> Iterator[AuditFinding]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata.metadata or {}
    for key, value in metadata.items():
        yield from _scan_value(key + b"\n" + value, path, "metadata", index)
    table = parquet.read()
    for name in table.column_names:
        values = _flatten_column(table.column(name))
        # One blob per column, values separated by a byte that no signature or base64 run contains.
        blob = b"\n\x01\n".join(values)
        yield from _scan_value(blob, path, f"column {name}", index)


def _audit_hash_index(path: str, data: bytes, index: ContentIndex | None) -> Iterator[AuditFinding]:
    """A compiled known-hash index (``hashwatch index build``): a JSON header, then arrays of hash codes.

    Its arrays are dense random-looking bytes, where a 4-byte signature turns up by chance, so only its
    header (text) gets the signature scan; the whole file gets the 64-byte content-run scan.
    """
    from hashwatch.hashing.index_file import MAGIC

    (length,) = struct.unpack_from("<Q", data, len(MAGIC))
    header = data[len(MAGIC) + 8 : len(MAGIC) + 8 + length]
    yield from _scan_value(header, path, "index header", index)
    if index is not None:
        for offset, image, coding in index.find(data):
            yield AuditFinding(path, f"byte {offset}", "content_run", f"bytes of {image} ({coding})")
            break


def _audit_file(path: str, index: ContentIndex | None) -> Iterator[AuditFinding]:
    from hashwatch.hashing.index_file import MAGIC

    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC))
        handle.seek(0)
        if head[:4] == b"PAR1":
            yield from _audit_parquet(path, index)
            return
        data = handle.read()
    if head == MAGIC:
        yield from _audit_hash_index(path, data, index)
        return
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
        except (OSError, EOFError) as exc:
            yield AuditFinding(path, "file", "unreadable", f"broken gzip: {type(exc).__name__}")
            return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield AuditFinding(path, f"byte {exc.start}", "binary_file", "neither Parquet nor UTF-8 text")
        # Still scan it: the findings below say what the bytes are.
    yield from _scan_value(data, path, "file", index)


def audit_tree(root: str, reference: ContentIndex | None = None) -> list[AuditFinding]:
    """Scan every file under ``root`` (hidden and temporary ones included). An empty list means clean."""
    findings: list[AuditFinding] = []
    paths = (
        [root]
        if os.path.isfile(root)
        else sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)
    )
    for path in paths:
        try:
            findings.extend(_audit_file(path, reference))
        except Exception as exc:  # a file we cannot read is itself a finding, never a crash
            findings.append(AuditFinding(path, "file", "unreadable", f"{type(exc).__name__}"))
    return findings


def _image_files(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            for folder, _, names in os.walk(path):
                for name in sorted(names):
                    yield os.path.join(folder, name)
        else:
            yield path


def _run(args: argparse.Namespace) -> int:
    from hashwatch.errors import UserError

    if not os.path.exists(args.output):
        raise UserError(f"no such output folder: {args.output}")
    index = None
    if args.images:
        index = ContentIndex()
        index.add_files(_image_files(args.images))
    findings = audit_tree(args.output, index)
    for finding in findings:
        print(finding)
    reference = f" against {len(index)} reference files" if index else ""
    if findings:
        print(f"audit FAILED: {len(findings)} finding(s) under {args.output}{reference}")
        return 1
    print(f"audit passed: no image content under {args.output}{reference}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="scan a run's output (logs included) for image content",
        description="Fail if any file under OUTPUT holds an image signature, a binary blob, or any 64-byte "
        "run of the reference images (raw or base64).",
    )
    parser.add_argument("output", help="the run's output folder (or one file)")
    parser.add_argument(
        "--images",
        nargs="*",
        default=[],
        metavar="PATH",
        help="files or folders holding the images the run fetched; every 64-byte run of them is searched for",
    )
    parser.set_defaults(func=_run)
