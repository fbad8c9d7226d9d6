"""Regression tests for the known-hash list readers (CSV, TSV, pytx, Parquet, gzip): every failure the fuzz
and property tests found, with its minimal input as data (text or bytes literals). Each test failed before its
fix.
"""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.known_hash_list import load_lists
from hashwatch.hashing.list_file import read_list
from hashwatch.hashing.list_tombstones import read_tombstones

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MD5B = "9e107d9d372bb6826bd81d3542a419d6"


# ---------------------------------------------------------------- known_hash_list (CSV, TSV, pytx, Parquet)


def _raises_one_line(path, match: str, **kwargs) -> str:
    with pytest.raises(UserError, match=match) as info:
        read_list(str(path), **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_hash_type_with_a_trailing_nul(tmp_path):
    """numpy strips trailing NULs when it compares with a str: 'md5\\x00' escaped validation (KeyError at
    merge) and the md5 rows of the file were reported unknown instead."""
    path = tmp_path / "nul.csv"
    path.write_text(f"hash_type,hash_value\nmd5,{MD5}\nmd5\x00,{MD5B}\n")
    _raises_one_line(path, rf"^{path}:3: unknown hash type 'md5\\x00'")
    assert load_lists([str(path)], skip_invalid=True).rows_skipped == 1


def test_bad_utf8_after_the_first_block(tmp_path):
    """The header sniffing read only the first 8 KB; a Latin-1 note further down gave a UnicodeDecodeError."""
    path = tmp_path / "latin1.csv"
    rows = "".join(f"md5,{MD5},A\n" for _ in range(400))
    path.write_bytes(
        b"hash_type,hash_value,note\n" + rows.encode() + f"md5,{MD5B},caf\xe9\n".encode("latin-1")
    )
    _raises_one_line(path, rf"^{path}:402: not UTF-8 text")
    _raises_one_line(path, rf"^{path}:402: not UTF-8 text", skip_invalid=True)


def test_incomplete_utf8_at_the_end_of_a_pytx_file(tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes(f"md5 {MD5}\nmd5 {MD5B}\xf1".encode("latin-1"))
    _raises_one_line(path, rf"^{path}:2: not UTF-8 text")


def test_undecodable_row_with_wrong_columns_prints_no_traceback(tmp_path, capfd):
    """pyarrow printed 'Exception ignored in ... UnicodeDecodeError' (a traceback) before our one line."""
    path = tmp_path / "w.csv"
    path.write_bytes(b"hash_type,hash_value\n" + f"md5,{MD5}\n".encode() * 400 + b"md5,1,\xff\n")
    _raises_one_line(path, rf"^{path}:402: not UTF-8 text", skip_invalid=True)
    assert "Traceback" not in capfd.readouterr().err


def test_field_over_the_csv_module_limit(tmp_path):
    """Locating a bad row re-reads the file with the csv module, whose 128 KiB field limit raised csv.Error."""
    path = tmp_path / "huge.csv"
    path.write_text("hash_type,hash_value\nmd5," + "a" * 200_000 + "\n")
    _raises_one_line(path, rf"^{path}:2: cannot split the line into fields \(field larger than field limit")


def test_column_named_twice(tmp_path):
    path = tmp_path / "twice.tsv"
    path.write_text(f"hash_type\thash_value\thash_value\nmd5\t{MD5}\t{MD5}\n")
    _raises_one_line(path, rf"^{path}:1: header names column\(s\) hash_value more than once")


def test_parquet_schema_metadata_named_bad_rows(tmp_path):
    """The pytx reader passed its bad lines in schema metadata; a Parquet file with a 'bad_rows' key of its
    own made read_list eval it (ValueError, IndexError)."""
    path = tmp_path / "meta.parquet"
    for value in ("not python", "[(5, 'x')]"):
        table = pa.table({"hash_type": ["md5"], "hash_value": [MD5]}).replace_schema_metadata(
            {"bad_rows": value}
        )
        pq.write_table(table, path)
        assert read_list(str(path)).hash_value.to_pylist() == [MD5]


@pytest.mark.parametrize(
    "column",
    [pa.array([["md5"]]), pa.array([{"a": 1}]), pa.array([b"\xff\xfe"], pa.binary())],
    ids=["list", "struct", "binary-not-utf8"],
)
def test_parquet_column_that_is_not_text(tmp_path, column):
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"hash_type": column, "hash_value": [MD5]}), path)
    _raises_one_line(path, rf"^{path}: column hash_type \(.*\) is not UTF-8 text")
    with pytest.raises(UserError, match="is not UTF-8 text"):
        read_tombstones([str(path)])


def test_parquet_string_column_that_is_not_utf8(tmp_path):
    """Parquet does not check that a string column is UTF-8; pyarrow's trim raised ArrowInvalid."""
    data = b"md5\xff"
    offsets = pa.py_buffer(np.array([0, len(data)], np.int32).tobytes())
    column = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"hash_type": column, "hash_value": [MD5]}), path)
    _raises_one_line(path, rf"^{path}: column hash_type \(string\) is not UTF-8 text")


def test_gz_name_on_a_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "list.txt.gz"
    path.write_bytes(f"md5 {MD5}\n".encode())
    _raises_one_line(path, rf"^cannot read {path}: BadGzipFile \(not a complete gzip file\?\)")
    path.write_bytes(gzip.compress(f"md5 {MD5}\n".encode())[:-12])  # cut short
    _raises_one_line(path, rf"^cannot read {path}: EOFError")
