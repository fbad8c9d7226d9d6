"""The streamed one-type index writer (1e8-entry lists) writes what the in-memory build writes."""

from __future__ import annotations

import numpy as np
import pytest

from hashwatch.hashing.hamming_search import HammingTable
from hashwatch.hashing.index_build_large import write_hamming_index
from hashwatch.hashing.index_file import read_container
from hashwatch.hashing.known_hash_index import KnownHashIndex

from .test_hamming_layouts import assert_exact, planted


@pytest.mark.parametrize(
    ("bits", "radius", "budget"), [(256, 31, 900 * 2**20), (256, 31, 2**20), (64, 10, 2**30)]
)
def test_streamed_file_has_the_in_memory_build_arrays(tmp_path, monkeypatch, bits, radius, budget):
    import hashwatch.hashing.index_build_large as large

    monkeypatch.setattr(large, "_BLOCK", 1000)  # several blocks per array
    codes, queries = planted(11, bits, 20_000, 25, radius)
    labels = np.arange(codes.shape[0], dtype=np.int32) % 3
    path = str(tmp_path / "big.hwidx")
    plan = write_hamming_index(
        path,
        "pdq",
        bits,
        codes,
        radius,
        memory_budget=budget,
        label_set=labels,
        header={
            "labels": [["a", None, None], ["b", None, None], ["c", None, None]],
            "label_sets": [[0], [1], [2]],
        },
    )
    header, arrays, _mm = read_container(path, verify=True)  # CRCs computed block by block agree
    table, perm = HammingTable.build(
        bits, codes, radius, lengths=plan.lengths, inline_words=plan.inline_words
    )
    spec = header["types"]["pdq"]
    assert {k: spec[k] for k in table.layout()} == table.layout()
    for key, arr in table.arrays("pdq").items():
        assert np.array_equal(arrays[key], arr), key
    assert np.array_equal(arrays["pdq.label_set"], labels[perm])
    loaded = HammingTable.from_arrays(bits, spec, arrays, "pdq")
    assert_exact(loaded, perm, codes, queries, radius)
    # And through the public loader (header and array checks of index_file_check).
    assert KnownHashIndex.load(path).size("pdq") == codes.shape[0]
