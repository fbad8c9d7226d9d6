"""Multi-index Hamming search against a brute-force oracle (property tests with planted neighbours), and the
C extension it needs (``_mih``: required, its absence a loud error)."""

from __future__ import annotations

import random
from math import comb

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.errors import UserError
from hashwatch.hashing import c_extension
from hashwatch.hashing.hamming_search import (
    MAX_CHUNK_BITS,
    HammingTable,
    _masks,
    brute_force_search,
    chunk_radii,
    plan_chunks,
    split_bits,
)
from hashwatch.hashing.hash_codes import codes_to_hex, hex_to_codes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex

from .conftest import flip, rand_hex

# ---------------------------------------------------------------- oracle helpers (plain Python ints)


def oracle(list_hex: list[str], queries: list[str], radius: int) -> set[tuple[int, str, int]]:
    out = set()
    for qi, q in enumerate(queries):
        qv = int(q, 16)
        for h in list_hex:
            d = (qv ^ int(h, 16)).bit_count()
            if d <= radius:
                out.add((qi, h, d))
    return out


def table_results(
    table: HammingTable, bits: int, queries: list[str], radius: int
) -> list[tuple[int, str, int]]:
    qi, pos, dist = table.search(hex_to_codes(queries, bits), radius)
    hexes = codes_to_hex(table.codes[pos], bits)
    return list(zip(qi.tolist(), hexes, dist.tolist(), strict=True))


def planted_case(seed: int, bits: int, n_random: int, n_queries: int, radius: int):
    """Random list plus, for every query, list entries at every distance 0..radius+2 from it."""
    rng = random.Random(seed)
    queries = [rand_hex(rng, bits) for _ in range(n_queries)]
    entries = {rand_hex(rng, bits) for _ in range(n_random)}
    for q in queries:
        for d in range(0, min(radius + 2, bits) + 1):
            entries.add(flip(rng, q, d, bits))
    return sorted(entries), queries


# ---------------------------------------------------------------- pure functions


@given(st.lists(st.integers(4, 22), min_size=1, max_size=16), st.integers(0, 80))
def test_chunk_radii_pigeonhole_bound(lengths, radius):
    radii = chunk_radii(lengths, radius)
    # A code is missed only if every chunk is beyond its radius: then its distance is at least this.
    assert sum(r + 1 for r in radii) > radius
    # And the bound is tight (not wasteful): lowering any radius would allow a miss.
    for i in range(len(radii)):
        if radii[i] >= 0:
            lowered = radii.copy()
            lowered[i] -= 1
            assert sum(r + 1 for r in lowered) <= radius


@pytest.mark.parametrize(("bits", "r"), [(8, 0), (8, 2), (16, 1), (21, 2), (13, 3)])
def test_masks_are_all_small_popcount_values(bits, r):
    m = _masks(bits, r)
    assert m.size == sum(comb(bits, k) for k in range(r + 1))
    assert len(set(m.tolist())) == m.size
    assert all(bin(x).count("1") <= r and x < 2**bits for x in m.tolist())
    assert _masks(bits, -1).size == 0


def test_plan_chunks_respects_budget_and_bits():
    for n in (10, 10_000, 1_000_000, 10_000_000):
        for bits, r in ((256, 31), (64, 10)):
            plan = plan_chunks(bits, n, r)
            assert sum(plan.lengths) == bits
            assert max(plan.lengths) <= MAX_CHUNK_BITS
    assert plan_chunks(256, 10_000_000, 31).bytes < 900 * 2**20


# ---------------------------------------------------------------- the oracle property tests


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([64, 128, 256]),
    n_random=st.integers(0, 400),
    n_queries=st.integers(1, 6),
    radius=st.integers(0, 40),
    m=st.integers(1, 16),
    inline=st.booleans(),
)
def test_search_equals_brute_force_with_planted_neighbours(
    *, seed, bits, n_random, n_queries, radius, m, inline
):
    """Every list hash within the radius is returned once, with its distance; nothing beyond it (with and
    without per-chunk copies of the codes)."""
    entries, queries = planted_case(seed, bits, n_random, n_queries, radius)
    lengths = split_bits(bits, min(m, bits // 4))
    if max(lengths) > MAX_CHUNK_BITS:
        lengths = split_bits(bits, -(-bits // MAX_CHUNK_BITS))
    table, _perm = HammingTable.build(
        bits, hex_to_codes(entries, bits), radius, lengths=lengths, inline=inline
    )
    got = table_results(table, bits, queries, radius)
    assert len(got) == len(set(got)), "a match was reported twice"
    assert set(got) == oracle(entries, queries, radius)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), radius=st.sampled_from([0, 1, 10, 31, 32, 33]))
def test_planned_table_equals_brute_force_at_other_radii(seed, radius):
    """A table planned for radius 31 stays exact at any query radius."""
    entries, queries = planted_case(seed, 256, 2000, 3, radius)
    table, _ = HammingTable.build(256, hex_to_codes(entries, 256), 31)
    assert set(table_results(table, 256, queries, radius)) == oracle(entries, queries, radius)


def test_c_extension_is_built():
    assert c_extension._mih is not None, "hashwatch.hashing._mih did not build: run make venv (needs gcc)"
    assert c_extension.mih() is c_extension._mih


def _pdq_and_md5_list(tmp_path) -> str:
    entries, _ = planted_case(5, 256, 300, 2, 31)
    lines = ["hash_type,hash_value,category,source"]
    lines += [f"pdq,{h},A,iwf" for h in entries] + [f"md5,{'ab' * 16},A,iwf"]
    path = tmp_path / "list.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_missing_c_extension_is_a_loud_error_at_index_use(tmp_path, monkeypatch):
    """Without ``_mih`` (a source tree used without its install, a build that failed) a perceptual type's
    index is neither built nor loaded: one UserError line names the extension, the fix and the cost. On main
    the search fell back to a numpy scan of the whole list (a warning at most) and the build said nothing."""
    lst = _pdq_and_md5_list(tmp_path)
    built = str(tmp_path / "known.hwidx")
    build_index([lst], built)
    monkeypatch.setattr(c_extension, "_mih", None)
    loud = r"hashwatch\.hashing\._mih.*is not built.*C compiler.*slower"
    with pytest.raises(UserError, match=loud) as raised:
        KnownHashIndex.load(built)
    assert "\n" not in str(raised.value)
    with pytest.raises(UserError, match=loud):
        build_index([lst], str(tmp_path / "again.hwidx"))
    with pytest.raises(UserError, match=loud):
        HammingTable.build(64, np.zeros((3, 1), np.uint64), 10)
    assert not (tmp_path / "again.hwidx").exists()


def test_an_exact_only_index_needs_no_c_extension(tmp_path, monkeypatch):
    """Byte digests are searched by bisection in numpy: an index of exact types works without ``_mih``."""
    lst = tmp_path / "md5.csv"
    lst.write_text(f"hash_type,hash_value,category,source\nmd5,{'ab' * 16},A,iwf\n", encoding="utf-8")
    monkeypatch.setattr(c_extension, "_mih", None)
    build_index([str(lst)], str(tmp_path / "md5.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "md5.hwidx"))
    assert [[(h, d) for h, d, _ in hits] for hits in index.lookup("md5", ["ab" * 16])] == [[("ab" * 16, 0)]]


def test_empty_table_and_empty_queries():
    table, _ = HammingTable.build(64, np.zeros((0, 1), dtype=np.uint64), 10)
    assert table_results(table, 64, ["00" * 8], 10) == []
    table, _ = HammingTable.build(64, hex_to_codes(["00" * 8], 64), 10)
    assert table.search(np.zeros((0, 1), np.uint64), 10)[0].size == 0


def test_pdq_regression_haystack_and_needles(refvectors):
    """ThreatExchange's PDQ matching regression data: index search equals brute force at radius 31."""
    folder = refvectors / "pdq" / "reg-test-input"
    hay = [line.split()[0] for line in (folder / "haystack.txt").read_text().splitlines() if line.strip()]
    needles = [line.split()[0] for line in (folder / "needles.txt").read_text().splitlines() if line.strip()]
    hay = sorted(set(hay))
    table, _ = HammingTable.build(256, hex_to_codes(hay, 256), 31)
    got = set(table_results(table, 256, needles, 31))
    want = oracle(hay, needles, 31)
    assert got == want
    assert len(want) > len(needles)  # the data set is built to have matches


@pytest.mark.slow
def test_large_index_equals_brute_force_on_sampled_queries(tmp_path):
    """2e5 PDQ codes and 2e5 pHash codes with planted and random queries, through the index file."""
    rng = np.random.default_rng(3)
    for bits, radius in ((256, 31), (64, 10)):
        words = bits // 64
        codes = np.unique(rng.integers(0, 2**64, size=(200_000, words), dtype=np.uint64), axis=0)
        pick = codes[rng.integers(0, codes.shape[0], size=30)]
        queries = pick.copy()
        for _ in range(radius):
            pos = rng.integers(0, bits, size=30)
            queries[np.arange(30), pos // 64] ^= np.left_shift(np.uint64(1), (pos % 64).astype(np.uint64))
        queries = np.concatenate([queries, rng.integers(0, 2**64, size=(10, words), dtype=np.uint64)])
        table, perm = HammingTable.build(bits, codes, radius)
        qi, pos, dist = table.search(queries, radius)
        got = set(zip(qi.tolist(), perm[pos].tolist(), dist.tolist(), strict=True))
        bq, bc, bd = brute_force_search(codes, queries, radius)
        assert got == set(zip(bq.tolist(), bc.tolist(), bd.tolist(), strict=True))
        assert len(got) >= 30
