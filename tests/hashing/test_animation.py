"""Animations (issue 19): animated GIF, WebP and APNG hashed frame by frame, a listed later frame matched with
its frame number, near-duplicate frames counted once, the frame cap and the pixel budget across frames, still
images untouched. Every animation is synthetic and made in memory."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.animation import AnimationConfig, gif_frame_count, is_animated
from hashwatch.hashing.image_hashes import HashConfig, ImageHashes, compute_image_hashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.sites.synthetic_animations import animation_frames, encode_animation, make_animation
from hashwatch.sites.synthetic_images import encode, synthetic_photo
from schemas import IMAGES_SCHEMA, ImageRecord
from schemas.arrow_util import records_to_table
from schemas.matches import match_records

FORMATS = ("GIF", "WEBP", "PNG")
SIZE = (320, 240)


def _index(tmp_path, rows) -> KnownHashIndex:
    path = tmp_path / "list.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hash_type", "hash_value", "category", "source", "list_version", "deleted"])
        writer.writerows(rows)
    build_index([str(path)], str(tmp_path / "known.hwidx"))
    return KnownHashIndex.load(str(tmp_path / "known.hwidx"))


def _still(seed: int) -> ImageHashes:
    """The hashes of frame ``seed``'s picture as a still PNG: what a list of the picture holds."""
    return compute_image_hashes(encode(synthetic_photo(seed, SIZE), "PNG"))


def _record(hashes: ImageHashes, url: str = "http://site.test/a.gif") -> ImageRecord:
    return ImageRecord(
        run_id="r1",
        image_url=url,
        final_url=None,
        page_urls=["http://site.test/"],
        depth=1,
        http_status=200,
        content_type="image/gif",
        hashed_at=1,
        **hashes.to_columns(),
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_listed_later_frame_matches_with_its_frame_number(tmp_path, fmt):
    """Frame 2 of 3 is a listed picture: the animation matches by PDQ, the match names frame 2, and the
    matches/ row says animation and frame 2. Before animations only frame 0 was hashed: no match."""
    listed = _still(13)
    index = _index(tmp_path, [("pdq", listed.pdq, "A", "iwf", "v1", "")])
    hashes = compute_image_hashes(make_animation(fmt, [11, 12, 13], SIZE))
    assert (hashes.decode_status, hashes.frame_count, hashes.frames_hashed) == ("ok", 3, 3)
    assert [f.frame_index for f in hashes.frame_hashes] == [1, 2]
    found = index.match(hashes)
    assert [(m.hash_type, m.list_hash, m.frame_index) for m in found] == [("pdq", listed.pdq, 2)]
    assert found[0].distance <= 12  # the GIF palette moves PDQ by ~10 bits
    rows = list(match_records("r1", _record(hashes)._asdict(), found, index.checksum, 5))
    assert [(r.media_kind, r.frame_index, r.hash_type) for r in rows] == [("animation", 2, "pdq")]


def test_frame_zero_and_digests_of_an_animation(tmp_path):
    """Frame 0 matches as the image's own hashes (frame_index 0); the file's md5 matches the file (no
    frame); a list entry both frame 0 and a later frame are near is reported once, by the nearer frame."""
    data = make_animation("WEBP", [21, 22, 21], SIZE)  # frame 2 shows frame 0's picture again
    hashes = compute_image_hashes(data)
    assert [f.frame_index for f in hashes.frame_hashes] == [1, 2]
    index = _index(
        tmp_path,
        [("pdq", _still(21).pdq, "A", "iwf", "v1", ""), ("md5", hashes.md5, "B", "iwf", "v1", "")],
    )
    found = index.match(hashes)
    assert sorted((m.hash_type, m.frame_index) for m in found) == [("md5", None), ("pdq", 0)]
    rows = list(match_records("r1", _record(hashes)._asdict(), found, index.checksum, 5))
    assert {(r.hash_type, r.media_kind, r.frame_index) for r in rows} == {
        ("md5", "animation", None),
        ("pdq", "animation", 0),
    }


def test_a_still_image_keeps_null_frame_columns_and_media_kind_image(tmp_path):
    data = encode(synthetic_photo(31, SIZE), "JPEG")
    hashes = compute_image_hashes(data)
    assert (hashes.frame_count, hashes.frames_hashed, hashes.frame_hashes) == (None, None, None)
    columns = hashes.to_columns()
    assert (columns["frame_count"], columns["frames_hashed"], columns["frame_hashes"]) == (None, None, None)
    index = _index(tmp_path, [("pdq", hashes.pdq, "A", "iwf", "v1", "")])
    found = index.match(hashes)
    assert [m.frame_index for m in found] == [None]
    rows = list(match_records("r1", _record(hashes)._asdict(), found, index.checksum, 5))
    assert [(r.media_kind, r.frame_index) for r in rows] == [("image", None)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_still_files_of_animation_formats_are_not_animations(fmt):
    data = encode(synthetic_photo(41, SIZE), fmt)
    assert not is_animated(data, fmt)
    single = encode_animation(animation_frames([41], SIZE), fmt)  # save_all with one frame
    assert not is_animated(single, fmt)
    assert compute_image_hashes(single).frame_count is None
    assert is_animated(make_animation(fmt, [41, 42], SIZE), fmt)


@pytest.mark.parametrize(("fmt", "jitter"), [("GIF", 1), ("WEBP", 3), ("PNG", 1)])
def test_near_duplicate_consecutive_frames_count_once(fmt, jitter):
    """Frames 0-2 show one picture (each with its own light noise, as re-encoded frames have), 3-4 another:
    two distinct frames hashed out of five."""
    hashes = compute_image_hashes(make_animation(fmt, [51, 51, 51, 52, 52], SIZE, jitter=jitter))
    assert (hashes.frame_count, hashes.frames_hashed) == (5, 2)
    assert [f.frame_index for f in hashes.frame_hashes] == [3]
    assert set(hashes.frame_hashes[0].hashes) == {"pdq", "phash", "dhash"}


def test_the_frame_cap_keeps_the_frames_before_it():
    data = make_animation("GIF", [61, 62, 63, 64], SIZE)
    config = HashConfig(animation=AnimationConfig(max_frames=2))
    hashes = compute_image_hashes(data, config)
    assert hashes.decode_status == "too_many_frames"
    assert "4 frames, over the 2-frame cap" in hashes.error_message
    assert (hashes.frame_count, hashes.frames_hashed) == (4, 2)
    uncapped = compute_image_hashes(data)
    assert uncapped.frames_hashed == 4 and uncapped.decode_status == "ok"  # the default cap (1,000) is far
    assert hashes.pdq == uncapped.pdq and hashes.frame_hashes == uncapped.frame_hashes[:1]


def test_a_pixel_bomb_across_frames_stops_at_the_budget():
    """40 frames of a 500 x 500 canvas (each differs from the last by a small patch: a small file) against a
    2.5 MP budget: 10 frames decoded, then too_many_pixels; the hashes so far are kept."""
    from PIL import Image, ImageDraw

    frames = []
    for k in range(40):
        frame = Image.new("RGB", (500, 500), (90, 90, 90))
        ImageDraw.Draw(frame).rectangle((10 * k, 10, 10 * k + 8, 18), fill=(250, 20, 20))
        frames.append(frame)
    data = encode_animation(frames, "GIF")
    assert len(data) < 100_000 and gif_frame_count(data) == 40
    config = HashConfig(animation=AnimationConfig(max_total_pixels=2_500_000))
    hashes = compute_image_hashes(data, config)
    assert hashes.decode_status == "too_many_pixels"
    assert "40 frames of 500x500 over the 2500000-pixel total: frames 0-9 hashed" in hashes.error_message
    assert hashes.frame_count == 40 and 1 <= hashes.frames_hashed <= 10
    assert hashes.md5 and hashes.phash  # the file's digests and frame 0's hashes are still there


def test_a_truncated_animation_keeps_the_frames_that_decode():
    data = make_animation("GIF", [71, 72, 73], SIZE)
    cut = data[: len(data) - len(data) // 5]  # the last frame's data cut short
    hashes = compute_image_hashes(cut)
    assert hashes.decode_status == "ok"  # frame 0 decoded, as before animations
    assert (hashes.frame_count, hashes.frames_hashed) == (3, 2)
    assert hashes.error_message == "frame 2 not decoded (truncated image data): frames 0-1 hashed"


def test_gif_frame_count_walks_blocks_and_survives_garbage():
    data = make_animation("GIF", [81, 82, 83], (64, 64))
    assert gif_frame_count(data) == 3 and gif_frame_count(data, stop_at=2) == 2
    assert gif_frame_count(data[:20]) == 0 and gif_frame_count(b"GIF89a" + bytes(200)) == 0
    assert gif_frame_count(b"not a gif") == 0


def test_frames_round_trip_through_columns_dict_and_parquet(tmp_path):
    hashes = compute_image_hashes(make_animation("PNG", [91, 92, 93], SIZE))
    assert ImageHashes.from_columns(hashes.to_columns()) == hashes
    assert ImageHashes.from_dict(hashes.to_dict()) == hashes
    assert list(hashes.to_dict())[-3:] == ["frame_count", "frames_hashed", "frame_hashes"]
    assert hashes.to_dict()["frame_hashes"][0]["frame_index"] == 1
    path = tmp_path / "images.parquet"
    pq.write_table(records_to_table([_record(hashes)], IMAGES_SCHEMA), path)
    row = pq.read_table(path).to_pylist()[0]
    assert ImageHashes.from_columns(row) == hashes


def test_history_rows_rebuilt_from_parquet_match_a_later_frame(tmp_path):
    """What the rescan does with a history row: ImageHashes.from_columns of the images/ row read back from
    Parquet, then match_many: the later frame matches with its number."""
    listed = _still(103)
    index = _index(tmp_path, [("pdq", listed.pdq, "A", "iwf", "v2", "")])
    animation = compute_image_hashes(make_animation("GIF", [101, 102, 103], SIZE))
    still = compute_image_hashes(encode(synthetic_photo(104, SIZE), "JPEG"))
    path = tmp_path / "images.parquet"
    rows = [_record(animation, "http://site.test/a.gif"), _record(still, "http://site.test/b.jpg")]
    pq.write_table(records_to_table(rows, IMAGES_SCHEMA), path)
    history = pq.read_table(path).to_pylist()
    found = index.match_many([ImageHashes.from_columns(r) for r in history])
    assert [[(m.list_hash, m.frame_index) for m in f] for f in found] == [[(listed.pdq, 2)], []]


def test_the_rescan_library_matches_a_later_frame(tmp_path):
    """Through hashwatch.rescan.history (the rescan's matching of an images/ row group): the later frame of a
    GIF in the history matches, as in a crawl, with media_kind and frame_index."""
    from hashwatch.rescan.history import HISTORY_COLUMNS, match_history_batch

    listed = _still(113)
    index = _index(tmp_path, [("pdq", listed.pdq, "A", "iwf", "v2", "")])
    animation = compute_image_hashes(make_animation("GIF", [111, 112, 113], SIZE))
    table = records_to_table([_record(animation)], IMAGES_SCHEMA)
    columns = [c for c in table.column_names if c in HISTORY_COLUMNS or c.startswith("frame")]
    found = match_history_batch(
        table.select(columns), index, MatchOptions(), None, run_id="r2", now_us=2, path="p"
    )
    assert [(m.list_hash, m.media_kind, m.frame_index) for _, m in found.candidates] == [
        (listed.pdq, "animation", 2)
    ]


def test_the_allowlist_still_applies_to_a_frame_match(tmp_path):
    listed = _still(123)
    index = _index(tmp_path, [("pdq", listed.pdq, "A", "iwf", "v1", "")])
    hashes = compute_image_hashes(make_animation("WEBP", [121, 122, 123], SIZE))
    found = index.match(hashes)
    assert [m.frame_index for m in found] == [2]
    allow = Allowlist.parse(
        f"hash_type,hash_value,reason,scope\npdq,{listed.pdq},known collision,list\n".encode(), "allow.csv"
    )
    kept, suppressed = allow.split(found, {"pdq": hashes.pdq})
    assert kept == [] and [m.frame_index for m, _ in suppressed] == [2]


def test_frame_matches_are_corroborated_by_the_frames_own_dhash(tmp_path):
    """pHash is corroborated by dHash of the same list picture: a frame's pHash match is confirmed by that
    frame's dHash, not by frame 0's."""
    listed = _still(133)
    rows = [
        ("phash", listed.phash, "A", "iwf", "v1", "", "pic-133"),
        ("dhash", listed.dhash, "A", "iwf", "v1", "", "pic-133"),
    ]
    path = tmp_path / "list.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]
        )
        writer.writerows(rows)
    build_index([str(path)], str(tmp_path / "k.hwidx"))
    index = KnownHashIndex.load(str(tmp_path / "k.hwidx"))
    hashes = compute_image_hashes(make_animation("PNG", [131, 132, 133], SIZE))
    found = index.match(hashes, MatchOptions(uncorroborated="drop"))
    assert [(m.hash_type, m.frame_index, m.corroboration) for m in found] == [("phash", 2, "dhash:0")]


def _with_actl_frames(data: bytes, frames: int) -> bytes:
    """An APNG whose acTL chunk declares ``frames`` frames (its CRC recomputed)."""
    import zlib

    at = data.index(b"acTL")
    body = frames.to_bytes(4, "big") + data[at + 8 : at + 12]
    crc = zlib.crc32(b"acTL" + body).to_bytes(4, "big")
    return data[: at + 4] + body + crc + data[at + 16 :]


def test_an_apng_declaring_millions_of_frames_is_bounded():
    data = make_animation("PNG", [151, 152], SIZE)
    lying = compute_image_hashes(_with_actl_frames(data, 3_000_000))
    # frame_count is what the file declares; the walk ends at the first frame that is not there
    assert (lying.decode_status, lying.frame_count, lying.frames_hashed) == ("ok", 3_000_000, 2)
    assert lying.error_message == "frame 2 not decoded (truncated image data): frames 0-1 hashed"
    capped = compute_image_hashes(
        _with_actl_frames(data, 3_000_000), HashConfig(animation=AnimationConfig(max_frames=1))
    )
    assert capped.decode_status == "too_many_frames" and capped.frames_hashed == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_animations_never_raise(fmt):
    """Seeded byte flips and cuts anywhere in an animation: a status from the list, never an exception."""
    import random

    from hashwatch.hashing.decode import DecodeStatus

    data = make_animation(fmt, [161, 162, 163], (96, 64))
    rnd = random.Random(fmt)
    for _ in range(40):
        damaged = bytearray(data[: rnd.randrange(20, len(data) + 1)])
        for _ in range(rnd.randrange(1, 6)):
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
        hashes = compute_image_hashes(bytes(damaged))
        assert hashes.decode_status in DecodeStatus.ALL
        if hashes.frame_count is not None:
            assert 1 <= hashes.frames_hashed <= max(1, hashes.frame_count)


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_every_frames_pdq_is_pdqhash_on_the_frames_rgb(fmt):
    """A later frame's PDQ comes from the float luma of its RGB composite, as frame 0's and a still
    picture's do (and pdqhash's): the same frame listed from a still copy gets the same PDQ. The colourful
    pictures of test_pdq_colour (on Pillow's 8-bit grey some were 2-4 bits off)."""
    import io

    import numpy as np
    import pdqhash
    from PIL import Image

    from .test_pdq_colour import COLOUR_CASES, _colourful

    frames = [
        Image.fromarray(_colourful(320, 240, seed, kind)) for w, h, seed, kind in COLOUR_CASES if w == 320
    ]
    data = encode_animation(frames, fmt)
    hashes = compute_image_hashes(data, HashConfig(hash_types=("pdq",), candidates=()))
    assert hashes.frames_hashed == len(frames)
    with Image.open(io.BytesIO(data)) as img:
        for frame in hashes.frame_hashes:
            img.seek(frame.frame_index)
            bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
            if quality >= 50:
                want = np.packbits(np.asarray(bits, dtype=bool)).tobytes().hex()
                assert frame.hashes["pdq"] == want, frame.frame_index
