"""A streaming run in which Flink dropped elements as late says so and does not pass (exit code 1)."""

from __future__ import annotations

import pytest

from pipelines import crawl_match
from pipelines.run_report import RunReport


def _report(late_drops):
    return RunReport(
        run_id="r1",
        state="CANCELLED",
        started="2026-11-25T00:00:00+00:00",
        finished="2026-11-25T00:01:00+00:00",
        elapsed_s=60.0,
        output="/out",
        tables={},
        options={"run_for": 60.0},
        late_drops=late_drops,
    )


@pytest.mark.parametrize(("late_drops", "code"), [(None, 0), (0, 0), (7, 1)])
def test_exit_code_and_summary(monkeypatch, capsys, late_drops, code):
    monkeypatch.setattr(crawl_match, "run", lambda argv: _report(late_drops))
    assert crawl_match.main([]) == code
    summary = capsys.readouterr().out
    assert ("LOST            7 element(s) dropped as late" in summary) == bool(late_drops)
