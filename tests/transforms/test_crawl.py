"""The crawl transforms on the embedded FnApiRunner against the small loopback site."""

import collections
import functools
import hashlib
import os
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from local_http import CONTENT_MARKER, SMALL_SITE_CONFIG_KWARGS

from benchmarks.crawl_driver import crawl
from hashwatch.crawling.config import CrawlConfig
from hashwatch.crawling.image_handler import DigestImageHandler
from hashwatch.crawling.politeness import HostSlots
from hashwatch.crawling.robots import RobotsCache
from schemas.crawl import ImageRef, ImageTask
from schemas.fetch_log import FetchLogRecord
from schemas.images import ImageRecord
from transforms.crawl import CrawlRounds, FetchImages, ImageTasksFromRefs, _image_key, image_shards

pytestmark = pytest.mark.network


def _config(**overrides) -> CrawlConfig:
    return CrawlConfig(**{**SMALL_SITE_CONFIG_KWARGS, **overrides})


def _crawl_pipeline(pipeline, seeds, config, handler=None):
    handler = handler or DigestImageHandler()
    crawled = pipeline | "Seeds" >> beam.Create(seeds) | "Crawl" >> CrawlRounds(config, "run-1", handler)
    fetched = (
        crawled.image_refs
        | "ImageTasks" >> ImageTasksFromRefs()
        | "Images" >> FetchImages(config, "run-1", handler)
    )
    return crawled, fetched


@pytest.fixture(scope="module")
def site(small_site):
    return small_site


def _key(row):
    return (row.kind, row.url, row.outcome, row.error_kind)


def test_crawl_rounds_and_fetch_images_on_the_small_site(site):
    expected_pages = [("page", url, o, k) for url, (o, k) in site.expected_pages.items()]
    expected_pages.append(("page", "not a url", "failed", "invalid_url"))
    data_id = f"data:image/png;sha256={hashlib.sha256(site.data_png).hexdigest()}"
    expected_pages += [("image", url, o, k) for url, _, o, k in site.expected_data_rows]
    expected_images = [("image", url, o, k) for url, (o, k) in site.expected_images.items()]
    base = site.a.base  # plain strings only inside the pipeline: the server objects do not pickle

    def a(path):
        return base + path

    a_png = a("/img/a.png")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        crawled, fetched = _crawl_pipeline(p, [site.seed, site.seed + "#x", "not a url"], _config())
        assert_that(
            crawled.fetch_log | "PageKeys" >> beam.Map(_key), equal_to(expected_pages), label="PageRows"
        )
        assert_that(
            fetched.fetch_log | "ImageKeys" >> beam.Map(_key), equal_to(expected_images), label="ImageRows"
        )
        ok_images = [url for url, (o, _) in site.expected_images.items() if o == "ok"]
        assert_that(
            fetched.images | "ImageUrls" >> beam.Map(lambda r: (r.image_url, r.run_id)),
            equal_to([(url, "run-1") for url in ok_images]),
            label="ImageRecords",
        )
        assert_that(
            crawled.inline_images | "InlineKeys" >> beam.Map(lambda r: (r.image_url, tuple(r.page_urls))),
            equal_to(
                [
                    (data_id, (a("/"),)),
                    (data_id, (a("/gallery.html"),)),
                    (data_id, (a("/more.html"),)),
                    (a("/img-no-extension"), (a("/"),)),
                ]
            ),
            label="InlineImages",
        )
        assert_that(
            crawled.image_refs
            | "RefsOfA" >> beam.Filter(lambda r: r.image_url == a_png)
            | "RefPages" >> beam.Map(lambda r: (r.page_url, r.depth)),
            equal_to(
                [(a("/"), 0), (a("/gallery.html"), 1), (a("/redirect-in"), 1), (a("/malformed.html"), 1)]
            ),
            label="RefsToOneImage",
        )
        assert_that(
            crawled.fetch_log
            | "Messages" >> beam.Map(lambda r: r.error_message or "")
            | "BadMessages" >> beam.Filter(lambda m: "\n" in m or CONTENT_MARKER in m),
            equal_to([]),
            label="NoContentInMessages",
        )


def test_outputs_are_typed_for_row_coders(site):
    p = beam.Pipeline(runner=FnApiRunner())
    crawled, fetched = _crawl_pipeline(p, [site.seed], _config())
    assert crawled.fetch_log.element_type == FetchLogRecord
    assert crawled.image_refs.element_type == ImageRef
    assert crawled.inline_images.element_type == ImageRecord
    assert fetched.images.element_type == ImageRecord
    tasks = crawled.image_refs | "Tasks2" >> ImageTasksFromRefs()
    assert tasks.element_type == ImageTask
    labels = {t.full_label for t in p.transforms_stack[0].parts[1].parts}
    assert {"Crawl/Round0/FetchPages", "Crawl/Round2/FetchPages", "Crawl/Round3/GroupByHost"} <= labels


def test_beam_and_the_driver_crawl_identically(site):
    config = _config()
    report = crawl([site.seed], config, DigestImageHandler(), slots=HostSlots(), robots_cache=RobotsCache())
    expected = sorted(_key(r) for r in report.fetch_log)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        crawled, fetched = _crawl_pipeline(p, [site.seed], config)
        rows = (crawled.fetch_log, fetched.fetch_log) | beam.Flatten() | beam.Map(_key)
        assert_that(rows, equal_to(expected))


def test_metrics_count_outcomes_per_stage(site):
    p = beam.Pipeline(runner=FnApiRunner())
    crawled, fetched = _crawl_pipeline(p, [site.seed], _config(max_depth=0))
    result = p.run()
    result.wait_until_finish()
    counters = {
        (m.key.metric.namespace, m.key.metric.name): m.committed
        for m in result.metrics().query(MetricsFilter())["counters"]
    }
    assert counters[("hashwatch.CrawlRounds", "page_ok")] == 1
    assert counters[("hashwatch.CrawlRounds", "image_ok")] == 1  # the inline data: image
    assert counters[("hashwatch.CrawlRounds", "error_max_depth")] >= 10
    assert counters[("hashwatch.FetchImages", "image_ok")] == 4  # a.png, b.jpg, c.gif, linked.png
    assert counters[("hashwatch.FetchImages", "error_robots_disallowed")] == 1
    assert counters[("hashwatch.FetchImages", "error_not_an_image")] == 1
    distributions = {
        m.key.metric.name: m.committed for m in result.metrics().query(MetricsFilter())["distributions"]
    }
    assert distributions["image_fetch_ms"].count == 7
    # Bodies read: the four images and the page that is not one; counted after the handler dropped them.
    assert distributions["image_bytes"].count == 5
    assert distributions["image_bytes"].min > 0


class _RaisingHandler(DigestImageHandler):
    def __call__(self, task, fetched):
        raise RuntimeError(f"{CONTENT_MARKER} {fetched.body[:10]!r}")


def test_a_broken_handler_becomes_rows_not_a_crashed_pipeline(servers):
    server = servers()
    server.html("/", '<img src="/i.png"><img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==">')
    from local_http import png_bytes

    server.add("/i.png", png_bytes(), "image/png")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        crawled, fetched = _crawl_pipeline(p, [server.url("/")], _config(max_depth=0), _RaisingHandler())
        rows = (
            (crawled.fetch_log, fetched.fetch_log)
            | beam.Flatten()
            | beam.Map(lambda r: (r.kind, r.outcome, r.error_kind, r.error_message))
        )
        assert_that(
            rows,
            equal_to(
                [
                    ("page", "ok", None, None),
                    ("image", "failed", "internal", "image handler raised RuntimeError"),
                    ("image", "failed", "internal", "image handler raised RuntimeError"),
                ]
            ),
        )
        assert_that(fetched.images, equal_to([]), label="NoImages")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["in_memory", "multi_threading", "multi_processing"])
def test_politeness_holds_however_the_runner_splits_the_work(servers, mode, monkeypatch):
    """Two hosts, two rounds and an image stage, on 1 or 2 embedded workers: per-host gaps never shrink.

    multi_processing starts SDK worker processes, which must import this module to unpickle its lambdas.
    """
    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent / "crawling"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    hosts = [servers("127.0.0.1"), servers("127.0.0.2")]
    for server in hosts:
        server.html("/", "".join(f'<a href="/p{i}">p</a><img src="/i{i}.png">' for i in range(3)))
        from local_http import png_bytes

        for i in range(3):
            server.html(f"/p{i}", f'<img src="/i{i}.png">')
            server.add(f"/i{i}.png", png_bytes(shade=i), "image/png")
    config = _config(per_host_delay=0.15, max_depth=1)
    options = PipelineOptions(
        [f"--direct_running_mode={mode}"] + (["--direct_num_workers=2"] if mode != "in_memory" else [])
    )
    started = time.monotonic()
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        crawled, fetched = _crawl_pipeline(p, [h.url("/") for h in hosts], config)
        oks = (
            (crawled.fetch_log, fetched.fetch_log) | beam.Flatten() | beam.Filter(lambda r: r.outcome == "ok")
        )
        assert_that(oks | beam.combiners.Count.Globally(), equal_to([2 * (1 + 3 + 3)]))
    elapsed = time.monotonic() - started
    for server in hosts:
        times = [r.at for r in server.requests]
        # robots.txt: once per host per worker process (the cache is per process)
        robots_fetches = collections.Counter(r.path for r in server.requests)["/robots.txt"]
        assert robots_fetches == 1 if mode != "multi_processing" else 1 <= robots_fetches <= 2
        gaps = [b - a for a, b in zip(times, times[1:])]
        trace = [(r.path, round(t, 3)) for r, t in zip(server.requests, gaps)]
        assert len(times) == 7 + robots_fetches and min(gaps) >= 0.15 - 0.01, trace
    assert elapsed < 120


# --- FetchImages spreads one host's images over shards when no delay can apply ---------------------------


@pytest.mark.parametrize(
    ("overrides", "shards"),
    [
        ({}, 1),  # the default: a 1 s delay, one place per host
        ({"per_host_delay": 0}, 1),  # robots.txt Crawl-delay may still apply (up to --max-crawl-delay)
        ({"per_host_delay": 0, "max_crawl_delay": 0}, 8),  # no delay at all: 8 in flight by default
        ({"per_host_delay": 0, "ignore_robots": True}, 8),
        ({"per_host_delay": 0, "max_crawl_delay": 0, "per_host_concurrency": 3}, 3),
        ({"per_host_delay": 0.5, "max_crawl_delay": 0, "per_host_concurrency": 3}, 1),
    ],
)
def test_image_shards_only_when_no_delay_can_apply(overrides, shards):
    assert image_shards(_config(**overrides)) == shards


def test_image_keys_are_stable_and_spread():
    urls = [f"http://127.0.0.1:8000/img/{i}.jpg" for i in range(400)]
    keys = [_image_key(url, 4) for url in urls]
    assert keys == [_image_key(url, 4) for url in urls]  # crc32, not the per-process salted hash()
    assert collections.Counter(keys).keys() == {f"http://127.0.0.1:8000#{k}/4" for k in range(4)}
    assert min(collections.Counter(keys).values()) > 60
    assert _image_key(urls[0], 1) == "http://127.0.0.1:8000"


class _PidHandler(DigestImageHandler):
    """Records which process fetched each image (in ``format``)."""

    def __call__(self, task, fetched):
        handled = super().__call__(task, fetched)
        return handled._replace(record=handled.record._replace(format=f"pid-{os.getpid()}"))


@pytest.mark.slow
def test_sharded_image_fetching_keeps_the_hosts_concurrency_across_workers(servers, monkeypatch):
    """Delay 0, Crawl-delay off, 2 requests in flight per host, two SDK worker processes: the host's images
    are split over 2 keys, and the server never sees more than 2 image requests at once."""
    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent / "crawling"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    from local_http import png_bytes

    server = servers()
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_image(handler, body):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            time.sleep(0.1)
            handler.send_body(200, body, "image/png")
        finally:
            with lock:
                active["now"] -= 1

    images = 24
    server.html("/", "".join(f'<img src="/i{i}.png">' for i in range(images)))
    for i in range(images):
        server.routes[f"/i{i}.png"] = functools.partial(slow_image, body=png_bytes(shade=i))
    config = _config(per_host_delay=0, max_crawl_delay=0, per_host_concurrency=2, max_depth=0)
    assert image_shards(config) == 2
    options = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        _, fetched = _crawl_pipeline(p, [server.url("/")], config, _PidHandler())
        assert_that(
            fetched.fetch_log | beam.Map(lambda r: (r.url.rsplit("/", 1)[1], r.outcome)),
            equal_to([(f"i{i}.png", "ok") for i in range(images)]),
        )
        pids = (
            fetched.images | beam.Map(lambda r: r.format) | beam.Distinct() | beam.combiners.Count.Globally()
        )
        assert_that(pids, equal_to([2]), label="TwoWorkerProcesses")
    assert active["max"] == 2, active  # both shards fetched at once, and never more than the concurrency
