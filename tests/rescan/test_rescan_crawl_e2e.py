"""The rescan on the history of a real crawl (the demo site on loopback), checked against a crawl itself.

A crawl with half the list, then a rescan with the whole list, must report exactly the matches a crawl
with the whole list reports (same identities, nothing twice); a tombstone then withdraws them again. And the
allowlist on a crawl: allowlisted list entries and images never produce match rows, and are counted.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from rescan_helpers import identity, read_all, run_rows, write_allowlist

from pipelines.crawl_match import run as crawl
from pipelines.rescan import run as rescan

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _crawl_flags(site, output: Path, hash_list: Path, *extra: str) -> list[str]:
    return [
        f"--seeds={site.seeds_file}",
        f"--hash-list={hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=2",
        "--progress-interval=0",
        *extra,
    ]


def _list_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def crawls(served_demo_site, tmp_path_factory):
    """A crawl with photos 0-1 of the list (the history), and a reference crawl with the whole list."""
    root = tmp_path_factory.mktemp("rescan-e2e")
    rows = _list_rows(served_demo_site.hash_list)
    half = _write_rows(
        root / "half.csv", [r for r in rows if r["note"] in ("photo 0", "photo 1", "added", "withdrawn")]
    )
    history = root / "history"
    first = crawl(_crawl_flags(served_demo_site, history, half))
    full = root / "full"
    reference = crawl(_crawl_flags(served_demo_site, full, served_demo_site.hash_list))
    assert first.state == reference.state == "DONE"
    return root, history, first, reference, full


def test_rescan_with_the_whole_list_completes_what_the_half_list_crawl_missed(served_demo_site, crawls):
    root, history, first, reference, full = crawls
    crawled = Counter(identity(r) for r in read_all(history, "matches"))
    expected = Counter(identity(r) for r in read_all(full, "matches"))
    assert crawled and max(crawled.values()) == 1
    report = rescan(
        [f"--history-dir={history}", f"--hash-list={served_demo_site.hash_list}", "--progress-interval=0"]
    )
    found = Counter(identity(r) for r in run_rows(history, "matches", report.run_id))
    assert found, "the rescan found the matches of photos 2 and 3"
    assert not set(found) & set(crawled), "nothing the crawl reported is reported again"
    assert crawled + found == expected  # exactly what a crawl with the whole list reports
    assert report.history["rows"] == first.images_hashed

    # The rescan's rows carry what the crawl's would (URL, hashes, list labels), for the same identities.
    columns = (
        "final_url",
        "depth",
        "hash_value",
        "distance",
        "match_kind",
        "variant",
        "category",
        "md5",
        "pdq",
    )
    by_key = {identity(r): r for r in read_all(full, "matches")}
    for row in run_rows(history, "matches", report.run_id):
        assert {c: row[c] for c in columns} == {c: by_key[identity(row)][c] for c in columns}

    # Nothing left: a second rescan writes nothing.
    again = rescan(
        [f"--history-dir={history}", f"--hash-list={served_demo_site.hash_list}", "--progress-interval=0"]
    )
    assert run_rows(history, "matches", again.run_id) == []
    assert run_rows(history, "retractions", again.run_id) == []

    # Photo 2 withdrawn from the list: every match of its entries is retracted, once.
    rows = _list_rows(served_demo_site.hash_list)
    withdrawn = [{**r, "deleted": "true", "list_version": "demo-2"} for r in rows if r["note"] == "photo 2"]
    delta = _write_rows(root / "withdraw.csv", withdrawn)
    lists = [f"--hash-list={served_demo_site.hash_list}", f"--hash-list={delta}"]
    third = rescan([f"--history-dir={history}", *lists, "--progress-interval=0"])
    retracted = run_rows(history, "retractions", third.run_id)
    photo2 = {r["hash_value"] for r in withdrawn}
    assert retracted and {r["list_hash"] for r in retracted} <= photo2
    assert Counter(identity(r) for r in retracted) == Counter(
        k for k in expected if k.split("\x1f")[3] in photo2
    )
    assert {(r["reason"], r["cause_list_version"]) for r in retracted} == {("deleted", "demo-2")}


def test_crawl_with_an_allowlist_reports_neither_entry_nor_image(served_demo_site, crawls, tmp_path):
    _, _, _, reference, full = crawls
    matches = read_all(full, "matches")
    pdq_of_photo0 = next(r["list_hash"] for r in matches if r["hash_type"] == "pdq" and r["category"] == "A")
    innocent = next(r for r in matches if r["hash_type"] == "md5" and r["list_hash"] != pdq_of_photo0)
    allowlist = write_allowlist(
        tmp_path / "allow.csv",
        [
            {"hash_type": "pdq", "hash_value": pdq_of_photo0, "scope": "list", "reason": "collides"},
            {"hash_type": "sha256", "hash_value": innocent["sha256"], "scope": "image", "reason": "cleared"},
        ],
    )
    output = tmp_path / "out"
    report = crawl(
        _crawl_flags(served_demo_site, output, served_demo_site.hash_list, f"--allowlist={allowlist}")
    )
    rows = read_all(output, "matches")
    assert rows and not [r for r in rows if r["list_hash"] == pdq_of_photo0]
    assert not [r for r in rows if r["sha256"] == innocent["sha256"]]
    left_out = [r for r in matches if r["list_hash"] == pdq_of_photo0 or r["sha256"] == innocent["sha256"]]
    assert report.allowlisted_matches == len(left_out) > 0
    assert Counter(identity(r) for r in rows) + Counter(identity(r) for r in left_out) == Counter(
        identity(r) for r in matches
    )
    manifest = json.loads(Path(report.tables["manifest"]).read_text())
    assert manifest["allowlisted_matches"] == len(left_out)
    assert manifest["allowlist"]["entries"] == 2 and len(manifest["allowlist"]["sha256"]) == 64
