"""``matches/``: one row per (page, image, list entry) that matched. The analyst-facing output.

**A match's identity** is :data:`MATCH_IDENTITY`: (image_url, page_url, hash_type, list_hash, source), i.e. a
sighting (this image URL on this page; page_url is None when the image URL was itself a seed) of a list entry
(the lists key entries by hash type, hash value and source). ``category``, ``list_version``, ``distance``,
``variant``, ``corroboration``, ``item_id`` and the image's own hash are attributes of a report, not of the identity: a re-categorised entry
or a new list version is not a new match; the same hash added by a second source is. Crawls report every match
they see (the same match again on every crawl); a rescan reports a match only if it is not currently active
(never reported, or retracted since: see :mod:`schemas.retractions`).
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional

import pyarrow as pa

from hashwatch.hashing.hash_types import MATCHES, hash_columns
from schemas.arrow_util import check_record_matches_schema
from schemas.hash_columns import arrow_fields, record_fields

# The columns before the matched image's hash columns, which the hash-type registry declares
# (schemas.hash_columns: md5, sha1, sha256, phash, dhash, pdq, pdq_quality, for joining with other systems).
_HEAD = [
    ("run_id", str, pa.string()),
    ("matched_at", int, pa.timestamp("us", tz="UTC")),  # epoch microseconds (UTC)
    ("page_url", Optional[str], pa.string()),  # None when the image URL was itself a seed
    ("image_url", str, pa.string()),
    ("final_url", Optional[str], pa.string()),
    ("depth", int, pa.int32()),
    ("hash_type", str, pa.string()),  # md5 | sha1 | sha256 | phash | dhash | pdq | plug-in name
    ("hash_value", str, pa.string()),  # our hash of the image (of the matching variant, when variant is set)
    ("list_hash", str, pa.string()),  # the known hash it matched
    ("distance", int, pa.int32()),  # Hamming distance; 0 for exact types
    ("match_kind", str, pa.string()),  # exact | near
    # which query-side variant matched (e.g. rot90, flipx); None for the plain image
    ("variant", Optional[str], pa.string()),
    # what confirmed a corroborated type's match, e.g. "dhash:7" (pHash); else None
    ("corroboration", Optional[str], pa.string()),
    ("category", Optional[str], pa.string()),
    ("source", Optional[str], pa.string()),
    ("list_version", Optional[str], pa.string()),
    # the list's own id of the matched picture (its rows' item_id, for this source)
    ("item_id", Optional[str], pa.string()),
    ("index_checksum", str, pa.string()),  # the compiled index the match was made against
]


class TimeRangeRow(NamedTuple):
    """One element of ``matches.matched_ranges``: a span of the crawled video, in seconds."""

    start: float
    end: float


TIME_RANGE_TYPE = pa.struct([("start", pa.float64()), ("end", pa.float64())])

# Animations and videos (after the hash columns, all null on a still image's row and in files written before
# them; readers of older files fill them with null).
_MEDIA = [
    ("media_kind", Optional[str], pa.string()),  # image | animation | video (null: written before videos)
    # the matched frame: an animation's frame number, or a video's sampled frame (its first match)
    ("frame_index", Optional[int], pa.int32()),
    ("frame_time", Optional[float], pa.float64()),  # a video frame's timestamp, seconds
    # vPDQ: the share of the crawled video's good frames matching the listed video, and of the listed
    # video's good frames matched (Meta's query_match_percent, compared_match_percent)
    ("query_match_percent", Optional[float], pa.float64()),
    ("compared_match_percent", Optional[float], pa.float64()),
    ("matched_ranges", Optional[Sequence[TimeRangeRow]], pa.list_(TIME_RANGE_TYPE)),  # of the crawled video
]

MatchRecord = NamedTuple(
    "MatchRecord",
    [(n, t) for n, t, _ in _HEAD] + record_fields(MATCHES) + [(n, t) for n, t, _ in _MEDIA],
)
MatchRecord.__new__.__defaults__ = (None,) * len(_MEDIA)
MatchRecord.__doc__ = """One matches/ row: a sighting of a list entry, and the matched image's own hashes (its
hash columns are ImageHashes.to_columns() restricted to matches/'s, see
hashwatch.hashing.image_hashes.match_hash_columns)."""

MATCHES_SCHEMA = pa.schema(
    [(n, a) for n, _, a in _HEAD] + arrow_fields(MATCHES) + [(n, a) for n, _, a in _MEDIA]
)

MATCH_IDENTITY = ("image_url", "page_url", "hash_type", "list_hash", "source")


def match_records(
    run_id: str, image: Mapping[str, Any], matches: Iterable[Any], checksum: str, now_us: int
) -> Iterator[MatchRecord]:
    """The matches/ rows of one image: one per (page showing it, list entry matched). ``image`` is its
    images/ row as a mapping (``ImageRecord._asdict()``, or a history row a rescan read back) for its URLs and
    hash columns; ``matches`` are the index's ``Match`` results for it (hash_type, query_hash, list_hash,
    distance, ..., frame_index). ``media_kind`` is ``animation`` for an image with ``frame_count``, else
    ``image``; ``frame_index`` is the animation frame that matched (None for a still image or a digest)."""
    pages = list(image["page_urls"] or ()) or [None]
    hashes = {c.name: image.get(c.name) for c in hash_columns(MATCHES)}
    animation = image.get("frame_count") is not None
    for match in matches:
        frame_index = getattr(match, "frame_index", None)
        # image | animation: an animation's row has frame_count (a history row read without it still says
        # animation when a frame matched)
        media_kind = "animation" if animation or frame_index is not None else "image"
        for page in pages:
            yield MatchRecord(
                run_id=run_id,
                matched_at=now_us,
                page_url=page,
                image_url=image["image_url"],
                final_url=image["final_url"],
                depth=image["depth"],
                hash_type=match.hash_type,
                hash_value=match.query_hash,
                list_hash=match.list_hash,
                distance=match.distance,
                match_kind=match.match_kind,
                variant=match.variant,
                corroboration=match.corroboration,
                category=match.category,
                source=match.source,
                list_version=match.list_version,
                item_id=match.item_id,
                index_checksum=checksum,
                **hashes,
                media_kind=media_kind,
                frame_index=frame_index,
            )


def match_key(image_url: str, page_url, hash_type: str, list_hash: str, source) -> str:
    """The identity as one string (a deterministic Beam key): None and "" are the same for page and source."""
    return "\x1f".join((image_url, page_url or "", hash_type, list_hash, source or ""))


check_record_matches_schema(MatchRecord, MATCHES_SCHEMA)
