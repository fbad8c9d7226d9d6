"""Corroboration: a near-match of one perceptual type counts only where the same list picture's hash of
another type is near the image's too (pHash by dHash @ 12 by default; :data:`DEFAULT_CORROBORATION`).

The list says which entries hash one picture through its ``item_id`` column; the index keeps that as
:class:`~hashwatch.hashing.index_entries.EntryItems`. Vectorised over a batch's hits::

    verdicts = corroborate(types["phash"], types.get("dhash"), hits, ("dhash", 12), many, dihedral=True)
    # per hit: ("dhash:7", picture) | (False, None) nothing near | (None, None) nothing to corroborate with
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hashwatch.hashing.hash_codes import hex_to_codes
from hashwatch.hashing.index_entries import TypeIndex
from hashwatch.hashing.match_policy import DEFAULT_CORROBORATION

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.image_hashes import ImageHashes

__all__ = ["corroborate", "coverage", "expand_ranges"]

Verdict = tuple[str | bool | None, int | None]


def corroborate(
    t: TypeIndex,
    other: TypeIndex | None,
    hits: Sequence[tuple[tuple[int, str | None], int]],
    rule: tuple[str, int],
    many: Sequence[ImageHashes],
    dihedral: bool,
) -> list[Verdict]:
    """For each hit ``((image k, variant), entry pos)`` of type ``t``, a verdict and the picture that gave it
    (the nearest; None unless corroborated). The verdict: ``"<type>:<distance>"`` if the same
    list picture's hash of the rule's other type is within the rule's threshold of the image's (its plain
    hash, its dihedral variants, the candidate of the same variant), False if the picture has such hashes
    and none is, None if there is nothing to corroborate with (the entry has no item id, its pictures no
    hash of the other type, or the image none). Vectorised over the hits: two bisections per picture and
    one popcount per (picture's hash, image hash) pair."""
    other_name, radius = rule
    h = len(hits)
    if not h or t.items is None or other is None or other.items is None or other.hamming is None:
        return [(None, None)] * h
    # Hit -> pictures -> the other type's entries of those pictures, as flat (hit, entry) pairs.
    pos = np.fromiter((p for _, p in hits), np.int64, h)
    hit_of_pair, item_idx = expand_ranges(np.arange(h), t.items.offsets[pos], t.items.offsets[pos + 1])
    items = t.items.items[item_idx]
    lo = np.searchsorted(other.items.by_item, items, side="left")
    hi = np.searchsorted(other.items.by_item, items, side="right")
    trip_pair, trip_idx = expand_ranges(np.arange(items.size), lo, hi)
    trip_hit, trip_item = hit_of_pair[trip_pair], items[trip_pair]
    trip_entry = other.items.by_item_entry[trip_idx]
    # The image's hashes of the other type, per hit: plain, dihedral variants, the same-named candidate.
    q_hit: list[int] = []
    q_hex: list[str] = []
    for i, ((k, variant), _) in enumerate(hits):
        plain = many[k].hash_value(other_name)
        if plain is None:
            continue
        q_hit.append(i)
        q_hex.append(plain)
        if dihedral:
            for v in many[k].variants(other_name).values():
                q_hit.append(i)
                q_hex.append(v)
        if variant is not None:
            cand = many[k].candidates(other_name).get(variant)
            if cand is not None:
                q_hit.append(i)
                q_hex.append(cand)
    has_other = np.bincount(trip_hit, minlength=h) > 0
    has_query = np.zeros(h, bool)
    best = np.full(h, np.iinfo(np.int32).max, np.int64)
    best_item = np.full(h, -1, np.int64)
    if q_hit:
        qh = np.asarray(q_hit, np.int64)
        has_query[qh] = True
        codes = hex_to_codes(q_hex, other.bits)
        # Pair every query row with every (hit, entry) triple of its hit (triples are sorted by hit).
        tlo = np.searchsorted(trip_hit, qh, side="left")
        thi = np.searchsorted(trip_hit, qh, side="right")
        q_row, t_idx = expand_ranges(np.arange(qh.size), tlo, thi)
        if t_idx.size:
            listed = np.asarray(other.hamming.codes[trip_entry[t_idx]])
            d = np.bitwise_count(listed ^ codes[q_row]).sum(axis=1, dtype=np.int64)
            # Per hit, the nearest (distance, then lowest picture number) and its picture.
            hit_t = trip_hit[t_idx]
            order = np.lexsort((trip_item[t_idx], d, hit_t))
            first = np.r_[True, hit_t[order][1:] != hit_t[order][:-1]]
            pick = order[first]
            best[hit_t[pick]] = d[pick]
            best_item[hit_t[pick]] = trip_item[t_idx][pick]
    out: list[Verdict] = []
    for i in range(h):
        if not (has_other[i] and has_query[i]):
            out.append((None, None))
        elif best[i] <= radius:
            out.append((f"{other_name}:{int(best[i])}", int(best_item[i])))
        else:
            out.append((False, None))
    return out


def coverage(
    types: Mapping[str, TypeIndex], rules: Mapping[str, tuple[str, int]] | None = None
) -> dict[str, Any]:
    """For each corroborated type the index holds (``rules``: default :data:`DEFAULT_CORROBORATION`): its
    entries, and how many the list gives the means to corroborate (an item id whose picture also has a
    hash of the other type); the others follow ``MatchOptions.uncorroborated``."""
    out: dict[str, Any] = {}
    for name, (other_name, threshold) in (DEFAULT_CORROBORATION if rules is None else rules).items():
        t = types.get(name)
        if t is None:
            continue
        other = types.get(other_name)
        corroborable = 0
        if t.items is not None and other is not None and other.items is not None:
            has_other = np.isin(t.items.items, other.items.by_item)
            entry = np.repeat(np.arange(t.size), np.diff(t.items.offsets))
            corroborable = int(np.count_nonzero(np.bincount(entry[has_other], minlength=t.size)))
        out[name] = {"by": other_name, "threshold": int(threshold), "entries": t.size}
        out[name]["corroborable"] = corroborable
    return out


def expand_ranges(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``[lo[i], hi[i])``: each index in them, and the ``owner[i]`` of its range."""
    counts = (hi - lo).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.cumsum(counts) - counts
    idx = np.repeat(np.asarray(lo, np.int64) - starts, counts) + np.arange(total)
    return np.repeat(np.asarray(owner, np.int64), counts), idx
