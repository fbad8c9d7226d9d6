"""A video file is one content, named by any of its digests: a list row of type md5, sha1 or sha256 (not only
video_md5) matches it, its matches/ rows carry all three digests, and the allowlist leaves out its matches
as it does an image's (an allowlisted list entry; a known-innocent video by its file digest), in a crawl
(``match_video_rows``) and in a rescan (``match_video_history_batch``)."""

from __future__ import annotations

import csv
import hashlib
import random

import pyarrow as pa

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.rescan.video_history import match_video_history_batch
from hashwatch.video.digests import VideoDigests
from hashwatch.video.frames import VpdqFrame
from hashwatch.video.video_hashes import VideoHashes
from hashwatch.video.video_match import match_video
from hashwatch.video.vpdq_format import vpdq_to_json
from schemas.video_rows import video_hashes_of
from schemas.videos import VIDEOS_SCHEMA

HEADER = ["hash_type", "hash_value", "category", "source", "list_version", "note", "item_id"]
BODY = b"not really a video, only its digests matter here" * 3
MD5 = hashlib.md5(BODY).hexdigest()
SHA1 = hashlib.sha1(BODY).hexdigest()
SHA256 = hashlib.sha256(BODY).hexdigest()


def _index(tmp_path, rows) -> KnownHashIndex:
    path = tmp_path / "list.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(list(row) + [""] * (len(HEADER) - len(row)))
    build_index([str(path)], str(tmp_path / "k.hwidx"))
    return KnownHashIndex.load(str(tmp_path / "k.hwidx"))


def _frames(seed: int, n: int = 5) -> list[VpdqFrame]:
    rng = random.Random(seed)
    return [VpdqFrame(k * 30, float(k), f"{rng.getrandbits(256):064x}", 100) for k in range(n)]


def _video(frames=()) -> VideoHashes:
    digests = VideoDigests(BODY)
    return VideoHashes(
        md5=digests.md5, sha256=digests.sha256, sha1=digests.sha1, bytes_length=len(BODY), vpdq=tuple(frames)
    )


def test_video_digests_include_sha1():
    digests = VideoDigests()
    for k in range(0, len(BODY), 7):
        digests.update(BODY[k : k + 7])
    assert (digests.md5, digests.sha1, digests.sha256) == (MD5, SHA1, SHA256)


def test_a_video_file_listed_by_md5_sha1_or_sha256_matches(tmp_path):
    index = _index(
        tmp_path, [("md5", MD5, "A", "s1"), ("sha1", SHA1, "A", "s2"), ("sha256", SHA256, "A", "s3")]
    )
    found = sorted((m.hash_type, m.list_hash, m.match_kind, m.source) for m in match_video(index, _video()))
    assert found == [
        ("md5", MD5, "exact", "s1"),
        ("sha1", SHA1, "exact", "s2"),
        ("sha256", SHA256, "exact", "s3"),
    ]


def _history(tmp_path, frames) -> pa.Table:
    row = {name: None for name in VIDEOS_SCHEMA.names}
    row.update(
        run_id="r1",
        video_url="http://127.0.0.1/v.mp4",
        page_urls=["http://127.0.0.1/p"],
        depth=1,
        bytes_length=len(BODY),
        frames_decoded=len(frames) * 30,
        frames_hashed=len(frames),
        video_md5=MD5,
        video_sha1=SHA1,
        video_sha256=SHA256,
        vpdq=[f._asdict() for f in frames],
        vpdq_good_frames=len(frames),
        vpdq_distinct=len(frames),
        decode_status="ok",
        hashed_at=0,
    )
    return pa.Table.from_pylist([row], schema=VIDEOS_SCHEMA)


def _allowlist(*rows: str) -> Allowlist:
    text = "hash_type,hash_value,reason,scope\n" + "".join(f"{r}\n" for r in rows)
    return Allowlist.parse(text.encode(), "allow.csv")


def test_the_allowlist_leaves_out_video_matches_in_a_rescan(tmp_path):
    frames = _frames(3)
    index = _index(
        tmp_path,
        [
            ("video_md5", MD5, "A", "s", "1", "", "clip"),
            ("vpdq", vpdq_to_json(frames), "A", "s", "1", "", "clip"),
        ],
    )
    table = _history(tmp_path, frames)
    assert video_hashes_of(table.to_pylist()[0]).sha1 == SHA1

    def kinds(allowlist):
        found = match_video_history_batch(
            table, index, None, allowlist, run_id="r2", now_us=1, path="videos/x"
        )
        return sorted(m.hash_type for _, m in found.candidates), found.allowlisted

    assert kinds(None) == (["video_md5", "vpdq"], None)
    # an allowlisted list entry (a known collision): that entry only
    assert kinds(_allowlist(f"video_md5,{MD5},collision,list")) == (["vpdq"], 1)
    # a known-innocent video, named by its file's sha256: every match of it
    assert kinds(_allowlist(f"sha256,{SHA256},innocent,image")) == ([], 2)
    rows = [m for _, m in match_video_history_batch(table, index, run_id="r2", now_us=1, path="v").candidates]
    assert {(r.md5, r.sha1, r.sha256) for r in rows} == {(MD5, SHA1, SHA256)}


def test_the_allowlist_leaves_out_video_matches_in_a_crawl(tmp_path):
    from schemas.videos import VideoRecord
    from transforms.match_videos import match_video_rows

    frames = _frames(4)
    index = _index(
        tmp_path, [("video_md5", MD5, "A", "s"), ("vpdq", vpdq_to_json(frames), "A", "s", "1", "", "c")]
    )
    video = VideoRecord(**{k: v for k, v in _history(tmp_path, frames).to_pylist()[0].items()})
    rows, left_out = match_video_rows(index, "r", video, None, index.checksum, 1)
    assert (sorted(r.hash_type for r in rows), left_out) == (["video_md5", "vpdq"], 0)
    assert {(r.md5, r.sha1, r.sha256) for r in rows} == {(MD5, SHA1, SHA256)}
    rows, left_out = match_video_rows(
        index, "r", video, None, index.checksum, 1, _allowlist(f"md5,{MD5},innocent,image")
    )
    assert (rows, left_out) == ([], 2)
