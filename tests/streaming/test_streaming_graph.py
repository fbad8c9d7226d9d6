"""The streaming crawl-and-match graph on TestStream (bundle-based DirectRunner) against the demo site.

Seeds arrive in two windows; a seed repeated in the second window is not crawled again; a late seed joins its
window as a second pane (a file of its own); junk seed lines end as failed rows; matches, images and
fetch_log are written per window and read back.
"""

from __future__ import annotations

import collections
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_stream
from apache_beam.transforms.window import TimestampedValue
from streaming_support import T0, streaming_pipeline

from hashwatch.audit import ContentIndex, audit_tree
from hashwatch.crawling.config import CrawlConfig
from hashwatch.run_config import OutputConfig, RunConfig, StreamingConfig
from pipelines.index_setup import prepare_index
from schemas import FetchLogRecord
from transforms.crawl_and_match import CrawlAndMatch, WindowedParquetTables
from transforms.index_refresh import IndexWatch
from transforms.seed_sources import SeedStream

pytestmark = [pytest.mark.network, pytest.mark.slow]

RUN_ID = "stream-test"
W0 = "20251124T160000Z-20251124T160100Z"
W1 = "20251124T160100Z-20251124T160200Z"


def _rows(output: Path, table: str) -> dict[str, list[dict]]:
    """File name (window and pane part) -> rows."""
    files = {}
    for path in sorted((output / table).rglob("*.parquet")):
        files[path.name.removeprefix("window-").split("-000")[0]] = pq.read_table(path).to_pylist()
    return files


@pytest.fixture(scope="module")
def streamed(served_demo_site, tmp_path_factory):
    site = served_demo_site.site
    a, b = site.hosts
    output = tmp_path_factory.mktemp("stream-out")
    ref, _ = prepare_index(str(output), [str(served_demo_site.hash_list)], None, False)
    copy = next(i.url for i in site.images if i.url.startswith(b) and "/copy-" in i.url)
    events = (
        test_stream.TestStream()
        .advance_watermark_to(T0)
        .add_elements(
            [
                TimestampedValue(a + "index.html", T0 + 1),
                TimestampedValue("not a url", T0 + 2),
                TimestampedValue("ftp://example.invalid/x", T0 + 3),
            ]
        )
        .advance_watermark_to(T0 + 65)
        .add_elements(
            [
                TimestampedValue(a + "index.html", T0 + 66),  # within the TTL: not crawled again
                TimestampedValue(b + "mirror.html", T0 + 67),
            ]
        )
        .advance_watermark_to(T0 + 130)
        .add_elements([TimestampedValue(copy, T0 + 30)])  # late: window 0, a second pane
        .advance_watermark_to_infinity()
    )
    config = RunConfig(
        crawl=CrawlConfig(allow_private_networks=True, per_host_delay=0, max_depth=2),
        output=OutputConfig(str(output), RUN_ID),
        streaming=StreamingConfig(window_length=60, allowed_lateness=600, dedupe_ttl=3600),
    )
    with streaming_pipeline() as p:
        seeds = p | "Seeds" >> events
        dead = p | "NoDeadLetters" >> beam.Create([]).with_output_types(FetchLogRecord)
        tables = SeedStream(seeds, dead) | CrawlAndMatch(config, IndexWatch(ref.path, str(output), 3600, ref))
        tables | WindowedParquetTables(str(output), RUN_ID)
    return site, output, ref, copy


def test_files_per_window_and_pane(streamed):
    _, output, _, _ = streamed
    assert set(_rows(output, "matches")) == {f"{W0}-pane0", f"{W1}-pane0", f"{W0}-pane1"}
    assert {f"{W0}-pane0", f"{W1}-pane0", f"{W0}-pane1"} <= set(_rows(output, "fetch_log"))
    for path in (output / "matches").rglob("*.parquet"):
        assert path.parent.name == f"run_id={RUN_ID}" and path.parent.parent.name == "dt=2025-11-24"


def test_matches_land_in_the_window_of_their_seed(streamed):
    site, output, ref, copy = streamed
    a, b = site.hosts
    files = _rows(output, "matches")
    first = files[f"{W0}-pane0"]
    originals = [i for i in site.images if i.role == "original" and i.url.startswith(a + "img/")]
    for image in originals:
        assert ("md5", a + "gallery/1.html") in {
            (r["hash_type"], r["page_url"]) for r in first if r["image_url"] == image.url
        }
    second = files[f"{W1}-pane0"]
    assert {r["page_url"] for r in second} == {b + "mirror.html"}
    late = files[f"{W0}-pane1"]
    assert {(r["image_url"], r["page_url"]) for r in late} == {(copy, None)}
    every = [r for rows in files.values() for r in rows]
    assert {r["index_checksum"] for r in every} == {ref.checksum}
    assert {r["list_version"] for r in every} == {"demo-2026-11-25.1"}


def test_every_url_one_outcome_row_per_window_and_one_attempt_per_ttl(streamed):
    site, output, _, _ = streamed
    a, b = site.hosts
    files = _rows(output, "fetch_log")
    for name, window_rows in files.items():
        per_window = collections.Counter(
            (r["url"], r["kind"]) for r in window_rows if not r["url"].startswith("data:")
        )
        assert max(per_window.values()) == 1, (name, [k for k, n in per_window.items() if n > 1])
    rows = [r for window_rows in files.values() for r in window_rows]
    attempted = collections.Counter(
        (r["url"], r["kind"]) for r in rows if r["outcome"] != "skipped" and not r["url"].startswith("data:")
    )
    assert max(attempted.values()) == 1, [k for k, n in attempted.items() if n > 1]
    assert attempted[(a + "index.html", "page")] == 1  # the repeat in window 1 was dropped
    # mirror.html: a link out of scope of host a in window 0 (skipped), then a seed of its own in window 1.
    mirror = sorted((r["outcome"], r["error_kind"]) for r in rows if r["url"] == b + "mirror.html")
    assert mirror == [("ok", None), ("skipped", "out_of_scope")]
    by_url = {r["url"]: r for r in rows}
    assert by_url["not a url"]["outcome"] == "failed"
    assert by_url["not a url"]["error_kind"] == "invalid_url"
    assert by_url["ftp://example.invalid/x"]["outcome"] == "failed"
    assert by_url[a + "private/secret.html"]["error_kind"] == "robots_disallowed"
    assert by_url[a + "img/truncated.jpg"]["error_kind"] == "decode_error"
    for r in rows:
        assert (r["outcome"] == "ok") == (r["error_kind"] is None), r


def test_images_table_has_the_hashes(streamed):
    site, output, _, _ = streamed
    images = {r["image_url"]: r for rows in _rows(output, "images").values() for r in rows}
    for image in site.images:
        if image.role in ("original", "edited", "distractor") and image.url in images:
            assert images[image.url]["md5"] and images[image.url]["decode_status"] == "ok"
    assert len(images) >= 10


def test_output_holds_no_image_content(served_demo_site, streamed):
    _, output, _, _ = streamed
    reference = ContentIndex()
    reference.add_files(str(p) for p in served_demo_site.root.rglob("*") if p.suffix in {".jpg", ".png"})
    assert audit_tree(str(output), reference) == []
