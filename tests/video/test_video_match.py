"""match_video: video_md5, Meta's vPDQ rule (against a brute-force oracle written from pytx's matcher), frames
against listed images, matched ranges, and the matches/ rows of a video."""

from __future__ import annotations

import csv
import random

import pyarrow as pa
import pytest

from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.video.frames import TimeRange, VpdqFrame
from hashwatch.video.video_hashes import VideoHashes
from hashwatch.video.video_match import VideoMatchOptions, match_video, matched_ranges
from hashwatch.video.vpdq_format import vpdq_to_json
from schemas.matches import MATCHES_SCHEMA
from schemas.video_matches import video_match_records

HEADER = ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def rand_hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(rng: random.Random, hexstr: str, bits: int) -> str:
    value = int(hexstr, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def build(tmp_path, rows) -> KnownHashIndex:
    path = tmp_path / "l.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for row in rows:
            w.writerow(list(row) + [""] * (len(HEADER) - len(row)))
    build_index([str(path)], str(tmp_path / "k.hwidx"))
    return KnownHashIndex.load(str(tmp_path / "k.hwidx"))


def as_video(frames, md5: str = "0" * 32) -> VideoHashes:
    return VideoHashes(md5=md5, sha256="1" * 64, bytes_length=10, vpdq=frames)


def oracle(query, listed, quality=50, distance=31):
    """pytx's match_VPDQ_hash_brute, from its definition: quality-filter and dedupe both sides, count the
    query's frames within distance of any listed frame, and the listed frames within distance of any query's."""

    def prepare(frames):
        seen, out = set(), []
        for f in frames:
            if f.quality >= quality and f.pdq not in seen:
                seen.add(f.pdq)
                out.append(int(f.pdq, 16))
        return out

    q, c = prepare(query), prepare(listed)
    near = lambda a, b: (a ^ b).bit_count() <= distance  # noqa: E731
    qm = sum(any(near(a, b) for b in c) for a in q)
    cm = sum(any(near(b, a) for a in q) for b in c)
    return 100 * qm / len(q), 100 * cm / len(c)


@pytest.mark.parametrize("seed", range(4))
def test_vpdq_percentages_equal_the_brute_force_reference_rule(tmp_path, seed):
    rng = random.Random(seed)
    listed = {}
    for v in range(6):
        frames = [
            VpdqFrame(k, float(k), rand_hex(rng), rng.choice([100, 100, 100, 30]))
            for k in range(rng.randint(3, 12))
        ]
        frames += frames[:2]  # repeated hashes: counted once, as pytx's dedupe does
        listed[f"v{v}"] = frames
    index = build(tmp_path, [("vpdq", vpdq_to_json(f), "A", "s", "", "", name) for name, f in listed.items()])
    options = VideoMatchOptions(query_match_percent=0.0, frame_to_image=False)
    for _ in range(8):
        query = []
        for name in rng.sample(sorted(listed), 2):
            for f in rng.sample(listed[name], rng.randint(1, len(listed[name]))):
                # within, at and just over the per-frame distance
                query.append(
                    VpdqFrame(
                        len(query),
                        float(len(query)),
                        flip(rng, f.pdq, rng.choice([0, 5, 30, 31, 32])),
                        rng.choice([100, 60, 49]),
                    )
                )
        query += [VpdqFrame(len(query) + k, 99.0 + k, rand_hex(rng), 100) for k in range(rng.randint(0, 3))]
        got = {
            m.list_hash: (m.query_match_percent, m.compared_match_percent)
            for m in match_video(index, as_video(query), options)
        }
        want = {}
        for name, frames in listed.items():
            if any(f.quality >= 50 for f in query) and any(f.quality >= 50 for f in frames):
                q, c = oracle(query, frames)
                if q > 0:
                    want[name] = (round(q, 3), round(c, 3))
        assert got == want


def test_the_query_threshold_is_80_percent_of_distinct_good_frames(tmp_path):
    rng = random.Random(10)
    listed = [VpdqFrame(k, float(k), rand_hex(rng), 100) for k in range(10)]
    index = build(tmp_path, [("vpdq", vpdq_to_json(listed), "A", "s", "1", "", "clip")])

    def query(matching: int, other: int, low: int = 0):
        frames = [f._replace(pdq=flip(rng, f.pdq, 12)) for f in listed[:matching]]
        frames += [VpdqFrame(0, 50.0 + k, rand_hex(rng), 100) for k in range(other)]
        frames += [VpdqFrame(0, 80.0 + k, rand_hex(rng), 10) for k in range(low)]  # under the floor: ignored
        return as_video(frames)

    [m] = match_video(index, query(4, 1, low=5))
    assert (m.match_kind, m.hash_type, m.list_hash, m.item_id, m.category, m.list_version) == (
        "vpdq",
        "vpdq",
        "clip",
        "clip",
        "A",
        "1",
    )
    assert (m.query_match_percent, m.compared_match_percent, m.distance) == (80.0, 40.0, 12)
    assert match_video(index, query(3, 1)) == []  # 75 %
    assert match_video(index, query(3, 1), VideoMatchOptions(query_match_percent=75.0))
    assert match_video(index, query(4, 1), VideoMatchOptions(compared_match_percent=50.0)) == []
    assert match_video(index, query(4, 0, low=3), VideoMatchOptions(quality_floor=5)) == []  # 4 of 7


def test_video_md5_is_an_exact_match(tmp_path):
    index = build(tmp_path, [("video_md5", MD5.upper(), "A", "iwf", "3", "", "case-9")])
    [m] = match_video(index, as_video([], md5=MD5))
    assert (m.hash_type, m.match_kind, m.list_hash, m.distance, m.item_id) == (
        "video_md5",
        "exact",
        MD5,
        0,
        "case-9",
    )
    assert match_video(index, as_video([], md5="f" * 32)) == []
    assert match_video(index, as_video([], md5=MD5), VideoMatchOptions(md5=False)) == []


def test_a_frame_showing_a_listed_image_is_a_frame_to_image_match(tmp_path):
    rng = random.Random(11)
    image, other = rand_hex(rng), rand_hex(rng)
    listed_video = [VpdqFrame(k, float(k), rand_hex(rng), 100) for k in range(3)]
    index = build(
        tmp_path,
        [
            ("pdq", image, "A", "iwf", "", "", "pic-1"),
            ("pdq", other, "B", "iwf"),
            ("vpdq", vpdq_to_json(listed_video), "C", "iwf", "", "", "vid"),
        ],
    )
    frames = [VpdqFrame(k * 10, float(k), rand_hex(rng), 100) for k in range(10)]
    frames[3] = frames[3]._replace(pdq=flip(rng, image, 10))
    frames[4] = frames[4]._replace(pdq=flip(rng, image, 6))
    frames[7] = frames[7]._replace(pdq=flip(rng, image, 20))
    frames[8] = frames[8]._replace(pdq=flip(rng, image, 40))  # too far
    frames[9] = listed_video[0]._replace(
        frame_index=90, timestamp=9.0
    )  # a listed video's frame: not an image
    [m] = match_video(index, as_video(frames))
    assert (m.hash_type, m.match_kind, m.list_hash, m.category, m.item_id) == (
        "pdq",
        "frame_to_image",
        image,
        "A",
        "pic-1",
    )
    assert (m.distance, m.frame_index, m.frame_time, m.query_hash) == (6, 40, 4.0, frames[4].pdq)
    assert list(m.matched_ranges) == [TimeRange(3.0, 4.0), TimeRange(7.0, 7.0)]
    assert match_video(index, as_video(frames), VideoMatchOptions(image_distance=5)) == []
    assert match_video(index, as_video(frames), VideoMatchOptions(frame_to_image=False)) == []


def test_all_of_a_videos_frames_are_one_search(tmp_path, monkeypatch):
    rng = random.Random(12)
    index = build(
        tmp_path,
        [
            ("pdq", rand_hex(rng), "A", "s"),
            ("vpdq", vpdq_to_json([VpdqFrame(0, 0.0, rand_hex(rng), 100)]), "A", "s"),
        ],
    )
    calls = []
    real = index.entry_hits
    monkeypatch.setattr(
        index,
        "entry_hits",
        lambda t, values, radius=None: calls.append((t, len(values))) or real(t, values, radius),
    )
    match_video(index, as_video([VpdqFrame(k, float(k), rand_hex(rng), 100) for k in range(300)]))
    assert [c for c in calls if c[0] == "pdq"] == [("pdq", 300)]  # 300 distinct frames, one search


def test_matched_ranges_merge_frames_within_the_gap():
    assert matched_ranges([5.0, 0.0, 1.0, 2.0, 7.0, 8.5], 1.5) == [
        TimeRange(0.0, 2.0),
        TimeRange(5.0, 5.0),
        TimeRange(7.0, 8.5),
    ]
    assert matched_ranges([], 1.0) == []


def test_ranges_use_the_sampling_interval_of_the_query(tmp_path):
    rng = random.Random(13)
    listed = [VpdqFrame(k, k * 0.5, rand_hex(rng), 100) for k in range(8)]
    index = build(tmp_path, [("vpdq", vpdq_to_json(listed), "A", "s", "", "", "v")])
    query = [f._replace(pdq=flip(rng, f.pdq, 3)) for f in listed]  # sampled every 0.5 s
    query[4] = query[4]._replace(pdq=rand_hex(rng))  # one unmatched sample at 2.0 s splits the range
    [m] = match_video(index, as_video(query), VideoMatchOptions(query_match_percent=50))
    assert list(m.matched_ranges) == [TimeRange(0.0, 1.5), TimeRange(2.5, 3.5)]


def test_video_match_records_fill_the_video_columns(tmp_path):
    rng = random.Random(14)
    frames = [VpdqFrame(k, float(k), rand_hex(rng), 100) for k in range(4)]
    index = build(
        tmp_path,
        [("vpdq", vpdq_to_json(frames), "A", "s", "2", "", "clip"), ("video_md5", MD5, "B", "s", "2")],
    )
    matches = match_video(index, as_video(frames, md5=MD5))
    row = {
        "video_url": "http://127.0.0.1/v.mp4",
        "final_url": None,
        "page_urls": ["http://127.0.0.1/a", "http://127.0.0.1/b"],
        "depth": 1,
        "video_md5": MD5,
        "video_sha256": "2" * 64,
    }
    records = list(video_match_records("run-1", row, matches, index.checksum, 1_700_000_000_000_000))
    assert len(records) == 4  # 2 matches x 2 pages
    by_kind = {r.match_kind: r for r in records}
    vp, ex = by_kind["vpdq"], by_kind["exact"]
    assert (
        vp.media_kind,
        vp.image_url,
        vp.list_hash,
        vp.item_id,
        vp.query_match_percent,
        vp.compared_match_percent,
    ) == ("video", "http://127.0.0.1/v.mp4", "clip", "clip", 100.0, 100.0)
    assert (
        [tuple(r) for r in vp.matched_ranges] == [(0.0, 3.0)]
        and vp.frame_time == 0.0
        and vp.hash_value == frames[0].pdq
    )
    assert (ex.hash_type, ex.md5, ex.sha256, ex.pdq, ex.sha1, ex.index_checksum) == (
        "video_md5",
        MD5,
        "2" * 64,
        None,
        "",
        index.checksum,
    )
    table = pa.Table.from_pylist([r._asdict() for r in records], schema=MATCHES_SCHEMA)
    assert table.num_rows == 4


def test_a_synthetic_video_re_encoded_matches_its_listed_vpdq_and_an_unrelated_one_does_not(tmp_path):
    from hashwatch.sites.synthetic_videos import make_video
    from hashwatch.video.hash_video import hash_video

    listed = hash_video(make_video(seconds=4, fps=10, seed=4))
    assert listed.status == "ok" and min(f.quality for f in listed.vpdq) >= 50
    index = build(tmp_path, [("vpdq", vpdq_to_json(listed.vpdq), "A", "s", "", "", "known")])
    copy = hash_video(
        make_video(seconds=4, fps=10, seed=4, codec="vp9", container="webm", width=240, height=180)
    )
    [m] = match_video(index, copy)
    assert m.list_hash == "known" and m.query_match_percent >= 80 and m.compared_match_percent >= 80
    other = hash_video(make_video(seconds=4, fps=10, seed=6))
    assert match_video(index, other) == []
