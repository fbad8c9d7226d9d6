"""The rescan's inputs on the launching machine: which history and output files there are, and whether they
have the columns a rescan reads (Parquet footers only)::

    files = list_table_files("/data/hashwatch", "images", since="2026-11-01")   # [(path, dt, run_id)]
    rows = check_files([p for p, _, _ in files], IMAGES_SCHEMA, HISTORY_COLUMNS, "images/")
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from hashwatch.errors import UserError

__all__ = ["check_files", "list_table_files"]

_DT_PART = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/run_id=([^/]+)/[^/]+\.parquet$")


def list_table_files(
    folder: str, table: str, since: str | None = None, until: str | None = None
) -> list[tuple[str, str, str]]:
    """``(path, dt, run_id)`` of every finished Parquet file of ``folder/table`` (``dt=*/run_id=*/*.parquet``),
    sorted. Files of a run still writing (Beam's ``beam-temp-*`` folders) are one level deeper: never listed."""
    pattern = FileSystems.join(folder, table, "dt=*", "run_id=*", "*.parquet")
    found = []
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        path = metadata.path.replace("\\", "/")
        part = _DT_PART.search(path)
        if part is None:
            continue
        day, run_id = part.groups()
        if (since and day < since) or (until and day > until):
            continue
        found.append((metadata.path, day, run_id))
    return sorted(found)


_STRING = (pa.string(), pa.large_string())


def _type_ok(actual: pa.DataType, expected: pa.DataType) -> bool:
    if expected in _STRING:
        return actual in _STRING
    if pa.types.is_list(expected):
        return (pa.types.is_list(actual) or pa.types.is_large_list(actual)) and _type_ok(
            actual.value_type, expected.value_type
        )
    if pa.types.is_map(expected):
        return pa.types.is_map(actual) and _type_ok(actual.item_type, expected.item_type)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual)
    return actual == expected


def check_files(
    paths: list[str], schema: pa.Schema, columns, what: str, optional=(), with_optional: list | None = None
) -> int:
    """Check every file has ``columns`` with the types of ``schema``; return the total row count.

    Reads only the Parquet footers. A file that is not Parquet, lacks a column or has a column of another type
    is a :class:`UserError` naming the file and the column. ``optional`` columns may be missing (files
    written before they existed) but must have the right type when present; the paths of the files that
    have all of them are appended to ``with_optional``."""
    rows = 0
    for path in paths:
        try:
            with FileSystems.open(path) as handle:
                parquet = pq.ParquetFile(handle)
                actual = parquet.schema_arrow
                rows += parquet.metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise UserError(f"{path}: cannot read as Parquet ({type(exc).__name__}: {exc})") from None
        for name in columns:
            if name not in actual.names:
                raise UserError(
                    f"{path}: not a {what} file: it has no column {name!r} (has: {', '.join(actual.names)})"
                )
            expected = schema.field(name).type
            got = actual.field(name).type
            if not _type_ok(got, expected):
                raise UserError(f"{path}: column {name!r} is {got}, a {what} file has {expected}")
        present = [name for name in optional if name in actual.names]
        for name in present:
            expected, got = schema.field(name).type, actual.field(name).type
            if not _type_ok(got, expected):
                raise UserError(f"{path}: column {name!r} is {got}, a {what} file has {expected}")
        if optional and len(present) == len(optional) and with_optional is not None:
            with_optional.append(path)
    return rows
