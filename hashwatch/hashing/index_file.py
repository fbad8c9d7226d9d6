"""The known-hash index file: one memory-mapped container of named arrays behind a JSON header.

Layout: 8-byte magic ``HWIDX\\x00\\x01\\x00``, a little-endian uint64 header length, a JSON header (format
version, list checksum and versions, source files, per-type layout, labels, and for every array its offset,
dtype, shape and CRC-32), then the arrays, each 64-byte aligned. Reading checks the header and the arrays
against each other (:mod:`~hashwatch.hashing.index_file_check`: 5-8 ms for a million entries);
``verify=True`` also checks every array's CRC-32. Writing is atomic (a temporary file, then a rename). An
index with listed videos' frames among its pdq entries (``pdq.frame``, ``pdq.item_times``,
``pdq.video_label``, ``pdq.video_frames``) is format 2; without them format 1, as before; one whose Hamming
tables use issue 24's layout (fingerprints, chunks over 22 bits) is format 3::

    write_index("known.hwidx", header, types, item_names)
    header, types, item_names, mm = read_index("known.hwidx", verify=False)   # arrays are views into mm
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.hamming_search import HammingTable
from hashwatch.hashing.hash_codes import rows_to_hex
from hashwatch.hashing.hash_types import IndexKind
from hashwatch.hashing.index_entries import EntryItems, TypeIndex
from hashwatch.hashing.index_file_check import check_arrays, check_header

__all__ = [
    "ALIGN",
    "FORMAT_VERSION",
    "LAYOUT_FORMAT_VERSION",
    "VIDEO_FORMAT_VERSION",
    "MAGIC",
    "read_container",
    "read_index",
    "write_container",
    "write_container_streamed",
    "write_index",
]

MAGIC = b"HWIDX\x00\x01\x00"
FORMAT_VERSION = 1
# An index holding listed videos' frames (vpdq rows) is format 2: its pdq entries are images and frames,
# which a format-1 reader would take all for images. Without videos the file is format 1, as before.
VIDEO_FORMAT_VERSION = 2
# Format 3 (issue 24): a Hamming table whose chunks keep 128-bit fingerprints of the codes in bucket order
# (``inline_words``, ``inline_word0`` in its layout) or whose chunks are 23-24 bits wide; with or without
# videos. A format-1/2 reader would misread those tables, so it refuses the file by its version instead.
LAYOUT_FORMAT_VERSION = 3
READABLE_VERSIONS = (FORMAT_VERSION, VIDEO_FORMAT_VERSION, LAYOUT_FORMAT_VERSION)
ALIGN = 64  # every array starts on a 64-byte boundary of the file

ItemNames = tuple[np.ndarray, np.ndarray]  # (offsets int64, utf-8 bytes uint8) of every "source\x1fitem_id"


def write_index(
    path: str, header: dict[str, Any], types: Mapping[str, TypeIndex], item_names: ItemNames | None
) -> None:
    """Write an index's types (and the pictures' names) under ``header``."""
    arrays: dict[str, np.ndarray] = {}
    if item_names is not None:
        arrays["items.name_offsets"], arrays["items.names"] = item_names
    for name, t in types.items():
        arrays[f"{name}.label_set"] = t.label_set
        if t.items is not None:
            arrays.update(t.items.arrays(name))
        arrays.update(t.video_arrays())
        if t.hamming is not None:
            arrays.update(t.hamming.arrays(name))
        elif t.exact_keys is not None:
            arrays[f"{name}.keys"] = t.exact_keys.view(np.uint8).reshape(t.size, -1)
        elif t.linear_values is not None:
            raw = bytes.fromhex("".join(t.linear_values)) if t.linear_values else b""
            arrays[f"{name}.values"] = np.frombuffer(raw, dtype=np.uint8).reshape(t.size, t.bits // 8)
    write_container(path, header, arrays)


def read_index(
    path: str, verify: bool
) -> tuple[dict[str, Any], dict[str, TypeIndex], ItemNames | None, mmap.mmap]:
    """An index file's header, types and pictures' names, and the memory map they are views into (keep it)."""
    header, arrays, mm = read_container(path, verify)
    types: dict[str, TypeIndex] = {}
    for name, spec in header["types"].items():
        kind, bits = spec["kind"], int(spec["bits"])
        label_set = arrays[f"{name}.label_set"]
        if kind == IndexKind.HAMMING:
            table = HammingTable.from_arrays(bits, spec, arrays, name)
            table.source = path
            types[name] = TypeIndex(name, kind, bits, label_set, hamming=table)
        elif kind == IndexKind.EXACT:
            keys = arrays[f"{name}.keys"]
            types[name] = TypeIndex(
                name, kind, bits, label_set, exact_keys=keys.view(f"S{keys.shape[1]}").reshape(-1)
            )
        elif kind == IndexKind.LINEAR:
            values = rows_to_hex(arrays[f"{name}.values"])
            types[name] = TypeIndex(name, kind, bits, label_set, linear_values=values)
        if name in types:
            types[name].items = EntryItems.from_arrays(arrays, name)
            if f"{name}.frame" in arrays:
                types[name].frame = arrays[f"{name}.frame"]
                types[name].video_label = arrays[f"{name}.video_label"]
                types[name].video_frames = arrays[f"{name}.video_frames"]
    names = None
    if "items.name_offsets" in arrays:
        names = (arrays["items.name_offsets"], arrays["items.names"])
    return header, types, names, mm


def _data_start(head_len: int) -> int:
    """Where the arrays begin: after the magic, the header length and the header, 64-byte aligned."""
    return (len(MAGIC) + 8 + head_len + ALIGN - 1) // ALIGN * ALIGN


def _raw(arr: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(arr)).cast("B")


def write_container(path: str, header: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` and ``header`` (plus the array table) to ``path`` atomically, readable by workers."""
    layout: dict[str, Any] = {}
    blobs: list[tuple[int, np.ndarray]] = []
    # Offsets are relative to the start of the data section, which begins 64-byte aligned after the header.
    pos = 0
    for name, source in arrays.items():
        arr = np.ascontiguousarray(source)
        pos = (pos + ALIGN - 1) // ALIGN * ALIGN
        layout[name] = {
            "offset": pos,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "nbytes": int(arr.nbytes),
            "crc32": f"{zlib.crc32(_raw(arr)):08x}",
        }
        blobs.append((pos, arr))
        pos += arr.nbytes
    header = {**header, "arrays": layout}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    data_start = _data_start(len(head))
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".hwidx-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", len(head)))
            fh.write(head)
            fh.write(b"\x00" * (data_start - fh.tell()))
            for offset, arr in blobs:
                fh.write(b"\x00" * (data_start + offset - fh.tell()))
                fh.write(memoryview(arr).cast("B"))
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _ArrayWriter:
    """Writes one array's bytes in order, block by block, at its place in the file; keeps its CRC-32."""

    def __init__(self, fh, start: int, nbytes: int) -> None:
        self.fh, self.pos, self.end, self.crc = fh, start, start + nbytes, 0

    def write(self, block: np.ndarray) -> None:
        raw = _raw(block)
        if self.pos + len(raw) > self.end:
            raise ValueError("array written past its declared size")
        os.pwrite(self.fh.fileno(), raw, self.pos)
        self.crc = zlib.crc32(raw, self.crc)
        self.pos += len(raw)


def write_container_streamed(
    path: str,
    header: dict[str, Any],
    specs: Mapping[str, tuple[str, tuple[int, ...]]],
    fill: Callable[[Mapping[str, _ArrayWriter]], None],
) -> None:
    """:func:`write_container` for arrays too big to hold at once (a 1e8-entry index): ``specs`` names each
    array's dtype and shape; ``fill(writers)`` writes every array's bytes in order with
    ``writers[name].write(block)``, arrays interleaved as it likes. Same file, byte for byte, as
    :func:`write_container` with the whole arrays; written atomically::

        write_container_streamed(path, header, {"a.codes": ("<u8", (n, 4))}, fill)
    """
    layout: dict[str, Any] = {}
    pos = 0
    for name, (dtype, shape) in specs.items():
        pos = (pos + ALIGN - 1) // ALIGN * ALIGN
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        layout[name] = {
            "offset": pos,
            "dtype": np.dtype(dtype).str,
            "shape": list(shape),
            "nbytes": nbytes,
            "crc32": "00000000",
        }
        pos += nbytes

    def head_bytes() -> bytes:
        return json.dumps({**header, "arrays": layout}, sort_keys=True, separators=(",", ":")).encode("utf-8")

    head = head_bytes()  # CRCs are 8 hex digits: the header keeps its length when they are filled in
    data_start = _data_start(len(head))
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".hwidx-", dir=directory)
    try:
        with os.fdopen(fd, "r+b") as fh:
            fh.truncate(data_start + pos)
            writers = {
                name: _ArrayWriter(fh, data_start + spec["offset"], spec["nbytes"])
                for name, spec in layout.items()
            }
            fill(writers)
            for name, writer in writers.items():
                if writer.pos != writer.end:
                    raise ValueError(f"array {name}: {writer.end - writer.pos} declared bytes not written")
                layout[name]["crc32"] = f"{writer.crc:08x}"
            head = head_bytes()
            fh.seek(0)
            fh.write(MAGIC + struct.pack("<Q", len(head)) + head)
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_container(path: str, verify: bool) -> tuple[dict[str, Any], dict[str, np.ndarray], mmap.mmap]:
    """The header, the arrays (views into the returned memory map) of a checked file; else a UserError."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the mmap outlives this function
    except OSError as exc:
        raise UserError(f"cannot open index {path}: {exc.strerror}") from None
    with fh:
        magic = fh.read(len(MAGIC))
        if magic != MAGIC:
            raise UserError(f"{path} is not a hashwatch index (bad magic)")
        size = os.fstat(fh.fileno()).st_size
        (head_len,) = struct.unpack("<Q", fh.read(8).ljust(8, b"\xff"))
        if len(MAGIC) + 8 + head_len > size:
            raise UserError(f"{path}: truncated index (the header runs past the end)")
        try:
            header = json.loads(fh.read(head_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise UserError(f"{path}: corrupt index header") from None
        if not isinstance(header, dict):
            raise UserError(f"{path}: corrupt index header")
        if header.get("format_version") not in READABLE_VERSIONS:
            version = str(header.get("format_version"))[:20]
            readable = " and ".join(map(str, READABLE_VERSIONS))
            raise UserError(
                f"{path}: index format {version} is not {FORMAT_VERSION}; rebuild it (this hashwatch reads "
                f"formats {readable}: 2 is an index with listed videos, 3 one with fingerprinted or wide "
                "Hamming chunks)"
            )
        check_header(path, header)
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    data_start = _data_start(head_len)
    arrays: dict[str, np.ndarray] = {}
    for name, spec in header["arrays"].items():
        start = data_start + spec["offset"]
        if start + spec["nbytes"] > size:
            raise UserError(f"{path}: truncated index (array {name} runs past the end)")
        arr = np.frombuffer(
            mm, dtype=np.dtype(spec["dtype"]), count=int(np.prod(spec["shape"])), offset=start
        )
        arrays[name] = arr.reshape(spec["shape"])
        if verify and f"{zlib.crc32(_raw(arr)):08x}" != spec["crc32"]:
            raise UserError(f"{path}: array {name} fails its CRC-32 check (file corrupt)")
    check_arrays(path, header, arrays)
    return header, arrays, mm


def _publish(tmp: str, path: str) -> None:
    """Give the finished temp file the umask's permissions and rename it into place. mkstemp creates 0600;
    an index is read by worker processes that may run as another user."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
