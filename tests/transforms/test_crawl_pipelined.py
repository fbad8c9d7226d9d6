"""The page rounds fetching images as their pages show them (``CrawlRounds(fetch_images=True)``, issue 24):
each image once, its row with every page that showed it, and one host's page and image requests together
within its politeness, on one or two embedded workers."""

import collections
import functools
import os
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from local_http import SMALL_SITE_CONFIG_KWARGS, png_bytes

from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.image_handler import DigestImageHandler
from transforms.crawl import CrawlRounds, round_image_shards
from transforms.merge_images import MergeImageRecords

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _config(**overrides) -> CrawlConfig:
    return CrawlConfig(**{**SMALL_SITE_CONFIG_KWARGS, **overrides})


def _worker_path(monkeypatch) -> None:
    """multi_processing starts SDK worker processes, which must import this module to unpickle its lambdas."""
    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent / "crawling"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def _options(mode: str) -> PipelineOptions:
    return PipelineOptions(
        [f"--direct_running_mode={mode}"] + (["--direct_num_workers=2"] if mode != "in_memory" else [])
    )


def _site(server, pages: int, slow=None) -> None:
    """``/`` links ``pages`` pages; page i shows images i and i+1 (so every image but the first and the last
    is on two pages) and ``/`` shows image 0."""
    server.html("/", '<img src="/i0.png">' + "".join(f'<a href="/p{i}">p</a>' for i in range(pages)))
    for i in range(pages):
        server.html(f"/p{i}", f'<img src="/i{i}.png"><img src="/i{i + 1}.png">')
    for i in range(pages + 1):
        if slow is None:
            server.add(f"/i{i}.png", png_bytes(shade=i), "image/png")
        else:
            server.routes[f"/i{i}.png"] = functools.partial(slow, body=png_bytes(shade=i))


def _expected_pages(server, pages: int) -> dict[str, list[str]]:
    expected = {
        server.url(f"/i{i}.png"): [server.url(f"/p{j}") for j in (i - 1, i) if 0 <= j < pages]
        for i in range(pages + 1)
    }
    expected[server.url("/i0.png")].insert(0, server.url("/"))
    return {url: sorted(pages) for url, pages in expected.items()}


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_each_image_once_with_every_page_and_within_the_hosts_concurrency(servers, mode, monkeypatch):
    """No delay can apply (robots off), 4 requests per host: 2 image shards of 1 and 2 for pages. The server
    never has more than 4 requests of the host at once, each image is fetched once, and its row lists every
    page that showed it (those read after it was fetched join through the late refs)."""
    _worker_path(monkeypatch)
    server = servers()
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(handler, body):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            time.sleep(0.05)
            handler.send_body(200, body, "image/png")
        finally:
            with lock:
                active["now"] -= 1

    pages = 12
    _site(server, pages, slow)
    config = _config(per_host_delay=0, ignore_robots=True, per_host_concurrency=4, max_depth=1)
    assert round_image_shards(config) == 2
    with beam.Pipeline(runner=FnApiRunner(), options=_options(mode)) as p:
        crawled = (
            p
            | beam.Create([server.url("/")])
            | CrawlRounds(config, "run-1", DigestImageHandler(), fetch_images=True)
        )
        images = crawled.images | MergeImageRecords(crawled.late_image_refs)
        assert_that(
            images | beam.Map(lambda r: (r.image_url, sorted(r.page_urls))),
            equal_to(list(_expected_pages(server, pages).items())),
            label="EveryPage",
        )
        image_rows = crawled.fetch_log | beam.Filter(lambda r: r.kind == "image")
        assert_that(
            image_rows | beam.Map(lambda r: (r.url, r.outcome)),
            equal_to([(url, "ok") for url in _expected_pages(server, pages)]),
            label="OneRowEach",
        )
    fetches = collections.Counter(r.path for r in server.requests if r.path.endswith(".png"))
    assert set(fetches.values()) == {1} and len(fetches) == pages + 1, fetches
    assert 1 <= active["max"] <= 4, active


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_pages_and_images_of_a_host_share_its_delay(servers, mode, monkeypatch):
    """A delay applies: the host's call fetches its images in turns with its pages, and no two of its
    requests (pages, images, robots.txt) start closer than the delay."""
    _worker_path(monkeypatch)
    server = servers()
    _site(server, 3)
    config = _config(per_host_delay=0.15, max_depth=1)
    assert round_image_shards(config) == 0
    with beam.Pipeline(runner=FnApiRunner(), options=_options(mode)) as p:
        crawled = (
            p
            | beam.Create([server.url("/")])
            | CrawlRounds(config, "run-1", DigestImageHandler(), fetch_images=True)
        )
        oks = crawled.fetch_log | beam.Filter(lambda r: r.outcome == "ok")
        assert_that(oks | beam.combiners.Count.Globally(), equal_to([1 + 3 + 4]))
    times = [r.at for r in server.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    trace = [(r.path, round(t, 3)) for r, t in zip(server.requests, gaps)]
    assert min(gaps) >= 0.15 - 0.01, trace
    # The first image (on /) was fetched before the last page: the image fetches overlap the page round.
    paths = [r.path for r in server.requests]
    assert paths.index("/i0.png") < max(paths.index(f"/p{i}") for i in range(3)), paths
