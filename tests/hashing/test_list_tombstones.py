"""Tombstones in force, checked against the merge the index is built from (known_hash_list.load_lists)."""

from __future__ import annotations

import csv

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.hashing.known_hash_list import load_lists
from hashwatch.hashing.list_tombstones import Tombstones, read_tombstones

VALUES = ["a" * 32, "b" * 32, "c" * 32]
SOURCES = ["iwf", "ncmec", ""]

row = st.tuples(
    st.sampled_from(VALUES), st.sampled_from(SOURCES), st.booleans(), st.sampled_from(["v1", "v2", ""])
)
files = st.lists(st.lists(row, min_size=1, max_size=8), min_size=1, max_size=3)


def write(folder, rows_per_file):
    paths = []
    for n, rows in enumerate(rows_per_file):
        path = folder / f"list-{n}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["hash_type", "hash_value", "source", "list_version", "deleted"])
            writer.writerows(["md5", v, s, ver, "true" if d else "false"] for v, s, d, ver in rows)
        paths.append(str(path))
    return paths


def live_entries(paths) -> set[tuple[str, str]]:
    merged = load_lists(paths)
    if "md5" not in merged.types:
        return set()
    entries = merged.types["md5"]
    live = set()
    for value, label_set in zip(entries.values, entries.label_sets, strict=True):
        for label in merged.label_sets[label_set]:
            live.add((bytes(value).hex(), merged.labels[label][1] or ""))
    return live


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows_per_file=files)
def test_deleted_is_exactly_not_live_for_every_entry_the_lists_name(tmp_path, rows_per_file):
    paths = write(tmp_path, rows_per_file)
    live = live_entries(paths)
    tombstones = read_tombstones(paths)
    named = {(v, s) for rows in rows_per_file for v, s, _d, _ver in rows}
    for value, source in named:
        deleted, _version = tombstones.deleted("md5", value, source)
        assert deleted == ((value, source) not in live), (value, source)
    assert Tombstones.from_table(tombstones.to_table()) == tombstones


def test_versions_and_sourceless_tombstones(tmp_path):
    a, b = VALUES[:2]
    paths = write(
        tmp_path,
        [
            [(a, "iwf", False, "v1"), (b, "iwf", False, "v1"), (b, "ncmec", False, "n1")],
            [(a, "iwf", True, "v2"), (b, "", True, "w1"), (b, "ncmec", False, "n2")],
            [(a, "ncmec", True, "")],  # a tombstone with no version: the source's current one
        ],
    )
    t = read_tombstones(paths)
    assert t.deleted("md5", a, "iwf") == (True, "v2")
    assert t.deleted("md5", b, "iwf") == (True, "w1")  # by the source-less tombstone
    assert t.deleted("md5", b, "ncmec") == (False, None)  # re-added after it
    assert t.deleted("md5", b, "other") == (True, "w1")  # a source never seen here: the hash is withdrawn
    assert t.deleted("md5", a, "ncmec") == (True, "n2")
    assert t.deleted("md5", VALUES[2], "iwf") == (False, None)
    assert t.deleted("sha1", a, "iwf") == (False, None)
    assert len(t.checksum) == 64 and t.checksum == read_tombstones(paths).checksum


def test_no_tombstones(tmp_path):
    paths = write(tmp_path, [[(VALUES[0], "iwf", False, "v1")]])
    t = read_tombstones(paths)
    assert len(t) == 0 and t.deleted("md5", VALUES[0], "iwf") == (False, None)
