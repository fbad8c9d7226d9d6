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
