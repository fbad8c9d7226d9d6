"""The hash columns of ``images/`` and ``matches/``, as record fields and Arrow fields, from the registry.

Which hash columns the tables have is declared by the hash types (:func:`hashwatch.hashing.hash_types.hash_columns`:
every built-in's value, its quality and variants where it has them); this module only says how each kind of
column is typed, so :mod:`schemas.images`, :mod:`schemas.matches` and :class:`schemas.retractions.MatchEvent`
splice the same columns in::

    ImageRecord = NamedTuple("ImageRecord", [..., *record_fields(IMAGES), ...])
    IMAGES_SCHEMA = pa.schema([..., *arrow_fields(IMAGES), ...])
"""

from typing import Any, Optional

import pyarrow as pa

from hashwatch.hashing.hash_types import ColumnRole, hash_columns

__all__ = ["arrow_fields", "record_fields", "value_fields"]

_ARROW_TYPES = {
    ColumnRole.VALUE: pa.string(),  # lower-case hex
    ColumnRole.QUALITY: pa.int32(),
    ColumnRole.VARIANTS: pa.list_(pa.string()),
}


def record_fields(table: str) -> list[tuple[str, Any]]:
    """``(name, type)`` of the table's hash columns, for a NamedTuple (required digests are ``str``)."""
    return [(c.name, c.python_type) for c in hash_columns(table)]


def arrow_fields(table: str) -> list[tuple[str, pa.DataType]]:
    """``(name, Arrow type)`` of the table's hash columns, for its ``pa.schema``."""
    return [(c.name, _ARROW_TYPES[c.role]) for c in hash_columns(table)]


def value_fields(table: str) -> list[tuple[str, Any]]:
    """``(name, Optional[str])`` of the table's hash value columns (no qualities, no variants)."""
    return [(c.name, Optional[str]) for c in hash_columns(table) if c.role == ColumnRole.VALUE]
