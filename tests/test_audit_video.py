"""The analyst-safety audit knows video (issue 19): MP4, MOV, 3GP, WebM/MKV, AVI, MPEG-TS and FLV fragments,
raw or encoded, in Parquet values, logs and temp files, and animation frames without their file's header; and
it raises no alarm on real outputs that hold animations' hashes. Videos and animations are synthetic, made in
memory; anything written goes to pytest's tmp_path."""

import base64
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashwatch.audit import audit_tree
from hashwatch.audit.signatures import decoded_signatures, raw_signatures
from hashwatch.hashing.image_hashes import compute_image_hashes
from hashwatch.sites.synthetic_animations import make_animation
from hashwatch.sites.synthetic_images import encode, synthetic_photo
from hashwatch.sites.synthetic_videos import make_video
from schemas import IMAGES_SCHEMA, MATCHES_SCHEMA, ImageRecord, MatchRecord
from schemas.arrow_util import records_to_table

# container, codec -> the name the audit gives it
CONTAINERS = [
    ("mp4", "h264", "MP4"),
    ("mov", "h264", "MOV"),
    ("3gp", "h264", "3GP"),
    ("webm", "vp9", "WebM/MKV"),
    ("mkv", "h264", "WebM/MKV"),
    ("avi", "mpeg4", "AVI"),
    ("mpegts", "h264", "MPEG-TS"),
    ("flv", "flv", "FLV"),
]
IDS = [c for c, _, _ in CONTAINERS]


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    return {c: make_video(container=c, codec=k, seconds=0.6, fps=5, seed=3) for c, k, _ in CONTAINERS}


def _head(video: bytes) -> bytes:
    """A fragment from the file's start: long enough for 4 MPEG-TS packets, short of the whole file."""
    return video[:800]


@pytest.mark.parametrize(("container", "codec", "name"), CONTAINERS, ids=IDS)
def test_a_video_fragment_in_a_parquet_value_is_found(tmp_path, videos, container, codec, name):
    """Raw bytes of a video's start in a binary column (zstd pages: invisible to a raw byte scan)."""
    pq.write_table(
        pa.table({"note": pa.array([b"x" * 7 + _head(videos[container])], pa.binary())}),
        tmp_path / "leak.parquet",
        compression="zstd",
    )
    findings = audit_tree(str(tmp_path))
    assert [(f.kind, f.detail) for f in findings if f.kind == "signature"] == [("signature", name)]
    assert "column note" in findings[0].where


@pytest.mark.parametrize(("container", "codec", "name"), CONTAINERS, ids=IDS)
def test_a_base64_video_fragment_in_a_log_line_is_found(tmp_path, videos, container, codec, name):
    text = base64.b64encode(_head(videos[container])).decode()
    (tmp_path / "run.log").write_text(f"2026-12-07 fetched video preview={text} ok\n")
    details = {f.detail for f in audit_tree(str(tmp_path)) if f.kind == "signature"}
    assert f"{name} (base64)" in details


@pytest.mark.parametrize(("container", "codec", "name"), CONTAINERS, ids=IDS)
def test_hex_and_escaped_video_fragments_in_json_are_found(tmp_path, videos, container, codec, name):
    fragment = _head(videos[container])
    (tmp_path / "manifest.json").write_text(json.dumps({"error": fragment.hex()}))
    (tmp_path / "tmp-dump.txt").write_text(repr(fragment))  # a temp file with Python's b'\x00...' escapes
    found = {
        (f.path.rsplit("/", 1)[-1], f.detail) for f in audit_tree(str(tmp_path)) if f.kind == "signature"
    }
    assert ("manifest.json", f"{name} (hex)") in found
    if container != "mpegts":  # its repr is cut by printable text (service name, x264 banner): docs/audit.md
        assert ("tmp-dump.txt", f"{name} (escaped)") in found


def test_a_raw_video_fragment_in_a_text_file_is_found(tmp_path, videos):
    """Raw container bytes in a log: the file is not text any more, and the signature names the container."""
    (tmp_path / "run.log").write_bytes(b"fetched\n" + _head(videos["flv"]) + b"\n")
    assert sorted((f.kind, f.detail) for f in audit_tree(str(tmp_path))) == [
        ("binary_file", "neither Parquet nor UTF-8 text"),
        ("signature", "FLV"),
    ]


@pytest.mark.parametrize(
    ("fmt", "name"), [("GIF", "GIF frame"), ("WEBP", "WebP frame"), ("PNG", "APNG frame")]
)
def test_an_animation_frame_without_its_header_is_found(tmp_path, fmt, name):
    """The bytes of a later frame (no GIF/RIFF/PNG header in them), raw in a Parquet value and base64 in a
    log."""
    data = make_animation(fmt, [5, 6, 7], (96, 64))
    marker = {"GIF": b"\x21\xf9\x04", "WEBP": b"ANMF", "PNG": b"fcTL"}[fmt]
    second = data.index(marker, data.index(marker) + 1)  # frame 1's control block
    middle = data[second - (4 if fmt == "PNG" else 0) :][:3000]
    assert not any(n in ("GIF", "WebP", "PNG") for _, n in raw_signatures(middle))
    pq.write_table(pa.table({"v": pa.array([middle], pa.binary())}), tmp_path / "t.parquet")
    (tmp_path / "run.log").write_text("frame " + base64.b64encode(middle).decode() + "\n")
    details = {f.detail for f in audit_tree(str(tmp_path)) if f.kind == "signature"}
    assert {name, f"{name} (base64)"} <= details


def test_mpeg_ts_needs_packets_not_letters():
    """'G' every 188 characters in text is not a transport stream; four packets of a real one are."""
    text = ("G" + "a" * 187) * 6
    assert raw_signatures(text.encode()) == [] and decoded_signatures(text.encode()) == []
    packets = b"".join(b"\x47\x01\x00" + bytes([0x10 | k]) + bytes(184) for k in range(4))
    assert raw_signatures(packets) == [(0, "MPEG-TS")]


def test_no_alarm_on_real_outputs_with_animations_and_video_names(tmp_path):
    """images/ and matches/ rows as a crawl writes them (real hashes of stills and animations: frame_hashes,
    media_kind, frame_index; URLs naming .mp4/.webm/.ts files), snappy and zstd: no finding."""
    hashes = [
        compute_image_hashes(encode(synthetic_photo(1, (320, 240)), "JPEG")),
        compute_image_hashes(make_animation("GIF", [2, 3, 4], (320, 240))),
        compute_image_hashes(make_animation("WEBP", [5, 6], (320, 240))),
        compute_image_hashes(make_animation("PNG", [7, 8, 9], (320, 240))),
    ]
    urls = [
        "http://site.test/a.jpg",
        "http://site.test/b.gif",
        "http://site.test/c.webp",
        "http://site.test/d.png",
    ]
    images = [
        ImageRecord(
            run_id="20261207T204000Z-abc123",
            image_url=url,
            final_url=url,
            page_urls=["http://site.test/clips/movie.mp4.html", "http://site.test/v.webm?ts=1"],
            depth=1,
            http_status=200,
            content_type="image/gif",
            hashed_at=1_765_000_000_000_000,
            **h.to_columns(),
        )
        for url, h in zip(urls, hashes, strict=True)
    ]
    assert images[1].frame_hashes and images[3].frames_hashed == 3
    matches = [
        MatchRecord(
            run_id="20261207T204000Z-abc123",
            matched_at=1_765_000_000_000_000,
            page_url="http://site.test/stream.ts",
            image_url=urls[k],
            final_url=None,
            depth=1,
            hash_type="pdq",
            hash_value=hashes[k].pdq,
            list_hash=hashes[k].pdq,
            distance=0,
            match_kind="near",
            variant=None,
            corroboration=None,
            category="A",
            source="iwf",
            list_version="v1",
            item_id="ftyp-moov-mdat",
            index_checksum="ab" * 32,
            md5=hashes[k].md5,
            sha1=hashes[k].sha1,
            sha256=hashes[k].sha256,
            phash=hashes[k].phash,
            dhash=hashes[k].dhash,
            pdq=hashes[k].pdq,
            pdq_quality=hashes[k].pdq_quality,
            media_kind="animation" if k else "image",
            frame_index=k or None,
        )
        for k in range(4)
    ]
    for compression in ("snappy", "zstd"):
        folder = tmp_path / compression
        folder.mkdir()
        pq.write_table(
            records_to_table(images, IMAGES_SCHEMA), folder / "images.parquet", compression=compression
        )
        pq.write_table(
            records_to_table(matches, MATCHES_SCHEMA), folder / "matches.parquet", compression=compression
        )
        (folder / "run.log").write_text(
            "".join(
                f"hashed {u} frames={h.frames_hashed} pdq={h.pdq}\n"
                for u, h in zip(urls, hashes, strict=True)
            )
        )
    assert audit_tree(str(tmp_path)) == []
