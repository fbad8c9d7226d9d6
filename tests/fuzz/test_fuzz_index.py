"""Property tests of the index file reader on damaged files: real indexes built by ``hashwatch index build``,
then mutated. The contract (``fuzz_targets.check_index_file``): ``KnownHashIndex.load`` opens the file or
raises UserError naming it, and an index it opened answers queries or raises UserError; never a numpy or
Python error, never a segfault or an out-of-bounds read in the C search. Oracles: a truncated file and any
changed byte inside an array are always rejected by ``verify=True`` (the CRC-32 of every array).
"""

from __future__ import annotations

import json
import struct

import pytest
from fuzz_config import fuzz_settings
from fuzz_corpora import build_index_file, list_rows
from fuzz_targets import check_index_file
from hypothesis import given
from hypothesis import strategies as st

from hashwatch.errors import UserError
from hashwatch.hashing.index_file import ALIGN, MAGIC
from hashwatch.hashing.known_hash_index import KnownHashIndex


class _Files(dict):
    """Index files by name; a short repr, so a failing example does not print 40 KB of index."""

    def __repr__(self) -> str:
        return f"<index files {sorted(self)}>"


_INDEXES = _Files()


@pytest.fixture(scope="module")
def index_files(tmp_path_factory) -> dict[str, bytes]:
    """Two real index files (one with item ids, one without), built once by the CLI."""
    if not _INDEXES:
        work = tmp_path_factory.mktemp("index-seeds")
        _INDEXES["items"] = build_index_file(work, list_rows(30), "items").read_bytes()
        no_items = [{**r, "item_id": ""} for r in list_rows(12, seed=3)]
        _INDEXES["plain"] = build_index_file(work, no_items, "plain").read_bytes()
    return _INDEXES


def split(data: bytes) -> tuple[dict, int]:
    (head_len,) = struct.unpack("<Q", data[8:16])
    return json.loads(data[16 : 16 + head_len]), 16 + head_len


def assemble(header: dict, data: bytes, old_end: int) -> bytes:
    """A file with ``header`` in place of the old one; the arrays keep their place when the new header fits
    the old one's padding (else they move with it, which is one more kind of damage)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    old_start = (old_end + ALIGN - 1) // ALIGN * ALIGN
    new_end = 16 + len(head)
    new_start = (new_end + ALIGN - 1) // ALIGN * ALIGN
    body = data[old_start:]
    return MAGIC + struct.pack("<Q", len(head)) + head + b"\x00" * (new_start - new_end) + body


def write(tmp_path_factory, data: bytes) -> str:
    path = tmp_path_factory.mktemp("mutated") / "m.hwidx"
    path.write_bytes(data)
    return str(path)


_JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**64), 2**64),
        st.sampled_from([0, 1, -1, 2, 3, 4, 7, 8, 22, 23, 64, 255, 256, 2**31, 2**32, 2**63 - 1]),
        st.floats(allow_nan=False),
        st.text(max_size=6),
        st.sampled_from(
            ["<u8", "|u1", "<i4", "O", "<f8", "S8", "V8", "hamming", "exact", "linear", "none", "md5"]
        ),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every path into a JSON tree (dict keys and list positions)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@fuzz_settings(150)
@given(
    which=st.sampled_from(["items", "plain"]),
    data=st.data(),
    edits=st.integers(1, 3),
)
def test_header_edits(index_files, tmp_path_factory, which, data, edits):
    """Any field of the JSON header replaced, deleted or added: the load rejects it or the index works."""
    raw = index_files[which]
    header, end = split(raw)
    for _ in range(edits):
        paths = [p for p in _paths(header) if p]
        path = data.draw(st.sampled_from(paths))
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "nudge"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=5))] = data.draw(_JSON_VALUES)
        elif action == "nudge" and type(parent[path[-1]]) is int:
            parent[path[-1]] += data.draw(st.sampled_from([-65, -64, -8, -1, 1, 8, 64, 65, 2**20]))
        else:
            parent[path[-1]] = data.draw(_JSON_VALUES)
    check_index_file(write(tmp_path_factory, assemble(header, raw, end)))


@fuzz_settings(150)
@given(
    which=st.sampled_from(["items", "plain"]),
    data=st.data(),
)
def test_flipped_bytes_in_the_arrays(index_files, tmp_path_factory, which, data):
    """Bytes of the arrays changed: a cheap load may open the file, but every query then answers or raises
    UserError (the C search checks each bucket offset and id it reads; the small arrays are checked at load);
    ``verify=True`` always rejects it (oracle: a changed byte inside an array's extent fails its CRC)."""
    original = index_files[which]
    raw = bytearray(original)
    header, end = split(original)
    data_start = (end + ALIGN - 1) // ALIGN * ALIGN
    extents = [
        (data_start + spec["offset"], data_start + spec["offset"] + spec["nbytes"])
        for spec in header["arrays"].values()
        if spec["nbytes"]
    ]
    for _ in range(data.draw(st.integers(1, 6))):
        lo, hi = data.draw(st.sampled_from(extents))
        raw[data.draw(st.integers(lo, hi - 1))] = data.draw(
            st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)
        )
    path = write(tmp_path_factory, bytes(raw))
    check_index_file(path)
    if raw != original:  # every changed byte lies inside an array
        with pytest.raises(UserError, match="CRC-32|corrupt index"):
            KnownHashIndex.load(path, verify=True)


@fuzz_settings(60)
@given(which=st.sampled_from(["items", "plain"]), cut=st.integers(0, 100_000))
def test_truncated_files_are_rejected(index_files, tmp_path_factory, which, cut):
    raw = index_files[which]
    size = cut % len(raw)
    path = write(tmp_path_factory, raw[:size])
    check_index_file(path)
    header, end = split(raw)
    data_start = (end + ALIGN - 1) // ALIGN * ALIGN
    needed = max(data_start + s["offset"] + s["nbytes"] for s in header["arrays"].values())
    if size < needed:
        with pytest.raises(UserError, match=r"is not a hashwatch index|truncated|corrupt"):
            KnownHashIndex.load(path)


@fuzz_settings(100)
@given(which=st.sampled_from(["items", "plain"]), data=st.data())
def test_random_damage_anywhere(index_files, tmp_path_factory, which, data):
    """Unstructured damage: bytes inserted, removed or changed anywhere (header included)."""
    raw = bytearray(index_files[which])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if op == "set":
            raw[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del raw[at : at + data.draw(st.integers(1, 64))]
    check_index_file(write(tmp_path_factory, bytes(raw)))
