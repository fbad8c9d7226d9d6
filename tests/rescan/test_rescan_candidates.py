"""The rescan matches the query-side candidates a crawl kept in images/ ``candidate_hashes`` (issue 9), reads
history written before that column existed next to newer files, and rejects a malformed candidate value."""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest
from rescan_helpers import flip, hexes, image, read_all, run_rows, write_history, write_list

from pipelines.rescan import run

pytestmark = pytest.mark.slow


@pytest.fixture
def history(tmp_path):
    """Two crawls: an old one whose images/ file predates candidate_hashes (the column dropped), and a new
    one whose images carry candidates. The list knows image 0 of the old crawl by md5, and the originals of
    two new images that only their candidates match (a trimmed PDQ, a turned one)."""
    rnd = random.Random(7)
    out = tmp_path / "out"
    old = [image(rnd, f"http://old.test/{i}.jpg") for i in range(3)]
    folder = write_history(out, old, day="2026-10-01", run_id="old-crawl")
    path = folder / "part-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["candidate_hashes"]), path)
    trimmed, turned = hexes(rnd, 64), hexes(rnd, 64)
    new = [
        image(rnd, "http://new.test/bordered.jpg", candidate_hashes={"pdq:trimmed": trimmed}),
        image(rnd, "http://new.test/turned.jpg", candidate_hashes={"pdq:rot90-real": turned}),
        image(rnd, "http://new.test/plain.jpg", candidate_hashes={"pdq:extend-c5": hexes(rnd, 64)}),
    ]
    write_history(out, new, day="2026-11-01", run_id="new-crawl")
    lists = write_list(
        tmp_path / "list.csv",
        [
            ("md5", old[0].md5, "A", "iwf", "v1", "false"),
            ("pdq", flip(trimmed, 6), "B", "iwf", "v1", "false"),  # the original of the bordered copy
            ("pdq", flip(turned, 2), "C", "iwf", "v1", "false"),  # the original of the turned copy
        ],
    )
    return out, lists


def _rescan(out, lists, *extra):
    report = run([f"--history-dir={out}", f"--hash-list={lists}", "--progress-interval=0", *extra])
    assert report.state == "DONE"
    return report


def test_candidates_in_new_history_match_and_old_history_still_reads(history):
    out, lists = history
    report = _rescan(out, lists)
    rows = run_rows(out, "matches", report.run_id)
    got = {(r["image_url"], r["hash_type"], r["variant"], r["distance"]) for r in rows}
    assert got == {
        ("http://old.test/0.jpg", "md5", None, 0),
        ("http://new.test/bordered.jpg", "pdq", "trimmed", 6),
        ("http://new.test/turned.jpg", "pdq", "rot90-real", 2),
    }
    assert report.history["rows"] == 6
    assert run_rows(out, "rejected_rows", report.run_id) == []


def test_candidate_families_switched_off_find_nothing_through_them(history):
    out, lists = history
    report = _rescan(out, lists, "--candidates=none")
    assert {r["image_url"] for r in run_rows(out, "matches", report.run_id)} == {"http://old.test/0.jpg"}
    # A family left out is not matched; the others still are.
    report = _rescan(out, lists, "--candidates=dihedral_real")
    rows = run_rows(out, "matches", report.run_id)
    assert {(r["image_url"], r["variant"]) for r in rows} == {("http://new.test/turned.jpg", "rot90-real")}
    # --no-dihedral also leaves out the real flips and turns (a fresh output folder: nothing reported yet).
    apart = out.parent / "apart"
    report = _rescan(out, lists, "--no-dihedral", f"--output-dir={apart}")
    rows = run_rows(apart, "matches", report.run_id)
    assert {(r["image_url"], r["variant"]) for r in rows} == {
        ("http://old.test/0.jpg", None),
        ("http://new.test/bordered.jpg", "trimmed"),
    }


def test_a_malformed_candidate_value_rejects_its_row(tmp_path):
    rnd = random.Random(8)
    out = tmp_path / "out"
    good = image(rnd, "http://new.test/good.jpg")
    bad = image(rnd, "http://new.test/bad.jpg", candidate_hashes={"pdq:trimmed": "not-hex"})
    write_history(out, [good, bad])
    lists = write_list(tmp_path / "list.csv", [("md5", good.md5, "A", "iwf", "v1", "false")])
    report = _rescan(out, lists)
    rejected = read_all(out, "rejected_rows")
    assert [(r["image_url"], r["column"], r["error_kind"]) for r in rejected] == [
        ("http://new.test/bad.jpg", "candidate_hashes", "invalid_hash")
    ]
    assert [r["image_url"] for r in run_rows(out, "matches", report.run_id)] == ["http://new.test/good.jpg"]
