import logging

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from schemas import FetchLogRecord
from transforms.progress import CountProgress, progress_snapshot, report_once


def _row(outcome):
    return FetchLogRecord(
        "r",
        "http://h/",
        "page",
        0,
        None,
        outcome,
        None,
        None,
        None,
        None,
        0,
        "n/a",
        None,
        None,
        None,
        1,
        0,
        0.0,
    )


def test_counts_flow_and_a_line_is_logged_only_when_something_moved(caplog):
    before = progress_snapshot()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (
            p
            | beam.Create([_row("ok"), _row("failed"), _row("skipped")])
            | CountProgress("fetch_log", interval=0)
        )
    after = progress_snapshot()
    assert after.get("fetch_log", 0) - before.get("fetch_log", 0) == 3
    assert after.get("fetch_log:failed", 0) - before.get("fetch_log:failed", 0) == 1
    with caplog.at_level(logging.INFO, logger="hashwatch.progress"):
        last = report_once(None)
        assert report_once(last) == last
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith(f"progress: fetches={after['fetch_log']} (failed {after['fetch_log:failed']})")
