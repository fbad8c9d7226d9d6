"""The compiled known-hash index: exact lookup for byte digests, Hamming-radius search for perceptual hashes.

Build once from the lists, load in every worker::

    report = build_index(["iwf.csv", "ncmec.parquet"], "known.hwidx")
    index = KnownHashIndex.load("known.hwidx")           # memory-maps the file: milliseconds, shared pages
    for m in index.match(compute_image_hashes(data)):
        print(m.hash_type, m.distance, m.category, m.source)

**Exact types** (md5, sha1, sha256, plug-ins with ``index_kind="exact"``) are sorted fixed-width byte arrays
searched by bisection. **Hamming types** (phash, dhash, pdq) use multi-index hashing: the code is cut into
``m`` chunks; by the pigeonhole principle a code within radius ``r`` agrees with the query to within
``r // m`` bits on at least one chunk (the sharper split of Norouzi et al. is used), so probing every bucket
within that chunk radius and verifying candidates finds *every* list hash within ``r``, with its distance
(100 % recall; the tests compare with brute force). The chunking is planned per type from the list size with
a cost model and a memory budget. The hot loops are C (``_mih.c``); without the extension a numpy brute
force gives the same answers, slowly. **Linear types** (a plug-in with its own distance, e.g. PhotoDNA) are
scanned with the type's ``distance``.

**File format** (one file, memory-mapped): 8-byte magic ``HWIDX\\x00\\x01\\x00``, a little-endian uint64
header length, a JSON header (format version, list checksum and versions, source files, per-type layout,
labels, and for every array its offset, dtype, shape and CRC-32), then the arrays, each 64-byte aligned.
Loading reads the header and checks it against the arrays (``index_file_check``: 5-8 ms for a million
entries, which reads their label-set and item arrays); ``verify=True`` also checks every array's CRC-32.

A match carries the list entry's labels (category, source, list_version); a hash on several lists gives one
:class:`Match` per label.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from math import comb
from typing import TYPE_CHECKING, Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import IndexKind, get_hash_type
from hashwatch.hashing.index_file_check import check_arrays, check_header
from hashwatch.hashing.known_hash_list import ITEM_SEPARATOR

if TYPE_CHECKING:  # pragma: no cover
    from hashwatch.hashing.image_hashes import ImageHashes
    from hashwatch.hashing.known_hash_list import MergedList

try:
    from hashwatch.hashing import _mih
except ImportError:  # pragma: no cover - exercised only where the C extension could not be built
    _mih = None

__all__ = [
    "FORMAT_VERSION",
    "BuildReport",
    "HammingTable",
    "KnownHashIndex",
    "Match",
    "MatchOptions",
    "build_index",
    "brute_force_search",
    "parse_corroboration",
    "plan_chunks",
]

MAGIC = b"HWIDX\x00\x01\x00"
FORMAT_VERSION = 1
_ALIGN = 64
# Upper bound for one chunk: 2^22 buckets = 16 MB of offsets.
MAX_CHUNK_BITS = 22
# The planner keeps a Hamming table under this many bytes when any plan allows it.
DEFAULT_MEMORY_BUDGET = 900 * 2**20


# ---------------------------------------------------------------- public records


@dataclass(frozen=True)
class Match:
    """One list entry that one of an image's hashes matched."""

    hash_type: str
    query_hash: str
    list_hash: str
    distance: int
    match_kind: (
        str  # "exact" (a byte digest: the same file) | "near" (a perceptual hash within the threshold)
    )
    category: str | None
    source: str | None
    list_version: str | None
    # Which query variant matched: a DCT dihedral variant ("rot90", "flipx", ...) or a query-side candidate
    # ("trimmed", "uncaptioned", "rot90-real", "deskew+3.0", "extend-c4", ...); None for the plain hash.
    variant: str | None = None
    # For a corroborated type (pHash by default): what confirmed it, "<type>:<distance>" (the same list picture's
    # hash of that type within its corroboration threshold, e.g. "dhash:7"); None when not corroborated (a type
    # that needs none, or an entry the list gives no means to corroborate, kept by ``uncorroborated="keep"``).
    corroboration: str | None = None
    # The list's own id of the picture this entry hashes for this source (its rows' ``item_id``), if any.
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# A pHash near-match counts only where the copy's dHash is within 10 bits of the dHash of the same list picture
# (list rows sharing source and item_id). The evaluation chose it: plain pHash @ 4 alone gives 3 false matches
# on the distractors, corroborated none, at the same recall; dHash @ 9-12 all give that (docs/evaluation.md).
DEFAULT_CORROBORATION: Mapping[str, tuple[str, int]] = {"phash": ("dhash", 10)}
UNCORROBORATED_POLICIES = ("keep", "drop")


@dataclass(frozen=True)
class MatchOptions:
    """How to match: per-type thresholds (default: each type's ``default_threshold``), dihedral PDQ variants,
    which hash types to use (default: every type the index holds whose ``match_by_default`` is true, i.e.
    all but dhash; docs/evaluation.md says why), which query-side candidate families to try (default:
    :data:`~hashwatch.hashing.candidate_defaults.DEFAULT_CANDIDATE_FAMILIES`; ``()`` tries none) and for which
    hash types (default: :data:`~hashwatch.hashing.candidate_defaults.DEFAULT_CANDIDATE_HASH_TYPES`, PDQ
    only: pHash candidates add false matches). ``dihedral=False`` also leaves out the ``dihedral_real``
    candidates: no flipped or turned copy is matched.

    ``corroborate`` maps a hash type to ``(other type, threshold)``: a near-match of the first counts only
    where the copy's hash of the other type is within that threshold of the same list picture's (default
    :data:`DEFAULT_CORROBORATION`, pHash by dHash @ 10; ``{}`` switches it off). A list entry the list gives
    no means to corroborate (no ``item_id``, or its picture has no hash of the other type) is kept
    (``uncorroborated="keep"``, the plain rule) or dropped (``"drop"``)."""

    thresholds: Mapping[str, int] = field(default_factory=dict)
    dihedral: bool = True
    hash_types: tuple[str, ...] | None = None
    candidates: tuple[str, ...] | None = None
    candidate_hash_types: tuple[str, ...] | None = None
    corroborate: Mapping[str, tuple[str, int]] | None = None
    uncorroborated: str = "keep"

    def candidate_types(self) -> frozenset[str]:
        """The hash types whose candidates are matched."""
        from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_HASH_TYPES

        chosen = self.candidate_hash_types
        return frozenset(DEFAULT_CANDIDATE_HASH_TYPES if chosen is None else chosen)

    def __post_init__(self) -> None:
        if self.candidates is not None:
            from hashwatch.hashing.candidates import check_families

            object.__setattr__(self, "candidates", check_families(self.candidates))
        if self.uncorroborated not in UNCORROBORATED_POLICIES:
            raise ValueError(f"uncorroborated must be one of {', '.join(UNCORROBORATED_POLICIES)}")
        for name, (other, threshold) in self.corroborations().items():
            if name == other or int(threshold) < 0:
                raise ValueError(f"corroborate {name!r}: needs another hash type and a threshold >= 0")

    def corroborations(self) -> Mapping[str, tuple[str, int]]:
        """The corroboration rules in force: ``{type: (corroborating type, threshold)}``."""
        rules = DEFAULT_CORROBORATION if self.corroborate is None else self.corroborate
        return {k: (v[0], int(v[1])) for k, v in rules.items()}

    def candidate_families(self) -> frozenset[str]:
        """The candidate families to try."""
        from hashwatch.hashing.candidates import DEFAULT_CANDIDATE_FAMILIES

        families = set(DEFAULT_CANDIDATE_FAMILIES if self.candidates is None else self.candidates)
        if not self.dihedral:
            families.discard("dihedral_real")
        return frozenset(families)

    def threshold(self, name: str, fallback: int | None = None) -> int:
        """The threshold for ``name``: the override, else the registered type's default, else ``fallback``
        (the default recorded in the index when the type, e.g. a plug-in, is not registered here)."""
        if name in self.thresholds:
            return int(self.thresholds[name])
        try:
            return get_hash_type(name).default_threshold
        except KeyError:
            if fallback is None:
                raise
            return fallback


DEFAULT_MATCH_OPTIONS = MatchOptions()


def parse_corroboration(items: Sequence[str]) -> dict[str, tuple[str, int]] | None:
    """``--corroborate`` values (``TYPE=OTHER:N``, or ``none``) as ``MatchOptions.corroborate``: None (the
    default rule) when none is given, ``{}`` for ``none``; a bad value is a :class:`UserError`."""
    if not items:
        return None
    rules: dict[str, tuple[str, int]] = {}
    for text in items:
        if text.strip().lower() == "none":
            if len(items) > 1:
                raise UserError("--corroborate none cannot be combined with rules")
            return {}
        name, sep, rest = text.partition("=")
        other, sep2, bits = rest.partition(":")
        name, other = name.strip().lower(), other.strip().lower()
        if not sep or not sep2 or not bits.strip().isdigit():
            raise UserError(
                f"--corroborate {text!r}: expected TYPE=OTHER:N, e.g. --corroborate phash=dhash:10"
            )
        for t in (name, other):
            try:
                ht = get_hash_type(t)
            except (KeyError, ValueError):
                raise UserError(f"--corroborate {text!r}: unknown hash type {t!r}") from None
            if ht.index_kind != IndexKind.HAMMING:
                raise UserError(f"--corroborate {text!r}: {t} is not a perceptual (Hamming) hash type")
        if name == other:
            raise UserError(f"--corroborate {text!r}: a type cannot corroborate itself")
        rules[name] = (other, int(bits))
    return rules


@dataclass(frozen=True)
class BuildReport:
    """What a build did: counts per type, rows read/skipped, the checksum, and where it wrote."""

    out_path: str
    checksum: str
    list_versions: Mapping[str, str]
    entries: Mapping[str, int]
    rows_read: int
    rows_skipped: int
    skipped_by_reason: Mapping[str, int]
    tombstones_applied: int
    files: Sequence[Mapping[str, Any]]
    seconds: float
    items: int = 0  # pictures the rows' item_id columns name (distinct source, item_id)
    skipped_examples: Sequence[str] = ()  # the first few rows --skip-invalid skipped: "file:line: why"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def skipped_text(self) -> str | None:
        """One line saying what ``--skip-invalid`` skipped, naming the first rows; None if nothing was."""
        if not self.rows_skipped:
            return None
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped_by_reason.items()))
        more = " ..." if self.rows_skipped > len(self.skipped_examples) else ""
        return (
            f"--skip-invalid skipped {self.rows_skipped} of {self.rows_read} list rows ({reasons}): "
            + "; ".join(self.skipped_examples)
            + more
        )


# ---------------------------------------------------------------- chunk planning


def _split_bits(bits: int, m: int) -> list[int]:
    base, extra = divmod(bits, m)
    return [base + 1] * extra + [base] * (m - extra)


def chunk_radii(lengths: Sequence[int], radius: int) -> list[int]:
    """Per-chunk search radius for total radius ``radius`` (-1: the chunk need not be searched).

    With r = m * q + a: a code within r is within q on one of the first a + 1 chunks or within q - 1 on one of
    the rest; otherwise its distance would be at least (a + 1)(q + 1) + (m - a - 1) q = r + 1.
    """
    m = len(lengths)
    q, a = divmod(radius, m)
    return [q if i <= a else q - 1 for i in range(m)]


def _ball(bits: int, r: int) -> int:
    return sum(comb(bits, k) for k in range(0, max(r, -1) + 1))


@dataclass(frozen=True)
class ChunkPlan:
    lengths: tuple[int, ...]
    probes: float
    candidates: float
    bytes: int


# Relative cost of checking a candidate in a chunk's own sorted copy of the codes (a sequential read) against
# one reached through an id (a random read); probes cost about as much as random reads. Measured here.
_SEQUENTIAL_CANDIDATE_COST = 0.1


def plan_chunks(
    bits: int,
    n: int,
    radius: int,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    id_bytes: int = 3,
    inline: bool = False,
) -> ChunkPlan:
    """Choose the number and sizes of chunks for ``n`` codes of ``bits`` bits searched at ``radius``.

    Cost ~ probes (one random read of the offsets table each) + candidates (one random read of a code each,
    or a sequential one when chunks keep their own copy of the codes: ``inline``); plans over
    ``memory_budget`` are used only if none fits. Any plan is correct for any radius; this one is fastest near
    ``radius``.
    """
    words = (bits + 63) // 64
    plans: list[ChunkPlan] = []
    for m in range(1, bits + 1):
        lengths = _split_bits(bits, m)
        if lengths[0] > MAX_CHUNK_BITS:
            continue
        if lengths[-1] < 4:
            break
        radii = chunk_radii(lengths, radius)
        probes = sum(_ball(b, r) for b, r in zip(lengths, radii, strict=True) if r >= 0)
        cand = [_ball(b, r) * n / 2**b if r >= 0 else 0.0 for b, r in zip(lengths, radii, strict=True)]
        # Chunk 0 holds the codes themselves in bucket order: its candidates are always sequential.
        candidates = cand[0] * _SEQUENTIAL_CANDIDATE_COST + sum(cand[1:]) * (
            _SEQUENTIAL_CANDIDATE_COST if inline else 1.0
        )
        copies = m if inline else 1
        size = copies * n * words * 8 + (m - 1) * n * id_bytes + sum((2**b + 1) * 4 for b in lengths)
        plans.append(ChunkPlan(tuple(lengths), probes, candidates, size))
    if not plans:
        raise ValueError(f"no chunking possible for {bits} bits")
    fitting = [p for p in plans if p.bytes <= memory_budget] or plans
    best = min(p.probes + p.candidates for p in fitting)
    # Among plans within 15 % of the cheapest, take the smallest (at 1e6 codes 22-bit chunks would spend
    # 128 MB on offsets tables to save a few percent).
    near = [p for p in fitting if p.probes + p.candidates <= 1.15 * best]
    return min(near, key=lambda p: (p.bytes, p.probes + p.candidates))


@lru_cache(maxsize=256)
def _masks(bits: int, r: int) -> np.ndarray:
    """All ``bits``-bit masks with at most ``r`` bits set, lowest popcount first (uint32)."""
    if r < 0:
        return np.zeros(0, dtype=np.uint32)
    out = [0]
    for k in range(1, r + 1):
        for combo in itertools.combinations(range(bits), k):
            v = 0
            for b in combo:
                v |= 1 << b
            out.append(v)
    return np.array(out, dtype=np.uint32)


# ---------------------------------------------------------------- code conversion


def _words_for(bits: int) -> int:
    return (bits + 63) // 64


def hex_to_codes(values: Sequence[str], bits: int) -> np.ndarray:
    """Hex strings (validated, equal length) to an (n, words) uint64 array; padding bits are zero."""
    nbytes = bits // 8
    raw = np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(len(values), nbytes)
    return bytes_to_codes(raw, bits)


def bytes_to_codes(raw: np.ndarray, bits: int) -> np.ndarray:
    words = _words_for(bits)
    if raw.shape[1] != words * 8:
        padded = np.zeros((raw.shape[0], words * 8), dtype=np.uint8)
        padded[:, : raw.shape[1]] = raw
        raw = padded
    return np.ascontiguousarray(raw).view("<u8").reshape(raw.shape[0], words)


def codes_to_hex(codes: np.ndarray, bits: int) -> list[str]:
    nbytes = bits // 8
    if codes.shape[0] == 0:
        return []
    raw = np.ascontiguousarray(codes).view(np.uint8).reshape(codes.shape[0], -1)[:, :nbytes]
    flat = raw.tobytes().hex()
    step = nbytes * 2
    return [flat[i : i + step] for i in range(0, len(flat), step)]


def brute_force_search(codes: np.ndarray, queries: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
    """Every (query, code) pair within ``radius``: numpy's popcount over the whole list (the baseline).

    Returns (query_idx, code_idx, distance) arrays sorted by query. Memory is bounded by scanning in blocks.
    """
    qi: list[np.ndarray] = []
    ci: list[np.ndarray] = []
    ds: list[np.ndarray] = []
    block = max(1, 2**22 // max(1, codes.shape[1]))
    for k in range(queries.shape[0]):
        q = queries[k]
        for start in range(0, codes.shape[0], block):
            part = codes[start : start + block]
            d = np.bitwise_count(part ^ q).sum(axis=1, dtype=np.int32)
            hit = np.nonzero(d <= radius)[0]
            if hit.size:
                qi.append(np.full(hit.size, k, dtype=np.uint32))
                ci.append((hit + start).astype(np.uint32))
                ds.append(d[hit].astype(np.uint16))
    if not qi:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint16)
    return np.concatenate(qi), np.concatenate(ci), np.concatenate(ds)


# ---------------------------------------------------------------- tables


class HammingTable:
    """Multi-index hashing over ``codes`` (n x words uint64), codes stored sorted by chunk 0."""

    def __init__(  # noqa: PLR0917 - the table is its arrays; from_arrays and build name them
        self,
        bits: int,
        codes: np.ndarray,
        lengths: Sequence[int],
        off_all: np.ndarray,
        table_off: np.ndarray,
        ids_all: np.ndarray,
        id_base: np.ndarray,
        id_bytes: int,
        inline_all: np.ndarray | None = None,
        inline_base: np.ndarray | None = None,
    ) -> None:
        self.bits = bits
        self.codes = codes
        self.words = codes.shape[1]
        self.lengths = tuple(int(x) for x in lengths)
        self.chunk_off = np.cumsum([0, *self.lengths[:-1]]).astype(np.int32)
        self.chunk_len = np.array(self.lengths, dtype=np.int32)
        self.off_all = off_all
        self.table_off = table_off.astype(np.int64)
        self.ids_all = ids_all
        self.id_base = id_base.astype(np.int64)
        self.id_bytes = id_bytes
        m = len(self.lengths)
        self.inline_all = inline_all if inline_all is not None else np.zeros(0, dtype=np.uint64)
        self.inline_base = (
            np.asarray(inline_base, dtype=np.int64) if inline_base is not None else np.full(m, -1, np.int64)
        )
        self.source = "index"  # the file it was loaded from, for error messages

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def build(
        cls,
        bits: int,
        codes: np.ndarray,
        radius: int,
        *,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        lengths: Sequence[int] | None = None,
        inline: bool | None = None,
    ) -> tuple[HammingTable, np.ndarray]:
        """Index ``codes`` (unique, n x words); returns the table and the permutation applied to the codes.

        The codes are reordered by chunk 0 (so that chunk needs no id array): entry k of the table is input
        row ``perm[k]``. ``inline`` (default: for 64-bit codes) gives every other chunk its own copy of the
        codes in bucket order, so candidates are read sequentially (m x the memory for the codes).
        """
        n = codes.shape[0]
        if n >= 2**32:
            raise ValueError("at most 2^32 - 1 codes per hash type")
        id_bytes = 3 if n < 2**24 else 4
        words = codes.shape[1]
        if inline is None:
            inline = words == 1
        if lengths is None:
            lengths = plan_chunks(
                bits, max(n, 1), radius, memory_budget=memory_budget, id_bytes=id_bytes, inline=inline
            ).lengths
        if sum(lengths) != bits or max(lengths) > MAX_CHUNK_BITS:
            raise ValueError(f"chunk lengths {lengths} must sum to {bits}, each <= {MAX_CHUNK_BITS}")
        codes = np.ascontiguousarray(codes, dtype=np.uint64)
        offs = np.cumsum([0, *lengths[:-1]])
        off_parts: list[np.ndarray] = []
        id_parts: list[np.ndarray] = []
        inline_parts: list[np.ndarray] = []
        table_off = []
        id_base = []
        inline_base = []
        perm = np.arange(n, dtype=np.uint32)
        pos = 0
        id_pos = 0
        for i, (off, length) in enumerate(zip(offs, lengths, strict=True)):
            offsets, order = _build_chunk(codes, words, int(off), int(length))
            if i == 0:
                perm = order
                codes = np.ascontiguousarray(codes[order])
                id_base.append(-1)
                inline_base.append(-1)
            else:  # codes are already reordered by chunk 0, so ids are positions in the stored order
                id_parts.append(_pack_ids(order, id_bytes))
                id_base.append(id_pos)
                if inline:
                    inline_parts.append(codes[order].reshape(-1))
                    inline_base.append(id_pos)
                else:
                    inline_base.append(-1)
                id_pos += n
            table_off.append(pos)
            off_parts.append(offsets)
            pos += offsets.size
        ids_all = np.concatenate(id_parts) if id_parts else np.zeros(0, np.uint8)
        # One spare byte so a 3-byte id read never runs off the end.
        ids_all = np.concatenate([ids_all, np.zeros(1, np.uint8)])
        table = cls(
            bits,
            codes,
            lengths,
            np.concatenate(off_parts).astype(np.uint32),
            np.array(table_off, dtype=np.int64),
            ids_all,
            np.array(id_base, dtype=np.int64),
            id_bytes,
            np.concatenate(inline_parts) if inline_parts else None,
            np.array(inline_base, dtype=np.int64),
        )
        return table, perm

    def search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query row, code position, distance) with distance <= radius; sorted by query row."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64).reshape(-1, self.words)
        if self.n == 0 or queries.shape[0] == 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint16)
        if _mih is None:
            _warn_no_extension()
            return brute_force_search(self.codes, queries, radius)
        radii = chunk_radii(self.lengths, radius)
        masks = [_masks(b, r) for b, r in zip(self.lengths, radii, strict=True)]
        mask_start = np.cumsum([0] + [m.size for m in masks]).astype(np.int64)
        masks_all = np.concatenate(masks).astype(np.uint32)
        try:
            qi, ids, ds = _mih.search(
                self.codes,
                self.words,
                self.n,
                self.chunk_off,
                self.chunk_len,
                np.array(radii, dtype=np.int32),
                self.table_off,
                self.off_all,
                self.id_base,
                self.ids_all,
                self.id_bytes,
                masks_all,
                mask_start,
                self.inline_all,
                self.inline_base,
                queries,
                radius,
            )
        except ValueError as exc:  # _mih checks each bucket and id it reads from the file: it is damaged
            raise UserError(
                f"{self.source}: corrupt index ({exc}); `hashwatch index info --verify` checks it"
            ) from None
        return (
            np.frombuffer(qi, dtype=np.uint32),
            np.frombuffer(ids, dtype=np.uint32),
            np.frombuffer(ds, dtype=np.uint16),
        )

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.codes": self.codes,
            f"{prefix}.offsets": self.off_all,
            f"{prefix}.ids": self.ids_all,
            f"{prefix}.inline": self.inline_all,
        }

    def layout(self) -> dict[str, Any]:
        return {
            "lengths": list(self.lengths),
            "table_off": self.table_off.tolist(),
            "id_base": self.id_base.tolist(),
            "id_bytes": self.id_bytes,
            "inline_base": self.inline_base.tolist(),
        }

    @classmethod
    def from_arrays(cls, bits: int, layout: Mapping[str, Any], arrays: Mapping[str, np.ndarray], prefix: str):
        return cls(
            bits,
            arrays[f"{prefix}.codes"],
            layout["lengths"],
            arrays[f"{prefix}.offsets"],
            np.array(layout["table_off"], dtype=np.int64),
            arrays[f"{prefix}.ids"],
            np.array(layout["id_base"], dtype=np.int64),
            int(layout["id_bytes"]),
            arrays[f"{prefix}.inline"],
            np.array(layout["inline_base"], dtype=np.int64),
        )


def _build_chunk(codes: np.ndarray, words: int, off: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    n = codes.shape[0]
    if _mih is not None:
        offsets, order = _mih.build_chunk(codes, words, n, off, length)
        return np.frombuffer(offsets, dtype=np.uint32), np.frombuffer(order, dtype=np.uint32)
    keys = _chunk_values(codes, off, length)
    order = np.argsort(keys, kind="stable").astype(np.uint32)
    counts = np.bincount(keys, minlength=2**length)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)
    return offsets, order


def _chunk_values(codes: np.ndarray, off: int, length: int) -> np.ndarray:
    w, sh = divmod(off, 64)
    v = codes[:, w] >> np.uint64(sh)
    if sh + length > 64 and w + 1 < codes.shape[1]:
        v = v | (codes[:, w + 1] << np.uint64(64 - sh))
    return (v & np.uint64((1 << length) - 1)).astype(np.int64)


def _pack_ids(order: np.ndarray, id_bytes: int) -> np.ndarray:
    raw = np.ascontiguousarray(order, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(raw[:, :id_bytes]).reshape(-1)


_warned = {"no_extension": False}


def _warn_no_extension() -> None:
    if not _warned["no_extension"]:
        _warned["no_extension"] = True
        warnings.warn(
            "hashwatch.hashing._mih (the C extension) is not built; Hamming search falls back to a slow "
            "numpy "
            "scan. Reinstall with a C compiler (pip install -e .) to build it.",
            RuntimeWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------- container file


def _raw(arr: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(arr)).cast("B")


def _write_container(path: str, header: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    layout: dict[str, Any] = {}
    blobs: list[tuple[int, np.ndarray]] = []
    # Offsets are relative to the start of the data section, which begins 64-byte aligned after the header.
    pos = 0
    for name, source in arrays.items():
        arr = np.ascontiguousarray(source)
        pos = (pos + _ALIGN - 1) // _ALIGN * _ALIGN
        layout[name] = {
            "offset": pos,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "nbytes": int(arr.nbytes),
            "crc32": f"{zlib.crc32(_raw(arr)):08x}",
        }
        blobs.append((pos, arr))
        pos += arr.nbytes
    header = {**header, "arrays": layout}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    data_start = (len(MAGIC) + 8 + len(head) + _ALIGN - 1) // _ALIGN * _ALIGN
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".hwidx-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", len(head)))
            fh.write(head)
            fh.write(b"\x00" * (data_start - fh.tell()))
            for offset, arr in blobs:
                fh.write(b"\x00" * (data_start + offset - fh.tell()))
                fh.write(memoryview(arr).cast("B"))
        # mkstemp creates 0600; an index is read by worker processes that may run as another user.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_container(path: str, verify: bool) -> tuple[dict[str, Any], dict[str, np.ndarray], mmap.mmap]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the mmap outlives this function
    except OSError as exc:
        raise UserError(f"cannot open index {path}: {exc.strerror}") from None
    with fh:
        magic = fh.read(len(MAGIC))
        if magic != MAGIC:
            raise UserError(f"{path} is not a hashwatch index (bad magic)")
        size = os.fstat(fh.fileno()).st_size
        (head_len,) = struct.unpack("<Q", fh.read(8).ljust(8, b"\xff"))
        if len(MAGIC) + 8 + head_len > size:
            raise UserError(f"{path}: truncated index (the header runs past the end)")
        try:
            header = json.loads(fh.read(head_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise UserError(f"{path}: corrupt index header") from None
        if not isinstance(header, dict):
            raise UserError(f"{path}: corrupt index header")
        if header.get("format_version") != FORMAT_VERSION:
            version = str(header.get("format_version"))[:20]
            raise UserError(f"{path}: index format {version} is not {FORMAT_VERSION}; rebuild it")
        check_header(path, header)
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    data_start = (len(MAGIC) + 8 + head_len + _ALIGN - 1) // _ALIGN * _ALIGN
    arrays: dict[str, np.ndarray] = {}
    for name, spec in header["arrays"].items():
        start = data_start + spec["offset"]
        if start + spec["nbytes"] > size:
            raise UserError(f"{path}: truncated index (array {name} runs past the end)")
        arr = np.frombuffer(
            mm, dtype=np.dtype(spec["dtype"]), count=int(np.prod(spec["shape"])), offset=start
        )
        arrays[name] = arr.reshape(spec["shape"])
        if verify and f"{zlib.crc32(_raw(arr)):08x}" != spec["crc32"]:
            raise UserError(f"{path}: array {name} fails its CRC-32 check (file corrupt)")
    check_arrays(path, header, arrays)
    return header, arrays, mm


# ---------------------------------------------------------------- the index


@dataclass
class _Items:
    """Entry -> items (CSR: ``items[offsets[i]:offsets[i + 1]]``) and item -> entries (``by_item`` sorted,
    ``by_item_entry`` the entry of each), both stored in the file so loading stays a memory map."""

    offsets: np.ndarray  # int64, entries + 1
    items: np.ndarray  # int32
    by_item: np.ndarray  # int32, sorted
    by_item_entry: np.ndarray  # int64

    @classmethod
    def build(cls, offsets: np.ndarray, items: np.ndarray, perm: np.ndarray | None) -> _Items:
        """From a merged list's CSR; ``perm`` reorders entries (new entry j is old entry ``perm[j]``)."""
        offsets = np.asarray(offsets, np.int64)
        items = np.asarray(items, np.int32)
        if perm is not None:
            perm = np.asarray(perm, np.int64)
            counts = np.diff(offsets)[perm]
            new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            take = np.repeat(offsets[:-1][perm] - new_offsets[:-1], counts) + np.arange(int(counts.sum()))
            offsets, items = new_offsets, items[take]
        entry = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))
        order = np.argsort(items, kind="stable")
        return cls(offsets, items, np.ascontiguousarray(items[order]), np.ascontiguousarray(entry[order]))

    def of(self, pos: int) -> np.ndarray:
        return self.items[self.offsets[pos] : self.offsets[pos + 1]]

    def entries_of(self, items: np.ndarray) -> np.ndarray:
        lo = np.searchsorted(self.by_item, items, side="left")
        hi = np.searchsorted(self.by_item, items, side="right")
        if not len(lo):
            return np.zeros(0, np.int64)
        return np.concatenate(
            [self.by_item_entry[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        )

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.item_offsets": self.offsets,
            f"{prefix}.items": self.items,
            f"{prefix}.by_item": self.by_item,
            f"{prefix}.by_item_entry": self.by_item_entry,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> _Items | None:
        if f"{prefix}.item_offsets" not in arrays:
            return None
        return cls(
            arrays[f"{prefix}.item_offsets"],
            arrays[f"{prefix}.items"],
            arrays[f"{prefix}.by_item"],
            arrays[f"{prefix}.by_item_entry"],
        )

    def with_items(self) -> int:
        """How many entries hash at least one item."""
        return int(np.count_nonzero(np.diff(self.offsets)))


@dataclass
class _TypeIndex:
    name: str
    kind: str
    bits: int
    label_set: np.ndarray  # per entry, index into the index's label_sets
    hamming: HammingTable | None = None
    exact_keys: np.ndarray | None = None  # sorted 'S{n}' array
    linear_values: list[str] | None = None
    items: _Items | None = None  # which list pictures (item ids) each entry hashes; None without item ids

    @property
    def size(self) -> int:
        return int(self.label_set.shape[0])

    def entry_hex(self, pos: np.ndarray) -> list[str]:
        if self.hamming is not None:
            return codes_to_hex(self.hamming.codes[pos], self.bits)
        if self.exact_keys is not None:
            nbytes = self.bits // 8
            return [bytes(self.exact_keys[p]).ljust(nbytes, b"\x00").hex() for p in pos]
        assert self.linear_values is not None
        return [self.linear_values[p] for p in pos]


class KnownHashIndex:
    """A compiled, read-only known-hash index. Build with :func:`build_index`; open with :meth:`load`."""

    def __init__(
        self,
        header: dict[str, Any],
        types: dict[str, _TypeIndex],
        mm: mmap.mmap | None = None,
        item_names: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.header = header
        self._types = types
        self._mm = mm  # kept alive: the arrays are views into it
        self._labels: list[tuple[str | None, str | None, str | None]] = [tuple(x) for x in header["labels"]]
        self._label_sets: list[tuple[int, ...]] = [tuple(x) for x in header["label_sets"]]
        self._item_names: tuple[np.ndarray, np.ndarray] | None = item_names

    # -- metadata

    @property
    def checksum(self) -> str:
        """SHA-256 of the merged list content (see known_hash_list.MergedList.checksum)."""
        return self.header["checksum"]

    @property
    def list_versions(self) -> Mapping[str, str]:
        return dict(self.header.get("list_versions", {}))

    @property
    def hash_types(self) -> list[str]:
        return list(self._types)

    def size(self, hash_type: str | None = None) -> int:
        if hash_type is not None:
            t = self._types.get(hash_type)
            return t.size if t else 0
        return sum(t.size for t in self._types.values())

    def _default_threshold(self, name: str) -> int:
        spec = self.header["types"].get(name, {})
        try:
            return get_hash_type(name).default_threshold
        except KeyError:
            return int(spec.get("default_threshold", 0))

    def corroboration_coverage(self, rules: Mapping[str, tuple[str, int]] | None = None) -> dict[str, Any]:
        """For each corroborated type the index holds (``rules``: default :data:`DEFAULT_CORROBORATION`): its
        entries, and how many the list gives the means to corroborate (an item id whose picture also has a
        hash of the other type); the others follow ``MatchOptions.uncorroborated``."""
        out: dict[str, Any] = {}
        for name, (other_name, threshold) in (DEFAULT_CORROBORATION if rules is None else rules).items():
            t = self._types.get(name)
            if t is None:
                continue
            other = self._types.get(other_name)
            corroborable = 0
            if t.items is not None and other is not None and other.items is not None:
                has_other = np.isin(t.items.items, other.items.by_item)
                entry = np.repeat(np.arange(t.size), np.diff(t.items.offsets))
                corroborable = int(np.count_nonzero(np.bincount(entry[has_other], minlength=t.size)))
            out[name] = {"by": other_name, "threshold": int(threshold), "entries": t.size}
            out[name]["corroborable"] = corroborable
        return out

    def describe(self) -> dict[str, Any]:
        """Header metadata without the array table (for ``hashwatch index info``)."""
        out = {k: v for k, v in self.header.items() if k not in ("arrays", "labels", "label_sets")}
        out["labels"] = len(self._labels)
        return out

    # -- construction

    @classmethod
    def from_merged(cls, merged: MergedList, *, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> KnownHashIndex:
        """Compile a merged list in memory (``build_index`` then writes it)."""
        types: dict[str, _TypeIndex] = {}
        layout: dict[str, Any] = {}
        for name, entries in merged.types.items():
            ht = get_hash_type(name)
            if ht.index_kind == IndexKind.HAMMING:
                codes = bytes_to_codes(entries.values, ht.bits)
                table, perm = HammingTable.build(
                    ht.bits, codes, max(ht.default_threshold, 1), memory_budget=memory_budget
                )
                t = _TypeIndex(name, ht.index_kind, ht.bits, entries.label_sets[perm], hamming=table)
                layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size, **table.layout()}
                order = perm
            elif ht.index_kind == IndexKind.EXACT:
                keys = np.ascontiguousarray(entries.values).view(f"S{entries.values.shape[1]}").reshape(-1)
                order = np.argsort(keys, kind="stable")
                t = _TypeIndex(
                    name, ht.index_kind, ht.bits, entries.label_sets[order], exact_keys=keys[order]
                )
                layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size}
            elif ht.index_kind == IndexKind.LINEAR:
                values = [bytes(v).hex() for v in entries.values]
                t = _TypeIndex(name, ht.index_kind, ht.bits, entries.label_sets, linear_values=values)
                layout[name] = {"kind": ht.index_kind, "bits": ht.bits, "count": t.size}
                order = None
            else:
                continue
            layout[name]["default_threshold"] = ht.default_threshold
            if entries.items is not None:
                t.items = _Items.build(entries.item_offsets, entries.items, order)
                layout[name]["with_items"] = t.items.with_items()
            types[name] = t
        from hashwatch import __version__

        header = {
            "format_version": FORMAT_VERSION,
            "hashwatch_version": __version__,
            "checksum": merged.checksum,
            "list_versions": dict(merged.list_versions),
            "files": list(merged.files),
            "types": layout,
            "labels": [list(x) for x in merged.labels],
            "label_sets": [list(x) for x in merged.label_sets],
            "items": merged.items,
        }
        names = None
        if merged.item_names is not None:
            from hashwatch.hashing.known_hash_list import item_name_buffers

            names = item_name_buffers(merged.item_names)
        return cls(header, types, item_names=names)

    def save(self, path: str) -> None:
        arrays: dict[str, np.ndarray] = {}
        if self._item_names is not None:
            arrays["items.name_offsets"], arrays["items.names"] = self._item_names
        for name, t in self._types.items():
            arrays[f"{name}.label_set"] = t.label_set
            if t.items is not None:
                arrays.update(t.items.arrays(name))
            if t.hamming is not None:
                arrays.update(t.hamming.arrays(name))
            elif t.exact_keys is not None:
                arrays[f"{name}.keys"] = t.exact_keys.view(np.uint8).reshape(t.size, -1)
            elif t.linear_values is not None:
                raw = bytes.fromhex("".join(t.linear_values)) if t.linear_values else b""
                arrays[f"{name}.values"] = np.frombuffer(raw, dtype=np.uint8).reshape(t.size, t.bits // 8)
        _write_container(path, self.header, arrays)

    @classmethod
    def load(cls, path: str, *, verify: bool = False) -> KnownHashIndex:
        """Open an index file: memory-maps it (fast; pages are shared between worker processes).

        ``verify=True`` also checks every array's CRC-32 (reads the whole file). Raises UserError with a
        one-line message if the file is missing, not an index, of another format version, or corrupt.
        """
        header, arrays, mm = _read_container(path, verify)
        types: dict[str, _TypeIndex] = {}
        for name, spec in header["types"].items():
            kind, bits = spec["kind"], int(spec["bits"])
            label_set = arrays[f"{name}.label_set"]
            if kind == IndexKind.HAMMING:
                table = HammingTable.from_arrays(bits, spec, arrays, name)
                table.source = path
                types[name] = _TypeIndex(name, kind, bits, label_set, hamming=table)
            elif kind == IndexKind.EXACT:
                keys = arrays[f"{name}.keys"]
                types[name] = _TypeIndex(
                    name, kind, bits, label_set, exact_keys=keys.view(f"S{keys.shape[1]}").reshape(-1)
                )
            elif kind == IndexKind.LINEAR:
                raw = arrays[f"{name}.values"]
                values = codes_to_hex_bytes(raw)
                types[name] = _TypeIndex(name, kind, bits, label_set, linear_values=values)
            if name in types:
                types[name].items = _Items.from_arrays(arrays, name)
        names = None
        if "items.name_offsets" in arrays:
            names = (arrays["items.name_offsets"], arrays["items.names"])
        return cls(header, types, mm, names)

    # -- matching

    def lookup(
        self, hash_type: str, values: Sequence[str], radius: int | None = None
    ) -> list[list[tuple[str, int, int]]]:
        """For each hex value, every list entry within ``radius`` as (list_hash, distance, label_set).

        ``radius`` defaults to the type's default threshold; exact types ignore it.
        """
        out: list[list[tuple[str, int, int]]] = [[] for _ in values]
        t = self._types.get(hash_type)
        if t is None:
            return out
        found = self._hits(hash_type, values, radius)
        positions = np.array([p for hits in found for p, _ in hits], dtype=np.int64)
        hexes = iter(t.entry_hex(positions) if positions.size else [])
        for k, hits in enumerate(found):
            out[k] = [(next(hexes), d, int(t.label_set[p])) for p, d in hits]
        return out

    def _hits(self, hash_type: str, values: Sequence[str], radius: int | None) -> list[list[tuple[int, int]]]:
        """For each hex value, every list entry within ``radius`` as (entry position, distance)."""
        t = self._types.get(hash_type)
        out: list[list[tuple[int, int]]] = [[] for _ in values]
        if t is None or not values:
            return out
        r = radius if radius is not None else self._default_threshold(hash_type)
        if t.hamming is not None:
            qi, pos, dist = t.hamming.search(hex_to_codes(values, t.bits), r)
            for k, p, d in zip(qi.tolist(), pos.tolist(), dist.tolist(), strict=True):
                out[k].append((p, d))
        elif t.exact_keys is not None:
            nbytes = t.bits // 8
            q = np.frombuffer(bytes.fromhex("".join(values)), dtype=f"S{nbytes}")
            idx = np.searchsorted(t.exact_keys, q)
            for k, i in enumerate(idx.tolist()):
                if i < t.size and t.exact_keys[i] == q[k]:
                    out[k].append((i, 0))
        else:
            assert t.linear_values is not None
            ht = get_hash_type(hash_type)  # a linear type needs its plug-in's distance to be registered
            for k, v in enumerate(values):
                for p, lv in enumerate(t.linear_values):
                    d = ht.distance(v, lv)
                    if d <= r:
                        out[k].append((p, d))
        return out

    def query_hits(self, hash_type: str, raw: np.ndarray, radius: int | None = None) -> np.ndarray:
        """Which queries have at least one list entry within ``radius``: a bulk pre-filter.

        ``raw`` is an (n, bits / 8) uint8 array of query values (already validated); returns the sorted
        indices of the rows with a hit. No Python object per query, so a rescan can screen millions of
        history rows and call :meth:`match_many` for the few that hit. ``radius`` defaults to the type's
        default threshold; exact types ignore it. Linear (plug-in) types fall back to :meth:`lookup`.
        """
        t = self._types.get(hash_type)
        n = int(raw.shape[0])
        if t is None or n == 0:
            return np.zeros(0, dtype=np.int64)
        r = get_hash_type(hash_type).default_threshold if radius is None else radius
        if t.hamming is not None:
            qi, _pos, _dist = t.hamming.search(bytes_to_codes(np.ascontiguousarray(raw), t.bits), r)
            return np.unique(qi).astype(np.int64)
        if t.exact_keys is not None:
            nbytes = t.exact_keys.dtype.itemsize
            q = np.ascontiguousarray(raw[:, :nbytes]).view(f"S{nbytes}").reshape(-1)
            idx = np.searchsorted(t.exact_keys, q)
            found = np.zeros(n, dtype=bool)
            inside = idx < t.size
            found[inside] = t.exact_keys[idx[inside]] == q[inside]
            return np.nonzero(found)[0].astype(np.int64)
        values = [bytes(row).hex() for row in raw]
        return np.array(
            [k for k, hits in enumerate(self.lookup(hash_type, values, r)) if hits], dtype=np.int64
        )

    def match(self, hashes: ImageHashes, options: MatchOptions | None = None) -> list[Match]:
        """Every list entry one of the image's hashes matches (dihedral PDQ variants and query-side candidates
        included by default)."""
        return self.match_many([hashes], options)[0]

    def match_many(
        self, many: Sequence[ImageHashes], options: MatchOptions | None = None
    ) -> list[list[Match]]:
        """:meth:`match` for a batch: one search call per hash type for the whole batch (faster)."""
        from hashwatch.hashing.candidates import candidate_family

        options = options or DEFAULT_MATCH_OPTIONS
        families = options.candidate_families()
        candidate_types = options.candidate_types()
        rules = options.corroborations()
        results: list[list[Match]] = [[] for _ in many]
        names = (
            options.hash_types
            if options.hash_types is not None
            else tuple(n for n in self._types if _match_by_default(n))
        )
        for name in names:
            if name not in self._types:
                continue
            owners: list[tuple[int, str | None]] = []
            values: list[str] = []
            for k, h in enumerate(many):
                v = h.hash_value(name)
                if v is None:
                    continue
                owners.append((k, None))
                values.append(v)
                if options.dihedral:
                    for variant, vv in h.variants(name).items():
                        owners.append((k, variant))
                        values.append(vv)
                if families and name in candidate_types:
                    for variant, vv in h.candidates(name).items():
                        if candidate_family(variant) in families:
                            owners.append((k, variant))
                            values.append(vv)
            if not values:
                continue
            t = self._types[name]
            threshold = options.threshold(name, self._default_threshold(name))
            kind = "exact" if t.kind == IndexKind.EXACT else "near"
            found = self._hits(name, values, threshold)
            rule = rules.get(name) if kind == "near" else None
            # One match per (image, list hash, label): the plain hash wins over variants and candidates, then
            # the lowest distance (the first tried among equals: DCT variants, then candidates in order).
            best: dict[tuple[int, int, int], tuple[int, int, str | None, str, str | None, int | None]] = {}
            verdicts = None
            if rule is not None:
                flat = [(owners[vi], pos) for vi, hits in enumerate(found) for pos, _ in hits]
                verdicts = iter(self._corroborate(t, flat, rule, many, options.dihedral))
            for (k, variant), query, hits in zip(owners, values, found, strict=True):
                for pos, dist in hits:
                    note = picture = None
                    if verdicts is not None:
                        verdict, picture = next(verdicts)
                        if verdict is False or (verdict is None and options.uncorroborated == "drop"):
                            continue
                        note = verdict or None
                    for label in self._label_sets[int(t.label_set[pos])]:
                        key = (k, pos, label)
                        rank = (0 if variant is None else 1, dist)
                        cur = best.get(key)
                        if cur is None or rank < (cur[0], cur[1]):
                            best[key] = (rank[0], dist, variant, query, note, picture)
            entry_hex: dict[int, str] = {}
            if best:
                positions = np.array(sorted({pos for _, pos, _ in best}), dtype=np.int64)
                entry_hex = dict(zip(positions.tolist(), t.entry_hex(positions), strict=True))
            for (k, pos, label), (_, dist, variant, query, note, picture) in sorted(
                best.items(), key=lambda item: _match_order(item, entry_hex)
            ):
                category, source, version = self._labels[label]
                item_id = self._item_id(t, pos, source, picture)
                results[k].append(
                    Match(
                        hash_type=name,
                        query_hash=query,
                        list_hash=entry_hex[pos],
                        distance=dist,
                        match_kind=kind,
                        category=category,
                        source=source,
                        list_version=version,
                        variant=variant,
                        corroboration=note,
                        item_id=item_id,
                    )
                )
        return results

    def _item_id(self, t: _TypeIndex, pos: int, source: str | None, prefer: int | None = None) -> str | None:
        """The ``item_id`` the list gives entry ``pos`` for ``source``: the picture ``prefer`` (the one that
        corroborated the match) if it is this source's, else the first of this source's pictures."""
        if t.items is None or self._item_names is None:
            return None
        offsets, data = self._item_names
        pictures = t.items.of(pos).tolist()
        if prefer is not None and prefer in pictures:
            pictures.remove(prefer)
            pictures.insert(0, prefer)
        for item in pictures:
            name = bytes(data[offsets[item] : offsets[item + 1]]).decode(errors="replace")
            item_source, _, item_id = name.partition(ITEM_SEPARATOR)
            if item_source == (source or ""):
                return item_id
        return None

    def _corroborate(
        self,
        t: _TypeIndex,
        hits: Sequence[tuple[tuple[int, str | None], int]],
        rule: tuple[str, int],
        many: Sequence[ImageHashes],
        dihedral: bool,
    ) -> list[tuple[str | bool | None, int | None]]:
        """For each hit ``((image k, variant), entry pos)`` of type ``t``, a verdict and the picture that gave it
        (the nearest; None unless corroborated). The verdict: ``"<type>:<distance>"`` if the same
        list picture's hash of the rule's other type is within the rule's threshold of the image's (its plain
        hash, its dihedral variants, the candidate of the same variant), False if the picture has such hashes
        and none is, None if there is nothing to corroborate with (the entry has no item id, its pictures no
        hash of the other type, or the image none). Vectorised over the hits: two bisections per picture and
        one popcount per (picture's hash, image hash) pair."""
        other_name, radius = rule
        other = self._types.get(other_name)
        h = len(hits)
        if not h or t.items is None or other is None or other.items is None or other.hamming is None:
            return [(None, None)] * h
        # Hit -> pictures -> the other type's entries of those pictures, as flat (hit, entry) pairs.
        pos = np.fromiter((p for _, p in hits), np.int64, h)
        hit_of_pair, item_idx = _expand(np.arange(h), t.items.offsets[pos], t.items.offsets[pos + 1])
        items = t.items.items[item_idx]
        lo = np.searchsorted(other.items.by_item, items, side="left")
        hi = np.searchsorted(other.items.by_item, items, side="right")
        trip_pair, trip_idx = _expand(np.arange(items.size), lo, hi)
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
            q_row, t_idx = _expand(np.arange(qh.size), tlo, thi)
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
        out: list[tuple[str | bool | None, int | None]] = []
        for i in range(h):
            if not (has_other[i] and has_query[i]):
                out.append((None, None))
            elif best[i] <= radius:
                out.append((f"{other_name}:{int(best[i])}", int(best_item[i])))
            else:
                out.append((False, None))
        return out


def _expand(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``[lo[i], hi[i])``: each index in them, and the ``owner[i]`` of its range."""
    counts = (hi - lo).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.cumsum(counts) - counts
    idx = np.repeat(np.asarray(lo, np.int64) - starts, counts) + np.arange(total)
    return np.repeat(np.asarray(owner, np.int64), counts), idx


def _match_by_default(name: str) -> bool:
    try:
        return get_hash_type(name).match_by_default
    except KeyError:  # a plug-in's values in the index, the plug-in not registered here
        return True


def _match_order(item: tuple[tuple[int, int, int], tuple], entry_hex: Mapping[int, str]) -> tuple:
    (k, pos, label), (_, dist, *_rest) = item
    return (k, dist, entry_hex[pos], label)


def codes_to_hex_bytes(raw: np.ndarray) -> list[str]:
    flat = np.ascontiguousarray(raw).tobytes().hex()
    step = raw.shape[1] * 2 if raw.ndim == 2 and raw.shape[0] else 0
    return [flat[i : i + step] for i in range(0, len(flat), step)] if step else []


def build_index(
    list_paths: Sequence[str],
    out_path: str,
    *,
    skip_invalid: bool = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> BuildReport:
    """Load, validate and merge the lists, compile the index and write it to ``out_path`` (atomically).

    Raises UserError (one line, naming file and line) on the first invalid row unless ``skip_invalid``.
    """
    import time

    from hashwatch.hashing.known_hash_list import load_lists

    start = time.perf_counter()
    merged = load_lists(list_paths, skip_invalid=skip_invalid)
    index = KnownHashIndex.from_merged(merged, memory_budget=memory_budget)
    index.save(out_path)
    return BuildReport(
        out_path=out_path,
        checksum=merged.checksum,
        list_versions=dict(merged.list_versions),
        entries={name: index.size(name) for name in index.hash_types},
        rows_read=merged.rows_read,
        rows_skipped=merged.rows_skipped,
        skipped_by_reason=dict(merged.skipped_by_reason),
        skipped_examples=list(merged.skipped_examples),
        tombstones_applied=merged.tombstones_applied,
        files=list(merged.files),
        seconds=round(time.perf_counter() - start, 3),
        items=merged.items,
    )
