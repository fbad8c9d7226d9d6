"""The rescan covers videos: the videos/ history of a crawl of the video site, matched against a new list.

A crawl whose list holds only the site's ``video_md5`` rows; a rescan with the whole list (vPDQ rows added)
reports the vPDQ matches the crawl missed, exactly those a crawl with the whole list reports, and nothing
twice, and the animated GIF's listed second frame from the images/ history's frame_hashes; a tombstone of a
``video_md5`` row retracts its matches, once.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from rescan_helpers import identity, read_all, run_rows

from hashwatch.sites.video_site import served_video_site
from pipelines.crawl_match import run as crawl
from pipelines.rescan import run as rescan

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _flags(served, output: Path, hash_list: Path) -> list[str]:
    return [
        f"--seeds={served.seeds_file}",
        f"--hash-list={hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=1",
        "--progress-interval=0",
        f"--max-video-bytes={served.site.video_cap}",
    ]


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_rescan_finds_the_vpdq_matches_and_retracts_a_deleted_md5(tmp_path):
    with served_video_site(tmp_path / "site") as served:
        rows = _rows(served.hash_list)
        md5_only = _write(tmp_path / "md5.csv", [r for r in rows if r["hash_type"] == "video_md5"])
        history, full = tmp_path / "history", tmp_path / "full"
        first = crawl(_flags(served, history, md5_only))
        reference = crawl(_flags(served, full, served.hash_list))
    assert first.state == reference.state == "DONE"
    crawled = Counter(identity(r) for r in read_all(history, "matches"))
    expected = Counter(identity(r) for r in read_all(full, "matches"))
    assert crawled and {r["hash_type"] for r in read_all(history, "matches")} == {"video_md5"}

    lists = [f"--history-dir={history}", f"--hash-list={served.hash_list}", "--progress-interval=0"]
    report = rescan(lists)
    found = run_rows(history, "matches", report.run_id)
    assert {r["hash_type"] for r in found} >= {"vpdq"}, "the vPDQ matches the md5-only crawl missed"
    # The animated GIF's listed second frame, found from the images/ history's frame_hashes.
    gif = [r for r in found if r["image_url"].endswith(served.site.animation_path)]
    assert [(r["hash_type"], r["media_kind"], r["frame_index"]) for r in gif] == [("pdq", "animation", 1)]
    assert not set(Counter(identity(r) for r in found)) & set(crawled)  # nothing reported twice
    assert crawled + Counter(identity(r) for r in found) == expected  # what a crawl with the whole list finds
    assert report.history["video_files"] >= 1

    again = rescan(lists)  # nothing left
    assert run_rows(history, "matches", again.run_id) == []

    withdrawn = [
        {**r, "deleted": "true", "list_version": "video-2"} for r in rows if r["item_id"] == "video-11"
    ]
    delta = _write(tmp_path / "withdraw.csv", withdrawn)
    third = rescan([*lists, f"--hash-list={delta}"])
    retracted = run_rows(history, "retractions", third.run_id)
    assert retracted and {(r["hash_type"], r["reason"]) for r in retracted} == {("video_md5", "deleted")}
    assert {r["image_url"].rsplit("/", 2)[-2:][1] for r in retracted} == {"md5_listed.mp4"}
    assert len(retracted) == 2  # one per page that showed it
