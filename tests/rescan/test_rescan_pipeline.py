"""The rescan pipeline end to end on the embedded runner, against synthetic images/ history (hashes only).

Each test runs the real ``pipelines.rescan.run`` one or more times on its own output folder and reads the
Parquet back: new list entries, tombstones, the allowlist, thresholds, idempotence, dt ranges, and the
DuckDB view of "currently active matches".
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from rescan_helpers import (
    flip,
    identity,
    image,
    read_all,
    run_rows,
    write_allowlist,
    write_history,
    write_list,
)

from pipelines.rescan import run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PAGE_A = "http://site.test/a.html"
PAGE_B = "http://site.test/b.html"


class World:
    """A history of 12 images and a list that knows some of them, in a folder of its own."""

    def __init__(self, root: Path):
        rnd = random.Random(20261125)
        self.root = root
        self.out = root / "out"
        self.images = [image(rnd, f"http://cdn.test/{i}.jpg", pages=(PAGE_A,)) for i in range(12)]
        self.images[6] = self.images[6]._replace(page_urls=[PAGE_A, PAGE_B])  # shown on two pages
        write_history(self.out, self.images)
        img = self.images
        self.pdq_near = flip(img[1].pdq, 5)  # distance 5
        self.pdq_far = flip(img[3].pdq, 20)  # distance 20: in at 31, out at 10
        self.pdq_variant = flip(img[4].pdq_dihedral[0], 3)  # img4 rotated matches
        self.v1 = [
            ("md5", img[0].md5, "A", "iwf", "v1", "false"),
            ("pdq", self.pdq_near, "B", "ncmec", "n1", "false"),
            ("pdq", self.pdq_far, "C", "ncmec", "n1", "false"),
            ("pdq", self.pdq_variant, "A", "ncmec", "n1", "false"),
            ("sha1", img[6].sha1, "A", "iwf", "v1", "false"),
        ]
        self.lists = root / "lists"
        self.lists.mkdir()
        self.base = write_list(self.lists / "base.csv", self.v1)

    def delta(self, name: str, rows: list[tuple]) -> Path:
        return write_list(self.lists / name, rows)

    def rescan(self, *lists: Path, extra: tuple[str, ...] = ()):
        argv = [f"--history-dir={self.out}", "--progress-interval=0", *extra]
        argv += [f"--hash-list={p}" for p in (lists or (self.base,))]
        report = run(argv)
        assert report.state == "DONE"
        return report

    def matches(self, report) -> list[dict]:
        return run_rows(self.out, "matches", report.run_id)

    def retractions(self, report) -> list[dict]:
        return run_rows(self.out, "retractions", report.run_id)

    def key(self, img: int, hash_type: str, list_hash: str, source: str, page: str = PAGE_A) -> str:
        return identity(
            {
                "image_url": self.images[img].image_url,
                "page_url": page,
                "hash_type": hash_type,
                "list_hash": list_hash,
                "source": source,
            }
        )

    def v1_keys(self) -> set[str]:
        img = self.images
        return {
            self.key(0, "md5", img[0].md5, "iwf"),
            self.key(1, "pdq", self.pdq_near, "ncmec"),
            self.key(3, "pdq", self.pdq_far, "ncmec"),
            self.key(4, "pdq", self.pdq_variant, "ncmec"),
            self.key(6, "sha1", img[6].sha1, "iwf", PAGE_A),
            self.key(6, "sha1", img[6].sha1, "iwf", PAGE_B),
        }


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def active(out: Path) -> set[str]:
    """The DuckDB macro of docs/sql/active_matches.sql, as a dashboard would run it."""
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute((REPO / "docs" / "sql" / "active_matches.sql").read_text())
    rows = con.sql(f"SELECT * FROM active_matches('{out}')").to_arrow_table().to_pylist()
    return {identity(r) for r in rows}


def test_first_rescan_reports_every_match_once_with_the_crawl_columns(world):
    report = world.rescan()
    rows = world.matches(report)
    assert Counter(identity(r) for r in rows) == Counter(world.v1_keys())
    by_key = {identity(r): r for r in rows}
    near = by_key[world.key(1, "pdq", world.pdq_near, "ncmec")]
    assert (near["distance"], near["match_kind"], near["variant"], near["category"]) == (5, "near", None, "B")
    rotated = by_key[world.key(4, "pdq", world.pdq_variant, "ncmec")]
    assert (rotated["distance"], rotated["variant"]) == (3, "rot90")
    assert {r["run_id"] for r in rows} == {report.run_id}
    assert report.new_matches == 6 and report.retractions == 0 and report.rejected_rows == 0
    assert report.history["rows"] == 12
    assert active(world.out) == world.v1_keys()


def test_second_identical_run_writes_nothing(world):
    world.rescan()
    again = world.rescan(extra=("--full",))  # a full pass finds every match again, all active
    assert world.matches(again) == [] and world.retractions(again) == []
    assert again.decisions["already_active"] == 6
    manifest = json.loads(Path(again.tables["manifest"]).read_text())
    assert manifest["kind"] == "rescan" and manifest["new_matches"] == 0 and manifest["retractions"] == 0


def test_new_list_entry_gives_only_the_new_match(world):
    world.rescan()
    img = world.images
    delta = world.delta("delta.csv", [("sha256", img[2].sha256, "B", "iwf", "v2", "false")])
    report = world.rescan(world.base, delta)
    assert [identity(r) for r in world.matches(report)] == [world.key(2, "sha256", img[2].sha256, "iwf")]
    assert world.matches(report)[0]["list_version"] == "v2"
    assert world.retractions(report) == []


def test_same_hash_from_a_second_source_is_a_new_match(world):
    world.rescan()
    img = world.images
    delta = world.delta("ncmec.csv", [("md5", img[0].md5, "A", "ncmec", "n2", "false")])
    report = world.rescan(world.base, delta)
    assert [identity(r) for r in world.matches(report)] == [world.key(0, "md5", img[0].md5, "ncmec")]


def test_tombstone_retracts_and_a_readded_entry_is_reported_again(world):
    first = world.rescan()
    img = world.images
    key = world.key(0, "md5", img[0].md5, "iwf")
    reported = {identity(r): r for r in world.matches(first)}[key]
    tombstone = world.delta("delete.csv", [("md5", img[0].md5, "A", "iwf", "v3", "true")])
    second = world.rescan(world.base, tombstone)
    retracted = world.retractions(second)
    assert [identity(r) for r in retracted] == [key]
    row = retracted[0]
    assert (row["reason"], row["cause_list_version"], row["match_run_id"]) == ("deleted", "v3", first.run_id)
    assert row["matched_at"] == reported["matched_at"]
    assert row["allowlist_sha256"] is None and row["index_checksum"] == second.index["checksum"]
    assert world.matches(second) == []
    assert active(world.out) == world.v1_keys() - {key}

    assert world.retractions(world.rescan(world.base, tombstone)) == []  # not retracted twice

    readd = world.delta("readd.csv", [("md5", img[0].md5, "A", "iwf", "v4", "false")])
    fourth = world.rescan(world.base, tombstone, readd)
    assert [identity(r) for r in world.matches(fourth)] == [key]
    assert world.matches(fourth)[0]["list_version"] == "v4"
    assert fourth.decisions["matches_reported_again_after_retraction"] == 1
    assert active(world.out) == world.v1_keys()


def test_tombstone_of_one_source_keeps_the_other_sources_match(world):
    img = world.images
    both = world.delta("ncmec.csv", [("md5", img[0].md5, "A", "ncmec", "n1", "false")])
    world.rescan(world.base, both)
    tombstone = world.delta("delete.csv", [("md5", img[0].md5, "A", "iwf", "v3", "true")])
    report = world.rescan(world.base, both, tombstone)
    assert [identity(r) for r in world.retractions(report)] == [world.key(0, "md5", img[0].md5, "iwf")]
    assert world.key(0, "md5", img[0].md5, "ncmec") in active(world.out)


def test_sourceless_tombstone_retracts_every_source(world):
    img = world.images
    both = world.delta("ncmec.csv", [("md5", img[0].md5, "A", "ncmec", "n1", "false")])
    world.rescan(world.base, both)
    wipe = world.delta("wipe.csv", [("md5", img[0].md5, "", "", "w1", "true")])
    report = world.rescan(world.base, both, wipe)
    retracted = world.retractions(report)
    assert {r["source"] for r in retracted} == {"iwf", "ncmec"}
    assert {r["cause_list_version"] for r in retracted} == {"w1"}


def test_entry_dropped_without_a_tombstone_is_not_retracted(world):
    world.rescan()
    shorter = world.delta("shorter.csv", world.v1[1:])  # md5 of img0 gone, no tombstone says so
    report = world.rescan(shorter)
    assert world.retractions(report) == [] and world.matches(report) == []
    assert report.decisions["active_unmatched_entry_gone_without_tombstone"] == 1
    assert active(world.out) == world.v1_keys()


def test_allowlisted_list_entry_is_retracted_and_never_reported(world, tmp_path):
    world.rescan()
    allowlist = write_allowlist(
        tmp_path / "allow.csv",
        [
            {
                "hash_type": "pdq",
                "hash_value": world.pdq_near,
                "scope": "list",
                "reason": "collides with logos",
            }
        ],
    )
    report = world.rescan(extra=(f"--allowlist={allowlist}", "--full"))  # --full: the candidate is counted
    retracted = world.retractions(report)
    key = world.key(1, "pdq", world.pdq_near, "ncmec")
    assert [identity(r) for r in retracted] == [key]
    row = retracted[0]
    assert (row["reason"], row["allowlist_scope"], row["allowlist_hash_type"]) == (
        "allowlisted",
        "list",
        "pdq",
    )
    assert row["allowlist_reason"] == "collides with logos" and len(row["allowlist_sha256"]) == 64
    assert world.matches(report) == []
    assert report.allowlisted_matches == 1
    assert world.retractions(world.rescan(extra=(f"--allowlist={allowlist}",))) == []
    assert active(world.out) == world.v1_keys() - {key}


def test_allowlisted_image_is_retracted_through_all_its_matches(world, tmp_path):
    img = world.images
    delta = world.delta("more.csv", [("phash", flip(img[0].phash, 2), "A", "iwf", "v2", "false")])
    world.rescan(world.base, delta)
    allowlist = write_allowlist(
        tmp_path / "allow.csv",
        [
            {
                "hash_type": "sha256",
                "hash_value": img[0].sha256,
                "scope": "image",
                "reason": "reviewed: innocent",
            }
        ],
    )
    report = world.rescan(world.base, delta, extra=(f"--allowlist={allowlist}",))
    retracted = world.retractions(report)
    assert {(r["image_url"], r["hash_type"]) for r in retracted} == {
        (img[0].image_url, "md5"),
        (img[0].image_url, "phash"),
    }
    assert {(r["reason"], r["allowlist_scope"]) for r in retracted} == {("allowlisted", "image")}


def test_allowlist_keeps_matches_out_of_a_first_rescan(world, tmp_path):
    img = world.images
    allowlist = write_allowlist(
        tmp_path / "allow.csv",
        [
            {"hash_type": "pdq", "hash_value": world.pdq_far, "scope": "list"},
            {"hash_type": "md5", "hash_value": img[6].md5, "scope": "image"},  # img6 is innocent
        ],
    )
    report = world.rescan(extra=(f"--allowlist={allowlist}",))
    expected = world.v1_keys() - {
        world.key(3, "pdq", world.pdq_far, "ncmec"),
        world.key(6, "sha1", img[6].sha1, "iwf", PAGE_A),
        world.key(6, "sha1", img[6].sha1, "iwf", PAGE_B),
    }
    assert {identity(r) for r in world.matches(report)} == expected
    assert report.allowlisted_matches == 3  # one pdq row, and img6's sha1 match on two pages


def test_threshold_change_reports_the_new_matches_only_and_never_retracts(world):
    tight = world.rescan(extra=("--threshold=pdq=10",))
    far = world.key(3, "pdq", world.pdq_far, "ncmec")
    assert {identity(r) for r in world.matches(tight)} == world.v1_keys() - {far}
    wide = world.rescan()  # the default, 31
    assert [identity(r) for r in world.matches(wide)] == [far]
    back = world.rescan(extra=("--threshold=pdq=10", "--full"))  # --full: every other match found again
    assert world.matches(back) == [] and world.retractions(back) == []
    assert back.decisions["active_unmatched_entry_live"] == 1


def test_reads_only_the_dt_range_but_retracts_everywhere(tmp_path):
    rnd = random.Random(7)
    out = tmp_path / "out"
    days = ["2026-11-01", "2026-11-02", "2026-11-03"]
    images = {day: image(rnd, f"http://cdn.test/{day}.jpg") for day in days}
    for n, day in enumerate(days):
        write_history(out, [images[day], image(rnd, f"http://cdn.test/other-{day}.jpg")], day, f"crawl-{n}")
    lists = tmp_path / "lists"
    lists.mkdir()
    base = write_list(lists / "base.csv", [("md5", images[d].md5, "A", "iwf", "v1", "false") for d in days])

    def rescan(*extra):
        return run([f"--history-dir={out}", f"--hash-list={base}", "--progress-interval=0", *extra])

    middle = rescan("--since=2026-11-02", "--until=2026-11-02")
    assert {r["image_url"] for r in run_rows(out, "matches", middle.run_id)} == {
        images["2026-11-02"].image_url
    }
    assert (middle.history["files"], middle.history["rows"]) == (1, 2)
    since = rescan("--since=2026-11-02")
    assert {r["image_url"] for r in run_rows(out, "matches", since.run_id)} == {
        images["2026-11-03"].image_url
    }
    tombstone = write_list(
        lists / "delete.csv", [("md5", images["2026-11-03"].md5, "A", "iwf", "v2", "true")]
    )
    report = run(
        [f"--history-dir={out}", f"--hash-list={base}", f"--hash-list={tombstone}", "--until=2026-11-01"]
        + ["--progress-interval=0"]
    )
    # A deleted entry is withdrawn wherever it matched, whatever the history range read.
    assert [r["image_url"] for r in run_rows(out, "retractions", report.run_id)] == [
        images["2026-11-03"].image_url
    ]
    assert {r["image_url"] for r in run_rows(out, "matches", report.run_id)} == {
        images["2026-11-01"].image_url
    }


def test_prebuilt_index_has_no_tombstones_so_nothing_is_retracted_as_deleted(world, tmp_path):
    from hashwatch.hashing.index_build import build_index

    world.rescan()
    img = world.images
    tombstone = world.delta("delete.csv", [("md5", img[0].md5, "A", "iwf", "v3", "true")])
    index = tmp_path / "known.hwidx"
    build_index([str(world.base), str(tombstone)], str(index))
    report = run([f"--history-dir={world.out}", f"--index={index}", "--progress-interval=0"])
    assert world.retractions(report) == [] and world.matches(report) == []
    assert report.index["tombstones"].startswith("unknown")
    assert report.decisions["active_unmatched_entry_gone_without_tombstone"] == 1


def test_output_dir_apart_from_the_history(world, tmp_path):
    elsewhere = tmp_path / "dashboards"
    report = run(
        [f"--history-dir={world.out}", f"--output-dir={elsewhere}", f"--hash-list={world.base}"]
        + ["--progress-interval=0"]
    )
    assert {identity(r) for r in read_all(elsewhere, "matches")} == world.v1_keys()
    assert read_all(world.out, "matches") == []
    assert (
        elsewhere / "_runs" / f"dt={report.started[:10]}" / f"run_id={report.run_id}" / "manifest.json"
    ).exists()
