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
from transforms.fetch_images import _FetchImagesFn
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


def _bare_fn(fetch_threads: int, in_flight: int) -> _FetchImagesFn:
    fn = _FetchImagesFn(CrawlConfig(fetch_threads=fetch_threads), "r")
    fn._counters, fn._ready, fn._finished = StageCounters("r"), threading.Condition(), deque()
    fn._in_flight, fn._bodies_waiting, fn._closing = in_flight, 0, False
    return fn


def test_teardown_releases_a_fetch_thread_held_with_a_body_and_keeps_its_row():
    """A failed bundle is never drained: teardown must not wait forever on a thread holding a body."""
    fn = _bare_fn(fetch_threads=1, in_flight=2)
    threads = []
    for i in range(2):
        task, outcome, bodies = _fetched(f"http://127.0.0.1/{i}.png")
        threads.append(threading.Thread(target=fn._collect, args=((task, 0, None), (outcome, bodies))))
        threads[-1].start()
    assert _wait_until(lambda: len(fn._finished) == 1)
    time.sleep(0.2)
    assert sum(t.is_alive() for t in threads) == 1  # held: one body already waits
    fn.teardown()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    (_, _, handed) = fn._finished[-1]
    assert handed.images == [] and [r.url for r in handed.rows] == ["http://127.0.0.1/1.png"]


def test_a_body_whose_row_the_worker_replaced_is_dropped_not_a_keyerror():
    from transforms.polite_fetch import _pair_bodies

    task, outcome, bodies = _fetched("http://127.0.0.1/a.png")
    internal = _row("http://127.0.0.1/page.html")._replace(outcome="failed", error_kind="internal")
    handed = _pair_bodies([internal], bodies)
    assert handed.rows == [internal] and handed.images == []


def test_counting_that_raises_does_not_lose_the_task_nor_hang_the_bundle(monkeypatch):
    fn = _bare_fn(fetch_threads=2, in_flight=1)

    def broken(*args):
        raise RuntimeError("counter bug")

    monkeypatch.setattr(fn, "_count", broken)
    task, outcome, bodies = _fetched("http://127.0.0.1/a.png")
    thread = threading.Thread(target=fn._collect, args=((task, 0, None), (outcome, bodies)))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert fn._in_flight == 0 and len(fn._finished) == 1
