"""The rescan's reconciliation rules: what to report again and what to retract, for one match identity.

No Beam: the rules take plain records (the candidates found now, the earlier reports and retractions) and
return one :class:`Decision`; :mod:`transforms.rescan` groups by identity and counts the outcomes.

A match's identity is :data:`schemas.matches.MATCH_IDENTITY`. It is *active* when its latest report is
later than everything retracted (``max(matches.matched_at) > max(retractions.matched_at)``). Per identity:

- matched now and not active (never reported, or retracted since) -> one new match row (the closest
  candidate: lowest distance, plain hash before variants);
- active and not matched now -> a retraction if the list entry is deleted (a tombstone in force, and the
  entry is not live in the index) or allowlisted (its list hash, or one of the image hashes the report
  carries); otherwise it stays active and is only counted: an entry that disappeared without a tombstone, a
  threshold made tighter, or an image outside the ``--since/--until`` range never retract a match;
- anything else -> nothing.

>>> rules = Rules(index, tombstones, allowlist)
>>> decide(candidates, events, lambda: rules, run_id="r2", index_checksum=index.checksum, now_us=now)  # doctest: +SKIP
Decision(outcome='new_matches', record=MatchRecord(...))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from hashwatch.hashing.allowlist import Allowlist, image_hashes_mapping
from hashwatch.hashing.hash_types import MATCHES, ColumnRole, hash_columns
from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.list_tombstones import Tombstones
from hashwatch.hashing.match_policy import MatchOptions
from schemas.matches import MATCH_IDENTITY, MatchRecord, match_key
from schemas.retractions import REASON_ALLOWLISTED, REASON_DELETED, MatchEvent, RetractionRecord

__all__ = [
    "EVENT_COLUMNS",
    "OUTCOMES",
    "Decision",
    "Rules",
    "decide",
    "events_from_table",
]

# The image hashes a matches/ row carries (md5, sha1, sha256, phash, dhash, pdq): what a report keeps of the
# image, for image-scope allowlist entries.
_REPORTED_HASHES = tuple(c.name for c in hash_columns(MATCHES) if c.role == ColumnRole.VALUE)
# The columns a rescan reads of earlier matches/ and retractions/ files (and checks before it starts).
EVENT_COLUMNS = {
    "matches": ("run_id", "matched_at", *MATCH_IDENTITY, "category", "list_version", *_REPORTED_HASHES),
    "retractions": ("run_id", "matched_at", *MATCH_IDENTITY, "category", "list_version"),
}

# Outcomes of :func:`decide` (the rescan's counters of the same names); None: nothing to do.
NEW = "new_matches"
REPORTED_AGAIN = "matches_reported_again_after_retraction"
ALREADY_ACTIVE = "already_active"
KEPT_LIVE = "active_unmatched_entry_live"
KEPT_GONE = "active_unmatched_entry_gone_without_tombstone"
RETRACTED = {reason: f"retractions_{reason}" for reason in (REASON_DELETED, REASON_ALLOWLISTED)}
OUTCOMES = (NEW, REPORTED_AGAIN, ALREADY_ACTIVE, KEPT_LIVE, KEPT_GONE, *RETRACTED.values())


class Decision(NamedTuple):
    outcome: str | None  # one of OUTCOMES, or None
    record: MatchRecord | RetractionRecord | None  # the row to write, if any


def events_from_table(table: pa.Table, kind: str) -> Iterator[tuple[str, MatchEvent]]:
    """``(identity key, MatchEvent)`` for each row of a ``matches/`` (``kind="match"``) or ``retractions/``
    (``kind="retraction"``) row group."""
    micros = pc.cast(table.column("matched_at"), pa.timestamp("us", tz="UTC"))
    at = pc.cast(micros, pa.int64()).to_pylist()
    wanted = EVENT_COLUMNS["matches" if kind == "match" else "retractions"]
    columns = {name: table.column(name).to_pylist() for name in wanted if name != "matched_at"}
    none = [None] * table.num_rows
    reported = {h: columns.get(h, none) if kind == "match" else none for h in _REPORTED_HASHES}
    for k in range(table.num_rows):
        event = MatchEvent(
            kind=kind,
            run_id=columns["run_id"][k],
            at=at[k],
            image_url=columns["image_url"][k],
            page_url=columns["page_url"][k],
            hash_type=columns["hash_type"][k],
            list_hash=columns["list_hash"][k],
            source=columns["source"][k],
            category=columns["category"][k],
            list_version=columns["list_version"][k],
            **{h: values[k] for h, values in reported.items()},
        )
        yield (
            match_key(event.image_url, event.page_url, event.hash_type, event.list_hash, event.source),
            event,
        )


class Rules:
    """What decides a retraction: the index (is the entry live?), the tombstones in force (is it deleted?)
    and the allowlist (is it allowlisted?). ``tombstones`` None: the run has none (a prebuilt index)."""

    def __init__(self, index: KnownHashIndex, tombstones: Tombstones | None, allowlist: Allowlist | None):
        self.index = index
        self.tombstones = tombstones
        self.allowlist = allowlist

    def is_live(self, hash_type: str, list_hash: str, source: str | None) -> bool:
        """Whether the index holds this exact entry (hash and source) now."""
        if hash_type not in self.index.hash_types:
            return False
        options = MatchOptions(thresholds={hash_type: 0}, dihedral=False, hash_types=(hash_type,))
        try:
            query = ImageHashes.of_value(hash_type, list_hash)
        # A vpdq match's list_hash names the listed video (its item_id), not a hash an image query holds:
        # not provably live, so it is retracted only by a tombstone or the allowlist (module docstring).
        except (ValueError, KeyError, TypeError):
            return False
        return any(
            m.list_hash == list_hash and (m.source or "") == (source or "")
            for m in self.index.match(query, options)
        )


def _candidate_rank(record: MatchRecord) -> tuple:
    return (
        record.distance,
        record.variant is not None,
        record.variant or "",
        record.hash_value,
        record.final_url or "",
        record.depth,
        record.category or "",
        record.list_version or "",
    )


def decide(
    candidates: Sequence[MatchRecord],
    events: Sequence[MatchEvent],
    rules: Callable[[], Rules],
    *,
    run_id: str,
    index_checksum: str,
    now_us: int,
) -> Decision:
    """The rules above for one identity: its candidate matches now and its earlier reports and retractions.
    ``rules`` returns the :class:`Rules`; it is called only when a retraction must be decided (loading the
    tombstones is not free, and most identities need none)."""
    reported = [e for e in events if e.kind == "match"]
    retracted = [e for e in events if e.kind == "retraction"]
    latest = max(reported, key=lambda e: (e.at, e.run_id), default=None)
    retracted_upto = max((e.at for e in retracted), default=None)
    active = latest is not None and (retracted_upto is None or latest.at > retracted_upto)
    if candidates:
        if active:
            return Decision(ALREADY_ACTIVE, None)
        return Decision(REPORTED_AGAIN if retracted else NEW, min(candidates, key=_candidate_rank))
    if not active:
        return Decision(None, None)
    return _retraction(latest, rules(), run_id, index_checksum, now_us)


def _retraction(match: MatchEvent, rules: Rules, run_id: str, index_checksum: str, now_us: int) -> Decision:
    fields = dict(
        run_id=run_id,
        retracted_at=now_us,
        image_url=match.image_url,
        page_url=match.page_url,
        hash_type=match.hash_type,
        list_hash=match.list_hash,
        source=match.source,
        match_run_id=match.run_id,
        matched_at=match.at,
        category=match.category,
        list_version=match.list_version,
        cause_list_version=None,
        allowlist_sha256=None,
        allowlist_scope=None,
        allowlist_hash_type=None,
        allowlist_hash_value=None,
        allowlist_reason=None,
        index_checksum=index_checksum,
    )
    live = rules.is_live(match.hash_type, match.list_hash, match.source)
    if not live and rules.tombstones is not None:
        deleted, version = rules.tombstones.deleted(match.hash_type, match.list_hash, match.source)
        if deleted:
            record = RetractionRecord(reason=REASON_DELETED, **{**fields, "cause_list_version": version})
            return Decision(RETRACTED[REASON_DELETED], record)
    allowlist = rules.allowlist
    if allowlist is not None:
        entry = allowlist.suppressing(match.hash_type, match.list_hash, image_hashes_mapping(match))
        if entry is not None:
            record = RetractionRecord(
                reason=REASON_ALLOWLISTED,
                **{
                    **fields,
                    "allowlist_sha256": allowlist.sha256,
                    "allowlist_scope": entry.scope,
                    "allowlist_hash_type": entry.hash_type,
                    "allowlist_hash_value": entry.hash_value,
                    "allowlist_reason": entry.reason,
                },
            )
            return Decision(RETRACTED[REASON_ALLOWLISTED], record)
    return Decision(KEPT_LIVE if live else KEPT_GONE, None)
