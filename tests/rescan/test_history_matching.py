"""The batched matching under the rescan, without a runner: validation of history rows, hex decoding, and
the index's bulk pre-filter against its per-value lookup."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from rescan_helpers import flip, image, write_list

from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.history import HISTORY_COLUMNS, HistoryRows, hex_bytes, hit_rows
from schemas import IMAGES_SCHEMA
from schemas.arrow_util import records_to_table
from transforms.match import image_hashes_of

RND = random.Random(11)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    rows = [("md5", f"{k:032x}", "A", "iwf", "v1", "false") for k in range(0, 4000, 3)]
    rows += [
        ("pdq", "".join(RND.choice("0123456789abcdef") for _ in range(64)), "A", "iwf", "v1", "false")
        for _ in range(300)
    ]
    rows += [("phash", f"{RND.getrandbits(64):016x}", "A", "iwf", "v1", "false") for _ in range(300)]
    path = str(folder / "known.hwidx")
    build_index([str(write_list(folder / "list.csv", rows))], path)
    return KnownHashIndex.load(path), rows


@pytest.mark.parametrize("large", [False, True])
def test_hex_bytes_matches_fromhex_on_slices_and_large_strings(large):
    values = [f"{RND.getrandbits(128):032x}" for _ in range(50)]
    array = pa.array(values, pa.large_string() if large else pa.string())
    for part in (array, array.slice(7, 20), array.take(pa.array([3, 1, 40, 2]))):
        got = hex_bytes(part, 16)
        assert [bytes(r).hex() for r in got] == part.to_pylist()
    assert hex_bytes(pa.chunked_array([array[:10], array[10:]]), 16).shape == (50, 16)


def test_query_hits_agrees_with_lookup(index):
    known, rows = index
    for hash_type, nbytes, radius in (("md5", 16, 0), ("pdq", 32, 31), ("phash", 8, 10), ("sha1", 20, 0)):
        listed = [bytes.fromhex(v) for t, v, *_ in rows if t == hash_type]
        queries = [RND.randbytes(nbytes) for _ in range(200)]
        for k in range(0, min(60, len(listed))):  # some equal to, some a few bits from, list values
            queries.append(bytes.fromhex(flip(listed[k].hex(), k % 12)) if hash_type != "md5" else listed[k])
        raw = np.frombuffer(b"".join(queries), np.uint8).reshape(len(queries), nbytes)
        expected = [
            k for k, hits in enumerate(known.lookup(hash_type, [q.hex() for q in queries], radius)) if hits
        ]
        assert known.query_hits(hash_type, raw, radius).tolist() == expected
        if hash_type != "sha1":
            assert expected, hash_type  # the comparison saw hits


def test_hit_rows_find_every_row_match_many_matches(index):
    known, rows = index
    pdq_listed = [v for t, v, *_ in rows if t == "pdq"]
    md5_listed = [v for t, v, *_ in rows if t == "md5"]
    images = [image(RND, f"http://x/{i}.jpg") for i in range(40)]
    images[3] = images[3]._replace(md5=md5_listed[5])
    images[7] = images[7]._replace(pdq=flip(pdq_listed[2], 25))
    images[9] = images[9]._replace(pdq_dihedral=[flip(pdq_listed[4], 9)] + images[9].pdq_dihedral[1:])
    images[11] = images[11]._replace(pdq=None, pdq_dihedral=None, phash=None, dhash=None)
    table = records_to_table(images, IMAGES_SCHEMA).select(list(HISTORY_COLUMNS))
    for options in (MatchOptions(), MatchOptions(dihedral=False), MatchOptions(thresholds={"pdq": 20})):
        rows_ = HistoryRows(table, [])
        hits = set(hit_rows(known, rows_, options).tolist())
        truth = {
            k
            for k, found in enumerate(known.match_many([image_hashes_of(i) for i in images], options))
            if found
        }
        assert hits == truth
    assert set(hit_rows(known, HistoryRows(table, []), MatchOptions()).tolist()) == {3, 7, 9}


def test_history_rows_flag_the_first_problem_of_each_bad_row():
    good = image(RND, "http://x/ok.jpg")
    bad = [
        good._replace(md5="ABC"),
        good._replace(sha256="z" * 64),
        good._replace(image_url=""),
        good._replace(pdq_dihedral=["0" * 64] * 3),
        good._replace(pdq_dihedral=["0" * 63 + "g"] + ["0" * 64] * 6),
        good._replace(phash=None, dhash=None, pdq=None, pdq_dihedral=None),  # fine: nothing to compare
    ]
    table = records_to_table([good, *bad], IMAGES_SCHEMA).select(list(HISTORY_COLUMNS))
    rows = HistoryRows(table, [])
    assert rows.ok.tolist() == [True, False, False, False, False, False, True]
    assert {k: v[:2] for k, v in rows.problems.items()} == {
        1: ("md5", "invalid_hash"),
        2: ("sha256", "invalid_hash"),
        3: ("image_url", "missing_image_url"),
        4: ("pdq_dihedral", "invalid_hash"),
        5: ("pdq_dihedral", "invalid_hash"),
    }
    positions, raw = rows.raw_variants("pdq")
    assert sorted(set(positions.tolist())) == [0] and raw.shape == (7, 32)


def test_the_screening_searches_only_the_types_match_many_matches(tmp_path):
    """dHash is listed but matched only when named: the screening must not search it (a full Hamming search
    per history row whose hits match_many then drops), and must when it is named."""
    dhash = f"{RND.getrandbits(64):016x}"
    rows = [("dhash", dhash, "A", "iwf", "v1", "false"), ("md5", "0" * 32, "A", "iwf", "v1", "false")]
    path = str(tmp_path / "known.hwidx")
    build_index([str(write_list(tmp_path / "list.csv", rows))], path)
    known = KnownHashIndex.load(path)
    images = [image(RND, f"http://x/{i}.jpg") for i in range(5)]
    images[2] = images[2]._replace(dhash=dhash)
    table = records_to_table(images, IMAGES_SCHEMA).select(list(HISTORY_COLUMNS))
    for options, searched, hits in (
        (MatchOptions(), {"md5"}, set()),
        (MatchOptions(hash_types=("dhash",)), {"dhash"}, {2}),
    ):
        seen: set[str] = set()
        found = hit_rows(known, HistoryRows(table, []), options, lambda name, s, n, seen=seen: seen.add(name))
        assert seen == searched and set(found.tolist()) == hits
