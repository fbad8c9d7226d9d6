"""Live progress and complete counters on the embedded runner, in one process and in two worker processes.

A crawl of a slow loopback site (every answer 0.3 s late, 9 pages and 32 images, two in flight): the
launcher must log a ``progress:`` line with pages and images hashed while the crawl is still fetching (before
the site's last answer), and the run manifest must hold every counter and distribution docs/usage.md names
(:data:`transforms.run_counters.CRAWL_COUNTERS`), the hashing ones included. A crawl logs no "Converting
string literal type hint" line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from progress_support import HASHED, live_progress_lines, missing_metrics, start_slow_site

from pipelines.crawl_match import run

pytestmark = [pytest.mark.network, pytest.mark.slow]

MODES = {
    "one-process": [],
    "two-worker-processes": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    site, stop = start_slow_site(tmp_path_factory.mktemp("slow-site"))
    yield site
    stop()


def _manifest(report) -> dict:
    return json.loads(Path(report.tables["manifest"]).read_text())


@pytest.mark.parametrize("mode", sorted(MODES))
def test_progress_is_live_and_every_counter_reaches_the_manifest(mode, slow_site, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    answered_before = len(slow_site.answered)
    report = run([*slow_site.flags(tmp_path / "out"), *MODES[mode]])
    assert report.state == "DONE"
    answers = slow_site.answered[answered_before:]
    assert len(answers) >= 40, len(answers)  # the crawl fetched the site (pages and images)

    lines = live_progress_lines(caplog.records, before=max(answers))
    logged = [r.getMessage() for r in caplog.records if r.name == "hashwatch.progress"]
    assert lines, f"no progress line with pages and images before the last fetch; lines: {logged}"
    if mode == "two-worker-processes":
        # The launcher read the worker processes' totals: its own process ran no DoFn.
        assert any("workers=" in line for line in logged), logged

    manifest = _manifest(report)
    assert missing_metrics(manifest) == []
    counters = manifest["beam_counters"]
    assert counters["HashImages.images_hashed"] == HASHED == report.images_hashed  # one images/ row each
    assert counters["HashImages.same_bytes_hashed_once"] == 1  # the inline PNG's second page
    assert counters["HashImages.decode_failures"] == 1  # the truncated JPEG
    assert manifest["beam_distributions"]["HashImages.hash_ms"]["count"] == HASHED
    assert counters["MatchKnownHashes.match_rows"] == report.matches == 1
    assert counters["MatchKnownHashes.allowlisted_matches"] == 1
    assert not [r for r in caplog.records if "Converting string literal type hint" in r.getMessage()]
