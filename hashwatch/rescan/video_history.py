"""Matching the ``videos/`` history again, a row group at a time: each row's digests and vPDQ frames against
today's index, by the crawl's own video matching. No Beam: a row group is a ``pyarrow.Table``.

>>> found = match_video_history_batch(table, index, run_id="r2", now_us=now, path=path)  # doctest: +SKIP
>>> found.candidates       # [(identity key, MatchRecord)], one per page and list entry   # doctest: +SKIP

A rescan reports exactly what a crawl with the same list would (``video_md5`` exact; ``vpdq`` by Meta's rule
from the ``vpdq`` column; each frame's PDQ against the list's picture PDQs), and the rescan's rules
(:mod:`hashwatch.rescan.rules`) report new ones and retract deleted or allowlisted entries as for images. A
row with no video URL, or a ``video_md5`` that is not 32 hex digits, becomes a ``rejected_rows`` record.
Videos are few next to images (one per page at most, usually none), so rows are matched one by one.
"""

from __future__ import annotations

import re

import pyarrow as pa

from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.rescan.history import HistoryBatchResult
from schemas.matches import match_key
from schemas.rejected_rows import ERROR_INVALID_HASH, ERROR_MISSING_IMAGE_URL, RejectedRowRecord
from schemas.video_rows import video_hashes_of

__all__ = ["VIDEO_HISTORY_COLUMNS", "match_video_history_batch"]

# The videos/ columns a rescan reads: where the video was seen, its digests and its vPDQ frames.
VIDEO_HISTORY_COLUMNS = (
    "video_url",
    "final_url",
    "page_urls",
    "depth",
    "bytes_length",
    "video_md5",
    "video_sha256",
    "video_sha1",
    "vpdq",
    "decode_status",
)
_MD5 = re.compile(r"[0-9a-f]{32}")


def match_video_history_batch(
    table: pa.Table,
    index: KnownHashIndex,
    options=None,
    allowlist=None,
    *,
    run_id: str,
    now_us: int,
    path: str,
) -> HistoryBatchResult:
    """Match one row group of ``videos/`` history (columns :data:`VIDEO_HISTORY_COLUMNS`) read from
    ``path``. ``options``: the video matching's (``VideoMatchOptions``; None: its defaults, the crawl's); ``allowlist``
    (an :class:`~hashwatch.hashing.allowlist.Allowlist`) leaves out allowlisted entries and known-innocent
    videos (by their md5, sha1 or sha256), as for images."""
    from hashwatch.video.video_match import match_video, video_digests_mapping
    from schemas.video_matches import video_match_records

    out = HistoryBatchResult(rows=table.num_rows)
    for row in table.to_pylist():
        url = row.get("video_url")
        if not url:
            message = "a videos/ row without a video_url cannot be reported"
            out.rejected.append(
                RejectedRowRecord(
                    run_id, "videos", path, None, "video_url", ERROR_MISSING_IMAGE_URL, message, now_us
                )
            )
            continue
        if not _MD5.fullmatch(row.get("video_md5") or ""):
            message = "video_md5 is not 32 lower-case hex digits"
            out.rejected.append(
                RejectedRowRecord(
                    run_id, "videos", path, url, "video_md5", ERROR_INVALID_HASH, message, now_us
                )
            )
            continue
        hashes = video_hashes_of(row)
        matches = match_video(index, hashes, options)
        if matches and allowlist is not None:
            matches, suppressed = allowlist.split(matches, video_digests_mapping(hashes))
            if suppressed:
                out.allowlisted = (out.allowlisted or 0) + len(suppressed) * max(
                    1, len(row.get("page_urls") or ())
                )
        if not matches:
            continue
        out.rows_hit += 1
        for match in video_match_records(run_id, row, matches, index.checksum, now_us):
            key = match_key(match.image_url, match.page_url, match.hash_type, match.list_hash, match.source)
            out.candidates.append((key, match))
    return out
