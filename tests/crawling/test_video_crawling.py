"""Videos in the crawling library: sniffed from their bytes, discovered on pages, fetched streamed with their
own cap and digests fed as the bytes arrive, re-routed when a page or image URL turns out to be a video."""

from __future__ import annotations

import hashlib

import pytest
from local_http import png_bytes

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.crawl_worker import CrawlWorker
from hashwatch.crawling.html_extract import extract_page
from hashwatch.crawling.image_handler import DigestImageHandler, HandledImage
from hashwatch.crawling.sniff import is_video_type, sniff_content_type
from hashwatch.crawling.url_rules import looks_like_video_url
from hashwatch.sites.synthetic_videos import make_video
from hashwatch.video.digests import VideoDigests
from schemas.crawl import CrawlTask, ImageTask

# (container, codec) -> the type sniffed from make_video's bytes
SNIFFED = {
    ("mp4", "h264"): "video/mp4",
    ("mov", "h264"): "video/quicktime",
    ("3gp", "h263"): "video/3gpp",
    ("webm", "vp9"): "video/webm",
    ("mkv", "h264"): "video/x-matroska",
    ("avi", "mpeg4"): "video/x-msvideo",
    ("mpegts", "h264"): "video/mp2t",
    ("flv", "flv"): "video/x-flv",
}


@pytest.mark.parametrize(("container", "codec"), sorted(SNIFFED))
def test_real_containers_sniff_as_video(container, codec):
    width, height = (176, 144) if codec == "h263" else (64, 48)  # H.263 knows only a few sizes
    data = make_video(seconds=0.3, fps=10, width=width, height=height, codec=codec, container=container)
    assert sniff_content_type(data) == SNIFFED[(container, codec)]
    assert is_video_type(sniff_content_type(data))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x00\x01\xba\x44\x00\x04\x00", "video/mpeg"),  # MPEG-PS pack header
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "video/quicktime"),  # QuickTime without ftyp
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),  # an image brand stays an image
        (b"\x00" * 4 + (b"\x47" + b"\x00" * 191) * 4, "video/mp2t"),  # M2TS: 4-byte prefix, 192-byte packets
        (b"G is a letter, not a transport stream" * 20, "text/plain"),
        (b"abcdmdat plain text, not a QuickTime atom", "text/plain"),
    ],
)
def test_sniff_edge_cases(data, expected):
    assert sniff_content_type(data) == expected


def test_videos_are_discovered_every_way_a_page_shows_one():
    page = b"""<html><head><meta property="og:video" content="/og.mp4">
    <meta property="og:video:secure_url" content="https://cdn.example.org/secure.webm"></head><body>
    <video src="a.mp4" poster="poster.jpg"></video>
    <video><source src="b.webm" type="video/webm"><source src="c.mkv"></video>
    <picture><source srcset="pic.webp"></picture>
    <a href="clips/d.MOV">d</a> <a href="e.ts?x=1">e</a> <a href="page.html">next</a>
    <video src="data:video/mp4;base64,AAAA"></video></body></html>"""
    out = extract_page(page, "https://example.org/dir/", max_url_length=2048, max_data_uri_bytes=1 << 20)
    assert out.video_urls == [
        "https://example.org/dir/a.mp4",
        "https://example.org/dir/b.webm",
        "https://example.org/dir/c.mkv",
        "https://example.org/og.mp4",
        "https://cdn.example.org/secure.webm",
        "https://example.org/dir/clips/d.MOV",
        "https://example.org/dir/e.ts?x=1",
    ]
    assert "https://example.org/dir/poster.jpg" in out.image_urls  # a poster is an image
    assert "https://example.org/dir/pic.webp" in out.image_urls
    assert out.links == ["https://example.org/dir/page.html"]  # video links are not pages


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a.m4v", True),
        ("http://h/a.ogv", True),
        ("http://h/mp4/", False),
        ("http://h/a.mp4x", False),
    ],
)
def test_looks_like_video_url(url, expected):
    assert looks_like_video_url(url) is expected


def _no_pace(host: str) -> None:
    """No politeness wait (a Pacer's interface: called before every request)."""


class _Keep:
    """A handler that keeps what it was handed (as the fetching DoFn's hand-over does)."""

    def __init__(self):
        self.handed = []

    def setup(self):
        pass

    def __call__(self, task, fetched):
        self.handed.append((task, fetched))
        return HandledImage(None, None, None)


def _worker(handler, **config) -> CrawlWorker:
    settings = {"allow_private_networks": True, "ignore_robots": True, "per_host_delay": 0.0, **config}
    return CrawlWorker(CrawlConfig(**settings), "run", handler, video_digests=VideoDigests)


@pytest.fixture
def video_server(servers):
    server = servers("127.0.0.1")
    video = make_video(seconds=0.5, fps=10, width=64, height=48)
    server.add("/v.mp4", video, "video/mp4")
    server.add("/lying.jpg", video, "image/jpeg")  # a video behind an image URL
    server.add("/still.mp4", png_bytes(), "video/mp4")  # an image at a video URL
    server.add("/notes.mp4", "plain words, not a video " * 10, "video/mp4")
    server.add("/big.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200_000, "video/mp4")
    return server, video


def test_fetch_video_streams_digests_and_hands_the_body_over(video_server):
    server, video = video_server
    handler = _Keep()
    worker = _worker(handler)
    outcome = worker.fetch_video(ImageTask(server.url("/v.mp4"), 1, ["p"], "s"), _no_pace)
    assert (outcome.fetch_log.kind, outcome.fetch_log.outcome) == ("video", "ok")
    [(_, fetched)] = handler.handed
    assert fetched.body == video and fetched.content_type == "video/mp4"
    # The digests were fed while the bytes arrived, chunk by chunk: they are the whole body's.
    assert fetched.digests.md5 == hashlib.md5(video).hexdigest()
    assert fetched.digests.bytes_length == len(video)


def test_fetch_video_caps_and_content(video_server):
    server, _ = video_server
    handler = _Keep()
    worker = _worker(handler, max_video_bytes=100_000)
    pace = _no_pace
    big = worker.fetch_video(ImageTask(server.url("/big.mp4"), 1, [], "s"), pace).fetch_log
    assert (big.outcome, big.error_kind) == ("failed", "video_too_large")
    assert "--max-video-bytes" in big.error_message
    notes = worker.fetch_video(ImageTask(server.url("/notes.mp4"), 1, [], "s"), pace).fetch_log
    assert (notes.outcome, notes.error_kind) == ("failed", "not_a_video")
    still = worker.fetch_video(ImageTask(server.url("/still.mp4"), 1, [], "s"), pace)
    assert still.fetch_log.outcome == "ok"  # handed over, to be hashed as an image
    assert [fetched.content_type for _, fetched in handler.handed] == ["image/png"]


def test_an_image_url_or_a_link_that_is_a_video_goes_to_the_video_stage(video_server):
    server, _ = video_server
    worker = _worker(DigestImageHandler())
    pace = _no_pace
    image = worker.fetch_image(ImageTask(server.url("/lying.jpg"), 1, ["http://p/"], "s"), pace)
    assert image.fetch_log is None and image.image is None  # its one row is the video stage's
    assert image.video_ref.image_url == server.url("/lying.jpg")
    assert image.video_ref.page_url == "http://p/"
    page = worker.crawl_page(CrawlTask(server.url("/v.mp4"), 0, None, server.url("/v.mp4")), pace)
    assert page.fetch_log == [] and page.inline_images == []
    assert [(r.image_url, r.page_url, r.depth) for r in page.video_refs] == [(server.url("/v.mp4"), "", 0)]
