"""``matches/`` rows of a video: one per (page showing it, :class:`~hashwatch.video.video_match.VideoMatch`).

The same table as images' matches (:mod:`schemas.matches`), with ``media_kind = "video"``::

    for record in video_match_records(run_id, video_record._asdict(), match_video(index, hashes), checksum, now_us):
        ...

Column by column, for a video:

- ``image_url`` is the video's URL (``video_url``), ``final_url`` and ``depth`` the video's;
- ``hash_type`` ``video_md5`` | ``vpdq`` | ``pdq``; ``match_kind`` ``exact`` | ``vpdq`` | ``frame_to_image``;
  ``hash_value`` the query's hash (the MD5, or the PDQ of the matched frame), ``list_hash`` the list's (for
  ``vpdq``: the listed video's item_id, see :mod:`hashwatch.video.video_match`);
- the hash columns: ``md5``, ``sha1`` and ``sha256`` are the video file's digests (``video_md5``,
  ``video_sha1``, ``video_sha256``): what joins the row with other systems, as for an image; the picture columns
  (phash, dhash, pdq, pdq_quality) are null: a video has
  no single picture;
- ``frame_index``, ``frame_time``, ``query_match_percent``, ``compared_match_percent``, ``matched_ranges``
  from the match.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hashwatch.hashing.hash_types import MATCHES, hash_columns
from schemas.matches import MatchRecord, TimeRangeRow

__all__ = ["video_match_records"]

# The video's own digests in the hash columns of the same name (videos/ column -> matches/ column).
_DIGESTS = {"md5": "video_md5", "sha1": "video_sha1", "sha256": "video_sha256"}


def video_match_records(
    run_id: str, video_row: Mapping[str, Any], matches: Iterable[Any], checksum: str, now_us: int
) -> Iterator[MatchRecord]:
    """The matches/ rows of one video: ``video_row`` is its videos/ row as a mapping (``VideoRecord._asdict()``
    or a row read back), ``matches`` its :class:`VideoMatch` results."""
    pages = list(video_row.get("page_urls") or ()) or [None]
    hashes: dict[str, Any] = {}
    for column in hash_columns(MATCHES):
        if column.name in _DIGESTS:
            hashes[column.name] = video_row.get(_DIGESTS[column.name]) or ("" if column.required else None)
        else:
            hashes[column.name] = "" if column.required else None
    empty = dict.fromkeys(MatchRecord._fields)
    for match in matches:
        ranges = [TimeRangeRow(float(r[0]), float(r[1])) for r in match.matched_ranges]
        for page in pages:
            yield MatchRecord(
                **{
                    **empty,
                    **hashes,
                    "run_id": run_id,
                    "matched_at": now_us,
                    "page_url": page,
                    "image_url": video_row["video_url"],
                    "final_url": video_row.get("final_url"),
                    "depth": video_row.get("depth") or 0,
                    "hash_type": match.hash_type,
                    "hash_value": match.query_hash,
                    "list_hash": match.list_hash,
                    "distance": match.distance,
                    "match_kind": match.match_kind,
                    "category": match.category,
                    "source": match.source,
                    "list_version": match.list_version,
                    "item_id": match.item_id,
                    "index_checksum": checksum,
                    "media_kind": "video",
                    "frame_index": match.frame_index,
                    "frame_time": match.frame_time,
                    "query_match_percent": match.query_match_percent,
                    "compared_match_percent": match.compared_match_percent,
                    "matched_ranges": ranges,
                }
            )
