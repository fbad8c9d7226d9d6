"""What the evaluation compares: a :class:`Matcher` per hash type and matching mode.

A hash list holds only hashes of the originals, so a matcher has two sides:

- :meth:`Matcher.known_code`: what the list holds for a known original (one code, from the original's
  :class:`~hashwatch.hashing.image_hashes.ImageHashes`);
- :meth:`Matcher.query_codes`: the candidate codes of a query image (the crawled copy): one row for a plain
  hash, eight for PDQ with its dihedral variants, more for a query-side matcher that also tries trimmed or
  deskewed candidates (issue 9). It gets the image's hashes and its bytes, so it may decode and hash
  candidates of its own.

The distance between a query and a known original is the smallest distance over the query's candidates
(:meth:`Matcher.distances`, Hamming on packed ``uint64`` codes by default); a query with no candidate (no
hash, e.g. PDQ quality under 50) is at ``max_distance + 1`` from everything and never matches. Codes are
``uint64`` arrays of ``words`` columns: the harness stacks, caches (as hex) and compares them without
knowing what they mean, so a new matcher plugs in by subclassing :class:`Matcher` (or
:class:`HammingMatcher`) and passing it to the runner; a matcher whose distance is not a Hamming distance
(e.g. a fusion of several hash types into one score) overrides :meth:`Matcher.distances`.

Built-ins (:func:`default_matchers`): ``pdq``, ``pdq-dihedral`` (the plain list hash against the query's
eight dihedral variants, as ``MatchOptions(dihedral=True)`` does), ``phash``, ``dhash``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashwatch.hashing.hash_codes import hex_to_codes
from hashwatch.hashing.hash_types import get_hash_type
from hashwatch.hashing.image_hashes import ImageHashes

__all__ = [
    "AnyOfMatcher",
    "CandidateMatcher",
    "QualityGatedMatcher",
    "HammingMatcher",
    "Matcher",
    "codes_from_hex",
    "codes_to_hex_rows",
    "default_matchers",
    "min_hamming_distances",
]


class Matcher:
    """One way of matching a query image against known originals; subclass to plug in a new one.

    Class contract: ``name`` (unique, used in tables and cache keys), ``version`` (bump when the codes
    change, so cached codes are recomputed), ``hash_types`` (the hashwatch types the runner must compute),
    ``words`` (uint64 columns per code), ``max_distance``, ``thresholds`` (the grid the metrics sweep) and
    ``current_threshold`` (what hashwatch matches with today).
    """

    name: str = ""
    version: str = "1"
    description: str = ""
    hash_types: tuple[str, ...] = ()
    words: int = 1
    max_distance: int = 64
    thresholds: tuple[int, ...] = ()
    current_threshold: int = 0
    matched_by_default: bool = True  # False: hashwatch matches this only when asked (dHash)

    @property
    def cache_key(self) -> str:
        return f"{self.name}-v{self.version}"

    @property
    def missing(self) -> int:
        """The distance of a query that has no candidate code (never within any threshold)."""
        return self.max_distance + 1

    def known_code(self, hashes: ImageHashes) -> np.ndarray | None:
        """The list's code for a known original, shape ``(words,)``; None if it has none."""
        raise NotImplementedError

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        """The query image's candidate codes, shape ``(k, words)``, ``k >= 0``."""
        raise NotImplementedError

    def distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> np.ndarray:
        """Distance of each of ``n_queries`` queries to each known code: ``(n_queries, n_known)`` int32.

        ``rows`` stacks every query's candidate codes, ``owners[i]`` is the query row ``i`` belongs to (sorted
        ascending); ``known`` is ``(n_known, words)``.
        """
        return min_hamming_distances(rows, owners, n_queries, known, self.missing)

    def __repr__(self) -> str:
        return f"<Matcher {self.name}>"


class HammingMatcher(Matcher):
    """A hashwatch Hamming hash type (pdq, phash, dhash, or a plug-in), optionally with PDQ's dihedral
    variants on the query side."""

    def __init__(self, hash_type: str, *, dihedral: bool = False, name: str | None = None) -> None:
        ht = get_hash_type(hash_type)
        self.hash_type = hash_type
        self.dihedral = dihedral
        self.name = name or (f"{hash_type}-dihedral" if dihedral else hash_type)
        self.hash_types = (hash_type,)
        self.words = (ht.bits + 63) // 64
        self.bits = ht.bits
        self.max_distance = ht.bits
        self.thresholds = tuple(range(ht.bits // 2 + 1))
        self.current_threshold = ht.default_threshold
        self.matched_by_default = ht.match_by_default
        self.description = (
            f"{hash_type}, the list hash against the query's 8 dihedral variants"
            if dihedral
            else f"{hash_type}, plain hash"
        )

    def known_code(self, hashes: ImageHashes) -> np.ndarray | None:
        value = hashes.hash_value(self.hash_type)
        return None if value is None else codes_from_hex([value], self.bits)[0]

    def _plain_values(self, hashes: ImageHashes) -> list[str]:
        """The copy's plain hash and, if ``dihedral``, its dihedral variants (hex); empty without one."""
        value = hashes.hash_value(self.hash_type)
        if value is None:
            return []
        values = [value]
        if self.dihedral:
            values += list(hashes.variants(self.hash_type).values())
        return values

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        values = self._plain_values(hashes)
        if not values:
            return np.zeros((0, self.words), np.uint64)
        return codes_from_hex(values, self.bits)


def default_matchers() -> list[Matcher]:
    """pdq, pdq-dihedral, phash, dhash (thresholds read from the registered hash types)."""
    return [
        HammingMatcher("pdq"),
        HammingMatcher("pdq", dihedral=True),
        HammingMatcher("phash"),
        HammingMatcher("dhash"),
    ]


# ---------------------------------------------------------------- codes


def codes_from_hex(values: Sequence[str], bits: int) -> np.ndarray:
    """Hex strings of ``bits`` bits to an ``(n, words)`` uint64 array (Hamming distances are preserved)."""
    if not values:
        return np.zeros((0, (bits + 63) // 64), np.uint64)
    return hex_to_codes(list(values), bits)


def codes_to_hex_rows(codes: np.ndarray) -> list[str]:
    """An ``(n, words)`` uint64 array as one hex string per row (the cache's form); inverse of
    :func:`codes_from_hex_rows`."""
    arr = np.ascontiguousarray(codes, dtype="<u8")
    return [arr[i].tobytes().hex() for i in range(arr.shape[0])]


def codes_from_hex_rows(rows: Sequence[str], words: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, words), np.uint64)
    raw = bytes.fromhex("".join(rows))
    return np.frombuffer(raw, dtype="<u8").reshape(len(rows), words).astype(np.uint64)


# Rows x known codes x words compared per numpy call: 2^21 uint64 words, about 16 MB of temporaries.
_BLOCK_BITS = 21


def min_hamming_distances(
    rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray, missing: int
) -> np.ndarray:
    """For each query, the smallest Hamming distance over its rows to each known code (numpy popcount).

    ``(n_queries, n_known)`` int32; queries without rows get ``missing``. Works in blocks of rows so memory
    stays around 16 MB whatever the sizes.
    """
    n_known = known.shape[0]
    out = np.full((n_queries, n_known), missing, np.int32)
    if rows.shape[0] == 0 or n_known == 0:
        return out
    owners = np.asarray(owners, dtype=np.int64)
    if np.any(np.diff(owners) < 0):
        raise ValueError("owners must be sorted ascending")
    words = known.shape[1]
    block = max(1, (1 << _BLOCK_BITS) // max(1, n_known * words))
    start = 0
    total = rows.shape[0]
    while start < total:
        stop = min(total, start + block)
        # Extend the block to the end of its last owner's rows, so each owner is reduced in one place.
        if stop < total:
            stop = int(np.searchsorted(owners, owners[stop - 1], side="right"))
        part = rows[start:stop]
        d = np.bitwise_count(part[:, None, :] ^ known[None, :, :]).sum(axis=2, dtype=np.int32)
        own = owners[start:stop]
        seg = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
        reduced = np.minimum.reduceat(d, seg, axis=0)
        ids = own[seg]
        out[ids] = np.minimum(out[ids], reduced)
        start = stop
    return out


# ---------------------------------------------------------------- query-side candidates (issue 9)


class CandidateMatcher(HammingMatcher):
    """A Hamming type with query-side candidates (:mod:`hashwatch.hashing.candidates`): the list hash
    against the copy's plain hash, its DCT dihedral variants (PDQ, if ``dihedral``) and its candidates of
    the given families, as ``KnownHashIndex.match`` with ``MatchOptions(candidates=families)`` does."""

    def __init__(
        self,
        hash_type: str,
        families: Sequence[str],
        *,
        dihedral: bool = True,
        name: str | None = None,
        threshold: int | None = None,
    ) -> None:
        from hashwatch.hashing.candidates import check_families

        super().__init__(hash_type, dihedral=dihedral and bool(get_hash_type(hash_type).variant_names))
        self.candidate_families = check_families(families)
        self.name = name or f"{hash_type}+{'+'.join(self.candidate_families) or 'none'}"
        self.description = f"{hash_type} with candidates: {', '.join(self.candidate_families)}"
        if threshold is not None:
            self.current_threshold = threshold

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        from hashwatch.hashing.candidates import candidate_family

        values = self._plain_values(hashes)
        if not values:
            return np.zeros((0, self.words), np.uint64)
        values += [
            v
            for k, v in hashes.candidates(self.hash_type).items()
            if candidate_family(k) in self.candidate_families
        ]
        return codes_from_hex(values, self.bits)


class QualityGatedMatcher(HammingMatcher):
    """A plain Hamming type (pHash) that a query image uses only when its PDQ quality (the gradient measure
    PDQ gates itself with: 0 for a flat picture, 100 for a textured one) is at least ``min_quality``: a flat
    or nearly flat picture has no low-frequency structure, so its pHash bits are decided by noise and it
    matches other flat pictures. The list side is not gated (a list holds hashes, not pictures)."""

    def __init__(self, hash_type: str, min_quality: int, *, name: str | None = None) -> None:
        super().__init__(hash_type, name=name or f"{hash_type}-q{min_quality}")
        self.min_quality = int(min_quality)
        self.description = f"{hash_type}, plain hash, only for copies of PDQ quality >= {min_quality}"

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        if (hashes.pdq_quality or 0) < self.min_quality:
            return np.zeros((0, self.words), np.uint64)
        return super().query_codes(hashes, data)


class AnyOfMatcher(Matcher):
    """Fusion by any-of with per-type thresholds, as ``KnownHashIndex.match`` does across hash types: a copy
    is found if any part (e.g. PDQ with its candidates, pHash with its) is within that part's threshold.

    The distance is a score: ``min over parts of ceil(100 * d_part / threshold_part)``, so 100 means "within
    some part's threshold" and the threshold grid scales all parts' thresholds together. A code holds every
    part's code in its own slot plus one word naming the part (a query row fills one slot, a known code all).

    ``fallback=True``: the parts after the first count only for a query that has no code of the first part
    (e.g. pHash only where the copy has no PDQ hash, under PDQ's quality gate).

    ``corroborated_by={i: j}``: part ``i`` counts only where part ``j`` (a hash of another kind, of the same
    list entry) is within its threshold too, and part ``j`` does not count on its own (e.g. pHash @ 4 only
    with dHash @ 10). The pair's score is the larger of the two: 100 means both are within.

    Its codes are *derived* from its parts' codes (:meth:`known_from_parts`, :meth:`query_from_parts`): the
    runner hashes the parts only, so a new fusion rule is evaluated from the hash cache without hashing.
    """

    derived = True

    def __init__(
        self,
        parts: Sequence[Matcher],
        thresholds: Sequence[int],
        name: str,
        *,
        fallback: bool = False,
        corroborated_by: dict[int, int] | None = None,
    ) -> None:
        self.parts = list(parts)
        self.part_thresholds = [max(1, int(t)) for t in thresholds]
        self.fallback = fallback
        self.corroborated_by = dict(corroborated_by or {})
        for i, j in self.corroborated_by.items():
            if i == j or not (0 <= i < len(self.parts) and 0 <= j < len(self.parts)):
                raise ValueError(f"corroborated_by {i}: {j} must name two different parts")
        self.name = name
        self.version = "2-" + "-".join(f"{p.cache_key}" for p in self.parts)
        if self.corroborated_by:
            self.version += "-and-" + "-".join(f"{i}.{j}" for i, j in sorted(self.corroborated_by.items()))
        self.hash_types = tuple(sorted({t for p in self.parts for t in p.hash_types}))
        self.candidate_families = tuple(
            dict.fromkeys(f for p in self.parts for f in getattr(p, "candidate_families", ()))
        )
        self.offsets = np.cumsum([0, *(p.words for p in self.parts)])
        self.words = int(self.offsets[-1]) + 1
        self.max_distance = 400
        self.thresholds = tuple(range(0, 301))
        self.current_threshold = 100
        rule = "first, else (no code of the first) " if fallback else "any of "
        corroborators = set(self.corroborated_by.values())
        self.description = rule + ", ".join(
            f"{p.name} @ {t}"
            + (
                f" with {self.parts[self.corroborated_by[i]].name} @ "
                f"{self.part_thresholds[self.corroborated_by[i]]}"
                if i in self.corroborated_by
                else ""
            )
            for i, (p, t) in enumerate(zip(self.parts, self.part_thresholds, strict=True))
            if i not in corroborators
        )

    def known_from_parts(self, codes: Sequence[np.ndarray | None]) -> np.ndarray | None:
        """The list code from each part's list code (None if a part has none)."""
        if any(c is None for c in codes):
            return None
        out = np.zeros(self.words, np.uint64)
        for i, c in enumerate(codes):
            out[self.offsets[i] : self.offsets[i + 1]] = c
        return out

    def query_from_parts(self, codes: Sequence[np.ndarray]) -> np.ndarray:
        """The query rows from each part's query rows."""
        rows = []
        for i, c in enumerate(codes):
            packed = np.zeros((c.shape[0], self.words), np.uint64)
            packed[:, self.offsets[i] : self.offsets[i + 1]] = c
            packed[:, -1] = i
            rows.append(packed)
        return np.concatenate(rows) if rows else np.zeros((0, self.words), np.uint64)

    def known_code(self, hashes: ImageHashes) -> np.ndarray | None:
        return self.known_from_parts([p.known_code(hashes) for p in self.parts])

    def query_codes(self, hashes: ImageHashes, data: bytes) -> np.ndarray:
        return self.query_from_parts([p.query_codes(hashes, data) for p in self.parts])

    def part_distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> list[np.ndarray]:
        """Each part's own distances, ``(n_queries, n_known)`` (``p.missing`` where a query has no code)."""
        out = []
        for i, p in enumerate(self.parts):
            mine = rows[:, -1] == i
            lo, hi = self.offsets[i], self.offsets[i + 1]
            # The part's own distance (a list-side part takes the smallest over its list slots).
            out.append(
                p.distances(
                    np.ascontiguousarray(rows[mine, lo:hi]),
                    np.asarray(owners)[mine],
                    n_queries,
                    np.ascontiguousarray(known[:, lo:hi]),
                )
            )
        return out

    def distances(
        self, rows: np.ndarray, owners: np.ndarray, n_queries: int, known: np.ndarray
    ) -> np.ndarray:
        out = np.full((n_queries, known.shape[0]), self.missing, np.int64)
        parts = self.part_distances(rows, owners, n_queries, known)
        has_first = np.zeros(n_queries, bool)
        if self.fallback and rows.shape[0]:
            has_first[np.asarray(owners)[rows[:, -1] == 0]] = True
        scores = []
        for p, t, part in zip(self.parts, self.part_thresholds, parts, strict=True):
            d = part.astype(np.int64)
            scores.append(np.where(d >= p.missing, self.missing, -((-100 * d) // t)))
        corroborators = set(self.corroborated_by.values())
        for i, own in enumerate(scores):
            if i in corroborators:
                continue  # only corroborates another part
            j = self.corroborated_by.get(i)
            score = own.copy() if j is None else np.maximum(own, scores[j])
            if self.fallback and i > 0:
                score[has_first] = self.missing
            out = np.minimum(out, score)
        return np.minimum(out, self.missing).astype(np.int32)


def candidate_matchers() -> list[Matcher]:
    """The issue-9 matchers: PDQ and pHash with each candidate family alone and with all of them, and
    fusions across hash types (derived from those codes, so trying a rule costs no hashing): any of PDQ and
    pHash each with every candidate; PDQ with every candidate or plain pHash; PDQ with every candidate, pHash
    only for copies without a PDQ hash (with and without pHash candidates)."""
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    out: list[Matcher] = []
    for hash_type in ("pdq", "phash"):
        out += [CandidateMatcher(hash_type, (f,)) for f in CANDIDATE_FAMILIES]
        out.append(CandidateMatcher(hash_type, CANDIDATE_FAMILIES, name=f"{hash_type}+all"))
    pdq_all, phash_all = out[len(CANDIDATE_FAMILIES)], out[-1]
    phash = HammingMatcher("phash")
    at = (pdq_all.current_threshold, phash.current_threshold)  # the types' default thresholds (31, 4)
    out += [
        AnyOfMatcher([pdq_all, phash_all], at, "any(pdq+all,phash+all)"),
        AnyOfMatcher([pdq_all, phash], at, "any(pdq+all,phash)"),
        AnyOfMatcher([pdq_all, phash], at, "pdq+all,else phash", fallback=True),
        AnyOfMatcher([pdq_all, phash_all], at, "pdq+all,else phash+all", fallback=True),
    ]
    # pHash corroborated by dHash (the open decision of issue 9): pHash counts only where the copy's dHash
    # is within PHASH_CORROBORATING_DHASH of the same list entry's dHash.
    dhash = HammingMatcher("dhash")
    for t in PHASH_CORROBORATING_DHASH:
        out.append(
            AnyOfMatcher(
                [pdq_all, phash, dhash], (*at, t), f"any(pdq+all,phash&dhash@{t})", corroborated_by={1: 2}
            )
        )
    # A quality gate for pHash (the open decision of issue 9): pHash only for copies with some texture.
    for q in PHASH_QUALITY_GATES:
        gated = QualityGatedMatcher("phash", q)
        out += [gated, AnyOfMatcher([pdq_all, gated], at, f"any(pdq+all,phash-q{q})")]
    return out


# The PDQ quality gates tried for pHash (QualityGatedMatcher): PDQ itself gates at 50.
PHASH_QUALITY_GATES: tuple[int, ...] = (10, 20, 30, 50)
# The dHash thresholds tried as pHash's corroboration (the eval measured 4-20; 10 is the proposed rule).
PHASH_CORROBORATING_DHASH: tuple[int, ...] = (6, 10, 12)
