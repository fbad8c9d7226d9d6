"""Matchers: codes from ImageHashes, and the blocked min-over-candidates Hamming distance against a brute force."""

from __future__ import annotations

import numpy as np
import pytest

from hashwatch.evaluation.matchers import (
    HammingMatcher,
    codes_from_hex,
    codes_from_hex_rows,
    codes_to_hex_rows,
    default_matchers,
    min_hamming_distances,
)
from hashwatch.hashing.image_hashes import compute_image_hashes
from hashwatch.sites.synthetic_images import encode, synthetic_photo


def brute(rows, owners, n_queries, known, missing):
    out = np.full((n_queries, known.shape[0]), missing)
    for row, q in zip(rows, owners, strict=True):
        for k, code in enumerate(known):
            d = sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(row, code, strict=True))
            out[q, k] = min(out[q, k], d)
    return out


@pytest.mark.parametrize("words", [1, 4])
def test_min_hamming_distances_equals_brute_force(words):
    rng = np.random.default_rng(words)
    known = rng.integers(0, 2**63, size=(37, words), dtype=np.uint64)
    counts = rng.integers(0, 9, size=25)  # some queries have no candidate at all
    counts[3] = 0
    owners = np.repeat(np.arange(25), counts)
    rows = rng.integers(0, 2**63, size=(owners.size, words), dtype=np.uint64)
    rows[0] = known[5]  # an exact match
    expected = brute(rows, owners, 25, known, 999)
    assert np.array_equal(min_hamming_distances(rows, owners, 25, known, 999), expected)
    # Tiny blocks: a query's candidates must never be split across blocks.
    got = _with_block(rows, owners, 25, known, 999, block_bytes=64)
    assert np.array_equal(got, expected)
    assert (got[3] == 999).all()


def _with_block(rows, owners, n, known, missing, block_bytes):
    """min_hamming_distances with a forced small block, through its public code path."""
    import hashwatch.evaluation.matchers as mod

    saved = mod._BLOCK_BITS
    mod._BLOCK_BITS = block_bytes.bit_length()
    try:
        return min_hamming_distances(rows, owners, n, known, missing)
    finally:
        mod._BLOCK_BITS = saved


def test_owners_must_be_sorted():
    known = np.zeros((2, 1), np.uint64)
    with pytest.raises(ValueError, match="sorted"):
        min_hamming_distances(np.zeros((2, 1), np.uint64), np.array([1, 0]), 2, known, 65)


def test_hex_round_trip_and_distance_preserved():
    values = ["0f" * 32, "f0" * 32, "00" * 31 + "01"]
    codes = codes_from_hex(values, 256)
    assert codes.shape == (3, 4)
    assert codes_to_hex_rows(codes) == values
    assert np.array_equal(codes_from_hex_rows(codes_to_hex_rows(codes), 4), codes)
    d = min_hamming_distances(codes[:1], np.array([0]), 1, codes, 257)
    assert d.tolist() == [[0, 256, 127]]  # 128 bits set vs 1 bit set, inside them


def test_builtin_matchers_from_image_hashes():
    h = compute_image_hashes(encode(synthetic_photo(7)))
    pdq, pdq_dihedral, phash, dhash = default_matchers()
    assert [m.name for m in (pdq, pdq_dihedral, phash, dhash)] == ["pdq", "pdq-dihedral", "phash", "dhash"]
    assert codes_to_hex_rows(pdq.known_code(h)[None, :]) == [h.pdq]
    assert pdq.query_codes(h, b"").shape == (1, 4)
    rows = pdq_dihedral.query_codes(h, b"")
    assert rows.shape == (8, 4)
    assert codes_to_hex_rows(rows) == [h.pdq, *h.pdq_dihedral]
    assert codes_to_hex_rows(phash.query_codes(h, b"")) == [h.phash]
    assert dhash.words == 1 and dhash.max_distance == 64 and pdq.max_distance == 256
    assert pdq.current_threshold == pdq_dihedral.current_threshold
    assert pdq.cache_key != pdq_dihedral.cache_key


def test_a_missing_hash_gives_no_candidates():
    h = compute_image_hashes(encode(synthetic_photo(7)))
    from dataclasses import replace

    flat = replace(h, pdq=None, pdq_dihedral=None)
    m = HammingMatcher("pdq", dihedral=True)
    assert m.query_codes(flat, b"").shape == (0, 4)
    assert m.known_code(flat) is None


def _fusion_case():
    from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher

    pdq = CandidateMatcher("pdq", ("trimmed",), name="pdq+trimmed")
    phash = HammingMatcher("phash")
    known = [compute_image_hashes(encode(synthetic_photo(s))) for s in range(3)]
    return pdq, phash, known, AnyOfMatcher, (pdq, phash)


@pytest.mark.parametrize("fallback", [False, True])
def test_fusion_codes_derive_from_the_parts_and_score_by_the_part_thresholds(fallback):
    pdq, phash, known, AnyOfMatcher, parts = _fusion_case()
    fused = AnyOfMatcher(parts, [31, 4], "f", fallback=fallback)
    assert fused.derived
    query = compute_image_hashes(encode(synthetic_photo(1)))
    direct = fused.query_codes(query, b"")
    derived = fused.query_from_parts([p.query_codes(query, b"") for p in parts])
    assert np.array_equal(direct, derived)
    codes = np.stack([fused.known_from_parts([p.known_code(h) for p in parts]) for h in known])
    d = fused.distances(direct, np.zeros(direct.shape[0], np.int64), 1, codes)
    assert d[0, 1] == 0 and (d[0, [0, 2]] > 100).all()  # its own original at 0, the others beyond 100


def test_fallback_fusion_uses_later_parts_only_without_a_first_part_code():
    pdq, phash, known, AnyOfMatcher, parts = _fusion_case()
    fused = AnyOfMatcher(parts, [31, 4], "f", fallback=True)
    anyof = AnyOfMatcher(parts, [31, 4], "a")
    codes = np.stack([fused.known_from_parts([p.known_code(h) for p in parts]) for h in known])
    query = compute_image_hashes(encode(synthetic_photo(2)))
    # Without a PDQ code (as under PDQ's quality gate), pHash decides: found at 0.
    only_phash = fused.query_from_parts([np.zeros((0, pdq.words), np.uint64), phash.query_codes(query, b"")])
    owners = np.zeros(only_phash.shape[0], np.int64)
    assert fused.distances(only_phash, owners, 1, codes)[0, 2] == 0
    # With a PDQ code far from every entry, pHash is not consulted under fallback, but is under any-of.
    far = np.full((1, pdq.words), 0x5555555555555555, np.uint64)
    rows = fused.query_from_parts([far, phash.query_codes(query, b"")])
    owners = np.zeros(rows.shape[0], np.int64)
    assert fused.distances(rows, owners, 1, codes)[0, 2] > 100
    assert anyof.distances(rows, owners, 1, codes)[0, 2] == 0


def test_quality_gated_phash_drops_flat_copies_only():
    from PIL import Image

    from hashwatch.evaluation.matchers import QualityGatedMatcher

    gated, plain = QualityGatedMatcher("phash", 30), HammingMatcher("phash")
    photo = compute_image_hashes(encode(synthetic_photo(4)))
    flat = compute_image_hashes(encode(Image.new("RGB", (300, 200), (120, 200, 90))))
    assert photo.pdq_quality >= 30 and flat.pdq_quality < 30
    assert np.array_equal(gated.query_codes(photo, b""), plain.query_codes(photo, b""))
    assert gated.query_codes(flat, b"").shape == (0, 1) and plain.query_codes(flat, b"").shape == (1, 1)
    assert np.array_equal(gated.known_code(flat), plain.known_code(flat))  # the list side is not gated
    assert gated.name == "phash-q30"


def test_corroborated_phash_counts_only_with_the_dhash_of_the_same_entry_within_its_threshold():
    from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher

    pdq = CandidateMatcher("pdq", ("trimmed",), name="pdq+trimmed")
    phash, dhash = HammingMatcher("phash"), HammingMatcher("dhash")
    parts = (pdq, phash, dhash)
    fused = AnyOfMatcher(parts, [31, 4, 10], "c", corroborated_by={1: 2})
    assert fused.version != AnyOfMatcher(parts, [31, 4, 10], "c").version  # a new rule, new cache key
    known = [compute_image_hashes(encode(synthetic_photo(s))) for s in range(3)]
    codes = np.stack([fused.known_from_parts([p.known_code(h) for p in parts]) for h in known])
    no_pdq = np.zeros((0, pdq.words), np.uint64)
    own_phash = phash.known_code(known[2])[None, :]
    own_dhash = dhash.known_code(known[2])[None, :]

    def score(phash_rows, dhash_rows):
        rows = fused.query_from_parts([no_pdq, phash_rows, dhash_rows])
        owners = np.zeros(rows.shape[0], np.int64)
        return fused.distances(rows, owners, 1, codes)[0, 2]

    flip = lambda code, bits: code ^ np.uint64((1 << bits) - 1)  # noqa: E731 - differ in the low `bits` bits
    assert score(own_phash, own_dhash) == 0
    assert score(flip(own_phash, 3), flip(own_dhash, 5)) == 75  # max(ceil(100*3/4), 100*5/10)
    assert score(own_phash, flip(own_dhash, 11)) > 100  # pHash at 0 is not enough without dHash
    assert score(flip(own_phash, 5), own_dhash) > 100  # nor dHash at 0 on its own
    assert score(own_phash, np.zeros((0, 1), np.uint64)) > 100  # no dHash code: no corroboration
    with pytest.raises(ValueError):
        AnyOfMatcher(parts, [31, 4, 10], "bad", corroborated_by={1: 1})
