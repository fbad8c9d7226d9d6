"""Counting where the work happens (transforms.run_counters) and the live progress lines (transforms.progress).

The end-to-end runs (a slow site, one and two worker processes) are tests/test_progress_e2e.py.
"""

import json
import logging
import re
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from hashwatch.crawling.image_handler import FetchedBody
from hashwatch.sites.synthetic_images import encode, synthetic_photo
from schemas import ImageTask
from transforms.hash_images import HashImageBody
from transforms.progress import (
    CountProgress,
    ProgressConfig,
    ProgressMonitor,
    progress_line,
    read_worker_totals,
    report_bundle_end,
    start_reporting,
)
from transforms.run_counters import CRAWL_COUNTERS, CounterSpec, StageCounters, run_totals

DOCS = Path(__file__).resolve().parents[2] / "docs" / "usage.md"


class _CountOnAThreadFn(beam.DoFn):
    """Counts each element twice on a thread of its own: straight into Beam, and through StageCounters."""

    def setup(self):
        self._counters = StageCounters("thread-test")

    def process(self, element):
        def work():
            Metrics.counter("test", "direct").inc()
            self._counters.inc("test", "staged")

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        yield element

    def finish_bundle(self):
        self._counters.publish()


def test_counts_made_on_another_thread_reach_beam_only_through_stage_counters():
    pipeline = beam.Pipeline(runner=FnApiRunner())
    _ = pipeline | beam.Create(range(5)) | beam.ParDo(_CountOnAThreadFn())
    result = pipeline.run()
    result.wait_until_finish()
    counters = {m.key.metric.name: m.committed for m in result.metrics().query(MetricsFilter())["counters"]}
    assert counters.get("staged") == 5
    # Why: Beam's metrics container is thread-local, so this one is lost (as HashImages' counters were).
    assert "direct" not in counters


def test_the_image_handler_counts_into_the_counters_bound_to_its_thread():
    counters = StageCounters("handler-test")
    handler = HashImageBody("handler-test")
    handler.setup()
    task = ImageTask("http://h/a.jpg", 1, ["http://h/"], "http://h/")
    body = encode(synthetic_photo(3, (64, 48)))
    fetched = FetchedBody(body, "http://h/a.jpg", 200, "image/jpeg", "image/jpeg", 0)

    def fetch_thread():
        with counters.bound():
            handler(task, fetched)
            handler(task._replace(image_url="http://h/b.jpg"), fetched)
            handler(task._replace(image_url="http://h/c.jpg"), fetched._replace(body=body[:200]))

    thread = threading.Thread(target=fetch_thread)
    thread.start()
    thread.join()
    totals = run_totals("handler-test")
    assert totals["HashImages.images_hashed"] == 2
    assert totals["HashImages.same_bytes_hashed_once"] == 1
    assert totals["HashImages.decode_failures"] == 1
    assert len(counters._observed[("HashImages", "hash_ms")]) == 2  # handed to Beam by publish()


def test_the_line_names_pages_images_matches_errors_by_kind_and_rates():
    counts = {
        "hashwatch.CrawlRounds.page_ok": 12,
        "hashwatch.CrawlRounds.page_failed": 1,
        "hashwatch.CrawlRounds.error_max_depth": 11,
        "hashwatch.CrawlRounds.error_bad_status": 1,
        "hashwatch.FetchImages.error_bad_status": 1,
        "hashwatch.FetchImages.error_timeout": 1,
        "hashwatch.FetchImages.image_failed": 2,
        "HashImages.images_hashed": 36,
        "HashImages.same_bytes_hashed_once": 4,
        "MatchKnownHashes.match_rows": 3,
    }
    assert progress_line(counts, 10.0) == (
        "progress: pages=12 (failed 1) images=40 (failed 2) matches=3 errors=14 "
        "(max_depth 11, bad_status 2, timeout 1) rate=1.2 pages/s 4.0 images/s elapsed=10s"
    )
    assert progress_line({}, 0.0, workers=2).endswith(
        "errors=0 rate=0.0 pages/s 0.0 images/s elapsed=0s workers=2"
    )


def _wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def test_a_worker_process_writes_its_totals_and_logs_its_line(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    config = ProgressConfig("worker-test", 0.2, str(tmp_path / "progress"))
    start_reporting(config)
    StageCounters("worker-test").inc("hashwatch.CrawlRounds", "page_ok", 3)
    totals = _wait_for(lambda: read_worker_totals(config.folder))
    assert totals == [{"hashwatch.CrawlRounds.page_ok": 3}]
    lines = _wait_for(
        lambda: [r.getMessage() for r in caplog.records if r.name == "hashwatch.progress.worker"]
    )
    assert lines[0].startswith("worker progress: pages=3 (failed 0)")
    assert len(lines) == 1  # nothing moved since: no second line
    time.sleep(0.5)
    assert len([r for r in caplog.records if r.name == "hashwatch.progress.worker"]) == 1


def test_a_worker_stopped_before_its_first_interval_has_left_its_totals_and_a_line(tmp_path, caplog):
    # A Flink SDK worker is stopped as its job ends, maybe before its first interval: the end of each bundle
    # brings its file up to date, and logs a line unless one was logged within the interval.
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    config = ProgressConfig("bundle-end-test", 3600.0, str(tmp_path / "progress"))
    start_reporting(config)
    counters = StageCounters("bundle-end-test")
    counters.inc("hashwatch.CrawlRounds", "page_ok", 2)
    report_bundle_end(config)
    assert read_worker_totals(config.folder) == [{"hashwatch.CrawlRounds.page_ok": 2}]
    counters.inc("hashwatch.CrawlRounds", "page_ok", 1)
    report_bundle_end(config)  # the file follows every bundle; the line waits for the interval
    assert read_worker_totals(config.folder) == [{"hashwatch.CrawlRounds.page_ok": 3}]
    lines = [r.getMessage() for r in caplog.records if r.name == "hashwatch.progress.worker"]
    assert len(lines) == 1 and lines[0].startswith("worker progress: pages=2 (failed 0)"), lines


def test_the_launchers_own_bundles_write_no_worker_file(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    config = ProgressConfig("bundle-end-launcher", 3600.0, str(tmp_path / "progress"))
    with ProgressMonitor(config):
        start_reporting(config)
        StageCounters("bundle-end-launcher").inc("hashwatch.CrawlRounds", "page_ok", 1)
        report_bundle_end(config)
    assert not (tmp_path / "progress").exists()
    assert not [r for r in caplog.records if r.name == "hashwatch.progress.worker"]


def test_the_launcher_sums_its_own_totals_and_the_worker_files(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    folder = tmp_path / "progress"
    folder.mkdir()
    other = {"counts": {"hashwatch.CrawlRounds.page_ok": 2, "HashImages.images_hashed": 5}}
    (folder / "other-host-1.json").write_text(json.dumps(other))
    (folder / "half-written.json").write_text('{"counts": {"hashwatch')  # read next time
    config = ProgressConfig("launcher-test", 0.2, str(folder))
    with ProgressMonitor(config):
        start_reporting(config)  # this process also runs DoFns (the embedded runner's default)
        StageCounters("launcher-test").inc("hashwatch.CrawlRounds", "page_ok", 1)
        lines = _wait_for(lambda: [r.getMessage() for r in caplog.records if r.name == "hashwatch.progress"])
    assert lines[0].startswith("progress: pages=3 (failed 0) images=5 "), lines
    assert lines[0].endswith(" workers=2")
    # The launcher's own process writes no file and logs no worker line for the run it launched.
    time.sleep(0.5)
    assert sorted(p.name for p in folder.iterdir()) == ["half-written.json", "other-host-1.json"]
    assert not [r for r in caplog.records if r.name == "hashwatch.progress.worker"]


def test_no_line_when_progress_is_off(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    config = ProgressConfig("off-test", 0, str(tmp_path / "progress"))
    start_reporting(config)
    with ProgressMonitor(config):
        StageCounters("off-test").inc("hashwatch.CrawlRounds", "page_ok", 1)
        time.sleep(0.3)
    assert not caplog.records and not (tmp_path / "progress").exists()


@pytest.mark.parametrize(
    ("spec", "key", "matches"),
    [
        (CounterSpec("HashImages", "images_hashed"), "HashImages.images_hashed", True),
        (CounterSpec("HashImages", "images_hashed"), "HashImages.images_hashed_x", False),
        (CounterSpec("hashwatch.FetchImages", "error_<error_kind>"), "hashwatch.FetchImages.error_dns", True),
        (
            CounterSpec("hashwatch.FetchImages", "error_<error_kind>"),
            "hashwatch.CrawlRounds.error_dns",
            False,
        ),
        (CounterSpec("M", "matches_<hash_type>_<match_kind>"), "M.matches_pdq_near", True),
        (CounterSpec("hashwatch.<stage>", "first_seen"), "hashwatch.Round1.first_seen", True),
    ],
)
def test_a_catalogued_family_matches_its_members(spec, key, matches):
    assert spec.matches(key) is matches


def _documented_counters() -> set[tuple[str, str, bool]]:
    """The rows of docs/usage.md's counter table: (namespace.name, kind, streaming only)."""
    rows = set()
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[\w.<>]+\.[\w<>]+`", cells[0]):
            rows.add((cells[0].strip("`"), cells[1], cells[2] == "streaming"))
    return rows


def test_the_docs_table_lists_exactly_the_catalogued_counters():
    catalogued = {(spec.key, spec.kind, spec.streaming) for spec in CRAWL_COUNTERS}
    assert _documented_counters() == catalogued


def test_the_rescans_rows_are_counted_as_they_reach_its_writers(caplog):
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        _ = pipeline | beam.Create(["a", "b", "c"]) | CountProgress("retractions", 0.05, "run-a")
        _ = pipeline | "More" >> beam.Create(["d"]) | "Count2" >> CountProgress("matches", 0.05, "run-a")
    lines = _wait_for(
        lambda: [
            r.getMessage()
            for r in caplog.records
            if "retractions=3" in r.getMessage() and "matches=1" in r.getMessage()
        ]
    )
    assert lines and lines[0].startswith("progress: ")


def test_two_rescans_in_one_process_count_their_own_rows(caplog):
    """A second run in the same process (tests, a notebook) reports its own rows at its own interval; the first
    run's reporter (10 s here) must not stand in for it, nor its counts add to the second's."""
    caplog.set_level(logging.INFO, logger="hashwatch.progress")
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        _ = pipeline | beam.Create(["a", "b"]) | CountProgress("retractions", 10.0, "run-first")
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        _ = pipeline | beam.Create(["c"]) | CountProgress("retractions", 0.05, "run-second")
    lines = _wait_for(lambda: [r.getMessage() for r in caplog.records if "retractions=1 " in r.getMessage()])
    assert lines, [r.getMessage() for r in caplog.records]
    assert not [r.getMessage() for r in caplog.records if "retractions=3" in r.getMessage()]
