"""The documents cannot drift from the code: docs/outputs.md names every column of every Parquet table and every
key of the run manifests; and the README stays a short user's README.

Tables are found, not listed: every ``*_SCHEMA`` pyarrow schema of a module under ``schemas/`` is a table
(``MATCHES_SCHEMA`` -> ``matches``), so a new output table fails here until docs/outputs.md has a
``**`table`**`` paragraph naming each of its columns.
"""

import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pyarrow as pa
import pytest

import schemas

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "docs" / "outputs.md"
README = ROOT / "README.md"
README_MAX_LINES = 220  # issue 18: a user's README of about 200 lines; details belong in docs/


def parquet_schemas() -> dict[str, pa.Schema]:
    """``{table: schema}`` for every ``*_SCHEMA`` pyarrow schema defined in a module of the schemas package."""
    found: dict[str, pa.Schema] = {}
    for module_info in pkgutil.walk_packages(schemas.__path__, "schemas."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if name.endswith("_SCHEMA") and isinstance(value, pa.Schema):
                found[name.removesuffix("_SCHEMA").lower()] = value
    return found


def paragraph(text: str, marker: str) -> str:
    """The paragraph of ``text`` that starts with ``marker`` (up to the next blank line)."""
    assert marker in text, f"docs/outputs.md has no {marker} paragraph"
    start = text.index(marker)
    end = text.find("\n\n", start)
    return text[start : end if end != -1 else len(text)]


def undocumented(text: str, marker: str, names: list[str]) -> list[str]:
    """The names that the paragraph starting with ``marker`` does not mention as ``code``."""
    body = paragraph(text, marker)
    return [name for name in names if f"`{name}`" not in body]


def test_the_known_tables_are_found():
    # Guards the discovery itself: were it to find nothing, the test below would pass vacuously.
    assert {"matches", "images", "fetch_log", "retractions", "rejected_rows"} <= set(parquet_schemas())


@pytest.mark.parametrize("table", sorted(parquet_schemas()))
def test_every_column_is_documented(table):
    missing = undocumented(OUTPUTS.read_text(), f"**`{table}`**", parquet_schemas()[table].names)
    assert missing == [], f"docs/outputs.md, **`{table}`**: columns not named: {missing}"


def test_a_missing_column_is_caught():
    # The check must be able to fail: drop one column name from the matches paragraph and it is reported.
    text = OUTPUTS.read_text()
    body = paragraph(text, "**`matches`**")
    edited = text.replace(body, body.replace("`list_hash`", "list hash"))
    assert undocumented(edited, "**`matches`**", ["list_hash"]) == ["list_hash"]


@pytest.mark.parametrize(
    ("marker", "report"),
    [("**`manifest.json`** (crawl)", "RunReport"), ("**`manifest.json` (rescan)**", "RescanReport")],
)
def test_every_manifest_key_is_documented(marker, report):
    import pipelines.run_report

    keys = [field.name for field in dataclasses.fields(getattr(pipelines.run_report, report))]
    missing = undocumented(OUTPUTS.read_text(), marker, keys)
    assert missing == [], f"docs/outputs.md, {marker}: manifest keys not named: {missing}"


def test_the_readme_stays_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): put details in docs/ and link them"
    )
