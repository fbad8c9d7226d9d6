"""The rescan's reconciliation rules and history matching without Beam: plain records in, one decision out."""

from __future__ import annotations

import random
import subprocess
import sys

import pyarrow as pa
import pytest
from rescan_helpers import image, write_list

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.list_tombstones import read_tombstones
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.history import HISTORY_COLUMNS, match_history_batch
from hashwatch.rescan.rules import Rules, decide, events_from_table
from schemas import IMAGES_SCHEMA, MATCHES_SCHEMA, MatchEvent
from schemas.arrow_util import records_to_table

RND = random.Random(7)
PDQ = "ab" * 32
MD5 = "cd" * 16


@pytest.fixture()
def world(tmp_path):
    """A list of v2 (the pdq entry live, the md5 entry tombstoned), its index and tombstones, and the crawl's
    matches/ rows of an image that matched both under v1."""
    listed = write_list(
        tmp_path / "v2.csv",
        [
            ("pdq", PDQ, "A", "iwf", "v2", "false"),
            ("md5", MD5, "A", "iwf", "v1", "false"),
            ("md5", MD5, "A", "iwf", "v2", "true"),
        ],
    )
    build_index([str(listed)], str(tmp_path / "i.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "i.hwidx"))
    crawl = records_to_table([image(RND, "http://x/a.jpg", md5=MD5, pdq=PDQ)], IMAGES_SCHEMA)
    old = match_history_batch(
        crawl.select(list(HISTORY_COLUMNS)),
        _v1_index(tmp_path),
        MatchOptions(),
        None,
        run_id="crawl-1",
        now_us=1_000,
        path="images/a.parquet",
    )
    reported = records_to_table([m for _, m in old.candidates], MATCHES_SCHEMA)
    return index, read_tombstones([str(listed)]), crawl, reported


def _v1_index(tmp_path) -> KnownHashIndex:
    v1 = write_list(
        tmp_path / "v1.csv",
        [("pdq", PDQ, "A", "iwf", "v1", "false"), ("md5", MD5, "A", "iwf", "v1", "false")],
    )
    build_index([str(v1)], str(tmp_path / "v1.hwidx"))
    return KnownHashIndex.load(str(tmp_path / "v1.hwidx"))


def _by_key(events) -> dict[str, list[MatchEvent]]:
    out: dict[str, list[MatchEvent]] = {}
    for key, event in events:
        out.setdefault(key, []).append(event)
    return out


def _found_now(index, crawl) -> dict:
    found = match_history_batch(
        crawl.select(list(HISTORY_COLUMNS)), index, MatchOptions(), None, run_id="r2", now_us=2_000, path="p"
    )
    return dict(found.candidates)


def test_tombstoned_entry_is_retracted_and_live_one_stays_active(world):
    index, tombstones, crawl, reported = world
    events = _by_key(events_from_table(reported, "match"))
    now = _found_now(index, crawl)
    rules = Rules(index, tombstones, None)
    outcomes = {
        events[key][0].hash_type: decide(
            [now[key]] if key in now else [],
            events[key],
            lambda: rules,
            run_id="r2",
            index_checksum=index.checksum,
            now_us=3,
        )
        for key in events
    }
    assert outcomes["pdq"] == ("already_active", None)
    md5 = outcomes["md5"]
    assert md5.outcome == "retractions_deleted"
    assert (md5.record.reason, md5.record.cause_list_version, md5.record.match_run_id) == (
        "deleted",
        "v2",
        "crawl-1",
    )


def test_new_and_reported_again_matches_and_rules_loaded_only_for_retractions(world):
    index, _tombstones, crawl, reported = world
    now = _found_now(index, crawl)
    [(key, candidate)] = now.items()

    def no_rules():
        raise AssertionError("the rules are not needed to report a match")

    new = decide([candidate], [], no_rules, run_id="r2", index_checksum="c", now_us=3)
    assert new == ("new_matches", candidate)
    report = next(e for k, e in events_from_table(reported, "match") if k == key)
    retraction = report._replace(kind="retraction", run_id="r1")
    again = decide([candidate], [report, retraction], no_rules, run_id="r2", index_checksum="c", now_us=3)
    assert again == ("matches_reported_again_after_retraction", candidate)
    assert decide([], [retraction], no_rules, run_id="r2", index_checksum="c", now_us=3) == (None, None)


def test_closest_candidate_wins_plain_before_variant(world):
    index, _tombstones, crawl, _reported = world
    [candidate] = _found_now(index, crawl).values()
    variant = candidate._replace(variant="rot90")
    farther = candidate._replace(distance=3)
    chosen = decide([farther, variant, candidate], [], lambda: None, run_id="r", index_checksum="c", now_us=1)
    assert chosen.record is candidate


def test_active_match_without_tombstone_is_kept_and_allowlisted_image_retracted(world):
    index, _tombstones, crawl, reported = world
    pdq_report = next(e for _, e in events_from_table(reported, "match") if e.hash_type == "pdq")
    kept = decide(
        [], [pdq_report], lambda: Rules(index, None, None), run_id="r", index_checksum="c", now_us=1
    )
    assert kept == ("active_unmatched_entry_live", None)
    allow = Allowlist.parse(
        f"hash_type,hash_value,reason,scope\nsha256,{pdq_report.sha256},cleared,image\n".encode(), "allow.csv"
    )
    gone = decide(
        [], [pdq_report], lambda: Rules(index, None, allow), run_id="r", index_checksum="c", now_us=1
    )
    assert gone.outcome == "retractions_allowlisted"
    assert (gone.record.allowlist_hash_type, gone.record.allowlist_reason) == ("sha256", "cleared")


def test_events_carry_the_reported_image_hashes_only_for_matches(world):
    *_, reported = world
    matches = [e for _, e in events_from_table(reported, "match")]
    assert {e.md5 for e in matches} == {MD5}
    retractions = [e for _, e in events_from_table(reported, "retraction")]
    assert {(e.kind, e.md5, e.pdq) for e in retractions} == {("retraction", None, None)}
    assert pa.types.is_timestamp(reported.schema.field("matched_at").type)


def _imports_beam(code: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; print('apache_beam' in sys.modules)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() == "True"


def test_rescan_logic_imports_no_beam():
    if _imports_beam("import schemas"):
        pytest.skip("schemas/ still registers Beam coders (issue 18 moves them to the Beam side)")
    assert not _imports_beam("import hashwatch.rescan.history, hashwatch.rescan.rules")
