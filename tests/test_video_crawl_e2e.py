"""End to end: a crawl of the local video site (hashwatch/sites/video_site.py) on the embedded runner.

Videos found every way a page shows one, fetched once each, hashed in memory, written to videos/ and matched
(video_md5, vPDQ of the same file and of edited re-encodes); the failures end as one fetch_log row each with
their error kind; a video behind ``<img>`` served as image/jpeg is hashed as a video; a "video" that is an
image is hashed as an image; the output holds no video content (the analyst-safety audit).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hashwatch.audit import ContentIndex, audit_tree
from hashwatch.sites.video_site import served_video_site
from pipelines.crawl_match import run
from pipelines.run_report import read_run_table
from transforms.run_counters import CRAWL_COUNTERS

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def video_site(tmp_path_factory):
    with served_video_site(tmp_path_factory.mktemp("video-site")) as served:
        yield served


def crawl_args(served, output) -> list[str]:
    """The crawl of the video site: no politeness delay, depth 1, the byte cap only v/big.mp4 is over."""
    return [
        f"--seeds={served.seeds_file}",
        f"--hash-list={served.hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=1",
        "--progress-interval=0",
        f"--max-video-bytes={served.site.video_cap}",
    ]


@pytest.fixture(scope="module")
def crawl_run(video_site, tmp_path_factory):
    output = tmp_path_factory.mktemp("out")
    report = run(crawl_args(video_site, output))
    base_url = video_site.base_url
    day = report.started[:10]

    def table(name):
        return read_run_table(str(output), name, day, report.run_id).to_pylist()

    return report, output, table, base_url


def test_every_video_url_is_one_fetch_log_row_with_its_outcome(crawl_run, video_site):
    report, _, table, base_url = crawl_run
    site = video_site.site
    assert report.state == "DONE"
    rows = table("fetch_log")
    by_url = Counter(row["url"] for row in rows)
    assert [url for url, n in by_url.items() if n > 1] == []  # one row per URL, md5_listed.mp4 on two pages
    log = {row["url"]: row for row in rows}
    for path, expected in site.expected.items():
        row = log[base_url + path]
        if path == site.animation_path:
            assert row["kind"] == "image" and row["outcome"] == "ok"
            continue
        assert row["kind"] == "video", path  # img/clip.jpg too: its bytes were a video
        if expected in ("video_md5", "vpdq", "none", "image"):
            assert (row["outcome"], row["error_kind"]) == ("ok", None), (path, row["error_kind"])
        else:
            assert (row["outcome"], row["error_kind"]) == ("failed", expected), path
    # The poster of <video poster> is an image, fetched as one.
    assert log[base_url + "img/poster.png"]["kind"] == "image"


def test_videos_table_has_a_row_per_hashed_video(crawl_run, video_site):
    _, _, table, base_url = crawl_run
    site = video_site.site
    videos = {row["video_url"]: row for row in table("videos")}
    hashed = {p for p, e in site.expected.items() if e in ("video_md5", "vpdq", "none")}
    hashed |= {"v/truncated.mkv", "v/cut.mp4"}  # rows with their error kind: their md5 can still match
    assert set(videos) == {base_url + p for p in hashed}
    ok = videos[base_url + "v/edited.webm"]
    assert ok["decode_status"] == "ok" and ok["codec"] == "vp9" and (ok["width"], ok["height"]) == (160, 120)
    assert ok["frames_hashed"] == len(ok["vpdq"]) >= 2 and ok["vpdq_good_frames"] >= 1
    assert ok["page_urls"] == [base_url + "index.html"]
    assert videos[base_url + "v/md5_listed.mp4"]["page_urls"] == [
        base_url + "index.html",
        base_url + "page2.html",
    ]
    assert videos[base_url + "v/truncated.mkv"]["decode_status"] == "video_truncated"
    assert videos[base_url + "v/cut.mp4"]["decode_status"] == "video_undecodable"
    # The streamed digests are those of the file served.
    import hashlib

    for path in hashed:
        data = (site.root / path).read_bytes()
        assert videos[base_url + path]["video_md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert videos[base_url + path]["bytes_length"] == len(data)


def test_an_image_at_a_video_url_is_hashed_as_an_image(crawl_run):
    _, _, table, base_url = crawl_run
    images = {row["image_url"]: row for row in table("images")}
    assert images[base_url + "v/poster_as_video.mp4"]["format"] == "PNG"
    assert base_url + "img/clip.jpg" not in images  # a video behind <img>: not an image row


def test_listed_videos_match_and_the_distractor_does_not(crawl_run, video_site):
    _, _, table, base_url = crawl_run
    site = video_site.site
    matched: dict[str, set[str]] = {}
    for row in table("matches"):
        matched.setdefault(row["image_url"], set()).add(row["hash_type"])
    for path, expected in site.expected.items():
        if expected in ("video_md5", "vpdq"):
            assert expected in matched.get(base_url + path, set()), (path, matched.get(base_url + path))
    assert base_url + "v/distractor.mp4" not in matched


def test_the_animated_gifs_listed_second_frame_matches(crawl_run, video_site):
    _, _, table, base_url = crawl_run
    url = base_url + video_site.site.animation_path
    rows = [row for row in table("matches") if row["image_url"] == url]
    assert [(r["hash_type"], r["media_kind"], r["frame_index"]) for r in rows] == [("pdq", "animation", 1)]
    [image] = [row for row in table("images") if row["image_url"] == url]
    assert (image["format"], image["frame_count"], image["frames_hashed"]) == ("GIF", 2, 2)


def test_every_video_counter_reaches_the_manifest(crawl_run):
    report, output, _, _ = crawl_run
    manifest = json.loads(Path(report.tables["manifest"]).read_text())
    missing = []
    for spec in CRAWL_COUNTERS:
        table = manifest["beam_distributions" if spec.kind == "distribution" else "beam_counters"]
        if spec.videos and not any(spec.matches(key) for key in table):
            missing.append(spec.key)
    assert missing == []
    assert manifest["videos_hashed"] == 8 and manifest["videos_matched"] == 5


def test_output_holds_no_video_content(crawl_run, video_site):
    _, output, _, _ = crawl_run
    site = video_site.site
    index = ContentIndex()
    for path in site.expected:
        index.add((site.root / path).read_bytes(), path)
    assert audit_tree(str(output), index) == []
