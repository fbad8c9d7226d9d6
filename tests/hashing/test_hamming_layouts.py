"""Issue 24's Hamming layouts against numpy's brute force: fingerprinted chunks, the batched sweep, chunks up to
24 bits, the cost-weighted radii, and the index file's format 3 (read, checked, refused by its version).

Each case plants list entries at distances radius - 2 .. radius + 2 from the queries (the edge where an off-by-one
in a filter or a radius shows) among random entries, and compares every (query, entry, distance) with
:func:`brute_force_search` (numpy's popcount over the whole list)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.errors import UserError
from hashwatch.hashing.hamming_search import (
    MAX_CHUNK_BITS,
    HammingTable,
    brute_force_search,
    plan_chunks,
    plan_radii,
    split_bits,
)
from hashwatch.hashing.index_file import LAYOUT_FORMAT_VERSION, read_container, write_container


def planted(
    seed: int, bits: int, n_random: int, n_queries: int, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, queries): random codes plus, per query, entries exactly radius-2 .. radius+2 bits away."""
    rng = np.random.default_rng(seed)
    words = bits // 64
    queries = rng.integers(0, 2**64, size=(n_queries, words), dtype=np.uint64)
    near = []
    for q in queries:
        for d in range(max(0, radius - 2), min(bits, radius + 2) + 1):
            # Flipped bits anywhere, and confined to one or two words (cyclically): then a chunk's
            # fingerprint (words away from the chunk) can carry the whole distance, the case where a filter
            # off by one loses a match.
            for wanted in (words, 1, 2):
                span = min(wanted, words)
                if d > span * 64:
                    continue
                first = int(rng.integers(0, words))
                where = rng.choice(span * 64, size=d, replace=False)
                c = q.copy()
                for pos in where:
                    w = (first + int(pos) // 64) % words
                    c[w] ^= np.uint64(1) << np.uint64(int(pos) % 64)
                near.append(c)
    rand = rng.integers(0, 2**64, size=(n_random, words), dtype=np.uint64)
    codes = np.unique(np.concatenate([rand, np.array(near, dtype=np.uint64).reshape(-1, words)]), axis=0)
    rng.shuffle(codes)
    return np.ascontiguousarray(codes), np.ascontiguousarray(queries)


def pairs(qi: np.ndarray, ids: np.ndarray, ds: np.ndarray) -> list[tuple[int, int, int]]:
    return list(zip(qi.tolist(), ids.tolist(), ds.tolist(), strict=True))


def assert_exact(table: HammingTable, perm: np.ndarray, codes: np.ndarray, queries: np.ndarray, radius: int):
    """The batch, and each query alone (the per-query probes instead of the sweep), equal brute force."""
    truth = set(pairs(*brute_force_search(codes, queries, radius)))
    assert truth, "the case plants matches: an empty truth would make this test unable to fail"
    qi, pos, ds = table.search(queries, radius)
    got = pairs(qi, perm[pos], ds)
    assert len(got) == len(set(got)), "a match was reported twice"
    assert set(got) == truth
    assert np.all(np.diff(qi.astype(np.int64)) >= 0), "results are sorted by query"
    alone = []
    for k in range(queries.shape[0]):
        q1, p1, d1 = table.search(queries[k : k + 1], radius)
        alone += pairs(q1 + k, perm[p1], d1)
    assert set(alone) == truth and len(alone) == len(truth)


@pytest.mark.parametrize(
    ("lengths", "inline_words"),
    [
        ([16] * 16, 2),  # the 1e6 plan: 128-bit fingerprints, swept in batches
        ([16] * 16, 4),  # full copies
        ([16] * 16, 0),  # ids only
        ([24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23], 0),  # the 1e8 plan: wide chunks
        ([24] * 10 + [16], 2),  # mixed widths: the radii are weighted per chunk
        ([8] * 32, 3),  # narrow chunks, 3-word fingerprints
    ],
)
def test_layouts_equal_numpy_brute_force_around_pdq_radius(lengths, inline_words):
    codes, queries = planted(len(lengths) * 10 + inline_words, 256, 20_000, 40, 31)
    table, perm = HammingTable.build(256, codes, 31, lengths=lengths, inline_words=inline_words)
    assert table.inline_words.tolist()[1:] == [inline_words] * (len(lengths) - 1)
    for radius in (31, 29, 33):
        assert_exact(table, perm, codes, queries, radius)


@pytest.mark.parametrize("n_queries", [1, 3, 700])
def test_planned_1e6_style_table_many_queries(n_queries):
    """Batches large enough to sweep (700 queries x 17 probes over 2^16 buckets) and small ones that probe."""
    codes, queries = planted(5, 256, 30_000, n_queries, 31)
    table, perm = HammingTable.build(256, codes, 31, lengths=[16] * 16, inline_words=2)
    assert_exact(table, perm, codes, queries, 31)


def test_phash_and_dhash_sized_codes():
    codes, queries = planted(9, 64, 50_000, 60, 10)
    for inline in (None, False, True):
        table, perm = HammingTable.build(64, codes, 10, inline=inline)
        assert_exact(table, perm, codes, queries, 10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([64, 128, 256]),
    m=st.integers(1, 40),
    inline_words=st.integers(0, 4),
    radius=st.integers(0, 40),
    n_queries=st.sampled_from([1, 2, 64]),
)
def test_any_layout_equals_brute_force(*, seed, bits, m, inline_words, radius, n_queries):
    words = bits // 64
    lengths = split_bits(bits, min(m, bits // 4))
    if max(lengths) > MAX_CHUNK_BITS:
        lengths = split_bits(bits, -(-bits // MAX_CHUNK_BITS))
    codes, queries = planted(seed, bits, 300, n_queries, min(radius, bits))
    table, perm = HammingTable.build(
        bits, codes, radius, lengths=lengths, inline_words=min(inline_words, words)
    )
    assert_exact(table, perm, codes, queries, radius)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(4, 24), min_size=1, max_size=20),
    weights=st.lists(st.floats(0.01, 1000.0), min_size=20, max_size=20),
    radius=st.integers(0, 60),
)
def test_plan_radii_pigeonhole_bound(lengths, weights, radius):
    """Whatever the weights, the radii cover the radius: sum(r_i + 1) > radius (else a code could be missed),
    and not more than needed."""
    if radius + 1 > sum(b + 1 for b in lengths):  # even radius b on every chunk (all buckets) is short
        with pytest.raises(ValueError):
            plan_radii(lengths, radius, weights[: len(lengths)])
        return
    radii = plan_radii(lengths, radius, weights[: len(lengths)])
    assert sum(r + 1 for r in radii) == radius + 1
    assert all(-1 <= r <= b for r, b in zip(radii, lengths, strict=True))


def test_plans_by_list_size():
    """The planner keeps small lists in format 1, fingerprints PDQ at 1e6, fits 1e8 PDQ in 7.5 GiB."""
    small = plan_chunks(256, 10_000, 31)
    assert small.inline_words in (0, 4) and max(small.lengths) <= 22
    mid = plan_chunks(256, 1_000_000, 31)
    assert mid.inline_words == 2 and mid.bytes < 900 * 2**20
    big = plan_chunks(256, 100_000_000, 31, memory_budget=int(7.5 * 2**30), id_bytes=4)
    assert big.bytes <= 7.5 * 2**30 and max(big.lengths) <= MAX_CHUNK_BITS


def _save(table: HammingTable, path: str, version: int) -> None:
    header = {
        "format_version": version,
        "checksum": "t",
        "list_versions": {},
        "files": [],
        "types": {"pdq": {"kind": "hamming", "bits": 256, "count": table.n, **table.layout()}},
        "labels": [[None, None, None]],
        "label_sets": [[0]],
    }
    write_container(path, header, {"pdq.label_set": np.zeros(table.n, np.int32), **table.arrays("pdq")})


def test_format_3_round_trip_checks_and_version(tmp_path):
    codes, queries = planted(3, 256, 5_000, 8, 31)
    table, perm = HammingTable.build(256, codes, 31, lengths=[16] * 16, inline_words=2)
    assert table.format_version() == LAYOUT_FORMAT_VERSION
    path = str(tmp_path / "fp.hwidx")
    _save(table, path, LAYOUT_FORMAT_VERSION)
    header, arrays, _mm = read_container(path, verify=True)
    loaded = HammingTable.from_arrays(256, header["types"]["pdq"], arrays, "pdq")
    assert_exact(loaded, perm, codes, queries, 31)
    # A damaged layout (a fingerprint wider than the code) is refused at load, in one line.
    spec = header["types"]["pdq"]
    bad = dict(header, types={"pdq": dict(spec, inline_words=[0] + [5] * 15)})
    bad.pop("arrays")
    write_container(str(tmp_path / "bad.hwidx"), bad, {k: np.asarray(v) for k, v in arrays.items()})
    with pytest.raises(UserError, match="inline words"):
        read_container(str(tmp_path / "bad.hwidx"), verify=False)
    # Fingerprints that the header says are longer than the array holds: refused before any search.
    short = dict(header, types={"pdq": dict(spec, inline_words=[0] + [4] * 15)})
    short.pop("arrays")
    write_container(str(tmp_path / "short.hwidx"), short, {k: np.asarray(v) for k, v in arrays.items()})
    with pytest.raises(UserError, match="codes run past"):
        read_container(str(tmp_path / "short.hwidx"), verify=False)


def test_format_1_file_still_loads_and_is_exact(tmp_path):
    """An index written before issue 24 (format 1: no inline_words in its layout, full copies for 64-bit
    codes) loads and searches exactly with today's search."""
    codes, queries = planted(4, 64, 20_000, 30, 10)
    table, perm = HammingTable.build(64, codes, 10, lengths=[22, 21, 21], inline=True)
    assert table.format_version() == 1
    layout = table.layout()
    assert "inline_words" not in layout  # byte-for-byte the old layout
    path = str(tmp_path / "old.hwidx")
    header = {
        "format_version": 1,
        "checksum": "t",
        "list_versions": {},
        "files": [],
        "types": {"phash": {"kind": "hamming", "bits": 64, "count": table.n, **layout}},
        "labels": [[None, None, None]],
        "label_sets": [[0]],
    }
    write_container(path, header, {"phash.label_set": np.zeros(table.n, np.int32), **table.arrays("phash")})
    got_header, arrays, _mm = read_container(path, verify=True)
    assert json.loads(json.dumps(got_header["types"]["phash"]))["lengths"] == [22, 21, 21]
    loaded = HammingTable.from_arrays(64, got_header["types"]["phash"], arrays, "phash")
    assert_exact(loaded, perm, codes, queries, 10)
