"""Live progress and complete counters on Flink: embedded (``[local]``) and the standalone cluster.

The slow site of tests/progress_support.py (every answer 0.3 s late), crawled at parallelism 2 with SDK
workers in separate processes: the launcher logs a run-wide ``progress:`` line with pages and images
hashed before the site's last answer (the workers' totals reach it through the run's progress folder),
and the run manifest holds every counter and distribution docs/usage.md names, the hashing ones included.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flink_support import flink_timed
from progress_support import HASHED, live_progress_lines, missing_metrics, start_slow_site

from pipelines.crawl_match import run

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.network]


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    site, stop = start_slow_site(tmp_path_factory.mktemp("slow-site"))
    yield site
    stop()


@pytest.mark.parametrize("target_fixture", ["flink_local_options", "flink_cluster"])
def test_progress_is_live_and_every_counter_reaches_the_manifest_on_flink(
    target_fixture, request, slow_site, tmp_path, caplog
):
    target = request.getfixturevalue(target_fixture)
    caplog.set_level(logging.INFO)
    answered_before = len(slow_site.answered)
    with flink_timed(f"crawl of the slow site, {target.name} parallelism 2"):
        report = run(target.argv(*slow_site.flags(tmp_path / "out"), parallelism=2))
    assert report.state == "DONE", target.log_tail()
    answers = slow_site.answered[answered_before:]
    assert len(answers) >= 40, len(answers)

    lines = live_progress_lines(caplog.records, before=max(answers))
    logged = [r.getMessage() for r in caplog.records if r.name == "hashwatch.progress"]
    assert lines, f"no progress line with pages and images before the last fetch; lines: {logged}"

    manifest = json.loads(Path(report.tables["manifest"]).read_text())
    assert missing_metrics(manifest) == []
    counters = manifest["beam_counters"]
    assert counters["HashImages.images_hashed"] == HASHED == report.images_hashed
    assert counters["HashImages.same_bytes_hashed_once"] == 1
    assert manifest["beam_distributions"]["HashImages.hash_ms"]["count"] == HASHED
    assert not [r for r in caplog.records if "Converting string literal type hint" in r.getMessage()]
