"""Property tests of the known-hash list parsers (CSV, TSV, Parquet, pytx lines, gzip) and the tombstone
reader, with brute-force oracles:

- **round trip**: rows written the way users write them (csv module, pyarrow, pytx lines) read back as the
  same rows (types and values lower-cased and trimmed, labels trimmed, deleted flags parsed);
- **skip_invalid**: a file mixing good and bad rows loads with ``skip_invalid=True`` to exactly the good rows,
  counting the bad ones, and without it raises one UserError line naming the file and a bad row's line;
- **hostile bytes**: real list files with bytes flipped, inserted, cut or re-encoded, and Parquet files with
  odd column types, either load or raise UserError naming the file (``fuzz_targets.check_list_file``).
"""

from __future__ import annotations

import gzip
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzz_config import fuzz_settings
from fuzz_corpora import LIST_COLUMNS, write_list
from fuzz_targets import LIST_FORMATS, check_list, check_list_file
from hypothesis import given
from hypothesis import strategies as st

from hashwatch.errors import UserError
from hashwatch.hashing.known_hash_list import load_lists
from hashwatch.hashing.list_file import read_list

HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64, "phash": 16, "dhash": 16}
TRUE, FALSE = ("true", "1", "yes", "y", "t"), ("", "false", "0", "no", "n", "f")

# Label text: anything a list may hold (commas, quotes, tabs, quoted line breaks, non-ASCII); no edge
# whitespace, whose trimming the oracle would have to copy from pyarrow.
_label = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
        st.sampled_from('\n\t,"'),
    ),
    max_size=12,
).map(str.strip)


@st.composite
def valid_rows(draw) -> dict[str, str]:
    hash_type = draw(st.sampled_from(sorted(HEX_LENGTHS)))
    value = draw(
        st.text("0123456789abcdefABCDEF", min_size=HEX_LENGTHS[hash_type], max_size=HEX_LENGTHS[hash_type])
    )
    pad = draw(st.sampled_from(["", " ", "  "]))
    return {
        "hash_type": pad + draw(st.sampled_from([hash_type, hash_type.upper(), hash_type.title()])),
        "hash_value": value + pad,
        "category": draw(_label),
        "source": draw(_label),
        "list_version": draw(_label),
        "deleted": draw(st.sampled_from([*TRUE, *FALSE, "TRUE", " No "])),
        "item_id": draw(_label),
        "note": draw(_label),
    }


def expected(rows: list[dict[str, str]]) -> list[tuple]:
    """The oracle: what read_list must return for valid rows (by hand, row by row)."""
    return [
        (
            r["hash_type"].strip().lower(),
            r["hash_value"].strip().lower(),
            r["category"].strip(),
            r["source"].strip(),
            r["list_version"].strip(),
            r["deleted"].strip().lower() in TRUE,
            r["item_id"].strip(),
        )
        for r in rows
    ]


def got(rows) -> list[tuple]:
    cols = [rows.hash_type, rows.hash_value, rows.category, rows.source, rows.list_version]
    lists = [c.to_pylist() for c in cols]
    return [
        (*(col[i] for col in lists), bool(rows.deleted[i]), rows.item_id.to_pylist()[i])
        for i in range(len(rows.deleted))
    ]


@fuzz_settings(60)
@given(
    rows=st.lists(valid_rows(), min_size=1, max_size=8),
    fmt=st.sampled_from(["csv", "tsv", "parquet", "csv.gz", "tsv.gz"]),
)
def test_rows_written_and_read_back_are_the_same(tmp_path_factory, rows, fmt):
    path = tmp_path_factory.mktemp("roundtrip") / f"list.{fmt}"
    write_list(path, rows, fmt.removesuffix(".gz"))
    assert got(read_list(str(path))) == expected(rows)
    assert got(read_list(str(path), skip_invalid=True)) == expected(rows)


@fuzz_settings(40)
@given(rows=st.lists(valid_rows(), min_size=1, max_size=8), comments=st.booleans())
def test_pytx_lines_read_back(tmp_path_factory, rows, comments):
    path = tmp_path_factory.mktemp("pytx") / "export.txt"
    lines = [f"{r['hash_type']} {r['hash_value']}" for r in rows]
    if comments:
        lines = ["# exported", "", *lines, "  # end"]
    path.write_text("\n".join(lines) + "\n")
    want = [(r[0], r[1], "", "export.txt", "", False, "") for r in expected(rows)]
    assert got(read_list(str(path))) == want


# ---------------------------------------------------------------- bad rows

_BAD_ROWS = {
    "unknown hash type": lambda r: {**r, "hash_type": "md6"},
    "empty hash type": lambda r: {**r, "hash_type": ""},
    "hash type with a NUL": lambda r: {**r, "hash_type": r["hash_type"].strip() + "\x00"},
    "content key type": lambda r: {**r, "hash_type": "crc32c", "hash_value": "0" * 8},
    "short value": lambda r: {**r, "hash_value": r["hash_value"].strip()[:-1]},
    "long value": lambda r: {**r, "hash_value": r["hash_value"].strip() + "0"},
    "not hex": lambda r: {**r, "hash_value": "g" + r["hash_value"].strip()[1:]},
    "bad deleted flag": lambda r: {**r, "deleted": "maybe"},
}


@fuzz_settings(60)
@given(
    rows=st.lists(
        st.tuples(valid_rows(), st.one_of(st.none(), st.sampled_from(sorted(_BAD_ROWS)))),
        min_size=1,
        max_size=8,
    ),
    fmt=st.sampled_from(["csv", "tsv", "parquet"]),
)
def test_skip_invalid_keeps_exactly_the_good_rows(tmp_path_factory, rows, fmt):
    """Oracle: with skip_invalid the good rows load (and only they), the bad ones are counted; without it a
    UserError names the file and the line (CSV/TSV) or row (Parquet) of a bad row."""
    path = tmp_path_factory.mktemp("skip") / f"list.{fmt}"
    written = [_BAD_ROWS[bad](row) if bad else row for row, bad in rows]
    write_list(path, written, fmt)
    good = [row for row, bad in rows if bad is None]
    bad_at = [i for i, (_, bad) in enumerate(rows) if bad is not None]
    merged_rows = read_list(str(path), skip_invalid=True)
    assert got(merged_rows) == expected(good)
    assert load_lists([str(path)], skip_invalid=True).rows_skipped == len(bad_at)
    if not bad_at:
        return
    with pytest.raises(UserError) as info:
        read_list(str(path))
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    where = re.match(re.escape(str(path)) + r"(?::(\d+)|: row (\d+)):", message)
    assert where, message
    if where.group(2):  # Parquet names the 1-based row
        assert int(where.group(2)) - 1 in bad_at, (message, bad_at)
    else:  # CSV/TSV the line a row starts on: the header is line 1, quoted line breaks add lines
        starts = [
            2 + i + sum(v.count("\n") for r in written[:i] for v in r.values()) for i in range(len(written))
        ]
        assert int(where.group(1)) in [starts[i] for i in bad_at], (message, bad_at, starts)


@fuzz_settings(40)
@given(
    rows=st.lists(valid_rows(), min_size=1, max_size=6),
    extra=st.lists(st.sampled_from(["", "x", "y z", "\t"]), min_size=1, max_size=3),
    where=st.integers(0, 5),
)
def test_wrong_column_counts_are_skipped_or_named(tmp_path_factory, rows, extra, where):
    rows = [{k: v.replace("\n", " ") for k, v in r.items()} for r in rows]  # one line per row here
    path = tmp_path_factory.mktemp("columns") / "list.csv"
    write_list(path, rows, "csv")
    lines = path.read_text().split("\n")
    k = 1 + min(where, len(rows) - 1)
    lines[k] = lines[k] + "," + ",".join(extra)
    path.write_text("\n".join(lines))
    kept = read_list(str(path), skip_invalid=True)
    assert got(kept) == expected(rows[: k - 1] + rows[k:])
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}:{k + 1}: "):
        read_list(str(path))


# ---------------------------------------------------------------- hostile bytes


class _Seed(bytes):
    """A seed list file with a short repr (a failing example names the seed, not its bytes)."""

    def __repr__(self) -> str:
        return f"<list seed {LIST_FORMATS[self[0]]}, {len(self)} bytes>"


def _seed_files(workdir) -> list[bytes]:
    import fuzz_corpora

    return [_Seed(s) for s in fuzz_corpora.list_seeds(workdir)]


_SEEDS: list[bytes] = []


@pytest.fixture(scope="module")
def list_seed_inputs(tmp_path_factory) -> list[bytes]:
    if not _SEEDS:
        _SEEDS.extend(_seed_files(tmp_path_factory.mktemp("list-seeds")))
    return _SEEDS


_JUNK = st.sampled_from(
    [
        b"\x00",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b'"',
        b",",
        b"\t",
        b"\r",
        b"\n",
        b"\r\n",
        b"#",
        b"md5",
        b" ",
        b"\xef\xbb\xbf",
    ]
)


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if len(data) < 2:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(1, max(1, len(data) - 1)))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(_JUNK)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 200))] * draw(st.integers(1, 50))
    return bytes(data)


@fuzz_settings(80)
@given(data=st.data())
def test_mutated_list_files_load_or_name_the_file(list_seed_inputs, data):
    check_list(data.draw(mutated(list_seed_inputs)))


@fuzz_settings(40)
@given(
    fmt=st.integers(0, len(LIST_FORMATS) - 1),
    body=st.binary(max_size=300),
    tail=st.sampled_from([b"", b"\xff", b"\xf1", b"\xe2\x82", b"\x00"]),
)
def test_raw_bytes_as_list_files(fmt, body, tail):
    check_list(bytes([fmt]) + b"hash_type,hash_value\n" + body + tail)


_ARROW_COLUMNS = st.sampled_from(
    [
        pa.array(["md5"]),
        pa.array(["0" * 32]),
        pa.array([None], pa.string()),
        pa.array([None], pa.null()),
        pa.array([7]),
        pa.array([1.5]),
        pa.array([True]),
        pa.array([b"\xff\xfe"], pa.binary()),
        pa.array([b"md5"], pa.large_binary()),
        pa.array([["md5"]]),
        pa.array([{"a": 1}]),
        pa.array(["md5"]).dictionary_encode(),
        pa.array([0], pa.date32()),
        pa.array(["\x00"]),
    ]
)


@fuzz_settings(60)
@given(
    columns=st.lists(
        st.tuples(st.sampled_from([*LIST_COLUMNS, "other", ""]), _ARROW_COLUMNS), min_size=1, max_size=6
    ),
    metadata=st.sampled_from([None, {"bad_rows": "[(5, 'x')]"}, {"bad_rows": "not python"}]),
)
def test_parquet_with_odd_columns(tmp_path_factory, columns, metadata):
    """Parquet files with any column types, repeated names and foreign schema metadata."""
    names = [name for name, _ in columns]
    table = pa.Table.from_arrays([col for _, col in columns], names=names)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    path = tmp_path_factory.mktemp("parquet") / "list.parquet"
    pq.write_table(table, path)
    check_list_file(str(path))


def test_gzip_seed_is_really_gzip(tmp_path):
    """The .txt.gz list seed is gzip (the target writes it as is, so mutations damage the stream)."""
    seeds = _seed_files(tmp_path)
    code = LIST_FORMATS.index(".txt.gz")
    assert gzip.decompress(seeds[code][1:]).startswith(b"# pytx export")
    assert os.path.exists(tmp_path)
