"""The video stage: one task per distinct video URL, fetched streamed under its own cap and hashed in memory.

::

    video refs (pages' <video>, <source>, <a href=*.mp4>, og:video; seeds, links and images that were videos)
      -> VideoTasksFromRefs   one VideoTask per distinct video URL, every page that showed it
      -> FetchVideos          GroupByHost -> Fetch -> HashVideos (fused: the bytes never leave the process)
      -> FetchVideosResult(fetch_log, videos, images)

Fetch: :meth:`hashwatch.crawling.crawl_worker.CrawlWorker.fetch_video` streams the body into memory up to
``--max-video-bytes`` (over it: ``video_too_large``), feeding the video's digests chunk by chunk as the bytes
arrive. The body then goes, with its digests, to ``HashVideos``, applied straight to the fetching ParDo's
``bodies`` output so the two fuse: the element is a :class:`~transforms.hash_fetched.FetchedImage`, whose
coder (:class:`~transforms.hash_fetched.BodiesStayInMemory`) refuses to encode, so no runner can move a video
body across a stage boundary or spill it to disk.

Memory: a video body may be 512 MiB, so the stage fetches with ``--video-fetch-threads`` threads (default 2)
per DoFn instance, and at most one fetched body waits for hashing: a worker holds at most
``video_fetch_threads + 2`` video bodies (one being read per thread, one waiting, one being hashed), plus the
decoder's frames. Each fetch thread holding a body waits while one already waits.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.pvalue import PCollection, TaggedOutput

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import ImageOutcome
from hashwatch.crawling.fetcher import one_line
from hashwatch.crawling.frontier import image_task_for
from schemas import ImageRecord
from schemas.crawl import VideoRef, VideoTask
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import KIND_VIDEO, OUTCOME_FAILED
from schemas.videos import VideoRecord
from transforms.coders import with_element_type
from transforms.crawl import _image_key, image_shards
from transforms.hash_fetched import BODIES, FetchedImage
from transforms.hash_videos import HandledVideo, HashVideoBody
from transforms.polite_fetch import Handed, PoliteFetchFn, wv
from transforms.progress import ProgressConfig, start_reporting
from transforms.run_counters import VIDEOS, StageCounters, count_row

__all__ = ["FetchVideos", "FetchVideosResult", "HashVideos", "VideoTasksFromRefs", "video_task"]

_VIDEOS = "videos"
_IMAGES = "images"
# Video bodies that may wait for the hash step per DoFn instance (see the module docstring).
_BODIES_WAITING = 1


def video_task(video_url: str, refs: Iterable[VideoRef]) -> VideoTask:
    """One video URL's references -> its task: every page that showed it (a seed that was a video has
    none), its smallest depth."""
    task = image_task_for(video_url, refs)
    return task._replace(page_urls=[page for page in task.page_urls if page])


class VideoTasksFromRefs(beam.PTransform):
    """Video references -> one :class:`VideoTask` per distinct video URL.

    Example: ``tasks = crawl.video_refs | "VideoTasksFromRefs" >> VideoTasksFromRefs()``."""

    def expand(self, refs: PCollection[VideoRef]) -> PCollection[VideoTask]:
        return (
            refs
            | "KeyByVideoUrl" >> beam.Map(lambda r: (r.image_url, r))
            | "GroupByVideoUrl" >> beam.GroupByKey()
            | "ToTask" >> beam.MapTuple(video_task).with_output_types(VideoTask)
        )


class _FetchVideosFn(PoliteFetchFn):
    """(host or host shard, [VideoTask]) -> fetch_log rows (main) and bodies for HashVideos (``bodies``)."""

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        host, tasks = element
        self._arrive(host)
        for task in tasks:
            self._submit(host, task, timestamp, window)
        yield from self._drain()
        self._counters.publish()

    def _work(self, item, pacer):
        return self._worker.fetch_video(item[0], pacer)

    def _outcome(self, task: VideoTask, result) -> ImageOutcome:
        if isinstance(result, BaseException):
            parent = task.page_urls[0] if task.page_urls else None
            return ImageOutcome(
                self._worker.internal_row(task.image_url, KIND_VIDEO, task.depth, parent, result), None
            )
        return result

    def _rows(self, outcome: ImageOutcome) -> list[FetchLogRecord]:
        return [outcome.fetch_log] if outcome.fetch_log is not None else []

    def _count(self, outcome: ImageOutcome, handed: Handed) -> None:
        counters = self._counters
        counters.observe(VIDEOS, "video_fetch_ms", int(outcome.elapsed_s * 1000))
        if outcome.bytes_length:
            counters.observe(VIDEOS, "video_bytes", outcome.bytes_length)
        for row in handed.rows:  # a body's row is counted by HashVideos
            count_row(counters, VIDEOS, row)

    def _emit(self, task: VideoTask, outcome: ImageOutcome, handed: Handed, timestamp, window):
        for row in handed.rows:
            yield wv(row, timestamp, window)


def _final_row(row: FetchLogRecord, handled: HandledVideo) -> FetchLogRecord:
    if not handled.error_kind:
        return row
    message = one_line(handled.error_message) if handled.error_message else None
    return row._replace(outcome=OUTCOME_FAILED, error_kind=handled.error_kind, error_message=message)


class _HashVideoFn(beam.DoFn):
    """FetchedImage (a video body) -> its final fetch_log row (main), its videos/ row (``videos``) or, if the
    bytes were an image, its images/ row (``images``)."""

    def __init__(self, run_id: str, handler: HashVideoBody, progress: ProgressConfig | None) -> None:
        self._run_id = run_id
        self._handler = handler
        self._progress = progress

    def setup(self) -> None:
        self._counters = StageCounters(self._run_id)
        start_reporting(self._progress)
        self._handler.setup()

    def process(self, body: FetchedImage) -> Iterator[FetchLogRecord]:
        with self._counters.bound():
            try:
                handled = self._handler(body.task, body.fetched)
            # The hasher's bug must not lose the row; its text may quote content, so only its type is kept.
            except Exception as exc:  # noqa: BLE001
                handled = HandledVideo(None, None, "internal", f"video hasher raised {type(exc).__name__}")
        row = _final_row(body.row, handled)
        count_row(self._counters, VIDEOS, row)
        yield row
        if handled.video is not None:
            yield TaggedOutput(_VIDEOS, handled.video._replace(run_id=self._run_id))
        if handled.image is not None:
            yield TaggedOutput(_IMAGES, handled.image._replace(run_id=self._run_id))

    def finish_bundle(self) -> None:
        self._counters.publish()


class HashedVideos(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] the final row of every body
    videos: PCollection  # [VideoRecord]
    images: PCollection  # [ImageRecord] video URLs whose bytes were images


class HashVideos(beam.PTransform):
    """Hash fetched video bodies: ``PCollection[FetchedImage] -> HashedVideos(fetch_log, videos, images)``.
    Apply it straight to the fetching ParDo's ``bodies`` output: the two must fuse (module docstring)."""

    def __init__(self, run_id: str, handler: HashVideoBody, progress: ProgressConfig | None = None) -> None:
        super().__init__()
        self._fn = _HashVideoFn(run_id, handler, progress)

    def expand(self, bodies: PCollection[FetchedImage]):
        hashed = bodies | "Hash" >> beam.ParDo(self._fn).with_output_types(FetchLogRecord).with_outputs(
            _VIDEOS, _IMAGES, main="fetch_log"
        )
        return HashedVideos(
            fetch_log=hashed.fetch_log,
            videos=with_element_type(hashed[_VIDEOS], VideoRecord),
            images=with_element_type(hashed[_IMAGES], ImageRecord),
        )


class FetchVideosResult(NamedTuple):
    fetch_log: PCollection  # [FetchLogRecord] one row per video task
    videos: PCollection  # [VideoRecord] one per video hashed (with an error kind if it was cut short)
    images: PCollection  # [ImageRecord] video URLs whose bytes were images


class FetchVideos(beam.PTransform):
    """Fetch each distinct video once (``Fetch``, streamed, ``--max-video-bytes``) and hash it in the step
    fused right after it (``HashVideos``). In: ``PCollection[VideoTask]`` (:class:`VideoTasksFromRefs`).
    Out: :class:`FetchVideosResult`. Grouped by host as :class:`transforms.crawl.FetchImages` is. Example::

        handler = HashVideoBody(run_id, limits, HashImageBody(run_id))
        result = tasks | "FetchVideos" >> FetchVideos(config.crawl, run_id, handler)
    """

    def __init__(
        self,
        config: CrawlConfig,
        run_id: str,
        handler: HashVideoBody,
        progress: ProgressConfig | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._run_id = run_id
        self._handler = handler
        self._progress = progress

    def expand(self, tasks: PCollection[VideoTask]):
        shards = image_shards(self._config)
        fetch_fn = _FetchVideosFn(
            self._config,
            self._run_id,
            key_concurrency=1 if shards > 1 else None,
            progress=self._progress,
            fetch_threads=self._config.video_fetch_threads,
            bodies_waiting=_BODIES_WAITING,
            video_digests=self._handler.digests,
        )
        fetched = (
            tasks
            | "KeyByHost" >> beam.Map(lambda t: (_image_key(t.image_url, shards), t))
            | "GroupByHost" >> beam.GroupByKey()
            | "Fetch"
            >> beam.ParDo(fetch_fn).with_output_types(FetchLogRecord).with_outputs(BODIES, main="fetch_log")
        )
        hashed = with_element_type(fetched[BODIES], FetchedImage) | "HashVideos" >> HashVideos(
            self._run_id, self._handler, self._progress
        )
        fetch_log = (
            with_element_type(fetched.fetch_log, FetchLogRecord),
            hashed.fetch_log,
        ) | "FetchLog" >> beam.Flatten()
        return FetchVideosResult(fetch_log=fetch_log, videos=hashed.videos, images=hashed.images)
