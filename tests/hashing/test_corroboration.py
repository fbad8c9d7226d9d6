"""Item ids in known-hash lists and the pHash-by-dHash corroboration they allow (issue 9).

A list row may name the picture it hashes (``item_id``, per source); the index keeps, per entry, the pictures
it hashes, so a pHash near-match counts only where the same picture's dHash is near the copy's too.
"""

from __future__ import annotations

import csv
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.known_hash_list import load_lists
from hashwatch.hashing.match_policy import DEFAULT_CORROBORATION, MatchOptions

HEADER = ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]


def write_list(path, rows, header=HEADER) -> str:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def flip_bits(value: str, positions) -> str:
    v = int(value, 16)
    for p in positions:
        v ^= 1 << p
    return f"{v:0{len(value)}x}"


def image(phash: str | None = None, dhash: str | None = None, **extra) -> ImageHashes:
    return ImageHashes(
        bytes_length=10,
        md5="0" * 32,
        sha1="0" * 40,
        sha256="0" * 64,
        crc32c="0" * 8,
        phash=phash,
        dhash=dhash,
        **extra,
    )


P1, D1 = "8f3c0a5512e4b7d1", "33cc0f0ff0f05a5a"  # picture 1 of source s1
P2, D2 = "1234567890abcdef", "fedcba0987654321"  # picture 2 of source s1
P3 = "0f0f0f0f0f0f0f0f"  # a pHash with no item id


@pytest.fixture
def index(tmp_path) -> KnownHashIndex:
    path = write_list(
        tmp_path / "l.csv",
        [
            ("phash", P1, "A", "s1", "1", "", "pic-1"),
            ("dhash", D1, "A", "s1", "1", "", "pic-1"),
            ("phash", P2, "B", "s1", "1", "", "pic-2"),
            ("dhash", D2, "B", "s1", "1", "", "pic-2"),
            ("phash", P3, "C", "s1", "1", "", ""),
        ],
    )
    build_index([path], str(tmp_path / "l.hwidx"))
    return KnownHashIndex.load(str(tmp_path / "l.hwidx"), verify=True)


# ---------------------------------------------------------------- the list


def test_item_ids_are_merged_per_entry_and_numbered_canonically(tmp_path):
    rows = [
        ("phash", P1, "A", "s2", "1", "", "z"),
        ("phash", P1, "A", "s1", "1", "", "a"),
        ("dhash", D1, "A", "s1", "1", "", "a"),
        ("phash", P2, "A", "s1", "1", "", ""),
    ]
    merged = load_lists([write_list(tmp_path / "a.csv", rows)])
    reordered = load_lists([write_list(tmp_path / "b.csv", rows[::-1])])
    assert merged.items == 2
    ph = merged.types["phash"]
    # Entries sorted by value: P2 (no item) < P1 (items (s1, a) = 0 and (s2, z) = 1).
    assert [bytes(v).hex() for v in ph.values] == sorted([P1, P2]) == [P2, P1]
    assert ph.item_offsets.tolist() == [0, 0, 2] and ph.items.tolist() == [0, 1]
    assert merged.types["dhash"].items.tolist() == [0]
    assert merged.checksum == reordered.checksum  # row order that does not change the result


def test_lists_without_item_ids_keep_their_checksum(tmp_path):
    rows = [("phash", P1, "A", "s1", "1", ""), ("dhash", D1, "A", "s1", "1", "")]
    without = load_lists([write_list(tmp_path / "a.csv", rows, HEADER[:-1])])
    empty = load_lists([write_list(tmp_path / "b.csv", [(*r, "") for r in rows])])
    with_ids = load_lists([write_list(tmp_path / "c.csv", [(*r, "x") for r in rows])])
    other_ids = load_lists([write_list(tmp_path / "d.csv", [rows[0] + ("x",), rows[1] + ("y",)])])
    assert without.items == empty.items == 0
    assert without.types["phash"].items is None
    assert without.checksum == empty.checksum
    # Item ids are content: linking or unlinking two hashes changes the checksum.
    assert len({without.checksum, with_ids.checksum, other_ids.checksum}) == 3


def test_rows_add_pictures_to_an_entry_and_a_tombstone_unlinks_them(tmp_path):
    """A source may list one hash for several pictures (near-identical ones): every add row links its picture;
    a tombstone removes the entry with its links, and a later add starts afresh."""
    first = write_list(
        tmp_path / "a.csv",
        [
            ("phash", P1, "A", "s1", "1", "", "pic-a"),
            ("phash", P1, "A", "s1", "1", "", "pic-b"),  # the same pHash for a second picture
            ("phash", P2, "A", "s1", "1", "", "p2"),
            ("phash", P3, "A", "s1", "1", "", "p3-old"),
        ],
    )
    second = write_list(
        tmp_path / "b.csv",
        [
            ("phash", P2, "A", "s1", "2", "true", ""),  # withdrawn
            ("phash", P3, "A", "s1", "2", "true", ""),  # unlinked, then listed again with another item
            ("phash", P3, "A", "s1", "2", "", "p3-new"),
        ],
    )
    merged = load_lists([first, second])
    ph = merged.types["phash"]
    by_value = {
        bytes(v).hex(): [merged.item_names[int(i)].as_py().split("\x1f")[1] for i in ph.items[a:b]]
        for v, a, b in zip(ph.values, ph.item_offsets[:-1], ph.item_offsets[1:], strict=True)
    }
    assert by_value == {P1: ["pic-a", "pic-b"], P3: ["p3-new"]}
    assert merged.items == 3  # "p2" and "p3-old" are gone


def test_a_match_names_the_picture_that_corroborated_it(tmp_path):
    rows = [
        ("phash", P1, "A", "s", "1", "", "pic-a"),
        ("phash", P1, "A", "s", "1", "", "pic-b"),
        ("dhash", D1, "A", "s", "1", "", "pic-a"),
        ("dhash", D2, "A", "s", "1", "", "pic-b"),
    ]
    build_index([write_list(tmp_path / "l.csv", rows)], str(tmp_path / "l.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "l.hwidx"))
    for dhash, item in ((D1, "pic-a"), (D2, "pic-b")):
        [m] = index.match(image(P1, dhash))
        assert (m.item_id, m.corroboration) == (item, "dhash:0")
    [m] = index.match(image(P1, D1), MatchOptions(corroborate={}))
    assert m.item_id == "pic-a"  # not corroborated: the first of the source's pictures


def test_parquet_lists_carry_item_ids(tmp_path):
    table = pa.table(
        {
            "hash_type": ["phash", "dhash"],
            "hash_value": [P1, D1],
            "source": ["s1", "s1"],
            "item_id": ["pic-1", "pic-1"],
        }
    )
    pq.write_table(table, tmp_path / "l.parquet")
    merged = load_lists([str(tmp_path / "l.parquet")])
    assert merged.items == 1
    assert merged.types["phash"].items.tolist() == merged.types["dhash"].items.tolist() == [0]


def test_items_survive_the_index_permutation(tmp_path):
    """The Hamming table reorders entries: every entry must still name its own picture."""
    rng = random.Random(5)
    rows, truth = [], {}
    for k in range(3000):
        ph, dh = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        rows += [("phash", ph, "A", "s", "1", "", f"i{k}"), ("dhash", dh, "A", "s", "1", "", f"i{k}")]
        truth[ph] = dh
    report = build_index([write_list(tmp_path / "l.csv", rows)], str(tmp_path / "l.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "l.hwidx"), verify=True)
    assert report.items == index.header["items"] == 3000
    assert index.header["types"]["phash"]["with_items"] == 3000
    ph_t, dh_t = index._types["phash"], index._types["dhash"]
    for pos in rng.sample(range(3000), 300):
        [entry] = dh_t.items.entries_of(ph_t.items.of(pos))
        assert dh_t.entry_hex(np.array([entry]))[0] == truth[ph_t.entry_hex(np.array([pos]))[0]]


# ---------------------------------------------------------------- matching


def test_default_rule_is_phash_by_dhash_at_12():
    """12: chosen on the evaluation's tuning half (issue 23; docs/hashing.md, "Corroboration radius")."""
    assert DEFAULT_CORROBORATION == {"phash": ("dhash", 12)}
    assert MatchOptions().corroborations() == {"phash": ("dhash", 12)}
    assert MatchOptions(corroborate={}).corroborations() == {}
    with pytest.raises(ValueError, match="uncorroborated"):
        MatchOptions(uncorroborated="maybe")
    with pytest.raises(ValueError, match="another hash type"):
        MatchOptions(corroborate={"phash": ("phash", 3)})


def test_a_phash_match_needs_the_same_pictures_dhash(index):
    near_p1 = flip_bits(P1, [0, 9, 33])  # pHash 3 bits from picture 1
    # 11 and 12 bits: the cropped rotations the radius of 10 dropped (issue 23).
    for dhash_bits, expected in ((0, "dhash:0"), (11, "dhash:11"), (12, "dhash:12"), (13, None)):
        copy = image(near_p1, flip_bits(D1, range(dhash_bits)))
        found = index.match(copy)
        if expected is None:
            assert found == []  # the picture has a dHash, and ours is 13 bits from it
        else:
            assert [(m.list_hash, m.distance, m.category, m.corroboration) for m in found] == [
                (P1, 3, "A", expected)
            ]
    # Picture 2's dHash does not corroborate picture 1's pHash.
    assert index.match(image(near_p1, D2)) == []
    # Switched off: the plain rule, no corroboration recorded.
    off = index.match(image(near_p1, D2), MatchOptions(corroborate={}))
    assert [(m.list_hash, m.corroboration) for m in off] == [(P1, None)]
    # A tighter rule, by option.
    tight = MatchOptions(corroborate={"phash": ("dhash", 2)})
    assert index.match(image(near_p1, flip_bits(D1, range(3))), tight) == []
    assert len(index.match(image(near_p1, flip_bits(D1, range(2))), tight)) == 1


def test_entries_the_list_cannot_corroborate_follow_the_policy(index):
    near_p3 = flip_bits(P3, [1, 2])
    kept = index.match(image(near_p3, D1))
    assert [(m.list_hash, m.corroboration) for m in kept] == [(P3, None)]
    assert index.match(image(near_p3, D1), MatchOptions(uncorroborated="drop")) == []
    # A copy without a dHash cannot be corroborated either.
    assert [m.list_hash for m in index.match(image(flip_bits(P1, [4]), None))] == [P1]
    assert index.match(image(flip_bits(P1, [4]), None), MatchOptions(uncorroborated="drop")) == []


def test_a_candidate_match_is_corroborated_by_the_same_candidates_dhash(index):
    """A pHash candidate (e.g. the trimmed copy) is checked against that candidate's dHash as well."""
    copy = image(
        flip_bits(P2, range(30)),  # the copy as found: far from everything
        flip_bits(D2, range(40)),
        candidate_hashes={"phash:trimmed": flip_bits(P1, [3]), "dhash:trimmed": flip_bits(D1, [5, 6])},
    )
    options = MatchOptions(candidates=("trimmed",), candidate_hash_types=("phash",))
    found = index.match(copy, options)
    assert [(m.list_hash, m.variant, m.corroboration) for m in found] == [(P1, "trimmed", "dhash:2")]
    without = image(copy.phash, copy.dhash, candidate_hashes={"phash:trimmed": flip_bits(P1, [3])})
    assert index.match(without, options) == []  # the found copy's dHash is 40+ bits away


def test_exact_types_and_pdq_are_not_corroborated(tmp_path):
    rows = [("md5", "ab" * 16, "A", "s", "1", "", "x"), ("phash", P1, "A", "s", "1", "", "x")]
    build_index([write_list(tmp_path / "l.csv", rows)], str(tmp_path / "l.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "l.hwidx"))
    copy = ImageHashes(**{**image(P1, D1).to_dict(), "md5": "ab" * 16})
    found = index.match(copy)
    # md5 is exact; the pHash entry's picture has no dHash on the list, so it is kept uncorroborated.
    assert [(m.hash_type, m.corroboration) for m in found] == [("md5", None), ("phash", None)]


def test_coverage_counts_the_entries_the_list_can_corroborate(index, tmp_path):
    assert index.corroboration_coverage() == {
        "phash": {"by": "dhash", "threshold": 12, "entries": 3, "corroborable": 2}
    }
    assert index.corroboration_coverage({"phash": ("pdq", 60)})["phash"]["corroborable"] == 0
    rows = [("phash", P1, "A", "s", "1", "")]
    build_index([write_list(tmp_path / "n.csv", rows, HEADER[:-1])], str(tmp_path / "n.hwidx"))
    plain = KnownHashIndex.load(str(tmp_path / "n.hwidx"))
    assert plain.corroboration_coverage()["phash"] == {
        "by": "dhash",
        "threshold": 12,
        "entries": 1,
        "corroborable": 0,
    }


def test_the_benchmark_runs_and_corroboration_turns_some_copies_down(capsys):
    """benchmarks/bench_corroboration.py in small: its copies have dHash 0-14 bits off, so some are rejected."""
    from benchmarks.bench_corroboration import main

    assert main(["--pictures", "2000", "--queries", "400", "--rounds", "1"]) == 0
    rows = [
        line.split("|")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and "x |" in line
    ]
    assert len(rows) == 4
    found = [int(r[4].strip().replace(",", "")) for r in rows]
    assert found[0] == found[1] == found[2] == 200  # every copy is within 4 bits of pHash
    assert 0 < found[3] < found[2]


def test_a_match_names_the_lists_own_picture_id_for_its_source(tmp_path):
    rows = [
        ("phash", P1, "A", "iwf", "1", "", "IWF-1"),
        ("dhash", D1, "A", "iwf", "1", "", "IWF-1"),
        ("phash", P1, "B", "ncmec", "7", "", "N/2 \u00e9"),  # any text, not ASCII only
        ("dhash", D1, "B", "ncmec", "7", "", "N/2 \u00e9"),
        ("md5", "ab" * 16, "A", "iwf", "1", "", "IWF-1"),
        ("phash", P2, "C", "iwf", "1", "", ""),
    ]
    build_index([write_list(tmp_path / "l.csv", rows)], str(tmp_path / "l.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "l.hwidx"), verify=True)
    copy = ImageHashes(**{**image(flip_bits(P1, [2]), D1).to_dict(), "md5": "ab" * 16})
    got = {(m.hash_type, m.source, m.item_id) for m in index.match(copy)}
    assert got == {("md5", "iwf", "IWF-1"), ("phash", "iwf", "IWF-1"), ("phash", "ncmec", "N/2 \u00e9")}
    assert [m.item_id for m in index.match(image(P2, D2))] == [None]  # the row gave no item_id


def test_item_names_are_list_content(tmp_path):
    """Renaming a picture changes what matches report, so it changes the checksum; the numbering does not
    depend on row order."""
    rows = [("phash", P1, "A", "s", "1", "", "a"), ("phash", P2, "A", "s", "1", "", "b")]
    renamed = [rows[0][:-1] + ("c",), rows[1]]
    first = load_lists([write_list(tmp_path / "a.csv", rows)])
    again = load_lists([write_list(tmp_path / "b.csv", rows[::-1])])
    other = load_lists([write_list(tmp_path / "c.csv", renamed)])
    assert first.checksum == again.checksum != other.checksum
    assert first.item_names.to_pylist() == ["s\x1fa", "s\x1fb"]


def test_the_radius_measurement_s_cropped_rotation_keeps_the_canvas_and_cuts_the_corners():
    """benchmarks/corroboration_radius.py's edit (issue 23): rotated about the centre on the same canvas,
    zoomed just enough that no corner is empty; the same picture as Pillow's rotate, crop and resize."""
    import math

    from PIL import Image

    from benchmarks.corroboration_radius import rotate_cropped

    flat = Image.new("RGB", (400, 300), (200, 100, 50))
    for degrees in (1, 3.5, 6):
        out = np.asarray(rotate_cropped(flat, degrees))
        assert out.shape == (300, 400, 3)
        assert (out == (200, 100, 50)).all()  # no empty (black) corner anywhere
    rng = np.random.default_rng(0)
    small = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    picture = Image.fromarray(small).resize((400, 300), Image.Resampling.BICUBIC)
    a = math.radians(5)
    zoom = math.cos(a) + 4 / 3 * math.sin(a)
    w, h = 400 / zoom, 300 / zoom
    box = (int((400 - w) / 2), int((300 - h) / 2), int((400 + w) / 2), int((300 + h) / 2))
    expected = (
        picture.rotate(5, Image.Resampling.BICUBIC).crop(box).resize((400, 300), Image.Resampling.BICUBIC)
    )
    got = np.asarray(rotate_cropped(picture, 5), float).ravel()
    assert np.corrcoef(got, np.asarray(expected, float).ravel())[0, 1] > 0.98
    # The other direction is a different picture: the angle's sign is Pillow's (counter-clockwise).
    mirrored = np.asarray(rotate_cropped(picture, -5), float).ravel()
    assert np.corrcoef(mirrored, np.asarray(expected, float).ravel())[0, 1] < 0.5
