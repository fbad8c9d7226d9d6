import subprocess
import sys

from hashwatch import __version__
from hashwatch.cli import main


def test_version_flag_prints_version():
    out = subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"hashwatch {__version__}"


def test_no_command_exits_2():
    assert main([]) == 2


# ---------------------------------------------------------------- videos (issue 19)


def _video_files(tmp_path):
    from hashwatch.sites.synthetic_videos import make_video

    original = make_video(seconds=3, fps=10, seed=4)
    files = {
        "clip.bin": original,  # named like nothing: sniffed
        "copy.webm": make_video(
            seconds=3, fps=10, seed=4, codec="vp9", container="webm", width=240, height=180
        ),
        "other.avi": make_video(seconds=3, fps=10, seed=6, codec="mpeg4", container="avi"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: str(tmp_path / name) for name in files}, files


def _json_lines(text: str) -> list[dict]:
    import json

    return [json.loads(line) for line in text.splitlines()]


def test_hash_prints_a_videos_digests_and_vpdq_frames(tmp_path, capsys):
    import hashlib

    paths, data = _video_files(tmp_path)
    assert main(["hash", paths["clip.bin"], "--seconds-per-hash", "0.5"]) == 0
    [row] = _json_lines(capsys.readouterr().out)
    assert row["file"] == paths["clip.bin"] and row["media_kind"] == "video" and row["status"] == "ok"
    assert row["video_md5"] == row["md5"] == hashlib.md5(data["clip.bin"]).hexdigest()
    assert len(row["vpdq"]) == 6 and {"frame_index", "timestamp", "pdq", "quality"} == set(row["vpdq"][0])


def test_video_sniffing_by_first_bytes():
    from hashwatch.hashing.cli import looks_like_video

    ts = bytes([0x47] + [0] * 187) * 3
    for head in [b"\0\0\0\x18ftypisom" + bytes(20), b"\0\0\0\x14ftypqt  ", b"\x1a\x45\xdf\xa3" + bytes(8),
                 b"RIFF\0\0\0\0AVI LIST", b"FLV\x01\x05", ts + b"\0"]:  # fmt: skip
        assert looks_like_video(head), head[:12]
    for head in [b"\0\0\0\x1cftypavif" + bytes(20), b"\0\0\0\x18ftypheic", b"RIFF\0\0\0\0WEBPVP8 ",
                 b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b""]:  # fmt: skip
        assert not looks_like_video(head), head[:12]


def test_index_build_takes_vpdq_lists_and_match_finds_a_re_encoded_video(tmp_path, capsys):
    import csv
    import hashlib

    from hashwatch.video.hash_video import hash_video
    from hashwatch.video.vpdq_format import vpdq_to_json

    paths, data = _video_files(tmp_path)
    listed = hash_video(data["clip.bin"])
    with open(tmp_path / "list.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["hash_type", "hash_value", "category", "source", "item_id"])
        w.writerow(["vpdq", vpdq_to_json(listed.vpdq), "A", "hotline", "case-1"])
        w.writerow(["video_md5", hashlib.md5(data["other.avi"]).hexdigest(), "B", "hotline", "case-2"])
    index = str(tmp_path / "k.hwidx")
    assert main(["index", "build", str(tmp_path / "list.csv"), "--out", index]) == 0
    [report] = _json_lines(capsys.readouterr().out)
    assert report["videos"] == 1 and report["entries"]["video_md5"] == 1
    assert main(["match", paths["copy.webm"], paths["other.avi"], "--index", index]) == 0
    captured = capsys.readouterr()
    rows = _json_lines(captured.out)
    assert [(r["file"], r["media_kind"], r["match_kind"], r["item_id"]) for r in rows] == [
        (paths["copy.webm"], "video", "vpdq", "case-1"),
        (paths["other.avi"], "video", "exact", "case-2"),
    ]
    assert rows[0]["query_match_percent"] >= 80 and rows[0]["matched_ranges"]
    assert "2 match(es) in 2 of 2 file(s)" in captured.err
    assert main(["match", paths["copy.webm"], "--index", index, "--match-types", "pdq"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["match", paths["copy.webm"], "--index", index, "--vpdq-query-percent", "101"]) == 2


def test_index_build_names_file_and_line_of_a_bad_vpdq_row(tmp_path, capsys):
    (tmp_path / "list.csv").write_text('hash_type,hash_value,item_id\nvpdq,"[""abc,100,0""]",v\n')
    assert main(["index", "build", str(tmp_path / "list.csv"), "--out", str(tmp_path / "k.hwidx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "list.csv:2: vpdq frame 1 of 1:" in err and "64 hex digits" in err


def test_a_broken_video_is_hashed_and_matched_by_its_digests_and_named_in_the_verdict(tmp_path, capsys):
    import hashlib

    paths, data = _video_files(tmp_path)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data["clip.bin"][:1500])  # the ftyp box survives: still sniffed as a video
    assert main(["hash", str(broken)]) == 0
    [row] = _json_lines(capsys.readouterr().out)
    assert row["media_kind"] == "video" and row["status"] != "ok" and row["error"]
    (tmp_path / "list.csv").write_text(
        f"hash_type,hash_value,category\nvideo_md5,{hashlib.md5(data['clip.bin'][:1500]).hexdigest()},A\n"
    )
    index = str(tmp_path / "k.hwidx")
    assert main(["index", "build", str(tmp_path / "list.csv"), "--out", index]) == 0
    capsys.readouterr()
    assert main(["match", str(broken), "--index", index]) == 0
    captured = capsys.readouterr()
    assert [r["match_kind"] for r in _json_lines(captured.out)] == ["exact"]
    assert (
        f"videos not fully decoded (digests only, or a partial vPDQ): {broken} ({row['status']})"
        in captured.err
    )


def test_the_cli_sniffs_videos_as_the_crawl_does():
    """One sniffer: a container the crawl fetches as a video (MPEG-PS, Ogg Theora, M2TS too) is one
    ``hashwatch hash`` hashes as a video."""
    from hashwatch.crawling.sniff import is_video_type, sniff_content_type
    from hashwatch.hashing.cli import looks_like_video

    m2ts = (bytes(4) + bytes([0x47]) + bytes(187)) * 3
    heads = [b"\x00\x00\x01\xba" + bytes(60), b"OggS\x00\x02" + bytes(22) + b"\x80theora" + bytes(40), m2ts]
    for head in heads:
        assert is_video_type(sniff_content_type(head)) and looks_like_video(head), head[:12]
