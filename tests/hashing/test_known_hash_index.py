"""The index against a brute-force oracle (property tests with planted neighbours), its file, and matching."""

from __future__ import annotations

import json
import random
from math import comb

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.errors import UserError
from hashwatch.hashing import known_hash_index as kidx
from hashwatch.hashing.hash_types import (
    HashResult,
    HashType,
    IndexKind,
    register_hash_type,
    unregister_hash_type,
)
from hashwatch.hashing.image_hashes import ImageHashes, compute_image_hashes
from hashwatch.hashing.known_hash_index import (
    HammingTable,
    KnownHashIndex,
    MatchOptions,
    _masks,
    build_index,
    chunk_radii,
    hex_to_codes,
    plan_chunks,
)

from .conftest import encode, synthetic_array

# ---------------------------------------------------------------- oracle helpers (plain Python ints)


def rand_hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def flip(rng: random.Random, value: str, k: int, bits: int) -> str:
    v = int(value, 16)
    for pos in rng.sample(range(bits), k):
        v ^= 1 << pos
    return f"{v:0{bits // 4}x}"


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
    hexes = kidx.codes_to_hex(table.codes[pos], bits)
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
            assert max(plan.lengths) <= kidx.MAX_CHUNK_BITS
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
    lengths = kidx._split_bits(bits, min(m, bits // 4))
    if max(lengths) > kidx.MAX_CHUNK_BITS:
        lengths = kidx._split_bits(bits, -(-bits // kidx.MAX_CHUNK_BITS))
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


def test_numpy_fallback_equals_the_c_extension(monkeypatch):
    entries, queries = planted_case(5, 256, 3000, 5, 31)
    table, _ = HammingTable.build(256, hex_to_codes(entries, 256), 31)
    with_c = set(table_results(table, 256, queries, 31))
    monkeypatch.setattr(kidx, "_mih", None)
    monkeypatch.setattr(kidx, "_warned", {"no_extension": False})
    with pytest.warns(RuntimeWarning, match="C extension"):
        without = set(table_results(table, 256, queries, 31))
    assert with_c == without == oracle(entries, queries, 31)
    # The numpy build path gives a table the C search agrees with too.
    table2, _ = HammingTable.build(256, hex_to_codes(entries, 256), 31)
    monkeypatch.undo()
    assert set(table_results(table2, 256, queries, 31)) == with_c


def test_c_extension_is_built():
    assert kidx._mih is not None, "hashwatch.hashing._mih did not build: run make venv (needs gcc)"


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


# ---------------------------------------------------------------- lists -> index file -> matches


def _umask() -> int:
    import os

    current = os.umask(0)
    os.umask(current)
    return current


def write_csv(path, rows):
    lines = ["hash_type,hash_value,category,source,list_version,deleted"]
    lines += [",".join(str(x) for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture()
def photo_hashes() -> list[ImageHashes]:
    return [
        compute_image_hashes(encode(synthetic_array(640, 480, seed=s), "JPEG", quality=92)) for s in (1, 2)
    ]


def test_build_load_match_with_labels(tmp_path, photo_hashes):
    a, b = photo_hashes
    near = flip(random.Random(1), a.pdq, 12, 256)
    md5_trailing_zero = a.md5[:-2] + "00"
    lst = write_csv(
        tmp_path / "list.csv",
        [
            ("pdq", near, "A", "iwf", "v1", ""),
            ("pdq", near, "B", "ncmec", "v9", ""),
            ("md5", a.md5, "A", "iwf", "v1", ""),
            ("md5", md5_trailing_zero, "C", "iwf", "v1", ""),
            ("phash", b.phash, "C", "iwf", "v1", ""),
        ],
    )
    report = build_index([lst], str(tmp_path / "k.hwidx"))
    assert report.entries == {"md5": 2, "pdq": 1, "phash": 1}
    assert (tmp_path / "k.hwidx").stat().st_mode & 0o444 == 0o444 & ~_umask()  # readable by workers
    index = KnownHashIndex.load(str(tmp_path / "k.hwidx"), verify=True)
    assert index.checksum == report.checksum
    assert index.list_versions == {"iwf": "v1", "ncmec": "v9"}

    matches = index.match(a)
    got = {(m.hash_type, m.distance, m.match_kind, m.category, m.source, m.list_version) for m in matches}
    assert got == {
        ("md5", 0, "exact", "A", "iwf", "v1"),
        ("pdq", 12, "near", "A", "iwf", "v1"),
        ("pdq", 12, "near", "B", "ncmec", "v9"),
    }
    pdq_match = next(m for m in matches if m.hash_type == "pdq")
    assert (pdq_match.query_hash, pdq_match.list_hash, pdq_match.variant) == (a.pdq, near, None)
    assert [m.hash_type for m in index.match(b)] == ["phash"]
    # Thresholds and type selection.
    assert not [m for m in index.match(a, MatchOptions(thresholds={"pdq": 11})) if m.hash_type == "pdq"]
    assert {m.hash_type for m in index.match(a, MatchOptions(hash_types=("md5",)))} == {"md5"}
    # Batch equals one by one.
    assert index.match_many([a, b]) == [index.match(a), index.match(b)]
    # An exact key that differs only in trailing zero bytes must not match.
    other = ImageHashes(
        **{**a.to_dict(), "md5": md5_trailing_zero[:-2] + "01", "pdq": None, "pdq_dihedral": None}
    )
    assert index.match(other) == []


def test_dihedral_matching_finds_rotated_copies(tmp_path):
    arr = synthetic_array(600, 400, seed=33)
    original = compute_image_hashes(encode(arr, "PNG"))
    rotated = compute_image_hashes(encode(np.rot90(arr).copy(), "PNG"))
    flipped = compute_image_hashes(encode(arr[:, ::-1].copy(), "PNG"))
    lst = write_csv(tmp_path / "l.csv", [("pdq", original.pdq, "A", "s", "1", "")])
    build_index([lst], str(tmp_path / "i.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "i.hwidx"))
    for copy in (rotated, flipped):
        assert copy.pdq is not None and (int(copy.pdq, 16) ^ int(original.pdq, 16)).bit_count() > 31
        found = index.match(copy)
        assert len(found) == 1 and found[0].variant is not None and found[0].distance <= 8
        assert index.match(copy, MatchOptions(dihedral=False)) == []
    assert index.match(original)[0].variant is None  # the plain hash is preferred over variants


def test_index_file_errors(tmp_path):
    lst = write_csv(tmp_path / "l.csv", [("md5", "a" * 32, "A", "s", "1", "")])
    path = tmp_path / "i.hwidx"
    build_index([lst], str(path))
    data = bytearray(path.read_bytes())
    with pytest.raises(UserError, match="cannot open index"):
        KnownHashIndex.load(str(tmp_path / "missing.hwidx"))
    (tmp_path / "bad").write_bytes(b"not an index at all")
    with pytest.raises(UserError, match="not a hashwatch index"):
        KnownHashIndex.load(str(tmp_path / "bad"))
    (tmp_path / "short").write_bytes(bytes(data[:-8]))
    with pytest.raises(UserError, match="truncated"):
        KnownHashIndex.load(str(tmp_path / "short"))
    corrupt = bytearray(data)
    corrupt[-3] ^= 0xFF
    (tmp_path / "corrupt").write_bytes(bytes(corrupt))
    KnownHashIndex.load(str(tmp_path / "corrupt"))  # cheap load does not read the arrays
    with pytest.raises(UserError, match="CRC-32"):
        KnownHashIndex.load(str(tmp_path / "corrupt"), verify=True)
    head_len = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + head_len])
    header["format_version"] = 7
    new_head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    assert len(new_head) == head_len
    (tmp_path / "future").write_bytes(bytes(data[:16]) + new_head + bytes(data[16 + head_len :]))
    with pytest.raises(UserError, match="format 7 is not 1; rebuild"):
        KnownHashIndex.load(str(tmp_path / "future"))


class ToyLinear(HashType):
    """Test-only plug-in with its own distance (like PhotoDNA's), served by a linear scan."""

    name = "toylinear"
    bits = 32
    index_kind = IndexKind.LINEAR
    default_threshold = 5

    def compute(self, data, decoded):
        return HashResult(f"{len(data) % 2**32:08x}")

    def distance(self, a, b):
        return abs(int(a, 16) - int(b, 16))


def test_linear_plugin_type_matches_with_its_own_distance(tmp_path):
    register_hash_type(ToyLinear)
    try:
        data = b"x" * 1000
        h = compute_image_hashes(data)
        assert h.extra["toylinear"] == f"{1000:08x}"
        lst = write_csv(
            tmp_path / "l.csv",
            [
                ("toylinear", f"{1003:08x}", "A", "s", "1", ""),
                ("toylinear", f"{1010:08x}", "B", "s", "1", ""),
            ],
        )
        build_index([lst], str(tmp_path / "i.hwidx"))
        index = KnownHashIndex.load(str(tmp_path / "i.hwidx"))
        found = index.match(h)
        assert [(m.hash_type, m.distance, m.category) for m in found] == [("toylinear", 3, "A")]
    finally:
        unregister_hash_type("toylinear")


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
        bq, bc, bd = kidx.brute_force_search(codes, queries, radius)
        assert got == set(zip(bq.tolist(), bc.tolist(), bd.tolist(), strict=True))
        assert len(got) >= 30


def test_dhash_is_matched_only_when_asked(tmp_path, photo_hashes):
    """docs/evaluation.md: no dHash threshold is free of false matches, so dHash is off unless named."""
    a, _ = photo_hashes
    lst = write_csv(
        tmp_path / "d.csv", [("dhash", a.dhash, "A", "s", "1", ""), ("md5", a.md5, "A", "s", "1", "")]
    )
    build_index([lst], str(tmp_path / "d.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "d.hwidx"))
    assert [m.hash_type for m in index.match(a)] == ["md5"]
    asked = index.match(a, MatchOptions(hash_types=("dhash",)))
    assert [(m.hash_type, m.distance) for m in asked] == [("dhash", 0)]


class ToyHamming(HashType):
    name = "toyhamming"
    bits = 64
    index_kind = IndexKind.HAMMING
    default_threshold = 3

    def compute(self, data, decoded):
        return HashResult(f"{len(data):016x}")


def test_index_matches_a_plugin_type_that_is_not_registered_at_match_time(tmp_path):
    """A rescan may read plug-in values from the images table in a process without the plug-in: the index
    falls back to the default threshold it recorded at build time."""
    register_hash_type(ToyHamming)
    try:
        lst = write_csv(tmp_path / "l.csv", [("toyhamming", f"{0b111:016x}", "A", "s", "1", "")])
        build_index([lst], str(tmp_path / "i.hwidx"))
    finally:
        unregister_hash_type("toyhamming")
    index = KnownHashIndex.load(str(tmp_path / "i.hwidx"))
    base = compute_image_hashes(b"\x00" * 10).to_dict()
    near = ImageHashes.from_dict({**base, "extra": {"toyhamming": f"{0:016x}"}})  # 3 bits away
    far = ImageHashes.from_dict({**base, "extra": {"toyhamming": f"{0b1111 << 8:016x}"}})
    assert [(m.hash_type, m.distance) for m in index.match(near)] == [("toyhamming", 3)]
    assert index.match(far) == []
    assert index.match(near, MatchOptions(thresholds={"toyhamming": 2})) == []
