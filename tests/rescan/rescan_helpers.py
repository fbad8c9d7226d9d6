"""Building blocks of the rescan tests: synthetic images/ history (hashes only), lists, and reading outputs."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import IMAGES_SCHEMA, ImageRecord, match_key
from schemas.arrow_util import records_to_table

LIST_COLUMNS = ["hash_type", "hash_value", "category", "source", "list_version", "deleted"]


def hexes(rnd: random.Random, digits: int) -> str:
    return "".join(rnd.choice("0123456789abcdef") for _ in range(digits))


def flip(value: str, bits: int, start: int = 0) -> str:
    """``value`` (hex) with ``bits`` bits flipped, from bit ``start`` on: a near copy at that distance."""
    number = int(value, 16)
    for bit in range(start, start + bits):
        number ^= 1 << bit
    return f"{number:0{len(value)}x}"


def image(rnd: random.Random, url: str, pages=("http://site.test/page.html",), **hashes) -> ImageRecord:
    """An images/ row with random hashes (any of them overridden by keyword)."""
    values = {
        "md5": hexes(rnd, 32),
        "sha1": hexes(rnd, 40),
        "sha256": hexes(rnd, 64),
        "phash": hexes(rnd, 16),
        "dhash": hexes(rnd, 16),
        "pdq": hexes(rnd, 64),
        "pdq_dihedral": [hexes(rnd, 64) for _ in range(7)],
        "candidate_hashes": {},
    }
    values.update(hashes)
    return ImageRecord(
        run_id="crawl-1",
        image_url=url,
        final_url=None,
        page_urls=list(pages),
        depth=1,
        http_status=200,
        content_type="image/jpeg",
        bytes_length=1234,
        format="JPEG",
        width=640,
        height=480,
        crc32c=hexes(rnd, 8),
        pdq_quality=90,
        exif_orientation=None,
        decode_status="ok",
        decode_error=None,
        extra_hashes={},
        hashed_at=1_764_000_000_000_000,
        **values,
    )


def write_history(folder: Path, images: list[ImageRecord], day: str = "2026-11-01", run_id: str = "crawl-1"):
    target = folder / "images" / f"dt={day}" / f"run_id={run_id}"
    target.mkdir(parents=True, exist_ok=True)
    rows = [i._replace(run_id=run_id) for i in images]
    pq.write_table(records_to_table(rows, IMAGES_SCHEMA), target / "part-00000-of-00001.parquet")
    return target


def write_list(path: Path, rows: list[tuple]) -> Path:
    """rows: (hash_type, hash_value, category, source, list_version, deleted)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LIST_COLUMNS)
        writer.writerows(rows)
    return path


def write_allowlist(path: Path, rows: list[dict]) -> Path:
    columns = ["hash_type", "hash_value", "scope", "reason", "added_at"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({"reason": "test", **row})
    return path


def read_all(folder: Path, table: str) -> list[dict]:
    """Every finished row of ``folder/table`` (dt=*/run_id=*/*.parquet: Beam's temp folders excluded)."""
    files = sorted((folder / table).glob("dt=*/run_id=*/*.parquet"))
    tables = [pq.read_table(f) for f in files]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables).to_pylist() if tables else []


def run_rows(folder: Path, table: str, run_id: str) -> list[dict]:
    return [r for r in read_all(folder, table) if r["run_id"] == run_id]


def identity(row: dict) -> str:
    return match_key(row["image_url"], row["page_url"], row["hash_type"], row["list_hash"], row["source"])
