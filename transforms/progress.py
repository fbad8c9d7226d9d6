"""A progress line every few seconds from each worker process, counted as records flow to the writers.

Beam's metrics are only complete at the end of a run on the embedded runner, so long runs also log what each
worker process has produced so far: ``progress: fetches=... (failed ...) images=... matches=...``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import apache_beam as beam

__all__ = ["CountProgress", "progress_snapshot", "report_once"]

_LOGGER = logging.getLogger("hashwatch.progress")
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_reporters: list[threading.Thread] = []  # at most one per process
_started = time.monotonic()


def progress_snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def _format(counts: dict[str, int], elapsed: float) -> str:
    fetches = counts.get("fetch_log", 0)
    failed = counts.get("fetch_log:failed", 0)
    images = counts.get("images", 0)
    rate = images / elapsed if elapsed > 0 else 0.0
    return (
        f"progress: fetches={fetches} (failed {failed}) images={images} ({rate:.1f}/s) "
        f"matches={counts.get('matches', 0)} elapsed={elapsed:.0f}s"
    )


def report_once(last: dict[str, int] | None) -> dict[str, int]:
    """Log a progress line if anything moved since ``last``; return the snapshot logged (or ``last``)."""
    snapshot = progress_snapshot()
    if snapshot != last:
        _LOGGER.info(_format(snapshot, time.monotonic() - _started))
        return snapshot
    return last


def _report_forever(interval: float) -> None:
    last = None
    while True:
        time.sleep(interval)
        last = report_once(last)


def _ensure_reporter(interval: float) -> None:
    with _lock:
        if not _reporters and interval > 0:
            reporter = threading.Thread(
                target=_report_forever, args=(interval,), name="progress", daemon=True
            )
            reporter.start()
            _reporters.append(reporter)


class _CountFn(beam.DoFn):
    def __init__(self, table: str, interval: float):
        self._table = table
        self._interval = interval

    def setup(self):
        _ensure_reporter(self._interval)

    def process(self, record):
        outcome = getattr(record, "outcome", None)
        with _lock:
            _counts[self._table] += 1
            if outcome is not None and outcome != "ok":
                _counts[f"{self._table}:{outcome}"] += 1
        yield record


class CountProgress(beam.PTransform):
    """Pass records through unchanged, counting them for the worker's progress line (every ``interval`` s)."""

    def __init__(self, table: str, interval: float = 10.0):
        super().__init__()
        self._table = table
        self._interval = interval

    def expand(self, records):
        return records | "Count" >> beam.ParDo(_CountFn(self._table, self._interval)).with_output_types(
            records.element_type
        )
