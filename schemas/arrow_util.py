"""Turning typed records into Arrow tables, and checking a record type against its Parquet schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import pyarrow as pa


def records_to_table(records: Iterable[NamedTuple], schema: pa.Schema) -> pa.Table:
    """Build a table from records whose field names are exactly the schema's column names.

    Epoch-microsecond ``int`` fields become ``timestamp[us, UTC]`` columns through the schema's types.
    """
    columns: dict[str, list] = {name: [] for name in schema.names}
    for record in records:
        for name, value in zip(schema.names, record, strict=True):
            columns[name].append(_canonical(value))
    return pa.Table.from_pydict(columns, schema=schema)


def record_to_dict(record: NamedTuple) -> dict:
    """A record as the plain dict Beam's ``WriteToParquet`` takes (map fields in key order)."""
    return {name: _canonical(value) for name, value in record._asdict().items()}


def _canonical(value):
    """Map fields (``extra_hashes``, ``candidate_hashes``) sorted by key: the same row is the same bytes on
    every runner (a map that passes through Flink's Java side comes back in another order)."""
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    return value


def check_record_matches_schema(record_type: type, schema: pa.Schema) -> None:
    """Raise ``TypeError`` if a NamedTuple's fields and a schema's columns drift apart (name or order)."""
    fields = list(record_type._fields)
    if fields != schema.names:
        raise TypeError(
            f"{record_type.__name__} fields {fields} do not match its Parquet schema columns {schema.names}"
        )
