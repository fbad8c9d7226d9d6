"""vpdq and video_md5 rows in known-hash lists, and listed videos' frames in the PDQ index (format 2)."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashwatch.errors import UserError
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.known_hash_list import load_lists
from hashwatch.hashing.list_videos import derived_item_id
from hashwatch.video.frames import VpdqFrame
from hashwatch.video.vpdq_format import vpdq_to_json

HEADER = ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]


def rand_hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def video(rng: random.Random, n: int, low: tuple[int, ...] = ()) -> list[VpdqFrame]:
    return [VpdqFrame(k, float(k), rand_hex(rng), 20 if k in low else 100) for k in range(n)]


def write_csv(path, rows) -> str:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for row in rows:
            w.writerow(list(row) + [""] * (len(HEADER) - len(row)))
    return str(path)


def pdq_index(path):
    index = KnownHashIndex.load(str(path), verify=True)
    return index, index.entry_hits("pdq", [])[0]


def test_whole_video_and_per_frame_rows_become_videos_in_the_pdq_index(tmp_path):
    rng = random.Random(1)
    a, b = video(rng, 6, low=(2,)), video(rng, 3)
    image = rand_hex(rng)
    lst = write_csv(
        tmp_path / "l.csv",
        [
            ("pdq", image, "A", "iwf", "7"),
            ("vpdq", vpdq_to_json(a), "B", "iwf", "7", "", "vid-a"),
            *[("vpdq", f"{f.pdq},{f.quality},{f.timestamp}", "C", "ncmec", "2", "", "vid-b") for f in b],
            ("vpdq", vpdq_to_json(b[:1]), "C", "ncmec", "2"),  # no item_id: a derived one
            ("video_md5", "D41D8CD98F00B204E9800998ECF8427E", "A", "iwf", "7"),
        ],
    )
    report = build_index([lst], str(tmp_path / "k.hwidx"))
    assert report.videos == 3
    index, t = pdq_index(tmp_path / "k.hwidx")
    assert index.header["format_version"] == 2 and index.header["videos"] == 3
    assert index.size("video_md5") == 1
    # entries: 1 image + 5 good frames of a + 3 of b (b's first frame is also the derived video's)
    assert t.size == 9 and int(t.frame.sum()) == 8
    names = {}
    offsets, data = index.entry_hits("pdq", [])[2]
    for item in range(offsets.size - 1):
        names[bytes(data[offsets[item] : offsets[item + 1]]).decode()] = item
    labels = [tuple(x) for x in index.header["labels"]]
    for name, frames, label in [
        ("iwf\x1fvid-a", 5, ("B", "iwf", "7")),
        ("ncmec\x1fvid-b", 3, ("C", "ncmec", "2")),
        (f"ncmec\x1f{derived_item_id(vpdq_to_json(b[:1]))}", 1, ("C", "ncmec", "2")),
    ]:
        item = names[name]
        assert int(t.video_frames[item]) == frames
        assert labels[int(t.video_label[item])] == label
    # b's first frame: one entry linked to two videos, with its time in each; the low-quality frame of a absent
    hits = index.entry_hits("pdq", [b[0].pdq, a[2].pdq], 0)[1]
    assert len(hits[0]) == 1 and not hits[1]
    pos = hits[0][0][0]
    assert sorted(t.items.of(pos).tolist()) == sorted(
        [names["ncmec\x1fvid-b"], names[f"ncmec\x1f{derived_item_id(vpdq_to_json(b[:1]))}"]]
    )
    assert np.all(t.items.times[t.items.offsets[pos] : t.items.offsets[pos + 1]] == 0.0)


def test_a_list_without_videos_is_format_1_and_a_video_row_changes_the_checksum(tmp_path):
    rng = random.Random(2)
    lst = write_csv(tmp_path / "l.csv", [("pdq", rand_hex(rng), "A", "s")])
    before = load_lists([lst]).checksum
    build_index([lst], str(tmp_path / "k.hwidx"))
    index, t = pdq_index(tmp_path / "k.hwidx")
    assert index.header["format_version"] == 1 and "videos" not in index.header and t.frame is None
    rows = [("pdq", rand_hex(rng), "A", "s")]
    with_video = write_csv(tmp_path / "v.csv", rows + [("vpdq", vpdq_to_json(video(rng, 2)), "A", "s")])
    assert load_lists([with_video]).checksum != before


def test_checksum_covers_video_frames_times_and_labels(tmp_path):
    rng = random.Random(3)
    frames = video(rng, 3)
    moved = [f._replace(timestamp=f.timestamp + 1) for f in frames]
    sums = {
        load_lists(
            [write_csv(tmp_path / f"{k}.csv", [("vpdq", vpdq_to_json(v), cat, "s", "", "", "x")])]
        ).checksum
        for k, (v, cat) in enumerate([(frames, "A"), (moved, "A"), (frames, "B")])
    }
    assert len(sums) == 3


def test_tombstone_removes_a_video_and_a_later_whole_row_replaces_its_frames(tmp_path):
    rng = random.Random(4)
    a, b, c = video(rng, 3), video(rng, 2), video(rng, 4)
    lst = write_csv(
        tmp_path / "l.csv",
        [
            ("vpdq", vpdq_to_json(a), "A", "s", "", "", "a"),
            ("vpdq", vpdq_to_json(b), "A", "s", "", "", "b"),
            ("vpdq", "", "", "s", "", "true", "a"),  # a tombstone: the value is not read
            ("vpdq", vpdq_to_json(c), "B", "s", "", "", "b"),  # replaces b's frames and label
        ],
    )
    merged = load_lists([lst])
    assert merged.videos == 1 and merged.tombstones_applied == 1
    pdq = merged.types["pdq"]
    assert {bytes(v).hex() for v in pdq.values} == {f.pdq for f in c}


def test_pytx_lines_carry_a_vpdq_json_value_with_spaces(tmp_path):
    rng = random.Random(5)
    frames = video(rng, 3)
    text = vpdq_to_json(frames)
    assert " " in text
    (tmp_path / "l.txt").write_text(f"# pytx\nvpdq {text}\nvideo_md5 {'ab' * 16}\n")
    merged = load_lists([str(tmp_path / "l.txt")])
    assert merged.videos == 1 and merged.types["pdq"].values.shape[0] == 3


def test_parquet_list_with_vpdq_rows(tmp_path):
    rng = random.Random(6)
    frames = video(rng, 2)
    pq.write_table(
        pa.table(
            {"hash_type": ["vpdq", "vpdq"], "hash_value": [vpdq_to_json(frames), "zz"], "item_id": ["v", "w"]}
        ),
        tmp_path / "l.parquet",
    )
    with pytest.raises(UserError, match=r"l\.parquet: row 2: a vpdq frame is 'pdq_hex,quality,timestamp'"):
        load_lists([str(tmp_path / "l.parquet")])
    merged = load_lists([str(tmp_path / "l.parquet")], skip_invalid=True)
    assert merged.videos == 1 and merged.skipped_by_reason == {"invalid vpdq value": 1}


@pytest.mark.parametrize(
    "value, item_id, message",
    [
        (
            json.dumps(["e2" * 32 + ",100,0", "e2" * 31 + ",100,1"]),
            "v",
            r"l\.csv:3: vpdq frame 2 of 2: .*64 hex digits",
        ),
        ("not a video", "v", r"l\.csv:3: a vpdq frame is 'pdq_hex,quality,timestamp'"),
        ("[]", "v", r"l\.csv:3: vpdq value lists no frame"),
        ("e2" * 32 + ",100,0", "", r"l\.csv:3: a one-frame vpdq row .* needs an item_id"),
    ],
)
def test_bad_vpdq_rows_name_file_and_line(tmp_path, value, item_id, message):
    rng = random.Random(7)
    lst = write_csv(
        tmp_path / "l.csv", [("pdq", rand_hex(rng), "A", "s"), ("vpdq", value, "A", "s", "", "", item_id)]
    )
    with pytest.raises(UserError, match=message):
        load_lists([lst])
    merged = load_lists([lst], skip_invalid=True)
    assert merged.rows_skipped == 1 and merged.skipped_by_reason == {"invalid vpdq value": 1}
    assert merged.skipped_examples and merged.skipped_examples[0].startswith(f"{lst}:3:")


def test_video_md5_is_an_exact_type_of_32_hex_digits(tmp_path):
    lst = write_csv(tmp_path / "l.csv", [("video_md5", "ab" * 15, "A", "s")])
    with pytest.raises(UserError, match=r"l\.csv:2: video_md5 needs 32 hex digits, got 30"):
        load_lists([lst])


def test_a_video_without_a_good_frame_is_not_indexed(tmp_path):
    rng = random.Random(8)
    lst = write_csv(tmp_path / "l.csv", [("vpdq", vpdq_to_json(video(rng, 3, low=(0, 1, 2))), "A", "s")])
    merged = load_lists([lst])
    assert merged.videos == 0 and "pdq" not in merged.types


def test_damaged_video_arrays_are_a_one_line_error(tmp_path):
    from hashwatch.hashing.index_file import read_container, write_container

    rng = random.Random(9)
    lst = write_csv(tmp_path / "l.csv", [("vpdq", vpdq_to_json(video(rng, 3)), "A", "s", "", "", "v")])
    build_index([lst], str(tmp_path / "k.hwidx"))
    header, arrays, _mm = read_container(str(tmp_path / "k.hwidx"), verify=True)
    arrays = {name: np.array(a) for name, a in arrays.items()}
    header = {k: v for k, v in header.items() if k != "arrays"}
    for name, value, message in [
        ("pdq.video_label", np.array([7], np.int32), "video label out of range"),
        ("pdq.frame", np.zeros(2, np.uint8), "frame flags and count differ"),
        ("pdq.item_times", np.zeros(1, np.float64), "item times and items differ"),
    ]:
        write_container(str(tmp_path / "bad.hwidx"), header, {**arrays, name: value})
        with pytest.raises(UserError, match=message):
            KnownHashIndex.load(str(tmp_path / "bad.hwidx"))


def test_a_still_image_that_is_a_listed_videos_frame_matches_it_as_pdq(tmp_path):
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from tests.hashing.conftest import encode, synthetic_array

    h = compute_image_hashes(encode(synthetic_array(320, 240, seed=5), "PNG"))
    assert h.pdq is not None
    frames = [
        VpdqFrame(0, 0.0, h.pdq, h.pdq_quality),
        VpdqFrame(1, 1.0, f"{random.Random(1).getrandbits(256):064x}", 100),
    ]
    lst = write_csv(tmp_path / "l.csv", [("vpdq", vpdq_to_json(frames), "A", "s", "", "", "clip-7")])
    build_index([lst], str(tmp_path / "k.hwidx"))
    found = [m for m in KnownHashIndex.load(str(tmp_path / "k.hwidx")).match(h) if m.variant is None]
    assert [(m.hash_type, m.match_kind, m.list_hash, m.item_id, m.category) for m in found] == [
        ("pdq", "near", h.pdq, "clip-7", "A")
    ]
