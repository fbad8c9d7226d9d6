"""The fetching DoFn's bound on image bodies waiting for HashImages: a fetch thread with one more waits."""

from __future__ import annotations

import threading
import time
from collections import deque

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import ImageOutcome
from hashwatch.crawling.image_handler import FetchedBody
from schemas.crawl import ImageTask
from schemas.fetch_log import FetchLogRecord
from transforms.crawl import _FetchImagesFn
from transforms.run_counters import StageCounters


def _row(url: str) -> FetchLogRecord:
    return FetchLogRecord(
        run_id="r", url=url, kind="image", depth=1, parent_url=None, outcome="ok", error_kind=None,
        error_message=None, http_status=200, final_url=url, redirect_count=0, robots="allowed",
        content_type="image/png", declared_content_type="image/png", bytes_length=3, attempts=1,
        fetched_at=0, elapsed_ms=1.0,
    )  # fmt: skip


def _fetched(url: str):
    task = ImageTask(url, 1, [], url)
    return task, ImageOutcome(_row(url), None), [(task, FetchedBody(b"abc", url, 200, "image/png", None, 0))]


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_fetch_thread_waits_while_fetch_threads_bodies_wait_to_be_hashed():
    fn = _FetchImagesFn(CrawlConfig(fetch_threads=2), "r")
    # What setup() makes, without its crawl worker and thread pool: _collect is called as a fetch thread would.
    fn._counters, fn._ready, fn._finished = StageCounters("r"), threading.Condition(), deque()
    fn._in_flight, fn._bodies_waiting = 3, 0
    threads = []
    for i in range(3):
        task, outcome, bodies = _fetched(f"http://127.0.0.1/{i}.png")
        threads.append(threading.Thread(target=fn._collect, args=((task, 0, None), (outcome, bodies))))
        threads[-1].start()
    assert _wait_until(lambda: len(fn._finished) == 2)
    time.sleep(0.3)  # the third body's thread is held, not just late
    assert len(fn._finished) == 2 and sum(t.is_alive() for t in threads) == 1

    emitted = list(fn._drain())  # the DoFn's thread hands the two bodies on: room for the third
    assert [e.tag for e in emitted] == ["bodies", "bodies"]
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert len(fn._finished) == 1 and fn._bodies_waiting == 1
