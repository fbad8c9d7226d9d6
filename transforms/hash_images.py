"""Hashing image bodies inside the fetching DoFn, so image bytes never cross a shuffle.

:class:`HashImageBody` is the :class:`hashwatch.crawling.image_handler.ImageBodyHandler` the pipeline passes to
``CrawlRounds`` and ``FetchImages``: it gets each fetched body, computes every hash once, and returns an
:class:`~schemas.ImageRecord` (hashes and metadata only). The same bytes at many URLs are hashed once per
worker: a small LRU cache keyed by SHA-256 skips the decode and perceptual hashes on a repeat.

The handler runs on the fetching DoFn's threads, where Beam records no metric: it counts through
:func:`transforms.run_counters.count`, into the counters the fetching DoFn bound to the thread
(``HashImages.images_hashed``, ``same_bytes_hashed_once``, ``decode_failures``, ``hash_ms``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from hashwatch.crawling.image_handler import FetchedBody, HandledImage
from hashwatch.hashing.image_hashes import ImageHashes, compute_image_hashes
from schemas import ImageRecord, ImageTask
from transforms.run_counters import HASHING, count, observe

__all__ = ["HashImageBody", "image_record"]

_NAMESPACE = HASHING  # HashImages
# decode_status values that make the fetch_log row a failure (the images/ row is still written: an undecodable
# file can still match a list by MD5 or SHA).
# A decode status that makes the fetch a failure with that error kind (the images/ row is still written when
# there is one: an animation over its frame cap keeps the frames hashed before it, as a video does).
_FAILED_DECODES = frozenset({"decode_error", "too_many_pixels", "unsupported_format", "too_many_frames"})


def image_record(
    run_id: str,
    task: ImageTask,
    hashes: ImageHashes,
    *,
    final_url: str | None,
    http_status: int | None,
    content_type: str | None,
    hashed_at: int,
) -> ImageRecord:
    """The images/ row for one hashed body: where it was seen, what the fetch learned, and the hashes'
    own columns (``ImageHashes.to_columns``)."""
    return ImageRecord(
        run_id=run_id,
        image_url=task.image_url,
        final_url=final_url,
        page_urls=list(task.page_urls),
        depth=task.depth,
        http_status=http_status,
        content_type=content_type,
        **hashes.to_columns(),
        hashed_at=hashed_at,
    )


class _LruCache:
    """A thread-safe LRU of SHA-256 -> ImageHashes (hashes only, never bytes)."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._items: OrderedDict[str, ImageHashes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ImageHashes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: ImageHashes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class HashImageBody:
    """Turn a fetched image body into an :class:`ImageRecord` (an ``ImageBodyHandler``).

    Picklable configuration in ``__init__``; the cache is made in :meth:`setup`. Thread-safe: the fetching
    DoFn calls it from its worker threads, bound to the DoFn's counters.
    """

    def __init__(self, run_id: str, hash_config=None, cache_size: int = 4096):
        self._run_id = run_id
        self._hash_config = hash_config
        self._cache_size = cache_size
        self._cache: _LruCache | None = None

    def setup(self) -> None:
        if self._cache is None:
            self._cache = _LruCache(self._cache_size)

    def hashes(self, body: bytes) -> ImageHashes:
        """Every hash of ``body``, from the cache when the same bytes were hashed before in this worker."""
        if self._cache is None:
            self.setup()
        key = hashlib.sha256(body).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            count(_NAMESPACE, "same_bytes_hashed_once")
            return cached
        started = time.perf_counter()
        hashes = compute_image_hashes(body, self._hash_config)
        observe(_NAMESPACE, "hash_ms", int((time.perf_counter() - started) * 1000))
        count(_NAMESPACE, "images_hashed")
        self._cache.put(key, hashes)
        return hashes

    def __call__(self, task: ImageTask, fetched: FetchedBody) -> HandledImage:
        hashes = self.hashes(fetched.body)
        record = image_record(
            self._run_id,
            task,
            hashes,
            final_url=fetched.final_url,
            http_status=fetched.http_status,
            content_type=fetched.content_type,
            hashed_at=time.time_ns() // 1000,
        )
        if hashes.decode_status in _FAILED_DECODES:
            count(_NAMESPACE, "decode_failures")
            return HandledImage(record, hashes.decode_status, hashes.error_message)
        return HandledImage(record, None, None)
