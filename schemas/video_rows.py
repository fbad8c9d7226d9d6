"""Between the video library's :class:`~hashwatch.video.video_hashes.VideoHashes` and a ``videos/`` row.

:func:`video_record` makes the row of a hashed video (the crawl's video stage); :func:`video_hashes_of` reads
one back (matching, the rescan: no bytes needed, a row holds every hash a match uses)::

    record = video_record(run_id, task, hashes, final_url=url, http_status=200, content_type="video/mp4",
                          hashed_at=now_us)
    video_hashes_of(record._asdict()).vpdq == hashes.vpdq
"""

from __future__ import annotations

from collections.abc import Mapping

from hashwatch.video.frames import VpdqFrame
from hashwatch.video.video_hashes import VideoHashes
from schemas.crawl import VideoTask
from schemas.videos import VideoRecord, VpdqFrameRow

__all__ = ["VPDQ_QUALITY_FLOOR", "video_hashes_of", "video_record"]

# Frames under this PDQ quality are kept in the row and ignored by matching: the reference vPDQ's default
# quality tolerance (vpdq's match_two_hash_brute, --quality-tolerance 50). The summary columns count against it.
VPDQ_QUALITY_FLOOR = 50


def video_record(
    run_id: str,
    task: VideoTask,
    hashes: VideoHashes,
    *,
    final_url: str | None,
    http_status: int | None,
    content_type: str | None,
    hashed_at: int,
) -> VideoRecord:
    """The videos/ row of one hashed video: where it was seen, what the fetch learned, its hashes."""
    frames = [VpdqFrameRow(f.frame_index, float(f.timestamp), f.pdq, f.quality) for f in hashes.vpdq]
    good = [f for f in frames if f.quality >= VPDQ_QUALITY_FLOOR]
    return VideoRecord(
        run_id=run_id,
        video_url=task.image_url,
        final_url=final_url,
        page_urls=list(task.page_urls),
        depth=task.depth,
        http_status=http_status,
        content_type=content_type,
        bytes_length=hashes.bytes_length,
        container=hashes.container,
        codec=hashes.codec,
        width=hashes.width,
        height=hashes.height,
        duration=hashes.duration,
        fps=hashes.fps,
        frames_decoded=hashes.frames_decoded,
        frames_hashed=len(frames),
        video_md5=hashes.md5,
        video_sha1=hashes.sha1,
        video_sha256=hashes.sha256,
        vpdq=frames,
        vpdq_good_frames=len(good),
        vpdq_distinct=len({f.pdq for f in good}),
        decode_status=hashes.status,
        decode_error=hashes.error,
        hashed_at=hashed_at,
    )


def video_hashes_of(row: Mapping) -> VideoHashes:
    """The video library's view of a videos/ row (a record's ``_asdict()`` or a Parquet row as a dict)."""
    frames = tuple(
        VpdqFrame(int(f["frame_index"]), float(f["timestamp"]), f["pdq"], int(f["quality"]))
        if isinstance(f, Mapping)
        else VpdqFrame(int(f[0]), float(f[1]), f[2], int(f[3]))
        for f in (row.get("vpdq") or ())
    )
    return VideoHashes(
        md5=row["video_md5"],
        sha256=row["video_sha256"],
        sha1=row.get("video_sha1"),
        bytes_length=int(row.get("bytes_length") or 0),
        status=row.get("decode_status") or "ok",
        error=row.get("decode_error"),
        container=row.get("container"),
        codec=row.get("codec"),
        width=row.get("width"),
        height=row.get("height"),
        duration=row.get("duration"),
        fps=row.get("fps"),
        frames_decoded=int(row.get("frames_decoded") or 0),
        vpdq=frames,
    )
