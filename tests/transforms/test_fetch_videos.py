"""The video stage's memory bound: a worker holds at most ``video_fetch_threads + 2`` video bodies.

The fetching DoFn is driven directly (``setup``, ``process``, ``finish_bundle``) with a worker whose fetches
hand a body over at once, and a consumer as slow as a video decoder: the bodies alive at any moment (handed
over by a fetch, not yet hashed) never exceed the bound, however many videos a host has.
"""

from __future__ import annotations

import threading
import time

from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import ImageOutcome
from hashwatch.crawling.image_handler import FetchedBody
from schemas.crawl import VideoTask
from transforms.fetch_videos import _BODIES_WAITING, _FetchVideosFn
from transforms.hash_fetched import BODIES


class _Alive:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.alive = 0
        self.most = 0

    def add(self, n: int) -> None:
        with self.lock:
            self.alive += n
            self.most = max(self.most, self.alive)


def test_at_most_video_fetch_threads_plus_two_bodies_are_alive():
    threads = 2
    config = CrawlConfig(per_host_delay=0.0, ignore_robots=True, video_fetch_threads=threads)
    fn = _FetchVideosFn(
        config, "run", fetch_threads=threads, bodies_waiting=_BODIES_WAITING, video_digests=lambda: None
    )
    fn.setup()
    alive = _Alive()
    worker = fn._worker

    def fetch_video(task, pace):  # a fast fetch: the body is handed over at once
        body = FetchedBody(b"\0" * 1024, task.image_url, 200, "video/mp4", "video/mp4", 0)
        alive.add(1)
        worker.handler(task, body)
        row = worker.internal_row(task.image_url, "video", 0, None, RuntimeError())
        return ImageOutcome(row, None)

    worker.fetch_video = fetch_video
    tasks = [VideoTask(f"http://127.0.0.1:9/v{i}.mp4", 1, [], "s") for i in range(20)]
    hashed = 0
    try:
        element = ("http://127.0.0.1:9", tasks)
        for outputs in (fn.process(element, Timestamp(0), GlobalWindow()), fn.finish_bundle()):
            for out in outputs:
                if getattr(out, "tag", None) != BODIES:
                    continue
                time.sleep(0.02)  # hashing is the slower side
                hashed += 1
                alive.add(-1)
    finally:
        fn.teardown()
    assert hashed == 20
    assert 1 <= alive.most <= threads + 2, alive.most
