"""Hashing a fetched video body in memory: its ``videos/`` row, or, when the bytes were an image, its ``images/`` row.

:class:`HashVideoBody` is what the video stage's hash step (:class:`transforms.fetch_videos.HashVideos`) calls
with each body the fetch handed over. It decodes from memory with
:func:`hashwatch.video.hash_video.hash_video` (PyAV; no temp file), passing the digests the fetch fed while
the bytes arrived, and builds the row with :func:`schemas.video_rows.video_record`. A "video" whose bytes are
an image (a poster served at a .mp4 URL) is hashed as an image by the crawl's image handler.

A video that hashed with an error kind (truncated, too long, undecodable: ``VIDEO_ERROR_KINDS``) still gets its
``videos/`` row (its digests can match a ``video_md5`` list; a partial vPDQ can match), and its fetch_log row
fails with that kind, as an undecodable image does. Counts: ``HashVideos.videos_hashed``, ``video_hash_ms``,
``video_decode_failures``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from hashwatch.crawling.image_handler import FetchedBody, HandledImage
from hashwatch.crawling.sniff import is_image_type
from hashwatch.video.video_hashes import VideoLimits
from schemas.crawl import VideoTask
from schemas.video_rows import video_record
from transforms.hash_images import HashImageBody
from transforms.run_counters import VIDEO_HASHING, count, observe

__all__ = ["HashVideoBody", "HandledVideo"]

NAMESPACE = VIDEO_HASHING  # HashVideos


class HandledVideo(NamedTuple):
    """What became of one body: a ``videos/`` row or an ``images/`` row (at most one), and an error kind."""

    video: object | None  # VideoRecord
    image: object | None  # ImageRecord (the bytes were an image)
    error_kind: str | None
    error_message: str | None


def _default_hash_video(data: bytes, limits: VideoLimits, digests=None):
    from hashwatch.video.hash_video import hash_video  # PyAV loads here, on the worker

    return hash_video(data, limits, digests=digests)


def _new_digests():
    from hashwatch.video.digests import VideoDigests

    return VideoDigests()


class HashVideoBody:
    """Turn a fetched video body into a ``videos/`` row (or an ``images/`` row if it is an image).

    Picklable configuration in ``__init__``; ``hash_video(data, limits, digests=...)`` is the video library's
    (tests may pass their own). ``digests()`` makes the streaming digests the fetch feeds (a factory the
    fetch DoFn calls per video). Example::

        handler = HashVideoBody(run_id, VideoLimits(max_seconds=60), HashImageBody(run_id))
        handled = handler(task, fetched)  # HandledVideo
    """

    def __init__(
        self,
        run_id: str,
        limits: VideoLimits,
        image_handler: HashImageBody,
        hash_video=None,
        digests=None,
    ) -> None:
        self._run_id = run_id
        self._limits = limits
        self._image_handler = image_handler
        self._hash_video = hash_video or _default_hash_video
        self.digests = digests or _new_digests

    def setup(self) -> None:
        self._image_handler.setup()

    def __call__(self, task: VideoTask, fetched: FetchedBody) -> HandledVideo:
        if is_image_type(fetched.content_type):
            handled: HandledImage = self._image_handler(task, fetched)
            count(NAMESPACE, "video_urls_that_were_images")
            return HandledVideo(None, handled.record, handled.error_kind, handled.error_message)
        started = time.perf_counter()
        hashes = self._hash_video(fetched.body, self._limits, digests=fetched.digests)
        observe(NAMESPACE, "video_hash_ms", int((time.perf_counter() - started) * 1000))
        count(NAMESPACE, "videos_hashed")
        record = video_record(
            self._run_id,
            task,
            hashes,
            final_url=fetched.final_url,
            http_status=fetched.http_status,
            content_type=fetched.content_type,
            hashed_at=time.time_ns() // 1000,
        )
        if hashes.status != "ok":
            count(NAMESPACE, "video_decode_failures")
            return HandledVideo(record, None, hashes.status, hashes.error or hashes.status)
        return HandledVideo(record, None, None, None)
