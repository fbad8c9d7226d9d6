"""``matches/``: one row per (page, image, list entry) that matched. The analyst-facing output.

**A match's identity** is :data:`MATCH_IDENTITY`: (image_url, page_url, hash_type, list_hash, source), i.e. a
sighting (this image URL on this page; page_url is None when the image URL was itself a seed) of a list entry
(the lists key entries by hash type, hash value and source). ``category``, ``list_version``, ``distance``,
``variant``, ``corroboration``, ``item_id`` and the image's own hash are attributes of a report, not of the identity: a re-categorised entry
or a new list version is not a new match; the same hash added by a second source is. Crawls report every match
they see (the same match again on every crawl); a rescan reports a match only if it is not currently active
(never reported, or retracted since: see :mod:`schemas.retractions`).
"""

from typing import NamedTuple, Optional

import pyarrow as pa

from schemas.arrow_util import check_record_matches_schema


class MatchRecord(NamedTuple):
    run_id: str
    matched_at: int  # epoch microseconds (UTC)
    page_url: Optional[str]  # None when the image URL was itself a seed
    image_url: str
    final_url: Optional[str]
    depth: int
    hash_type: str  # md5 | sha1 | sha256 | phash | dhash | pdq | plug-in name
    hash_value: str  # our hash of the image (of the matching variant, when variant is set)
    list_hash: str  # the known hash it matched
    distance: int  # Hamming distance; 0 for exact types
    match_kind: str  # exact | near
    variant: Optional[str]  # which query-side variant matched (e.g. rot90, flipx); None for the plain image
    corroboration: Optional[
        str
    ]  # what confirmed a corroborated type's match, e.g. "dhash:7" (pHash); else None
    category: Optional[str]
    source: Optional[str]
    list_version: Optional[str]
    item_id: Optional[str]  # the list's own id of the matched picture (its rows' item_id, for this source)
    index_checksum: str  # the compiled index the match was made against
    md5: str  # the image's other hashes, for joining with other systems
    sha1: str
    sha256: str
    phash: Optional[str]
    dhash: Optional[str]
    pdq: Optional[str]
    pdq_quality: Optional[int]


MATCHES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("matched_at", pa.timestamp("us", tz="UTC")),
        ("page_url", pa.string()),
        ("image_url", pa.string()),
        ("final_url", pa.string()),
        ("depth", pa.int32()),
        ("hash_type", pa.string()),
        ("hash_value", pa.string()),
        ("list_hash", pa.string()),
        ("distance", pa.int32()),
        ("match_kind", pa.string()),
        ("variant", pa.string()),
        ("corroboration", pa.string()),
        ("category", pa.string()),
        ("source", pa.string()),
        ("list_version", pa.string()),
        ("item_id", pa.string()),
        ("index_checksum", pa.string()),
        ("md5", pa.string()),
        ("sha1", pa.string()),
        ("sha256", pa.string()),
        ("phash", pa.string()),
        ("dhash", pa.string()),
        ("pdq", pa.string()),
        ("pdq_quality", pa.int32()),
    ]
)

MATCH_IDENTITY = ("image_url", "page_url", "hash_type", "list_hash", "source")


def match_key(image_url: str, page_url, hash_type: str, list_hash: str, source) -> str:
    """The identity as one string (a deterministic Beam key): None and "" are the same for page and source."""
    return "\x1f".join((image_url, page_url or "", hash_type, list_hash, source or ""))


check_record_matches_schema(MatchRecord, MATCHES_SCHEMA)
