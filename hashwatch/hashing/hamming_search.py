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
    "plan_radii",
    "split_bits",
]

# Upper bound for one chunk: 2^24 buckets = 64 MB of offsets (1e8 codes want wide chunks: fewer candidates
# per probe). Files whose chunks are all <= 22 bits stay readable by older hashwatch (format 1).
MAX_CHUNK_BITS = 24
_OLD_MAX_CHUNK_BITS = 22
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


def plan_radii(lengths: Sequence[int], radius: int, weights: Sequence[float] | None = None) -> list[int]:
    """Per-chunk search radii (-1: not searched) for ``radius``, cheapest first by ``weights``.

    Generalised pigeonhole: if sum(radii[i] + 1) > radius, a code within ``radius`` of the query is within
    radii[i] of it on some chunk i (else its distance would be at least the sum). Raising chunk i from rho to
    rho + 1 adds comb(len_i, rho + 1) probes, each costing weights[i] (a probe and its expected candidates);
    taking the cheapest step each time is optimal as these steps grow with rho. Any result is exact; the
    weights only make it fast (equal chunks get radii differing by at most one, like :func:`chunk_radii`).
    """
    m = len(lengths)
    w = [1.0] * m if weights is None else [float(x) for x in weights]
    radii = [-1] * m
    for _ in range(radius + 1):
        step = [
            comb(b, r + 1) * wi if r + 1 <= b else float("inf")
            for b, r, wi in zip(lengths, radii, w, strict=True)
        ]
        i = min(range(m), key=lambda k: (step[k], k))
        if step[i] == float("inf"):
            raise ValueError(f"radius {radius} exceeds what {list(lengths)} can search")
        radii[i] += 1
    return radii


@dataclass(frozen=True)
class ChunkPlan:
    lengths: tuple[int, ...]
    probes: float
    candidates: float
    bytes: int
    inline_words: int = 0  # words of each chunk's own copy of the codes: 0 none, all, or a fingerprint
    cost_ns: float = 0.0  # the model's time for one query at the planned radius


# The cost model, in ns per query on this project's machine (2-core AMD EPYC, 32 MB L3), measured with
# .cache-free runs of benchmarks/bench_index.py at 1e6 and 1e7: a probe reads a bucket offset (cheap while
# the table fits the caches), and, when its bucket is not empty, the bucket's first entry (a random read);
# a candidate read in bucket order (chunk 0, or a chunk's inline copy) costs a few ns, one reached through an
# id a random read of the code.
_PROBE_CACHED_NS = 4.0
_PROBE_MISS_NS = 22.0
_CACHE_BYTES = 24 * 2**20
_SEQ_NS_PER_WORD = 0.6
_RANDOM_CANDIDATE_NS = 30.0
# Below this many fingerprint words an inline copy filters too little (64 of 256 bits: a random code is
# within 31 on them a third of the time); 2 words (128 bits) leave ~1e-8 of random candidates.
_MIN_FINGERPRINT_WORDS = 2


def _chunk_weights(lengths: Sequence[int], n: int, words: int, inline_words: int) -> list[float]:
    """The model's cost (ns) of one probe of each chunk, its expected candidates included."""
    out = []
    for i, b in enumerate(lengths):
        per_bucket = n / 2**b
        table = (2**b + 1) * 4
        probe = _PROBE_CACHED_NS if table * len(lengths) <= _CACHE_BYTES else _PROBE_MISS_NS
        probe += _PROBE_MISS_NS * (1.0 - np.exp(-per_bucket))  # the bucket's first entry
        if i == 0:
            cand = _SEQ_NS_PER_WORD * max(1, words // 2)
        elif inline_words:
            cand = _SEQ_NS_PER_WORD * inline_words
        else:
            cand = _RANDOM_CANDIDATE_NS
        out.append(probe + per_bucket * cand)
    return out


def _old_layout(plan: ChunkPlan, words: int) -> bool:
    return plan.inline_words in (0, words) and max(plan.lengths) <= _OLD_MAX_CHUNK_BITS


def _inline_options(words: int) -> list[int]:
    return sorted({0, words, *([_MIN_FINGERPRINT_WORDS] if words > _MIN_FINGERPRINT_WORDS else [])})


def plan_chunks(
    bits: int,
    n: int,
    radius: int,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    id_bytes: int = 3,
    inline: bool | None = None,
    inline_words: int | None = None,
) -> ChunkPlan:
    """Choose the number and sizes of chunks, and each chunk's inline copy, for ``n`` codes searched at
    ``radius``.

    The cost of a query is modelled per chunk (see :func:`_chunk_weights`) with the radii of
    :func:`plan_radii`; plans over ``memory_budget`` are used only if none fits. ``inline`` True/False forces
    full copies/none, ``inline_words`` a number of words (None: the model picks among none, a 2-word
    fingerprint and full copies). Any plan is
    exact at any radius; this one is fastest near ``radius``.
    """
    words = words_for(bits)
    if inline_words is not None:
        options = [inline_words]
    elif inline is not None:
        options = [words if inline else 0]
    else:
        options = _inline_options(words)
    plans: list[ChunkPlan] = []
    for m in range(1, bits + 1):
        lengths = split_bits(bits, m)
        if lengths[0] > MAX_CHUNK_BITS:
            continue
        if lengths[-1] < 4:
            break
        for iw in options:
            weights = _chunk_weights(lengths, n, words, iw)
            try:
                radii = plan_radii(lengths, radius, weights)
            except ValueError:
                continue
            probes = sum(_ball(b, r) for b, r in zip(lengths, radii, strict=True) if r >= 0)
            cand = sum(_ball(b, r) * n / 2**b for b, r in zip(lengths, radii, strict=True) if r >= 0)
            cost = sum(_ball(b, r) * wt for b, r, wt in zip(lengths, radii, weights, strict=True) if r >= 0)
            size = n * words * 8 + (m - 1) * n * (id_bytes + iw * 8) + sum((2**b + 1) * 4 for b in lengths)
            plans.append(ChunkPlan(tuple(lengths), probes, cand, size, iw, cost))
    if not plans:
        raise ValueError(f"no chunking possible for {bits} bits")
    fitting = [p for p in plans if p.bytes <= memory_budget] or [min(plans, key=lambda p: p.bytes)]
    best = min(p.cost_ns for p in fitting)
    # A small list gains a few microseconds at most from issue 24's layout (format 3, which hashwatch before
    # it cannot read): keep format 1 while it is within 1 us or 25 % of the best.
    old = [p for p in fitting if _old_layout(p, words) and p.cost_ns <= max(1.25 * best, best + 1000.0)]
    if old:
        fitting, best = old, min(p.cost_ns for p in old)
    # Among plans within 10 % of the cheapest, take the smallest (at 1e6 codes 22-bit chunks would spend
    # 128 MB on offsets tables to save a few percent).
    near = [p for p in fitting if p.cost_ns <= 1.10 * best]
    return min(near, key=lambda p: (p.bytes, p.cost_ns))


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
        inline_words: Sequence[int] | None = None,
        inline_word0: Sequence[int] | None = None,
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
        # Chunk i's inline copy holds inline_words[i] words of each code from word inline_word0[i] on
        # (cyclically): all of them (before format 3 the only kind) or a fingerprint.
        words_default = [self.words if b >= 0 else 0 for b in self.inline_base.tolist()]
        self.inline_words = np.array(
            words_default if inline_words is None else list(inline_words), dtype=np.int32
        )
        self.inline_word0 = np.array([0] * m if inline_word0 is None else list(inline_word0), dtype=np.int32)
        self.source = "index"  # the file it was loaded from, for error messages
        self._mih = mih()  # no table without the C search: a UserError here, never a slow scan later
        self._prepared: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def format_version(self) -> int:
        """1 when hashwatch before issue 24 can search this table, else 3 (fingerprints, chunks > 22 bits)."""
        fingerprint = any(0 < w < self.words for w in self.inline_words.tolist())
        return 3 if fingerprint or max(self.lengths) > _OLD_MAX_CHUNK_BITS else 1

    def radii(self, radius: int) -> list[int]:
        """Each chunk's search radius for ``radius`` (-1: chunk not searched)."""
        iw = max(self.inline_words.tolist()[1:], default=0)
        return plan_radii(self.lengths, radius, _chunk_weights(self.lengths, max(self.n, 1), self.words, iw))

    def _prepare(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(radii, masks, mask starts) for ``radius``, computed once per table and radius: rebuilding them
        cost ~45 us a call, as much as a whole PDQ query at 1e6 (a rescan calls with small batches)."""
        got = self._prepared.get(radius)
        if got is None:
            radii = self.radii(radius)
            masks = [_masks(b, r) for b, r in zip(self.lengths, radii, strict=True)]
            mask_start = np.cumsum([0] + [m.size for m in masks]).astype(np.int64)
            got = (np.array(radii, dtype=np.int32), np.concatenate(masks).astype(np.uint32), mask_start)
            if len(self._prepared) < 64:
                self._prepared[radius] = got
        return got

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
        inline_words: int | None = None,
    ) -> tuple[HammingTable, np.ndarray]:
        """Index ``codes`` (unique, n x words); returns the table and the permutation applied to the codes.

        The codes are reordered by chunk 0 (so that chunk needs no id array): entry k of the table is input
        row ``perm[k]``. Every other chunk may keep its own copy of the codes in bucket order, so candidates
        are read sequentially: all words (``inline=True``) or ``inline_words`` of them, a fingerprint that
        rejects nearly every candidate before its code is read through its id. By default the planner
        chooses, within ``memory_budget``.
        """
        n = codes.shape[0]
        if n >= 2**32:
            raise ValueError("at most 2^32 - 1 codes per hash type")
        id_bytes = 3 if n < 2**24 else 4
        words = codes.shape[1]
        if inline is not None and inline_words is None:
            inline_words = words if inline else 0
        if lengths is None or inline_words is None:
            plan = plan_chunks(
                bits,
                max(n, 1),
                radius,
                memory_budget=memory_budget,
                id_bytes=id_bytes,
                inline_words=inline_words,
            )
            lengths = plan.lengths if lengths is None else lengths
            inline_words = plan.inline_words if inline_words is None else inline_words
        inline_words = int(inline_words or 0)
        if not 0 <= inline_words <= words:
            raise ValueError(f"inline_words must be in [0, {words}]")
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
        word0 = []
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
                word0.append(0)
            else:  # codes are already reordered by chunk 0, so ids are positions in the stored order
                id_parts.append(_pack_ids(order, id_bytes))
                id_base.append(id_pos)
                w0 = _fingerprint_word0(int(off), int(length), words, inline_words)
                word0.append(w0)
                if inline_words:
                    cols = [(w0 + k) % words for k in range(inline_words)]
                    inline_parts.append(np.ascontiguousarray(codes[order][:, cols]).reshape(-1))
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
            [inline_words if b >= 0 else 0 for b in inline_base],
            word0,
        )
        return table, perm

    def search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query row, code position, distance) with distance <= radius; sorted by query row."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64).reshape(-1, self.words)
        if self.n == 0 or queries.shape[0] == 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint16)
        radii, masks_all, mask_start = self._prepare(int(radius))
        try:
            qi, ids, ds = self._mih.search(
                self.codes,
                self.words,
                self.n,
                self.chunk_off,
                self.chunk_len,
                radii,
                self.table_off,
                self.off_all,
                self.id_base,
                self.ids_all,
                self.id_bytes,
                masks_all,
                mask_start,
                self.inline_all,
                self.inline_base,
                self.inline_word0,
                self.inline_words,
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
            **(
                {"inline_words": self.inline_words.tolist(), "inline_word0": self.inline_word0.tolist()}
                if self.format_version() >= 3
                else {}
            ),
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
            layout.get("inline_words"),
            layout.get("inline_word0"),
        )


def _build_chunk(codes: np.ndarray, words: int, off: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """One chunk's bucket offsets and the codes' order by bucket (a counting sort, in C)."""
    offsets, order = mih().build_chunk(codes, words, codes.shape[0], off, length)
    return np.frombuffer(offsets, dtype=np.uint32), np.frombuffer(order, dtype=np.uint32)


def _fingerprint_word0(off: int, length: int, words: int, inline_words: int) -> int:
    """First word of chunk i's fingerprint: the words after the one holding the chunk's last bit, so the
    fingerprint leaves out the chunk's own bits (where a candidate is close to the query by construction)."""
    if inline_words in (0, words):
        return 0
    return ((off + length - 1) // 64 + 1) % words


def _pack_ids(order: np.ndarray, id_bytes: int) -> np.ndarray:
    raw = np.ascontiguousarray(order, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(raw[:, :id_bytes]).reshape(-1)
