"""The rescan's batched matching against the per-row answer: hex columns decoded in bulk, digests screened
by prefix, perceptual values searched once per distinct value (within a batch and, for misses, across the
batches of a process), on random history with planted exact and near matches."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pytest
from rescan_helpers import flip, hexes, image, write_list

from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import ExactScreen, KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan import distinct_queries
from hashwatch.rescan.distinct_queries import search_distinct
from hashwatch.rescan.hex_columns import decode_hex_column
from hashwatch.rescan.history import CANDIDATE_COLUMNS, HISTORY_COLUMNS, match_history_batch
from schemas import IMAGES_SCHEMA
from schemas.arrow_util import records_to_table

RND = random.Random(24)


def _index(folder, rows) -> KnownHashIndex:
    path = str(folder / "known.hwidx")
    build_index([str(write_list(folder / "list.csv", rows))], path)
    return KnownHashIndex.load(path)


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """Two lists: ``a`` (digests, PDQ, pHash, with many md5 keys sharing their first 8 bytes) and ``b``,
    which holds PDQ values of history rows that ``a`` does not."""
    entry = ("A", "iwf", "v1", "false")
    common = "0123456789abcdef"  # 8 bytes every one of these md5 keys starts with
    a = [("md5", common + hexes(RND, 16), *entry) for _ in range(200)]
    a += [("md5", hexes(RND, 32), *entry) for _ in range(200)]
    a += [("sha256", hexes(RND, 64), *entry) for _ in range(100)]
    a += [("pdq", hexes(RND, 64), *entry) for _ in range(300)]
    a += [("phash", hexes(RND, 16), *entry) for _ in range(100)]
    b = [("pdq", hexes(RND, 64), *entry) for _ in range(50)]
    return (
        (_index(tmp_path_factory.mktemp("a"), a), a),
        (_index(tmp_path_factory.mktemp("b"), b), b),
    )


def _history(rnd: random.Random, listed: list[tuple], n: int, start: int) -> list:
    """Random rows; about one in eight planted: an md5 or sha256 of the list (or one byte off), a PDQ, a
    PDQ variant, a candidate or a pHash some bits from a listed value (some just inside, some just outside
    the default radius); and repeats of earlier rows' values."""
    values = {t: [v for kind, v, *_ in listed if kind == t] for t in ("md5", "sha256", "pdq", "phash")}
    rows = []
    for k in range(n):
        row = image(rnd, f"http://x/{start + k}.jpg", candidate_hashes={"pdq:trimmed": hexes(rnd, 64)})
        plant = rnd.randrange(16)
        if plant == 0 and values["md5"]:
            md5 = rnd.choice(values["md5"])
            row = row._replace(md5=md5 if rnd.random() < 0.7 else md5[:-2] + "00")
        elif plant == 1 and values["sha256"]:
            row = row._replace(sha256=rnd.choice(values["sha256"]))
        elif plant == 2 and values["pdq"]:
            row = row._replace(pdq=flip(rnd.choice(values["pdq"]), rnd.choice([5, 30, 31, 32, 40])))
        elif plant == 3 and values["pdq"]:
            variants = list(row.pdq_dihedral)
            variants[rnd.randrange(7)] = flip(rnd.choice(values["pdq"]), rnd.choice([3, 31, 33]))
            row = row._replace(pdq_dihedral=variants)
        elif plant == 4 and values["pdq"]:
            candidate = flip(rnd.choice(values["pdq"]), rnd.choice([2, 31, 34]))
            row = row._replace(candidate_hashes={"pdq:trimmed": candidate})
        elif plant == 5 and values["phash"]:
            row = row._replace(phash=flip(rnd.choice(values["phash"]), rnd.choice([4, 10, 11])))
        elif plant == 6 and rows:
            earlier = rnd.choice(rows)  # the same picture again (another URL; its values repeat)
            row = earlier._replace(image_url=row.image_url)
        elif plant == 7:  # no PDQ: its variants and candidates are not searched (as match_many)
            row = row._replace(pdq=None)
        rows.append(row)
    return rows


def _per_row(index: KnownHashIndex, table: pa.Table, options: MatchOptions) -> list[tuple]:
    """The old per-row answer: every row through match_many, as the crawl matches an image."""
    found = []
    for record in table.to_pylist():
        for match in index.match_many([ImageHashes.from_columns(record)], options)[0]:
            found.append((record["image_url"], match))
    return sorted(found, key=repr)


def _batched(index: KnownHashIndex, table: pa.Table, options: MatchOptions) -> list[tuple]:
    result = match_history_batch(table, index, options, None, run_id="r", now_us=0, path="h.parquet")
    assert not result.rejected
    found = []
    for _key, record in result.candidates:
        found.append((record.image_url, record.hash_type, record.list_hash, record.distance, record.variant))
    return sorted(set(found), key=repr)


def _as_matches(found: list[tuple]) -> list[tuple]:
    return sorted({(url, m.hash_type, m.list_hash, m.distance, m.variant) for url, m in found}, key=repr)


@pytest.mark.parametrize(
    "options",
    [MatchOptions(), MatchOptions(dihedral=False), MatchOptions(thresholds={"pdq": 20, "phash": 6})],
    ids=["default", "no-dihedral", "tighter"],
)
def test_batched_rescan_finds_exactly_what_matching_every_row_finds(lists, options):
    (a, a_rows), _ = lists
    distinct_queries._MISSES.clear()
    rnd = random.Random(5)
    history = _history(rnd, a_rows, 600, 0)
    columns = [*HISTORY_COLUMNS, *CANDIDATE_COLUMNS]
    table = records_to_table(history, IMAGES_SCHEMA).select(columns)
    # Three batches: the second and third repeat values of the first (remembered misses, planted hits).
    batches = [table.slice(0, 250), table.slice(250, 250), table.slice(500)]
    batched = [m for part in batches for m in _batched(a, part, options)]
    expected = _as_matches(_per_row(a, table, options))
    assert sorted(batched, key=repr) == expected
    kinds = {(t, v is not None) for _, t, _, _, v in expected}
    assert {("md5", False), ("sha256", False), ("pdq", False), ("phash", False)} <= kinds
    if options.dihedral:
        assert ("pdq", True) in kinds  # variants and candidates matched too


def test_remembered_misses_are_per_index(lists):
    """A PDQ value that misses in list a and is listed in list b: searching a first must not hide it in b."""
    (a, _), (b, b_rows) = lists
    distinct_queries._MISSES.clear()
    raw = np.array([list(bytes.fromhex(v)) for _, v, *_ in b_rows[:20]], dtype=np.uint8)
    raw = np.concatenate([raw, raw[:5]])  # repeats within the batch
    assert not search_distinct(a, "pdq", raw, 31).hit.any()
    again = search_distinct(a, "pdq", raw, 31)
    assert not again.hit.any() and again.searched == 0 and again.distinct == 20
    assert search_distinct(b, "pdq", raw, 31).hit.all()
    assert search_distinct(a, "pdq", raw, 40).searched == 20  # another radius: another answer


def test_distinct_search_survives_fingerprint_collisions(lists, monkeypatch):
    (a, a_rows), _ = lists
    distinct_queries._MISSES.clear()
    listed = [v for t, v, *_ in a_rows if t == "pdq"][:10]
    values = listed + [hexes(RND, 64) for _ in range(30)]
    raw = np.array([list(bytes.fromhex(v)) for v in values], dtype=np.uint8)
    monkeypatch.setattr(distinct_queries, "_fingerprints", lambda r: np.zeros(r.shape[0], np.uint64))
    for _ in range(2):
        assert search_distinct(a, "pdq", raw, 31).hit.tolist() == [True] * 10 + [False] * 30


def test_exact_screen_agrees_with_bisection_on_shared_prefixes():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 256, size=(5000, 16), dtype=np.uint8)
    keys[:2000, :8] = keys[0, :8]  # 2,000 keys with one prefix
    keys[2000:2100, :12] = keys[2000, :12]
    sorted_keys = np.sort(keys.view("S16").reshape(-1))
    screen = ExactScreen(sorted_keys)
    queries = np.concatenate([keys[rng.integers(0, 5000, 3000)], rng.integers(0, 256, (3000, 16), np.uint8)])
    near = keys[rng.integers(0, 2100, 2000)].copy()
    near[:, 15] ^= 1  # same prefix (and more), another key
    queries = np.concatenate([queries, near])
    q = queries.view("S16").reshape(-1)
    at = np.searchsorted(sorted_keys, q)
    expected = np.nonzero((at < len(sorted_keys)) & (sorted_keys[np.minimum(at, len(sorted_keys) - 1)] == q))
    assert screen.hits(queries).tolist() == expected[0].tolist()
    assert 3000 <= len(expected[0]) < 5000


def _hex_ok(value, length):
    return value is None or (len(value) == length and re.fullmatch("[0-9a-f]*", value) is not None)


@pytest.mark.parametrize("large", [False, True])
def test_hex_columns_decode_and_reject_as_the_regex_did(large):
    good = [hexes(RND, 16) for _ in range(40)]
    bad = ["ABCDEF0123456789", "0123 456789abcde", "0123456789abcdeg", "0" * 15, "0" * 17, "", "\u00e9" * 8]
    upper = [*good[:5], "abcdef012345678A", *good[5:]]  # only upper case: every digit is still hex
    for values in (good, [*good, None], upper, [*good[:10], *bad, None, *good[10:]], [None, None], []):
        array = pa.array(values, pa.large_string() if large else pa.string())
        for part in (array, array.slice(3), pa.chunked_array([array[:5], array[5:]])):
            expect = part.to_pylist()
            ok, raw = decode_hex_column(part, 16)
            assert ok.tolist() == [_hex_ok(v, 16) for v in expect]
            assert [bytes(r).hex() if o and v else None for r, o, v in zip(raw, ok, expect)] == [
                v if _hex_ok(v, 16) and v else None for v in expect
            ]
