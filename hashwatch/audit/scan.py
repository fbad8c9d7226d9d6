"""Scan every file of a run's output for image content: Parquet values, text (gzip'd too), the compiled index.

What each kind of file gets (a *buffer* is a text file's chunk, or one column's values of one Parquet row
batch, joined by a byte no signature or encoded run contains):

- raw signatures (:func:`hashwatch.audit.signatures.raw_signatures`);
- encoded runs (:mod:`hashwatch.audit.encoded`): signatures in what base64/hex/escaped runs decode to, and
  high-entropy binary blobs;
- with reference images, any 64-byte run of them, raw or in what the encoded runs decode to
  (:mod:`hashwatch.audit.content_index`).

Files are read in bounded pieces: text in 8 MiB chunks (64 KiB of overlap, so a run that crosses a chunk's end
is seen whole in the next one), Parquet a row batch at a time. Each finding is reported once per file and
column (its first place), so a leak in a million rows is one line, not a million.
"""

from __future__ import annotations

import base64
import bz2
import codecs
import gzip
import lzma
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from hashwatch.audit.content_index import BlockTable, ContentIndex
from hashwatch.audit.encoded import BLOB_BYTES, CONTENT_RUN_BYTES, LONG_RUN_BYTES, encoded_runs
from hashwatch.audit.signatures import WEAK_MIN_BYTES, decoded_signatures, raw_signatures

__all__ = ["AuditFinding", "audit_tree"]

_CHUNK = 8 << 20
_OVERLAP = 64 << 10
_MAX_CARRY = 1 << 20
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=%\\\r\n"
_ROWS = 16384  # Parquet rows a batch: one column's values of a batch are one buffer
_SEPARATOR = 0x01  # between joined values: in no signature, alphabet or line break
_MIN_BINARY_ENTROPY = 6.0  # bits a byte, for raw binary Parquet values (see encoded._MIN_ESCAPED_ENTROPY)
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


@dataclass(frozen=True)
class AuditFinding:
    path: str
    where: str  # "file byte 123 (line 4)", "column page_url byte 5 of row 4", "metadata"
    kind: str  # signature | content_run | blob | binary_file | unreadable
    detail: str  # e.g. "JPEG (base64)", "bytes of photo-3.jpg (hex)"; never content

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.kind}: {self.detail}"


class _Report:
    """Findings of one file, each (scope, kind, detail) once: its first place."""

    def __init__(self, path: str, out: list[AuditFinding]) -> None:
        self.path = path
        self._out = out
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, scope: str, where: Callable[[], str], kind: str, detail: str) -> bool:
        key = (scope, kind, "" if kind == "blob" else detail)  # blob details carry sizes
        if key in self._seen:
            return False
        self._seen.add(key)
        self._out.append(AuditFinding(self.path, where(), kind, detail))
        return True

    def has(self, scope: str, kind: str) -> bool:
        return any(s == scope and k == kind for s, k, _ in self._seen)


def _scan_buffer(
    buf: bytes,
    scope: str,
    locate: Callable[[int], str],
    table: BlockTable | None,
    full: bool,
    report: _Report,
) -> None:
    """Everything a buffer is checked for; ``full=False`` (a later reference table's pass): content runs only."""
    if full:
        for offset, name in raw_signatures(buf):
            report.add(scope, lambda o=offset: locate(o), "signature", name)
    if full or table is not None:
        min_bytes = CONTENT_RUN_BYTES if table is not None else LONG_RUN_BYTES
        for run in encoded_runs(buf, min_bytes):
            at = lambda o=run.start: locate(o)  # noqa: E731
            if full:
                names = _run_signatures(run)
                for name in names:
                    detail = "base64 image data URI" if run.after_data_uri else f"{name} ({run.coding})"
                    report.add(scope, at, "signature", detail)
                if run.blob and not names:  # an image with its signature is one finding, not two
                    report.add(scope, at, "blob", run.blob)
            if table is not None:
                for phase in run.phases:
                    hit = next(table.find(phase), None)
                    if hit is not None:
                        report.add(scope, at, "content_run", f"bytes of {hit.name} ({run.coding})")
                        break
    if table is not None:
        hit = next(table.find(buf), None)
        if hit is not None:
            report.add(scope, lambda: locate(hit.offset), "content_run", f"bytes of {hit.name} (raw)")


def _run_signatures(run) -> list[str]:
    """Formats whose signature counts in a decoded run: strong ones anywhere, weak ones where it starts."""
    names = []
    for data in run.phases:
        for sig in decoded_signatures(data):
            at_start = sig.offset == 0 and run.first_window
            counts = sig.strong or (at_start and (len(data) >= WEAK_MIN_BYTES or run.after_data_uri))
            if counts and sig.name not in names:
                names.append(sig.name)
    return names


# ------------------------------------------------------------------------------------------------ text


def _stream(path: str) -> tuple[Iterator[bytes], str]:
    """The file's bytes in chunks (decompressed if gzip/bz2/xz), and what it is."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    for magic, opener in _COMPRESSED.items():
        if head.startswith(magic):
            return _chunks(lambda o=opener: o(path, "rb")), "compressed"
    return _chunks(lambda: open(path, "rb")), "plain"


def _chunks(opener) -> Iterator[bytes]:
    with opener() as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _scan_text(path: str, table: BlockTable | None, full: bool, report: _Report) -> None:
    chunks, kind = _stream(path)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    text_ok = True
    carry = b""
    base = 0  # file offset of carry[0]
    lines = 0  # line breaks before carry[0]
    try:
        for chunk in chunks:
            if full and text_ok:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    text_ok = False
                    where = f"file byte {base + len(carry) + exc.start}"
                    report.add("file", lambda w=where: w, "binary_file", "neither Parquet nor UTF-8 text")
            buf = carry + chunk
            _scan_buffer(buf, "file", _file_locator(buf, base, lines), table, full, report)
            cut = _carry_from(buf)
            lines += buf.count(b"\n", 0, cut)
            base += cut
            carry = buf[cut:]
    except (OSError, EOFError, lzma.LZMAError) as exc:
        if kind == "compressed":
            report.add("file", lambda: "file", "unreadable", f"broken compressed file: {type(exc).__name__}")
        else:
            raise


def _carry_from(buf: bytes) -> int:
    """Where the next chunk's carried overlap starts: _OVERLAP bytes back, or further back to the start of an
    encoded run that reaches the end (up to _MAX_CARRY), so the run is seen whole, its signature included."""
    limit = max(0, len(buf) - _MAX_CARRY)
    run_start = limit + len(buf[limit:].rstrip(_RUN_CHARS))
    return min(len(buf) - min(len(buf), _OVERLAP), run_start)


def _file_locator(buf: bytes, base: int, lines: int) -> Callable[[int], str]:
    def locate(offset: int) -> str:
        line = lines + buf.count(b"\n", 0, offset) + 1
        return f"file byte {base + offset} (line {line})"

    return locate


# --------------------------------------------------------------------------------------------- Parquet


def _leaves(array, nested: bool = False) -> Iterator[tuple[object, bool]]:
    """Every string/binary leaf array of ``array`` (lists, maps, structs, dictionaries opened)."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_map(kind):
        yield from _leaves(array.keys, True)
        yield from _leaves(array.items, True)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _leaves(array.flatten(), True)
    elif pa.types.is_struct(kind):
        for child in array.flatten():
            yield from _leaves(child, nested)
    elif pa.types.is_dictionary(kind):
        yield from _leaves(array.dictionary, True)
    elif _is_value_type(kind):
        yield array, nested


_VALUE_TYPE_CHECKS = ("is_string", "is_large_string", "is_binary", "is_large_binary", "is_fixed_size_binary")
_VIEW_TYPE_CHECKS = ("is_string_view", "is_binary_view")  # newer pyarrow only


def _is_value_type(kind) -> bool:
    import pyarrow as pa

    checks = [getattr(pa.types, name, None) for name in _VALUE_TYPE_CHECKS + _VIEW_TYPE_CHECKS]
    return any(check(kind) for check in checks if check is not None)


def _joined(array) -> tuple[bytes, np.ndarray]:
    """The array's values joined by the separator byte, and where each value starts in the result."""
    import pyarrow as pa

    if (
        pa.types.is_string(array.type)
        or pa.types.is_binary(array.type)
        or pa.types.is_large_string(array.type)
    ):
        array = array.cast(pa.large_binary())
    if not pa.types.is_large_binary(array.type):
        values = [v if isinstance(v, bytes) else str(v).encode() for v in array.to_pylist() if v is not None]
        starts = np.cumsum([0] + [len(v) + 1 for v in values])[:-1]
        return bytes([_SEPARATOR]).join(values), starts
    n = len(array)
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    starts = offsets[:-1] - offsets[0] + np.arange(n)
    # A mask of the separators' places, not an index array of every byte's: 1 byte a byte, not 24.
    separators = np.zeros(int(offsets[-1] - offsets[0]) + n, dtype=bool)
    separators[starts[1:] - 1] = True
    if n:
        separators[-1] = True
    out = np.full(len(separators), _SEPARATOR, dtype=np.uint8)
    out[~separators] = data[offsets[0] : offsets[-1]]
    return out.tobytes(), starts


def _scan_parquet(path: str, table: BlockTable | None, full: bool, report: _Report) -> None:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if full:
        for key, value in (parquet.metadata.metadata or {}).items():
            _scan_metadata(key, value, table, report)
    elif table is not None:
        for key, value in (parquet.metadata.metadata or {}).items():
            _scan_buffer(key + b"\n" + value, "metadata", lambda _o: "metadata", table, False, report)
    row_base = 0
    leaf_base: dict[tuple[str, int], int] = {}
    for batch in parquet.iter_batches(batch_size=_ROWS):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            for number, (leaf, nested) in enumerate(_leaves(column)):
                blob, starts = _joined(leaf)
                first = leaf_base.get((name, number), 0)
                leaf_base[(name, number)] = first + len(starts)
                locate = _value_locator(f"column {name}", starts, (first if nested else row_base), nested)
                _scan_buffer(blob, f"column {name}", locate, table, full, report)
                if full and leaf.type in _binary_types():
                    _scan_binary_values(blob, starts, f"column {name}", locate, report)
        row_base += batch.num_rows


def _binary_types():
    import pyarrow as pa

    return (pa.binary(), pa.large_binary())


def _value_locator(scope: str, starts: np.ndarray, first: int, nested: bool) -> Callable[[int], str]:
    def locate(offset: int) -> str:
        i = int(np.searchsorted(starts, offset, side="right")) - 1
        return f"{scope} byte {offset - int(starts[i])} of {'value' if nested else 'row'} {first + i}"

    return locate


def _scan_binary_values(
    blob: bytes, starts: np.ndarray, scope: str, locate: Callable[[int], str], report: _Report
) -> None:
    """A long high-entropy value of a binary column: a raw fragment of an image has no signature either."""
    ends = np.append(starts[1:] - 1, len(blob))
    for i in np.flatnonzero(ends - starts >= BLOB_BYTES).tolist():
        value = blob[starts[i] : ends[i]]
        counts = np.bincount(np.frombuffer(value[: 1 << 16], dtype=np.uint8), minlength=256)
        p = counts[counts > 0] / counts.sum()
        entropy = float(-(p * np.log2(p)).sum())
        if entropy >= _MIN_BINARY_ENTROPY:
            detail = f"{len(value)} bytes of high-entropy binary data (raw, {entropy:.2f} bits/byte)"
            if report.add(scope, lambda s=int(starts[i]): locate(s), "blob", detail):
                return


def _scan_metadata(key: bytes, value: bytes, table: BlockTable | None, report: _Report) -> None:
    """A footer key-value pair; Arrow's own schema (base64 of a flatbuffer) is opened, its metadata scanned."""
    if key == b"ARROW:schema":
        import pyarrow as pa

        try:
            schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(value, validate=True)))
        except Exception:  # not a schema: scanned as it is below
            schema = None
        if schema is not None:
            pairs = list((schema.metadata or {}).items())
            for field in schema:
                pairs += list((field.metadata or {}).items())
                pairs.append((b"field", field.name.encode()))
            for k, v in pairs:
                _scan_buffer(
                    k + b"\n" + v, "metadata ARROW:schema", lambda _o: "metadata", table, True, report
                )
            return
    _scan_buffer(key + b"\n" + value, "metadata", lambda _o: "metadata", table, True, report)


# ------------------------------------------------------------------------------------------ hash index


def _scan_hash_index(path: str, table: BlockTable | None, full: bool, report: _Report) -> None:
    """A compiled known-hash index (``hashwatch index build``): a JSON header, then arrays of hash codes.

    Its arrays are dense random-looking bytes, where a 4-byte signature turns up by chance, so only its
    header (text) gets the signature and encoded-run scans; the whole file gets the 64-byte content-run scan."""
    from hashwatch.hashing.index_file import MAGIC

    with open(path, "rb") as handle:
        handle.seek(len(MAGIC))
        (length,) = np.frombuffer(handle.read(8), dtype="<u8").tolist()
        header = handle.read(min(length, _CHUNK))
    _scan_buffer(header, "index header", lambda o: f"index header byte {o}", table, full, report)
    if table is None:
        return
    with open(path, "rb") as handle:
        base = 0
        carry = b""
        while chunk := handle.read(_CHUNK):
            buf = carry + chunk
            hit = next(table.find(buf), None)
            if hit is not None:
                report.add(
                    "file",
                    lambda h=hit, b=base: f"file byte {b + h.offset}",
                    "content_run",
                    f"bytes of {hit.name} (raw)",
                )
                return
            keep = min(len(buf), 128)
            base += len(buf) - keep
            carry = buf[len(buf) - keep :]


# ---------------------------------------------------------------------------------------------- tree


def _audit_file(path: str, table: BlockTable | None, full: bool, report: _Report) -> None:
    from hashwatch.hashing.index_file import MAGIC

    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC))
    if head[:4] == b"PAR1":
        _scan_parquet(path, table, full, report)
    elif head == MAGIC:
        _scan_hash_index(path, table, full, report)
    else:
        _scan_text(path, table, full, report)


def _paths(root: str) -> list[str]:
    if os.path.isfile(root):
        return [root]
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)


def audit_tree(root: str, reference: ContentIndex | None = None) -> list[AuditFinding]:
    """Scan every file under ``root`` (hidden and temporary ones included). An empty list means clean.

    With ``reference``, also any 64-byte run of its images; a reference set larger than one block table is
    searched one table at a time (the files are read again for each, content runs only).

    >>> import tempfile, pathlib
    >>> folder = tempfile.mkdtemp()
    >>> _ = (pathlib.Path(folder) / "run.log").write_text("fetched http://a/x.jpg status=200\\n")
    >>> audit_tree(folder)
    []
    """
    paths = _paths(root)
    findings: list[AuditFinding] = []
    reports = {path: _Report(path, findings) for path in paths}
    tables = reference.tables() if reference is not None else iter([None])
    full = True
    for table in tables:
        for path in paths:
            report = reports[path]
            if report.has("file", "unreadable"):
                continue
            try:
                _audit_file(path, table, full, report)
            except Exception as exc:  # a file we cannot read is itself a finding, never a crash
                report.add("file", lambda: "file", "unreadable", type(exc).__name__)
        full = False
        del table  # the next table is built only after this one is dropped
    return findings
