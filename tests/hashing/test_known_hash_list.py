"""Known-hash list loading: formats, validation errors naming file and line, skipping, tombstones, merging."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.known_hash_list import load_lists

PDQ = "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22"
PDQ2 = "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MD5B = "9e107d9d372bb6826bd81d3542a419d6"
HEADER = "hash_type,hash_value,category,source,list_version,deleted,note"


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def values(merged, hash_type: str) -> list[str]:
    entries = merged.types.get(hash_type)
    return [] if entries is None else [bytes(v).hex() for v in entries.values]


def labels_of(merged, hash_type: str, value: str) -> set[tuple]:
    entries = merged.types[hash_type]
    i = values(merged, hash_type).index(value)
    return {merged.labels[lab] for lab in merged.label_sets[int(entries.label_sets[i])]}


ROWS = [
    ("md5", MD5, "A", "iwf", "2026-01", "", ""),
    ("pdq", PDQ, "B", "iwf", "2026-01", "false", "a note"),
    ("pdq", PDQ, "A", "ncmec", "v7", "", ""),
]


def test_csv_tsv_parquet_and_gzip_give_the_same_merge(tmp_path):
    csv_text = HEADER + "\n" + "\n".join(",".join(r) for r in ROWS) + "\n"
    a = load_lists([write(tmp_path / "l.csv", csv_text)])
    b = load_lists([write(tmp_path / "l.tsv", csv_text.replace(",", "\t"))])
    with gzip.open(tmp_path / "l.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(csv_text)
    c = load_lists([str(tmp_path / "l.csv.gz")])
    cols = list(zip(*ROWS, strict=True))
    table = pa.table({name: list(col) for name, col in zip(HEADER.split(","), cols, strict=True)})
    pq.write_table(table, tmp_path / "l.parquet")
    d = load_lists([str(tmp_path / "l.parquet")])
    e = load_lists([write(tmp_path / "sniffed.txt", csv_text)])  # header sniffed, not pytx
    assert a.checksum == b.checksum == c.checksum == d.checksum == e.checksum
    assert values(a, "pdq") == [PDQ] and values(a, "md5") == [MD5]
    assert labels_of(a, "pdq", PDQ) == {("B", "iwf", "2026-01"), ("A", "ncmec", "v7")}
    assert a.list_versions == {"iwf": "2026-01", "ncmec": "v7"}
    assert a.rows_read == 3 and a.rows_skipped == 0


def test_case_and_whitespace_are_normalised(tmp_path):
    text = HEADER + f"\n MD5 , {MD5.upper()} ,A,iwf,1,,\n"
    m = load_lists([write(tmp_path / "l.csv", text)])
    assert values(m, "md5") == [MD5]


def test_pytx_lines(tmp_path):
    text = f"# exported\npdq {PDQ}\n\nmd5   {MD5}\n"
    m = load_lists([write(tmp_path / "signals.txt", text)])
    assert values(m, "pdq") == [PDQ]
    assert labels_of(m, "md5", MD5) == {(None, "signals.txt", None)}


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (HEADER + f"\nmd5,{MD5},A,s,1,,\n\nmd5,abc,A,s,1,,\n", ":4:", "md5 needs 32 hex digits, got 3"),
        (HEADER + f"\npdq,{'g' * 64},A,s,1,,\n", ":2:", "pdq value is not hexadecimal"),
        (HEADER + f"\nsha3,{MD5},A,s,1,,\n", ":2:", "unknown hash type 'sha3'"),
        (HEADER + "\ncrc32c,deadbeef,A,s,1,,\n", ":2:", "crc32c is a content key"),
        (HEADER + f"\nmd5,{MD5},A,s,1,maybe,\n", ":2:", "deleted must be true/false"),
        (HEADER + f"\nmd5,{MD5},A,s,1,,\nmd5,{MD5}\n", ":3:", "wrong number of columns"),
        ("hash,value\nmd5," + MD5 + "\n", ":1:", "header lacks column(s) hash_type, hash_value"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, text, where, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(UserError) as exc:
        load_lists([path])
    assert str(exc.value).startswith(path + where), str(exc.value)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_pytx_line_and_parquet_row(tmp_path):
    path = write(tmp_path / "s.txt", f"pdq {PDQ}\n# c\npdq {PDQ} extra\n")
    with pytest.raises(UserError, match=r"s\.txt:3: expected '<type> <hash>'"):
        load_lists([path])
    pq.write_table(
        pa.table({"hash_type": ["md5", "md5"], "hash_value": [MD5, "xyz"]}), tmp_path / "p.parquet"
    )
    with pytest.raises(UserError, match=r"p\.parquet: row 2: md5 needs 32"):
        load_lists([str(tmp_path / "p.parquet")])


def test_skip_invalid_counts_by_reason(tmp_path):
    text = (
        HEADER
        + f"\nmd5,{MD5},A,s,1,,\nmd5,abc,A,s,1,,\nsha3,{MD5},A,s,1,,\nmd5,{MD5B},A,s,1,,\n"
        + f"md5,{MD5}\npdq,{PDQ},A,s,1,perhaps,\n"
    )
    m = load_lists([write(tmp_path / "l.csv", text)], skip_invalid=True)
    assert values(m, "md5") == sorted([MD5, MD5B])
    assert "pdq" not in m.types
    assert m.rows_skipped == 4
    assert m.skipped_by_reason == {
        "invalid md5 value": 1,
        "unknown hash type": 1,
        "wrong number of columns": 1,
        "invalid deleted flag": 1,
    }
    assert m.files[0]["skipped"] == 4
    path = tmp_path / "l.csv"
    assert m.skipped_examples == [  # named in file order, whatever the reason
        f"{path}:3: md5 needs 32 hex digits, got 3",
        f"{path}:4: unknown hash type 'sha3' (known: {m.skipped_examples[1].split('(known: ')[1]}",
        f"{path}:6: wrong number of columns",
        f"{path}:7: deleted must be true/false, 1/0 or yes/no",
    ]


def test_tombstones_are_per_source_and_later_rows_win(tmp_path):
    base = write(
        tmp_path / "base.csv",
        HEADER + f"\nmd5,{MD5},A,iwf,1,,\nmd5,{MD5},A,ncmec,1,,\nmd5,{MD5B},B,iwf,1,,\npdq,{PDQ},A,iwf,1,,\n",
    )
    delta = write(
        tmp_path / "delta.csv",
        HEADER
        + f"\nmd5,{MD5},,iwf,2,true,\n"  # removes iwf's entry only
        + f"md5,{MD5B},C,iwf,2,,\n"  # re-categorised
        + f"pdq,{PDQ},,,,true,\n",  # source-less tombstone: gone for everyone
    )
    m = load_lists([base, delta])
    assert labels_of(m, "md5", MD5) == {("A", "ncmec", "1")}
    assert labels_of(m, "md5", MD5B) == {("C", "iwf", "2")}
    assert "pdq" not in m.types
    assert m.list_versions == {"iwf": "2", "ncmec": "1"}
    assert m.tombstones_applied == 2  # (md5, iwf) and (pdq, iwf); re-categorising MD5B removes nothing
    # A later add brings a tombstoned hash back; order of files matters.
    readd = write(tmp_path / "readd.csv", HEADER + f"\npdq,{PDQ},A,iwf,3,,\n")
    assert values(load_lists([base, delta, readd]), "pdq") == [PDQ]
    assert "pdq" not in load_lists([base, readd, delta]).types


def test_checksum_depends_on_content_not_on_row_order(tmp_path):
    rows = [f"md5,{MD5},A,s,1,,", f"pdq,{PDQ},A,s,1,,", f"pdq,{PDQ2},B,t,1,,"]
    one = load_lists([write(tmp_path / "a.csv", HEADER + "\n" + "\n".join(rows) + "\n")])
    two = load_lists([write(tmp_path / "b.csv", HEADER + "\n" + "\n".join(reversed(rows)) + "\n")])
    three = load_lists([write(tmp_path / "c.csv", HEADER + "\n" + "\n".join(rows[:2]) + "\n")])
    relabel = load_lists(
        [write(tmp_path / "d.csv", HEADER + "\n" + "\n".join([*rows[:2], rows[2][:-6] + "C,t,1,,"]))]
    )
    assert one.checksum == two.checksum
    assert len({one.checksum, three.checksum, relabel.checksum}) == 3


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(UserError, match="list file not found"):
        load_lists([str(tmp_path / "nope.csv")])
    with pytest.raises(UserError, match="no list files"):
        load_lists([])
    m = load_lists([write(tmp_path / "empty.csv", HEADER + "\n")])
    assert m.types == {} and m.rows_read == 0


def test_parquet_with_typed_columns(tmp_path):
    """Parquet writers use real types: a boolean deleted column, an integer list_version, nulls."""
    table = pa.table(
        {
            "hash_type": ["md5", "md5", "pdq"],
            "hash_value": [MD5, MD5, PDQ],
            "source": ["a", "a", None],
            "list_version": [1, 2, None],
            "deleted": pa.array([False, True, None], pa.bool_()),
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    m = load_lists([str(tmp_path / "typed.parquet")])
    assert "md5" not in m.types  # added in version 1, tombstoned in version 2
    assert values(m, "pdq") == [PDQ]
    assert labels_of(m, "pdq", PDQ) == {(None, None, None)}
    assert m.list_versions == {"a": "2"}
