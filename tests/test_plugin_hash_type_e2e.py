"""A hash type added by a plug-in flows end to end with no change to hashwatch: list -> index -> crawl ->
matches -> rescan. This file is the whole plug-in: two types registered in a fixture, an exact one
(sha512 of the bytes) and a perceptual one (a toy 64-bit mean hash of the picture, Hamming matched, which
also hashes the query-side candidates: borders trimmed, turns undone, ...).

Their values travel in the images/ ``extra_hashes`` map (the tables' schema does not change), lists carry
rows of their names, the index serves them by their index kind, a crawl reports their matches (a bordered
copy through its ``trimmed`` candidate), and a rescan retracts a tombstoned entry and reports a new one,
through the same code as the built-ins.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hashwatch.hashing.algorithms.digests import CryptoHashType
from hashwatch.hashing.hash_types import (
    HashResult,
    HashType,
    IndexKind,
    Source,
    register_hash_type,
    unregister_hash_type,
)
from hashwatch.hashing.image_hashes import compute_image_hashes
from pipelines.crawl_match import run as crawl
from pipelines.rescan import run as rescan
from schemas import IMAGES_SCHEMA

pytestmark = [pytest.mark.network, pytest.mark.slow]

PLUGINS = ("sha512", "toymean")
LIST_COLUMNS = ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]


class Sha512HashType(CryptoHashType):
    """SHA-512 of the bytes, matched exactly."""

    name = "sha512"
    bits = 512


def _mean_hash(small: np.ndarray) -> str:
    return np.packbits((small > small.mean()).ravel()).tobytes().hex()


class ToyMeanHashType(HashType):
    """A 64-bit average hash: the 8 x 8 luma thumbnail above its mean (stands in for a licensed hash)."""

    name = "toymean"
    bits = 64
    index_kind = IndexKind.HAMMING
    default_threshold = 6
    computed_from = Source.PICTURE
    query_candidates = True

    def compute(self, data, decoded):
        if decoded is None or decoded.image is None:
            return HashResult(None)
        return HashResult(_mean_hash(np.asarray(decoded.image.convert("L").resize((8, 8)), dtype=np.float64)))

    def hash_buffer(self, buffer64, *, dct=None, gate=True):
        return _mean_hash(buffer64.reshape(8, 8, 8, 8).mean(axis=(1, 3)))  # a candidate's 64 x 64 buffer

    def hash_buffers(self, buffers, dcts):
        return [self.hash_buffer(b) for b in buffers]


@pytest.fixture(scope="module")
def plugins():
    registered = [register_hash_type(Sha512HashType), register_hash_type(ToyMeanHashType)]
    yield registered
    for hash_type in registered:
        unregister_hash_type(hash_type.name)


def _write_list(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LIST_COLUMNS)
        writer.writerows(rows)
    return path


def _rows(folder: Path, table: str, run_id: str) -> list[dict]:
    files = sorted((folder / table).glob(f"dt=*/run_id={run_id}/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _flags(site, output: Path, hash_list: Path) -> list[str]:
    return [
        f"--seeds={site.seeds_file}",
        f"--hash-list={hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=2",
        "--progress-interval=0",
        "--candidate-hash-types=pdq,toymean",
    ]


@pytest.fixture(scope="module")
def crawled(plugins, served_demo_site, tmp_path_factory):
    """A crawl of the demo site with a list of the originals' plug-in hashes only (no built-in type)."""
    work = tmp_path_factory.mktemp("plugin")
    rows = []
    for _name, (seed, content) in sorted(served_demo_site.site.listed.items()):
        hashes = compute_image_hashes(content)
        for name in PLUGINS:
            rows.append([name, hashes.extra[name], "P", "plugin-list", "v1", "false", f"photo-{seed}"])
    v1 = _write_list(work / "v1.csv", rows)
    output = work / "out"
    report = crawl(_flags(served_demo_site, output, v1))
    assert report.state == "DONE"
    return work, output, rows, report.run_id


def test_crawl_matches_by_the_plugin_types_and_keeps_their_values(served_demo_site, crawled):
    _work, output, _rows_v1, run_id = crawled
    matches = _rows(output, "matches", run_id)
    assert {m["hash_type"] for m in matches} == set(PLUGINS)  # the list holds nothing else
    originals = [i for i in served_demo_site.site.images if i.role == "original" and "://" in i.url]
    assert originals
    exact = {(m["image_url"], m["page_url"]) for m in matches if m["hash_type"] == "sha512"}
    for image in originals:
        assert {(image.url, page) for page in image.pages} <= exact, image.url
    assert {m["match_kind"] for m in matches if m["hash_type"] == "sha512"} == {"exact"}
    assert any(m["match_kind"] == "near" for m in matches if m["hash_type"] == "toymean")

    bordered = next(i for i in served_demo_site.site.images if i.edit == "bordered")
    assert ("toymean", "trimmed") in {
        (m["hash_type"], m["variant"]) for m in matches if m["image_url"] == bordered.url
    }

    images = _rows(output, "images", run_id)
    image_file = next((output / "images").glob(f"dt=*/run_id={run_id}/*.parquet"))
    assert pq.read_schema(image_file).equals(IMAGES_SCHEMA, check_metadata=False)
    decoded = [r for r in images if r["decode_status"] == "ok"]
    assert decoded and all(len(dict(r["extra_hashes"])["toymean"]) == 16 for r in decoded)
    for row in images:  # sha512 of every fetched body, as the crawl's md5 is
        assert len(dict(row["extra_hashes"])["sha512"]) == 128


def test_rescan_retracts_a_tombstoned_plugin_entry_and_reports_a_new_one(served_demo_site, crawled):
    work, output, rows_v1, crawl_run = crawled
    matches = _rows(output, "matches", crawl_run)
    images = _rows(output, "images", crawl_run)
    matched_urls = {m["image_url"] for m in matches}
    distractor = next(
        r
        for r in sorted(images, key=lambda r: r["image_url"])
        if r["image_url"] not in matched_urls and "toymean" in dict(r["extra_hashes"])
    )
    new_value = dict(distractor["extra_hashes"])["toymean"]
    withdrawn = rows_v1[0]  # the first original's sha512
    assert withdrawn[0] == "sha512"
    v2 = _write_list(
        work / "v2.csv",
        [
            *rows_v1,
            ["sha512", withdrawn[1], "P", "plugin-list", "v2", "true", withdrawn[6]],
            ["toymean", new_value, "Q", "plugin-list", "v2", "false", "new-1"],
        ],
    )
    flags = [f"--history-dir={output}", f"--hash-list={v2}", "--candidate-hash-types=pdq,toymean"]
    report = rescan([*flags, "--progress-interval=0"])
    assert report.state == "DONE"

    retractions = _rows(output, "retractions", report.run_id)
    withdrawn_reports = {(m["image_url"], m["page_url"]) for m in matches if m["list_hash"] == withdrawn[1]}
    assert withdrawn_reports
    assert {(r["image_url"], r["page_url"]) for r in retractions} == withdrawn_reports
    assert {(r["hash_type"], r["reason"], r["cause_list_version"]) for r in retractions} == {
        ("sha512", "deleted", "v2")
    }
    new = _rows(output, "matches", report.run_id)
    found = [m for m in new if m["image_url"] == distractor["image_url"]]
    assert {(m["hash_type"], m["list_hash"], m["distance"], m["category"]) for m in found} == {
        ("toymean", new_value, 0, "Q")
    }
