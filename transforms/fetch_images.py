"""The image side of the crawl's fetching: the two-stage form (:class:`ImageTasksFromRefs` then
:class:`FetchImages`, images after the last round), how a host's images are split into shards, and the image
task helpers the page rounds share when they fetch images themselves (:mod:`transforms.crawl`).

Type hints are evaluated (no ``from __future__ import annotations`` here): Beam reads the hints of
``expand``, ``process`` and mapped functions.
"""

import zlib
from collections.abc import Iterable
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import ImageOutcome
from hashwatch.crawling.frontier import image_task_for
from hashwatch.crawling.image_handler import ImageBodyHandler
from hashwatch.crawling.url_rules import host_key
from schemas.crawl import ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from transforms.coders import with_element_type
from transforms.hash_fetched import BODIES, FetchedImage, HashImages
from transforms.polite_fetch import Handed, PoliteFetchFn, wv
from transforms.progress import ProgressConfig
from transforms.run_counters import IMAGES, StageCounters, count_row

__all__ = ["FetchImages", "FetchImagesResult", "ImageTasksFromRefs", "image_shards", "round_image_shards"]

_METRICS_IMAGES = IMAGES  # hashwatch.FetchImages
_VIDEO_REFS = "video_refs"


class FetchImagesResult(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] one row per image task
    images: PCollection  # [ImageRecord] what the handler made of each image fetched
    video_refs: PCollection  # [VideoRef] image URLs whose bytes were a video: for the video stage


def round_image_shards(config: CrawlConfig) -> int:
    """How many keys the rounds spread one host's image fetches over (rounds that fetch images): 0 (none:
    the host's call fetches them, in turns with its pages) unless no delay can apply (:func:`image_shards`);
    then half the host's concurrency (at least 1), each shard one request at a time, and the host's pages get
    the other half: page and image requests together stay within ``--per-host-concurrency`` wherever Beam
    runs the keys, and several workers share one host's images."""
    shards = image_shards(config)
    return shards // 2 if shards > 1 else 0


def _image_task(image_url: str, refs: Iterable[ImageRef]) -> ImageTask:
    """One image URL's references -> its ImageTask (every page, the smallest depth)."""
    return image_task_for(image_url, refs)


def image_shards(config: CrawlConfig) -> int:
    """How many keys ``FetchImages`` spreads one host's images over: 1, unless no delay can apply to any
    request to any host (``per_host_delay`` 0, and robots.txt ``Crawl-delay`` capped at 0 or robots ignored),
    in which case ``host_concurrency``: each key then has at most one request in flight, so the host never
    has more than its concurrency in flight, however many workers share its keys."""
    no_crawl_delay = config.max_crawl_delay == 0 or config.ignore_robots
    if config.per_host_delay > 0 or not no_crawl_delay:
        return 1
    return config.host_concurrency


def _image_key(url: str, shards: int) -> str:
    """The grouping key of an image task: its host, or ``host#k/N`` (a stable hash: the same on every worker)."""
    host = host_key(url)
    if shards == 1:
        return host
    return f"{host}#{zlib.crc32(url.encode('utf-8')) % shards}/{shards}"


def _image_outcome(worker, task: ImageTask, result) -> ImageOutcome:
    if isinstance(result, BaseException):
        parent = task.page_urls[0] if task.page_urls else None
        row = worker.internal_row(task.image_url, "image", task.depth, parent, result)
        return ImageOutcome(row, None)
    return result


def _image_rows(outcome: ImageOutcome) -> list[FetchLogRecord]:
    return [outcome.fetch_log] if outcome.fetch_log is not None else []


def _count_image(counters: StageCounters, outcome: ImageOutcome, handed: Handed) -> None:
    counters.observe(_METRICS_IMAGES, "image_fetch_ms", int(outcome.elapsed_s * 1000))
    if outcome.bytes_length:
        counters.observe(_METRICS_IMAGES, "image_bytes", outcome.bytes_length)
    for row in handed.rows:  # a body's row is counted by HashImages
        count_row(counters, _METRICS_IMAGES, row)


def _emit_image(outcome: ImageOutcome, handed: Handed, timestamp, window):
    for row in handed.rows:
        yield wv(row, timestamp, window)
    if outcome.video_ref is not None:
        yield wv(outcome.video_ref, timestamp, window, _VIDEO_REFS)


class _FetchImagesFn(PoliteFetchFn):
    """(host or host shard, [ImageTask]) -> fetch_log rows (main) and bodies for HashImages (``bodies``).

    The key is what the politeness table counts requests in flight under: the host, or one of its shards
    (``host#k/N``, then with a concurrency of 1). With shards no delay applies (see :func:`image_shards`), so
    the requests to the host itself need no pacing beyond that."""

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        host, tasks = element
        self._arrive(host)
        for task in tasks:
            self._submit(host, task, timestamp, window)
        yield from self._drain()
        self._counters.publish()

    def _work(self, item, pacer):
        return self._worker.fetch_image(item[0], pacer)

    def _outcome(self, task: ImageTask, result) -> ImageOutcome:
        return _image_outcome(self._worker, task, result)

    def _rows(self, outcome: ImageOutcome) -> list[FetchLogRecord]:
        return _image_rows(outcome)

    def _count(self, outcome: ImageOutcome, handed: Handed) -> None:
        _count_image(self._counters, outcome, handed)

    def _emit(self, task: ImageTask, outcome: ImageOutcome, handed: Handed, timestamp, window):
        yield from _emit_image(outcome, handed, timestamp, window)


class ImageTasksFromRefs(beam.PTransform):
    """Image references -> one :class:`ImageTask` per distinct image URL (all its pages, its smallest depth).

    Example: ``tasks = crawl.image_refs | "ImageTasks" >> ImageTasksFromRefs()``.
    """

    def expand(self, refs: PCollection[ImageRef]) -> PCollection[ImageTask]:
        return (
            refs
            | "KeyByImageUrl" >> beam.Map(lambda r: (r.image_url, r))
            | "GroupByImageUrl" >> beam.GroupByKey()
            | "ToTask" >> beam.MapTuple(_image_task).with_output_types(ImageTask)
        )


class FetchImages(beam.PTransform):
    """Fetch each distinct image once (step ``Fetch``) and hand its bytes to ``image_handler`` in the step
    fused right after it (``HashImages``, :mod:`transforms.hash_fetched`).

    In: ``PCollection[ImageTask]``, already one per distinct URL (see :class:`ImageTasksFromRefs`).
    Out: :class:`FetchImagesResult` (one fetch_log row per task; the handler's records). Tasks are grouped by
    host, or, when no politeness delay can apply, by ``per_host_concurrency`` shards of each host
    (:func:`image_shards`), so that several workers can share one host's images. Example::

        result = tasks | "FetchImages" >> FetchImages(config, run_id, handler)
        result.images | "WriteImages" >> ...
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        image_handler: ImageBodyHandler,
        progress: ProgressConfig | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = image_handler
        self._progress = progress

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, tasks: PCollection[ImageTask]):
        shards = image_shards(self._config)
        fetch_fn = _FetchImagesFn(
            self._config,
            self._run_id,
            key_concurrency=1 if shards > 1 else None,
            progress=self._progress,
        )
        fetched = (
            tasks
            | "KeyByHost" >> beam.Map(lambda t: (_image_key(t.image_url, shards), t))
            | "GroupByHost" >> beam.GroupByKey()
            | "Fetch"
            >> beam.ParDo(fetch_fn)
            .with_output_types(FetchLogRecord)
            .with_outputs(BODIES, _VIDEO_REFS, main="fetch_log")
        )
        hashed = with_element_type(fetched[BODIES], FetchedImage) | "HashImages" >> HashImages(
            self._run_id, self._handler, _METRICS_IMAGES, progress=self._progress
        )
        fetch_log = (
            with_element_type(fetched.fetch_log, FetchLogRecord),
            hashed.fetch_log,
        ) | "FetchLog" >> beam.Flatten()
        return FetchImagesResult(
            fetch_log=fetch_log,
            images=hashed.images,
            video_refs=with_element_type(fetched[_VIDEO_REFS], ImageRef),
        )
