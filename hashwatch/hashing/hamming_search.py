"""Hamming-radius search by multi-index hashing: every list code within radius ``r`` of a query, exactly.

The code is cut into ``m`` chunks; by the pigeonhole principle a code within radius ``r`` agrees with the query
to within ``r // m`` bits on at least one chunk (the sharper split of Norouzi et al. is used), so probing every
bucket within that chunk radius and verifying candidates finds *every* list code within ``r``, with its
distance (100 % recall; the tests compare with :func:`brute_force_search`). :func:`plan_chunks` picks the
chunking per type from the list size with a cost model and a memory budget. The hot loops are the C extension
(``_mih.c``, through :func:`~hashwatch.hashing.c_extension.mih`): a table cannot be built or loaded without
it::

    table, perm = HammingTable.build(256, codes, radius=31)      # codes: (n, 4) uint64, unique
    query_rows, positions, distances = table.search(queries, 31)  # position k is input row perm[k]
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Any

import numpy as np

from hashwatch.errors import UserError
from hashwatch.hashing.c_extension import mih
from hashwatch.hashing.hash_codes import words_for

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "MAX_CHUNK_BITS",
    "ChunkPlan",
    "HammingTable",
    "brute_force_search",
    "chunk_radii",
    "plan_chunks",
    "split_bits",
]

# Upper bound for one chunk: 2^22 buckets = 16 MB of offsets.
MAX_CHUNK_BITS = 22
# The planner keeps a Hamming table under this many bytes when any plan allows it.
DEFAULT_MEMORY_BUDGET = 900 * 2**20


# ---------------------------------------------------------------- chunk planning


def split_bits(bits: int, m: int) -> list[int]:
    """``bits`` cut into ``m`` chunks, the longer ones first (lengths differ by at most one)."""
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
    words = words_for(bits)
    plans: list[ChunkPlan] = []
    for m in range(1, bits + 1):
        lengths = split_bits(bits, m)
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
        self._mih = mih()  # no table without the C search: a UserError here, never a slow scan later

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
        radii = chunk_radii(self.lengths, radius)
        masks = [_masks(b, r) for b, r in zip(self.lengths, radii, strict=True)]
        mask_start = np.cumsum([0] + [m.size for m in masks]).astype(np.int64)
        masks_all = np.concatenate(masks).astype(np.uint32)
        try:
            qi, ids, ds = self._mih.search(
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
    """One chunk's bucket offsets and the codes' order by bucket (a counting sort, in C)."""
    offsets, order = mih().build_chunk(codes, words, codes.shape[0], off, length)
    return np.frombuffer(offsets, dtype=np.uint32), np.frombuffer(order, dtype=np.uint32)


def _pack_ids(order: np.ndarray, id_bytes: int) -> np.ndarray:
    raw = np.ascontiguousarray(order, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(raw[:, :id_bytes]).reshape(-1)
