"""One known-hash list file: read CSV/TSV (with a header), Parquet or pytx ``<type> <hash>`` lines, and
validate every row.

Columns (DESIGN.md): ``hash_type``, ``hash_value`` (required), ``category``, ``source``, ``list_version``,
``deleted`` (true/false, 1/0, yes/no; empty = false), ``item_id`` (optional: the list's own id of the picture a
row hashes; rows of one source with the same item_id are hashes of one picture, which lets a pHash match be
corroborated by the same picture's dHash), ``note`` (ignored). Other columns are ignored. Hash
types and values are case-insensitive and trimmed; values are validated for their type's length and for hex.

Format by file name: ``.csv``, ``.tsv``/``.tab`` (optionally ``.gz``), ``.parquet``/``.pq``; anything else is
sniffed: a first line naming ``hash_type`` and ``hash_value`` is a header (tab or comma separated), otherwise
the file is pytx lines ``<type> <hash>`` (blank lines and ``#`` comments allowed; source = the file's name).

A bad row raises :class:`hashwatch.errors.UserError` naming file and line (``list.csv:17: pdq needs 64 hex
digits, got 63``); with ``skip_invalid=True`` bad rows are counted by reason and skipped::

    rows = read_list("iwf.csv")                  # ListRows: validated columns, in file order

Reading uses pyarrow (columnar, vectorised validation): tens of millions of rows load in seconds. Merging
files into the entries an index is built from is :mod:`~hashwatch.hashing.known_hash_list`'s job.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import HashType, IndexKind, hash_types
from hashwatch.hashing.list_text import csv_records, quiet_undecodable_rows, text_lines

__all__ = ["COLUMNS", "ListRows", "SkipTally", "note_skipped", "read_list"]

COLUMNS = ("hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id", "note")
_REQUIRED = ("hash_type", "hash_value")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"", "false", "0", "no", "n", "f"}


def _detect_format(path: str) -> str:
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".tab")):
        return "tsv"
    first = _first_line(path)
    if "hash_type" in first and "hash_value" in first:
        return "tsv" if "\t" in first else "csv"
    return "pytx"


def _first_line(path: str) -> str:
    for line in text_lines(path):
        if line.strip() and not line.lstrip().startswith("#"):
            return line
    return ""


SKIPPED_EXAMPLES = 5  # bad rows named (file and line) when --skip-invalid skips them


class SkipTally(Counter):
    """Rows ``--skip-invalid`` skipped: counts by reason, and the first few rows named (``file:line:
    reason``) so a user can find and mend them."""

    def __init__(self) -> None:
        super().__init__()
        self.examples: list[str] = []


def note_skipped(skipped: Counter, reason: str, where: Callable[[], str]) -> None:
    """Count one skipped row; name it (``where()``, called only while examples are wanted). Rows are noted
    in two passes per file (malformed CSV rows, then invalid values), each in file order, so each pass keeps
    its first :data:`SKIPPED_EXAMPLES` and :func:`read_list` keeps the file's first few of both."""
    skipped[reason] += 1
    examples = getattr(skipped, "examples", None)
    if examples is not None and len(examples) < SKIPPED_EXAMPLES * 2:
        examples.append(where())


def _first_examples(examples: list[str], start: int) -> None:
    """Keep the first :data:`SKIPPED_EXAMPLES` named rows, in file order (the ones since ``start`` are one
    file's, ``path:line: why``)."""

    def line(text: str) -> int:
        number = text.split(": ", 1)[0].rsplit(":", 1)[-1]
        return int(number) if number.isdigit() else 0

    examples[start:] = sorted(examples[start:], key=line)
    del examples[SKIPPED_EXAMPLES:]


def _read_table(path: str, fmt: str, skip_invalid: bool, skipped: Counter):
    """The raw table of one file (string columns) and a function mapping a row index to a location text."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise UserError(f"{path}: cannot read Parquet ({type(exc).__name__})") from None
        return table, (lambda row: f"{path}: row {row + 1}")
    if fmt == "pytx":
        return _read_pytx(path)
    import pyarrow.csv as pacsv

    delimiter = "\t" if fmt == "tsv" else ","
    try:
        header = next(csv.reader([_first_line(path)], delimiter=delimiter), [])
    except csv.Error as exc:
        raise UserError(f"{path}: cannot split the header into fields ({exc})") from None
    header = [h.strip() for h in header]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise UserError(f"{path}:1: header lacks column(s) {', '.join(missing)} (has: {', '.join(header)})")
    twice = sorted({c for c in header if c in COLUMNS and header.count(c) > 1})
    if twice:
        raise UserError(f"{path}:1: header names column(s) {', '.join(twice)} more than once")

    malformed = 0

    def on_invalid(row) -> str:
        nonlocal malformed
        if not skip_invalid:
            return "error"
        malformed += 1
        return "skip"

    try:
        with quiet_undecodable_rows():
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.large_string() for c in header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
    except pa.ArrowInvalid as exc:
        text = str(exc)
        line = _csv_error_line(path, delimiter, len(header))
        where = f"{path}:{line}" if line else path
        if "columns" in text:
            raise UserError(f"{where}: wrong number of columns (expected {len(header)})") from None
        raise UserError(f"{where}: cannot parse as {fmt.upper()}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None

    lines: list[list[int]] = []  # data-row lines, malformed-row lines: one scan, only when asked

    def scan() -> tuple[list[int], list[int]]:
        if not lines:
            lines.extend(_csv_lines(path, delimiter, len(header)))
        return lines[0], lines[1]

    if malformed:  # pyarrow does not say where (InvalidRow.number is None when reading in parallel)
        for line in scan()[1]:
            note_skipped(
                skipped,
                "wrong number of columns",
                lambda line=line: f"{path}:{line}: wrong number of columns",
            )

    def locate(row: int) -> str:
        data_lines = scan()[0]
        return f"{path}:{data_lines[row]}" if row < len(data_lines) else path

    return table, locate


def _csv_lines(path: str, delimiter: str, ncols: int) -> tuple[list[int], list[int]]:
    """The file line each data row starts on (rows after the header, blank lines skipped, as pyarrow reads
    them), and the lines of malformed rows (a column count other than the header's, which --skip-invalid
    drops). A row may span lines inside quotes: its first line is the one named."""
    data: list[int] = []
    malformed: list[int] = []
    header_seen = False
    for start, record in csv_records(path, delimiter):
        if record and any(x.strip() for x in record):
            if not header_seen:
                header_seen = True
            elif len(record) == ncols:
                data.append(start)
            else:
                malformed.append(start)
    return data, malformed


def _csv_error_line(path: str, delimiter: str, ncols: int) -> int | None:
    """First line whose column count differs from the header's (for parse errors)."""
    for start, record in csv_records(path, delimiter):
        if record and len(record) != ncols:
            return start
    return None


def _read_pytx(path: str):
    import pyarrow as pa

    types: list[str] = []
    values: list[str] = []
    lines: list[int] = []
    bad: list[tuple[int, str]] = []
    for lineno, line in enumerate(text_lines(path), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if parts and parts[0].lower() == "vpdq":  # pytx's JSON list of frames holds spaces
            parts = text.split(None, 1)
        if len(parts) != 2:
            bad.append((len(types), f"expected '<type> <hash>', got {len(parts)} fields"))
            parts = ["", ""]
        types.append(parts[0])
        values.append(parts[1])
        lines.append(lineno)
    source = os.path.basename(path)
    table = pa.table(
        {
            "hash_type": pa.array(types, pa.large_string()),
            "hash_value": pa.array(values, pa.large_string()),
            "source": pa.array([source] * len(types), pa.large_string()),
        }
    )

    def locate(row: int) -> str:
        return f"{path}:{lines[row]}"

    table = table.replace_schema_metadata({"bad_rows": repr(bad)})
    return table, locate


def _text_columns(path: str, table, check_utf8: bool):
    """``table`` with the list columns as text; a column of another kind (a list, a struct), not UTF-8 or
    named twice is a UserError. ``check_utf8`` for Parquet, whose reader does not check that strings are
    UTF-8 (the CSV reader does): 0.1 s for 2 M rows of 8 columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = table.column_names
    for name in COLUMNS:
        if names.count(name) > 1:
            raise UserError(f"{path}: column {name} appears {names.count(name)} times")
        if name not in names:
            continue
        column = table.column(name)
        try:
            if not pa.types.is_large_string(column.type):
                table = table.set_column(names.index(name), name, pc.cast(column, pa.large_string()))
            if check_utf8:
                table.column(name).validate(full=True)
        except pa.ArrowException:
            raise UserError(f"{path}: column {name} ({column.type}) is not UTF-8 text") from None
    return table


def _column(table, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in table.column_names:
        return pa.array([""] * table.num_rows, pa.large_string())
    col = table.column(name)
    if not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.large_string())
    col = pc.fill_null(col, "")
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


@dataclass
class ListRows:
    """Validated rows of one file, as columns (numpy / pyarrow), in file order."""

    hash_type: Any  # pyarrow large_string
    hash_value: Any
    category: Any
    source: Any
    list_version: Any
    deleted: np.ndarray
    item_id: Any = None  # pyarrow large_string ("" = none)


def read_list(path: str, *, skip_invalid: bool = False, skipped: Counter | None = None) -> ListRows:
    """Read and validate one list file; raises UserError on the first bad row unless ``skip_invalid``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    skipped = skipped if skipped is not None else SkipTally()
    if not os.path.exists(path):
        raise UserError(f"list file not found: {path}")
    examples_before = len(getattr(skipped, "examples", ()))
    fmt = _detect_format(path)
    table, locate = _read_table(path, fmt, skip_invalid, skipped)
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: lacks column(s) {', '.join(missing)}")
    table = _text_columns(path, table, check_utf8=fmt == "parquet")
    n = table.num_rows
    htype = pc.utf8_lower(pc.utf8_trim_whitespace(_column(table, "hash_type")))
    hval = pc.utf8_lower(pc.utf8_trim_whitespace(_column(table, "hash_value")))
    deleted_text = pc.utf8_lower(pc.utf8_trim_whitespace(_column(table, "deleted")))

    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, tuple[str, str]] = {}

    def flag(mask: np.ndarray, reason: str, detail) -> None:
        new = mask & ~bad
        if not new.any():
            return
        for row in np.nonzero(new)[0][: 1 if not skip_invalid else None]:
            reasons[int(row)] = (reason, detail(int(row)) if callable(detail) else detail)
            if not skip_invalid:
                break
        bad[new] = True

    meta = table.schema.metadata or {} if fmt == "pytx" else {}  # a Parquet file's metadata is not ours
    if b"bad_rows" in meta:
        import ast

        for row, detail in ast.literal_eval(meta[b"bad_rows"].decode()):
            m = np.zeros(n, dtype=bool)
            m[row] = True
            flag(m, "malformed line", detail)

    types_np = np.asarray(htype.to_numpy(zero_copy_only=False), dtype=object) if n else np.array([], object)
    known = {ht.name: ht for ht in hash_types()}
    lengths = pc.utf8_length(hval).to_numpy(zero_copy_only=False) if n else np.array([], np.int64)
    is_hex = pc.match_substring_regex(hval, "^[0-9a-f]*$").to_numpy(zero_copy_only=False) if n else lengths
    for name in sorted(set(types_np.tolist())):
        # pyarrow compares exactly; numpy would strip a trailing NUL from ``name`` and flag other rows
        rows_of_type = pc.equal(htype, pa.scalar(name, pa.large_string())).to_numpy(zero_copy_only=False)
        ht: HashType | None = known.get(name)
        if ht is None:
            label = f"unknown hash type {name!r}" if name else "empty hash_type"
            flag(rows_of_type, "unknown hash type", f"{label} (known: {', '.join(sorted(known))})")
            continue
        if not ht.matchable or ht.index_kind == IndexKind.NONE:
            flag(rows_of_type, "type not matchable", f"{name} is a content key, not a list hash type")
            continue
        if type(ht).parse is not HashType.parse:  # a plug-in with its own syntax: validate row by row
            vals = hval.to_numpy(zero_copy_only=False)
            tombstones = np.isin(deleted_text.to_numpy(zero_copy_only=False), list(_TRUE))
            for row in np.nonzero(rows_of_type)[0]:
                if name == "vpdq" and vals[row] == "" and tombstones[row]:
                    continue  # a video's tombstone names it by item_id (checked below), not by its frames
                try:
                    ht.parse(vals[row])
                except ValueError as exc:
                    m = np.zeros(n, dtype=bool)
                    m[row] = True
                    flag(m, f"invalid {name} value", str(exc))
            continue
        wrong_len = rows_of_type & (lengths != ht.hex_length)
        flag(
            wrong_len,
            f"invalid {name} value",
            lambda row, ht=ht: f"{ht.name} needs {ht.hex_length} hex digits, got {lengths[row]}",
        )
        flag(rows_of_type & ~is_hex, f"invalid {name} value", f"{name} value is not hexadecimal")
    if "vpdq" in known and n:  # a one-frame vpdq row must name its video
        item_np = pc.utf8_trim_whitespace(_column(table, "item_id")).to_numpy(zero_copy_only=False)
        whole = pc.starts_with(hval, "[").to_numpy(zero_copy_only=False)
        frame_rows = (types_np == "vpdq") & (item_np == "") & ~whole
        flag(
            frame_rows,
            "invalid vpdq value",
            "a one-frame vpdq row ('pdq_hex,quality,timestamp') or a vpdq tombstone without a value needs "
            "an item_id naming its video",
        )
    deleted_np = deleted_text.to_numpy(zero_copy_only=False) if n else np.array([], object)
    is_true = np.isin(deleted_np, list(_TRUE))
    is_false = np.isin(deleted_np, list(_FALSE))
    flag(~(is_true | is_false), "invalid deleted flag", "deleted must be true/false, 1/0 or yes/no")

    if bad.any():
        if not skip_invalid:
            row = min(reasons)
            raise UserError(f"{locate(row)}: {reasons[row][1]}")
        for row, (reason, detail) in sorted(reasons.items()):
            note_skipped(skipped, reason, lambda row=row, detail=detail: f"{locate(row)}: {detail}")
    if hasattr(skipped, "examples"):
        _first_examples(skipped.examples, examples_before)
    keep = pa.array(~bad)
    return ListRows(
        hash_type=pc.filter(htype, keep),
        hash_value=pc.filter(hval, keep),
        category=pc.filter(pc.utf8_trim_whitespace(_column(table, "category")), keep),
        source=pc.filter(pc.utf8_trim_whitespace(_column(table, "source")), keep),
        list_version=pc.filter(pc.utf8_trim_whitespace(_column(table, "list_version")), keep),
        deleted=is_true[~bad],
        item_id=pc.filter(pc.utf8_trim_whitespace(_column(table, "item_id")), keep),
    )
