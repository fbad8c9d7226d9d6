"""Lists -> index file -> matches: labels, thresholds, type choice, dihedral variants, plug-in types, file
errors. The search itself is tested against an oracle in test_hamming_search.py."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.hash_types import (
    HashResult,
    HashType,
    IndexKind,
    register_hash_type,
    unregister_hash_type,
)
from hashwatch.hashing.image_hashes import ImageHashes, compute_image_hashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions

from .conftest import encode, flip, synthetic_array

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


def test_the_import_line_users_were_shown_keeps_working():
    """docs/hashing.md showed ``from hashwatch.hashing.known_hash_index import KnownHashIndex, MatchOptions,
    Match, build_index``; after the split by job those names are their owners' (no copies)."""
    from hashwatch.hashing import index_build, match_policy
    from hashwatch.hashing.known_hash_index import Match, build_index
    from hashwatch.hashing.known_hash_index import MatchOptions as Options

    assert (Match, Options, build_index) == (match_policy.Match, MatchOptions, index_build.build_index)
    with pytest.raises(ImportError, match="cannot import name 'HammingTable'"):
        from hashwatch.hashing.known_hash_index import HammingTable  # noqa: F401 - internal: hamming_search's
