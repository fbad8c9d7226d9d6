"""The video site crawled on Flink finds what the embedded runner finds.

One crawl of the local video site (``hashwatch/sites/video_site.py``: videos listed by md5 and by vPDQ, edited
re-encodes, a video behind ``<img>``, over-cap, truncated and undecodable videos) on the embedded FnApiRunner
(the reference) and on embedded Flink (``[local]``, parallelism 2, SDK workers from an EXTERNAL worker pool).
``videos/``, ``matches/`` and ``fetch_log/`` hold the same rows, as multisets, less the columns that vary
from run to run. On Flink the video bodies cross no stage boundary either: their coder refuses to encode
(``BodiesStayInMemory``), so a run that tried would fail, not write.
"""

from __future__ import annotations

import pytest
from flink_support import FNAPI_RUNNER, flink_timed
from test_crawl_match_on_flink import _diff, run_rows

from hashwatch.sites.video_site import served_video_site
from pipelines.crawl_match import run

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.network]

TABLES = ("videos", "matches", "fetch_log")


def _flags(served, output) -> list[str]:
    return [
        f"--seeds={served.seeds_file}",
        f"--hash-list={served.hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=1",
        "--progress-interval=0",
        f"--max-video-bytes={served.site.video_cap}",
    ]


def test_video_crawl_on_flink_finds_the_embedded_runners_matches(flink_local_options, tmp_path):
    with served_video_site(tmp_path / "site") as served:
        reference_out = tmp_path / "fnapi"
        with flink_timed("video crawl, FnApiRunner (reference)"):
            reference = run([FNAPI_RUNNER, *_flags(served, reference_out)])
        output = tmp_path / "flink"
        with flink_timed("video crawl, flink-local parallelism 2"):
            report = run(flink_local_options.argv(*_flags(served, output), parallelism=2))
    assert reference.state == "DONE" and report.state == "DONE", flink_local_options.log_tail()
    want = {table: run_rows(reference_out, reference, table) for table in TABLES}
    # A reference that could hide a broken run: video rows, md5 and vPDQ matches, failed videos.
    hash_types = {dict(row)["hash_type"] for row in want["matches"]}
    assert {"video_md5", "vpdq"} <= hash_types, hash_types
    assert len(want["videos"]) >= 6
    assert {dict(row)["error_kind"] for row in want["fetch_log"]} >= {"video_too_large", "video_truncated"}
    for table in TABLES:
        got = run_rows(output, report, table)
        assert got == want[table], f"{table} on flink-local: {_diff(got, want[table])}"
