"""The contract between fetching and hashing: a fetched image body goes to a handler, only its record leaves.

Image bytes never leave the worker that fetched them (on Flink a shuffle can spill to disk): the fetch stage
calls an :class:`ImageBodyHandler` with the body in memory and emits only the :class:`HandledImage` record.
The pipeline's handler decodes and hashes; :class:`DigestImageHandler` here (crypto digests only, no decoding)
serves tests and benchmarks.
"""

import time
from typing import NamedTuple, Optional, Protocol, runtime_checkable

from schemas.crawl import ImageTask
from schemas.images import ImageRecord

_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/x-icon": "ICO",
    "image/avif": "AVIF",
    "image/heic": "HEIF",
    "image/jxl": "JXL",
    "image/svg+xml": "SVG",
}


class FetchedBody(NamedTuple):
    """An image body in memory, with what the fetch learned about it. Never serialised, never logged."""

    body: bytes
    final_url: Optional[str]  # after redirects; None for inline data: images
    http_status: Optional[int]  # None for inline data: images
    content_type: Optional[str]  # sniffed from the bytes
    declared_content_type: Optional[
        str
    ]  # the Content-Type header (the data: URI's MIME type for inline ones)
    redirect_count: int
    # A video's digests, fed chunk by chunk while it streamed in (hashwatch.video.digests.VideoDigests); None
    # for images.
    digests: Optional[object] = None


class HandledImage(NamedTuple):
    """A handler's answer. ``record`` and ``error_kind`` may both be set (e.g. ``decode_error``: the crypto
    hashes are still recorded, and the fetch_log row says failed/decode_error)."""

    record: Optional[ImageRecord]
    error_kind: Optional[str]
    error_message: Optional[str]  # one line, never content


@runtime_checkable
class ImageBodyHandler(Protocol):
    """Turns a fetched image body into an :class:`ImageRecord`. Must be picklable (Beam ships it to workers);
    ``setup`` is called once per DoFn instance before the first call. The fetch stage overwrites the record's
    ``run_id`` with its own."""

    def setup(self) -> None: ...

    def __call__(self, task: ImageTask, fetched: FetchedBody) -> HandledImage: ...


class DigestImageHandler:
    """A reference handler for tests and benchmarks: MD5, SHA-1, SHA-256 and CRC32C of the bytes, no decoding
    (format from the sniffed type, no width/height or perceptual hashes)."""

    def setup(self) -> None:
        pass

    def __call__(self, task: ImageTask, fetched: FetchedBody) -> HandledImage:
        from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

        hashes = compute_image_hashes(fetched.body, HashConfig(hash_types=(), candidates=()))  # digests only
        record = ImageRecord(
            run_id="",
            image_url=task.image_url,
            final_url=fetched.final_url,
            page_urls=list(task.page_urls),
            depth=task.depth,
            http_status=fetched.http_status,
            content_type=fetched.content_type,
            **{**hashes.to_columns(), "format": _FORMATS.get(fetched.content_type or "")},
            hashed_at=int(time.time() * 1_000_000),
        )
        return HandledImage(record, None, None)
