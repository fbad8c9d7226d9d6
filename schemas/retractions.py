"""``retractions/``: matches reported earlier that no longer stand, and why. Written by the rescan.

A match is identified by :data:`schemas.matches.MATCH_IDENTITY` (image_url, page_url, hash_type, list_hash,
source). A retraction row withdraws every report of that match up to and including the one reported at
``matched_at`` (by run ``match_run_id``); a later report of the same match (the entry came back) is active
again. ``reason`` is ``deleted`` (a tombstone in the current lists removes the entry: ``cause_list_version``)
or ``allowlisted`` (the allowlist names the list hash or the image: ``allowlist_*``).
"""

from typing import NamedTuple, Optional

import pyarrow as pa

from hashwatch.hashing.hash_types import MATCHES
from schemas.arrow_util import check_record_matches_schema
from schemas.hash_columns import value_fields

REASON_DELETED = "deleted"
REASON_ALLOWLISTED = "allowlisted"
RETRACTION_REASONS = frozenset({REASON_DELETED, REASON_ALLOWLISTED})


class RetractionRecord(NamedTuple):
    run_id: str  # the rescan that retracted it
    retracted_at: int  # epoch microseconds (UTC)
    image_url: str  # the match's identity: image_url, page_url, hash_type, list_hash, source
    page_url: Optional[str]
    hash_type: str
    list_hash: str
    source: Optional[str]
    reason: str  # deleted | allowlisted
    match_run_id: str  # the run of the latest report retracted
    matched_at: int  # that report's matched_at: reports up to it are withdrawn; epoch microseconds (UTC)
    category: Optional[str]  # as reported
    list_version: Optional[str]  # as reported (the version that matched)
    cause_list_version: Optional[str]  # deleted: the list version of the tombstone in force
    allowlist_sha256: Optional[str]  # allowlisted: checksum of the allowlist file
    allowlist_scope: Optional[
        str
    ]  # list (a known-collision list entry) | image (a known-innocent image) | both
    allowlist_hash_type: Optional[str]  # the allowlist row that applies
    allowlist_hash_value: Optional[str]
    allowlist_reason: Optional[str]
    index_checksum: str  # the lists the rescan ran with


RETRACTIONS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("retracted_at", pa.timestamp("us", tz="UTC")),
        ("image_url", pa.string()),
        ("page_url", pa.string()),
        ("hash_type", pa.string()),
        ("list_hash", pa.string()),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("match_run_id", pa.string()),
        ("matched_at", pa.timestamp("us", tz="UTC")),
        ("category", pa.string()),
        ("list_version", pa.string()),
        ("cause_list_version", pa.string()),
        ("allowlist_sha256", pa.string()),
        ("allowlist_scope", pa.string()),
        ("allowlist_hash_type", pa.string()),
        ("allowlist_hash_value", pa.string()),
        ("allowlist_reason", pa.string()),
        ("index_checksum", pa.string()),
    ]
)


MatchEvent = NamedTuple(
    "MatchEvent",
    [
        ("kind", str),  # match | retraction
        ("run_id", str),  # the run that wrote the row
        ("at", int),  # epoch microseconds
        ("image_url", str),
        ("page_url", Optional[str]),
        ("hash_type", str),
        ("list_hash", str),
        ("source", Optional[str]),
        ("category", Optional[str]),
        ("list_version", Optional[str]),
        # The image's hashes as reported (matches only; None for retractions): image-scope allowlist checks.
        *value_fields(MATCHES),
    ],
)
MatchEvent.__doc__ = """One earlier report (``kind="match"``) or retraction (``kind="retraction"``) of a match, inside
a rescan. ``at`` is the report's ``matched_at``; for a retraction, the ``matched_at`` it withdraws up to."""


check_record_matches_schema(RetractionRecord, RETRACTIONS_SCHEMA)
