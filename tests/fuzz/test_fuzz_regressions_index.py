"""Regression tests for the index file reader and the C search: every failure the fuzz and property tests
found, as the damage done to a freshly built index. Each test failed before its fix (the corrupt-table ones
with a segfault, which is why they query in a subprocess).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex

# ---------------------------------------------------------------- known_hash_index: the file reader


def _index(tmp_path, rows=None) -> tuple[bytes, dict, int]:
    rng = np.random.default_rng(5)
    rows = rows or [
        (t, rng.bytes(n).hex(), "A", "s", "1", "false", f"item{i}")
        for i in range(40)
        for t, n in (("pdq", 32), ("phash", 8), ("md5", 16))
    ]
    lst = tmp_path / "l.csv"
    lst.write_text("hash_type,hash_value,category,source,list_version,deleted,item_id\n")
    with lst.open("a") as fh:
        fh.writelines(",".join(r) + "\n" for r in rows)
    build_index([str(lst)], str(tmp_path / "i.hwidx"))
    data = (tmp_path / "i.hwidx").read_bytes()
    (head_len,) = struct.unpack("<Q", data[8:16])
    data_start = (16 + head_len + 63) // 64 * 64
    return data, json.loads(data[16 : 16 + head_len]), data_start


def _with_header(data: bytes, header: dict) -> bytes:
    """``data`` with a new header; the arrays follow it at the next 64-byte boundary, as the writer puts them
    (their offsets count from there)."""
    (head_len,) = struct.unpack("<Q", data[8:16])
    head = json.dumps(header, separators=(",", ":")).encode()
    arrays = data[(16 + head_len + 63) // 64 * 64 :]
    pad = (16 + len(head) + 63) // 64 * 64 - 16 - len(head)
    return data[:8] + struct.pack("<Q", len(head)) + head + b"\x00" * pad + arrays


_QUERY_IN_SUBPROCESS = textwrap.dedent(
    """
    import sys
    from hashwatch.errors import UserError
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    index = KnownHashIndex.load(sys.argv[1])
    try:
        index.lookup(sys.argv[2], [sys.argv[3]], 8)
    except UserError as exc:
        print(exc)
    """
)


@pytest.mark.parametrize(("hash_type", "array", "fill"), [("pdq", "offsets", "ramp"), ("pdq", "ids", 0xFF)])
def test_corrupt_tables_do_not_crash_the_search(tmp_path, hash_type, array, fill):
    """A bucket offset or id past the table made _mih read out of bounds: a segfault (found by the fuzzers).
    The search checks each one it reads and the query raises UserError. In a subprocess, so a crash fails
    this test instead of killing the run."""
    data, header, start = _index(tmp_path)
    spec = header["arrays"][f"{hash_type}.{array}"]
    raw = bytearray(data)
    lo, hi = start + spec["offset"], start + spec["offset"] + spec["nbytes"]
    if fill == "ramp":  # non-decreasing, as a table must be, but reaching far past the entries
        raw[lo:hi] = (np.arange(spec["nbytes"] // 4, dtype="<u4") * 100_000).tobytes()
    else:
        raw[lo:hi] = bytes([fill]) * (hi - lo)
    path = tmp_path / "corrupt.hwidx"
    path.write_bytes(bytes(raw))
    # The first listed PDQ value (the first draw of _index's generator): a query that reaches a candidate, so
    # the search reads an id. Since the chunk fingerprints (format 3) a query far from every entry is
    # rejected before any id is read, and a corrupt id then does no harm and is not seen.
    listed = np.random.default_rng(5).bytes(32).hex()
    run = subprocess.run(
        [sys.executable, "-c", _QUERY_IN_SUBPROCESS, str(path), hash_type, listed],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-500:]}"
    assert run.stdout.startswith(f"{path}: corrupt index (search: a bucket offset or id is out of range)")
    with pytest.raises(UserError, match=f"array {hash_type}.{array} fails its CRC-32"):
        KnownHashIndex.load(str(path), verify=True)


def _edit(header: dict, what: str) -> None:
    arrays, types = header["arrays"], header["types"]
    if what == "shape missing":
        del arrays["pdq.codes"]["shape"]
    elif what == "dtype numpy cannot parse":
        arrays["pdq.codes"]["dtype"] = "08"  # np.dtype() raised SyntaxError
    elif what == "dtype not a string":
        arrays["pdq.codes"]["dtype"] = []
    elif what == "offset a string":
        arrays["pdq.codes"]["offset"] = "0"
    elif what == "table past its array":
        types["pdq"]["table_off"][-1] += 1_000_000
    elif what == "chunk lengths":
        types["phash"]["lengths"] = [64]
    elif what == "label set out of range":
        header["label_sets"] = []
    elif what == "array missing":
        del arrays["md5.keys"]
    elif what == "kind unknown":
        types["md5"]["kind"] = "fuzzy"
    elif what == "array name with a line break":
        arrays["x\r\ny"] = None


@pytest.mark.parametrize(
    "what",
    [
        "shape missing",
        "dtype numpy cannot parse",
        "dtype not a string",
        "offset a string",
        "table past its array",
        "chunk lengths",
        "label set out of range",
        "array missing",
        "kind unknown",
        "array name with a line break",
    ],
)
def test_corrupt_header_fields(tmp_path, what):
    """Each became a KeyError, TypeError, SyntaxError or IndexError (at load or at the first match)."""
    data, header, _ = _index(tmp_path)
    _edit(header, what)
    path = tmp_path / "edited.hwidx"
    path.write_bytes(_with_header(data, header))
    with pytest.raises(UserError, match=rf"^{path}: corrupt index") as info:
        KnownHashIndex.load(str(path))
    assert "\n" not in str(info.value) and "\r" not in str(info.value)


@pytest.mark.parametrize("size", [8, 12, 15])
def test_file_cut_inside_the_header_length(tmp_path, size):
    """struct.error: unpack requires a buffer of 8 bytes."""
    data, _, _ = _index(tmp_path)
    path = tmp_path / "cut.hwidx"
    path.write_bytes(data[:size])
    with pytest.raises(UserError, match=rf"^{path}: truncated index"):
        KnownHashIndex.load(str(path))


def test_header_that_is_not_a_json_object(tmp_path):
    """AttributeError: 'list' object has no attribute 'get'."""
    data, _, _ = _index(tmp_path)
    path = tmp_path / "list.hwidx"
    (head_len,) = struct.unpack("<Q", data[8:16])
    path.write_bytes(data[:16] + b"[1]".ljust(head_len) + data[16 + head_len :])
    with pytest.raises(UserError, match=rf"^{path}: corrupt index header"):
        KnownHashIndex.load(str(path))
