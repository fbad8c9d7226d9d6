"""The fetching DoFns' base: buffer a bundle's tasks, fetch them on a thread pool under per-host politeness,
hand each fetched image body over to the ``HashImages`` step, and emit from the DoFn's thread.

:class:`PoliteFetchFn` takes ``(host, tasks)`` elements; a
:class:`~hashwatch.crawling.politeness.HostScheduler` of ``fetch_threads`` threads runs the tasks (a page, an image) through a
:class:`~hashwatch.crawling.crawl_worker.CrawlWorker`; the records are emitted on the DoFn's thread (Beam's
output and metrics are not thread-safe), as tasks finish, by ``process`` and ``finish_bundle``.

The worker does not hash. Its image handler is :class:`_HandOver`, which keeps each body (on the fetch
thread, for the task being fetched) and answers "no error", so the worker writes the body's fetch_log row as
fetched. The DoFn pairs each body with its row (:func:`_pair_bodies`) and emits them together as a
:class:`~transforms.hash_fetched.FetchedImage` on the ``bodies`` output, which ``HashImages`` (fused right
after) hashes, giving the row its final outcome. A fetch thread whose task handed over bodies waits while
``fetch_threads`` bodies already wait to be emitted, so memory stays bounded when hashing is the slower side
(a fast site): by about twice ``fetch_threads`` bodies per DoFn instance (those waiting, those being emitted,
one held per waiting thread), plus a page's inline ``data:`` images, which pass as one task.

Subclasses (:mod:`transforms.crawl`) say what a task is: ``_work`` (on a fetch thread), ``_outcome`` (the
task's outcome, or the exception it raised turned into one), ``_rows``, ``_count`` and ``_emit``.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import CrawlWorker, shared_fetcher
from hashwatch.crawling.image_handler import FetchedBody, HandledImage
from hashwatch.crawling.politeness import HostScheduler
from schemas.crawl import ImageTask
from schemas.fetch_log import FetchLogRecord
from transforms.hash_fetched import BODIES, FetchedImage
from transforms.progress import ProgressConfig, report_bundle_end, start_reporting
from transforms.run_counters import StageCounters

_LOGGER = logging.getLogger(__name__)

__all__ = ["Handed", "PoliteFetchFn", "wv"]

# finish_bundle hands the counts to Beam at least this often while it waits for the bundle's fetches.
_PUBLISH_EVERY_S = 1.0


# --- handing bodies over to the HashImages step
# ------------------------------------------------------------------------


_handed = threading.local()  # the bodies the crawl worker handed over during one task, on its fetch thread


class _HandOver:
    """The :class:`ImageBodyHandler` of the fetching DoFns' crawl worker: it does not hash, it keeps the body
    (on this fetch thread, for the task being fetched) for the ``HashImages`` step and answers "no error", so
    the worker writes the body's fetch_log row as fetched; ``HashImages`` gives it its final outcome."""

    def setup(self) -> None:
        pass

    def __call__(self, task: ImageTask, fetched: FetchedBody) -> HandledImage:
        _handed.bodies.append((task, fetched))
        return HandledImage(None, None, None)


class Handed(NamedTuple):
    """A task's fetch_log rows to emit now, and its bodies (each with its row) for ``HashImages``."""

    rows: list  # [FetchLogRecord]
    images: list  # [FetchedImage]


def _pair_bodies(rows: list[FetchLogRecord], bodies: list) -> Handed:
    """Give each handed-over body the row the worker wrote for it (the first unpaired row of its URL: the
    image's, the inline image's ``data:`` id, or the page's for a seed or link that was an image)."""
    if not bodies:
        return Handed(rows, [])
    free: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        free.setdefault(row.url, []).append(index)
    paired: set[int] = set()
    images = []
    for task, fetched in bodies:
        unpaired = free.get(task.image_url)
        if not unpaired:  # the worker replaced its rows by one internal row after the hand-over: no hashing
            continue
        index = unpaired.pop(0)
        paired.add(index)
        images.append(FetchedImage(task, fetched, rows[index]))
    return Handed([row for index, row in enumerate(rows) if index not in paired], images)


# --- the fetching DoFn base: buffer a bundle, fetch concurrently, drain in finish_bundle
# -----------------------------------------------------------------------------------------


class PoliteFetchFn(beam.DoFn):
    """Takes (host, tasks) elements, runs the tasks on a per-instance thread pool under per-host politeness,
    and emits each task's records from the DoFn thread (Beam's output and metrics are not thread-safe).

    Each task is counted on the fetch thread that did it, as it finishes (:meth:`_count`; the rows of
    bodies are counted by ``HashImages``); ``process`` and ``finish_bundle`` publish the counts to Beam from
    the DoFn thread, at least every ``_PUBLISH_EVERY_S`` while the bundle's fetches run."""

    metrics_namespace = "hashwatch"

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        key_concurrency: int | Callable[[str], int] | None = None,
        progress: ProgressConfig | None = None,
        *,
        fetch_threads: int | None = None,
        bodies_waiting: int | None = None,
        video_digests=None,
    ) -> None:
        self._config = config
        # The pool's threads and how many handed-over bodies may wait for the hash step: config.fetch_threads
        # for pages and images; the video stage passes its own (few: a video body may be 512 MiB).
        self._threads = fetch_threads or config.fetch_threads
        self._bodies_limit = bodies_waiting or self._threads
        self._video_digests = video_digests  # picklable factory of streaming digests (video stage only)
        self._run_id = run_id
        # Requests in flight per key: the host's concurrency, or 1 when a key is one of a host's shards (or a
        # function of the key, when a stage has both kinds: transforms.crawl's rounds).
        self._key_concurrency = key_concurrency or config.host_concurrency
        self._progress = progress
        self._worker: CrawlWorker | None = None
        self._scheduler: HostScheduler | None = None
        self._ready: threading.Condition | None = None
        self._closing = False

    def setup(self) -> None:
        config = self._config
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)
        self._worker = CrawlWorker(
            config,
            self._run_id,
            _HandOver(),
            fetcher=shared_fetcher(config),
            video_digests=self._video_digests,
        )
        self._ready = threading.Condition()
        self._finished: deque = deque()
        self._in_flight = 0
        self._bodies_waiting = 0  # handed-over bodies not drained yet (a task is let in below fetch_threads)
        self._closing = False  # teardown: fetch threads holding bodies stop waiting for a drain
        self._scheduler = HostScheduler(
            self._work_counted,
            threads=self._threads,
            default_delay=config.per_host_delay,
            concurrency=self._key_concurrency,
            slots=self._worker.slots,
            on_result=self._collect,
        )

    def teardown(self) -> None:
        if self._ready is not None:
            with self._ready:  # a failed bundle is never drained: release fetch threads held with bodies
                self._closing = True
                self._ready.notify_all()
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _work_counted(self, item, pacer):  # runs on a fetch thread
        _handed.bodies = []
        try:
            with self._counters.bound():  # anything counted on the way goes to this DoFn's counters
                result = self._work(item, pacer)
            return result, _handed.bodies
        finally:
            _handed.bodies = None

    def _collect(self, item, result) -> None:  # runs on the fetch thread, as the task finishes
        task = item[0]
        try:
            if isinstance(result, BaseException):
                outcome, handed = self._outcome(task, result), None
            else:
                outcome = self._outcome(task, result[0])
                handed = _pair_bodies(self._rows(outcome), result[1])
        except Exception as exc:  # noqa: BLE001 - a bug here must not lose the task nor hang the bundle
            outcome, handed = self._outcome(task, exc), None
        if handed is None:  # an internal row: no body
            handed = Handed(self._rows(outcome), [])
        try:
            self._count(outcome, handed)
        except Exception as exc:  # noqa: BLE001 - counting must not kill the thread: the task's rows still go out
            _LOGGER.warning("fetch counts of one task lost: %s", type(exc).__name__)
        limit = self._bodies_limit
        with self._ready:
            # Bodies wait in memory until the DoFn's thread hands them to HashImages: hold this fetch thread
            # while fetch_threads of them already wait (hashing is the slower side on a fast site). At
            # teardown (a failed bundle, never drained) nobody will hash them: drop them and go on.
            while handed.images and self._bodies_waiting >= limit and not self._closing:
                self._ready.wait()
            if self._closing:  # the bodies' rows go out as the fetch wrote them, unhashed
                handed = Handed(handed.rows + [image.row for image in handed.images], [])
            self._bodies_waiting += len(handed.images)
            self._finished.append((item, outcome, handed))
            self._in_flight -= 1
            self._ready.notify_all()

    def _arrive(self, host: str) -> None:
        """Called once per (host, tasks) element: the host's first request of this stage waits a delay."""
        self._worker.slots.arrive(host, self._config.per_host_delay)

    def _submit(self, host: str, task, timestamp, window, lane: str = "") -> None:
        """Queue ``task`` for ``host``'s slots; tasks of another ``lane`` of the host take turns with it."""
        with self._ready:
            self._in_flight += 1
        self._scheduler.submit(host, (task, timestamp, window), lane)

    def _drain(self) -> Iterable:
        with self._ready:
            batch = list(self._finished)
            self._finished.clear()
            self._bodies_waiting = 0
            self._ready.notify_all()
        for (task, timestamp, window), outcome, handed in batch:
            yield from self._emit(task, outcome, handed, timestamp, window)
            tag = self._bodies_tag(task)
            for image in handed.images:
                yield wv(image, timestamp, window, tag)

    def finish_bundle(self) -> Iterable:
        """Emit the bundle's records as their fetches finish, publishing the counts meanwhile."""
        while True:
            with self._ready:
                if self._in_flight and not self._finished:
                    self._ready.wait(timeout=_PUBLISH_EVERY_S)
            yield from self._drain()  # emitting may submit more tasks (a page's images: transforms.crawl)
            self._counters.publish()
            with self._ready:
                done = not self._in_flight and not self._finished  # every outcome emitted, none to come
            if done:
                report_bundle_end(self._progress)
                return

    def _bodies_tag(self, task) -> str:  # the output a task's bodies go to (a HashImages step each)
        return BODIES

    def _work(self, item, pacer):  # runs on a fetch thread
        raise NotImplementedError

    def _outcome(self, task, result):  # the task's outcome; ``result`` may be the exception it raised
        raise NotImplementedError

    def _rows(self, outcome) -> list[FetchLogRecord]:  # the fetch_log rows the worker wrote
        raise NotImplementedError

    def _count(self, outcome, handed: Handed) -> None:  # runs on the fetch thread
        raise NotImplementedError

    def _emit(self, task, outcome, handed: Handed, timestamp, window) -> Iterable:  # on the DoFn thread
        raise NotImplementedError


def wv(value, timestamp, window, tag: str | None = None):
    windowed = WindowedValue(value, timestamp, (window,))
    return windowed if tag is None else TaggedOutput(tag, windowed)
