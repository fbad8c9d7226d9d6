"""The README documents every column of every output table (so the schema and the docs cannot drift)."""

from pathlib import Path

import pytest

from schemas import FETCH_LOG_SCHEMA, IMAGES_SCHEMA, MATCHES_SCHEMA

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize(
    ("table", "schema"),
    [("matches", MATCHES_SCHEMA), ("images", IMAGES_SCHEMA), ("fetch_log", FETCH_LOG_SCHEMA)],
)
def test_every_column_is_documented(table, schema):
    text = README.read_text()
    start = text.index(f"**`{table}`**")
    paragraph = text[start : text.index("\n\n", start)]
    missing = [name for name in schema.names if f"`{name}`" not in paragraph]
    assert missing == []
