"""A Beam-free crawl: seeds -> rounds of pages -> distinct images, with the same rules as the Beam transforms.

Not part of hashwatch: the pipeline crawls with ``transforms/crawl.py`` alone. This second orchestration of the
same pieces (``CrawlWorker``, the frontier, politeness) serves tests that want a crawl without a runner
(``tests/crawling``, and ``tests/transforms/test_crawl.py``, which checks that Beam crawls identically) and
``bench_crawl.py``, which measures the crawl without Beam's overhead. One process, one thread pool, politeness
per host::

    report = crawl(["https://example.org/"], CrawlConfig(max_depth=2), DigestImageHandler())
    report.fetch_log, report.images
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import CrawlWorker
from hashwatch.crawling.frontier import (
    apply_host_cap,
    choose_candidate,
    decide_link,
    image_tasks,
    seed_key,
    skipped_row,
)
from hashwatch.crawling.image_handler import ImageBodyHandler
from hashwatch.crawling.politeness import HostSlots, map_politely
from hashwatch.crawling.robots import RobotsCache
from hashwatch.crawling.url_rules import host_key
from schemas.crawl import CrawlTask, DiscoveredLink, ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.images import ImageRecord
from schemas.outcomes import KIND_PAGE, OUTCOME_FAILED


@dataclass
class CrawlReport:
    """Everything a crawl produced: the same four collections the Beam transforms produce."""

    fetch_log: list[FetchLogRecord] = field(default_factory=list)
    image_refs: list[ImageRef] = field(default_factory=list)
    inline_images: list[ImageRecord] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    dropped_references: int = 0


def crawl(
    seeds: Iterable[str],
    config: CrawlConfig,
    image_handler: ImageBodyHandler,
    *,
    run_id: str = "local",
    fetch_images: bool = True,
    slots: HostSlots | None = None,
    robots_cache: RobotsCache | None = None,
) -> CrawlReport:
    """Crawl ``seeds`` to ``config.max_depth`` and (unless ``fetch_images`` is false) fetch every image
    found."""
    report = CrawlReport()
    worker = CrawlWorker(config, run_id, image_handler, slots=slots, robots_cache=robots_cache)
    try:
        seen: set[str] = set()
        tasks: list[CrawlTask] = []
        for raw in seeds:
            key, task, problem = seed_key(raw)
            if key in seen:
                continue
            seen.add(key)
            if task is None:
                kind, message = problem
                report.fetch_log.append(
                    skipped_row(run_id, key, 0, None, kind, message, outcome=OUTCOME_FAILED, kind=KIND_PAGE)
                )
            else:
                tasks.append(task)
        pages_per_host: dict[str, int] = defaultdict(int)
        depth = 0
        while tasks:
            by_host: dict[str, list[CrawlTask]] = defaultdict(list)
            for task in tasks:
                by_host[host_key(task.url)].append(task)
            runnable: list[tuple[str, CrawlTask]] = []
            for host, host_tasks in by_host.items():
                keep, capped = apply_host_cap(host_tasks, pages_per_host[host], config, run_id)
                pages_per_host[host] += len(keep)
                report.fetch_log.extend(capped)
                runnable.extend((host, t) for t in keep)
            candidates: dict[str, list[DiscoveredLink]] = defaultdict(list)
            for _task, outcome in _run(worker.crawl_page, runnable, worker):
                report.fetch_log.extend(outcome.fetch_log)
                report.image_refs.extend(outcome.image_refs)
                report.inline_images.extend(outcome.inline_images)
                report.dropped_references += outcome.dropped_references
                for link in outcome.links:
                    if link.url not in seen:
                        candidates[link.url].append(link)
            tasks = []
            for url in sorted(candidates):
                seen.add(url)
                task, row = decide_link(choose_candidate(candidates[url]), config, run_id)
                if row is not None:
                    report.fetch_log.append(row)
                else:
                    tasks.append(task)
            depth += 1
        if fetch_images:
            rows, records = _fetch_images(worker, image_tasks(report.image_refs))
            report.fetch_log.extend(rows)
            report.images.extend(records)
    finally:
        worker.close()
    return report


def fetch_images(
    tasks: Iterable[ImageTask],
    config: CrawlConfig,
    image_handler: ImageBodyHandler,
    *,
    run_id: str = "local",
    slots: HostSlots | None = None,
    robots_cache: RobotsCache | None = None,
) -> tuple[list[FetchLogRecord], list[ImageRecord]]:
    """Fetch distinct image tasks (:func:`image_tasks`): a fetch_log row each, and the handler's records."""
    worker = CrawlWorker(config, run_id, image_handler, slots=slots, robots_cache=robots_cache)
    try:
        return _fetch_images(worker, tasks)
    finally:
        worker.close()


def _fetch_images(
    worker: CrawlWorker, tasks: Iterable[ImageTask]
) -> tuple[list[FetchLogRecord], list[ImageRecord]]:
    rows, records = [], []
    work = [(host_key(t.image_url), t) for t in tasks]
    for _task, outcome in _run(worker.fetch_image, work, worker):
        if outcome.fetch_log is not None:  # None: the bytes were a video (this driver does not fetch videos)
            rows.append(outcome.fetch_log)
        if outcome.image is not None:
            records.append(outcome.image)
    return rows, records


def _run(fn, work, worker: CrawlWorker):
    config = worker.config
    for item, result in map_politely(
        fn,
        work,
        threads=config.fetch_threads,
        default_delay=config.per_host_delay,
        concurrency=config.host_concurrency,
        slots=worker.slots,
    ):
        if isinstance(result, BaseException):  # crawl_page/fetch_image never raise; this is a last resort
            raise result
        yield item, result
