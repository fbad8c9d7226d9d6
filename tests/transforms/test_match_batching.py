"""MatchKnownHashes matches a bundle's images in batches (KnownHashIndex.match_many), and its rows keep their
image's window and timestamp (streaming assigns windows before matching)."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MATCH_BATCH
from schemas.known_hashes import IndexRef
from transforms import match as match_module
from transforms.match import FixedIndex, MatchKnownHashes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rescan"))
from rescan_helpers import image  # noqa: E402

PAGES = ("http://x/a", "http://x/b")


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """Images, and an index listing the MD5 of every third and the PDQ of every fifth."""
    rnd = random.Random(11)
    images = [image(rnd, f"http://x/{i}.jpg", pages=PAGES) for i in range(2 * MATCH_BATCH + 7)]
    folder = tmp_path_factory.mktemp("batching")
    with (folder / "list.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hash_type", "hash_value", "category", "source"])
        for i, img in enumerate(images):
            if i % 3 == 0:
                writer.writerow(["md5", img.md5, "A", "iwf"])
            if i % 5 == 0:
                writer.writerow(["pdq", img.pdq, "B", "ncmec"])
    path = str(folder / "known.hwidx")
    build_index([str(folder / "list.csv")], path)
    return images, IndexRef(path, KnownHashIndex.load(path).checksum)


def _expected_rows(images, ref) -> list[tuple]:
    """The rows one-by-one matching gives (KnownHashIndex.match per image, every page)."""
    index = KnownHashIndex.load(ref.path)
    return sorted(
        (img.image_url, page, m.hash_type, m.list_hash, m.distance, m.category, m.source)
        for img in images
        for m in index.match(match_module.image_hashes_of(img))
        for page in img.page_urls
    )


def test_a_bundle_is_matched_in_batches_with_the_same_rows(listed, monkeypatch):
    """More than one image per match_many call, none matched one by one, and the rows one-by-one matching
    gives. On main each image was matched alone (match_many with one image, through match)."""
    images, ref = listed
    expected = _expected_rows(images, ref)
    sizes: list[int] = []
    original = KnownHashIndex.match_many

    def counting(self, many, options=None):
        sizes.append(len(many))
        return original(self, many, options)

    monkeypatch.setattr(KnownHashIndex, "match_many", counting)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        rows = (
            pipeline
            | beam.Create(images, reshuffle=False)
            | MatchKnownHashes(FixedIndex(ref), "run-1")
            | beam.Map(
                lambda m: (
                    m.image_url,
                    m.page_url,
                    m.hash_type,
                    m.list_hash,
                    m.distance,
                    m.category,
                    m.source,
                )
            )
        )
        assert_that(rows, equal_to(expected))
    assert len(expected) > 2 * MATCH_BATCH // 3  # the check has rows to compare
    assert sum(sizes) == len(images)
    assert max(sizes) == MATCH_BATCH and len(sizes) < len(images) // 10


class _FixedWatch:
    """Stands for a streaming job's IndexWatch (an IndexSource that is not a FixedIndex): always this index."""

    def __init__(self, ref: IndexRef):
        self.ref = ref

    def current(self) -> IndexRef:
        return self.ref


@pytest.mark.parametrize("index_from", ["fixed", "watch"])
def test_match_rows_keep_their_image_window_and_timestamp(listed, index_from):
    """Images in fixed windows at their own timestamps: each row comes out in its image's window, at its
    timestamp, although it was matched in a batch with images of other windows; with a fixed index (batch)
    or a watch (streaming; a first version of this change got the window as the timestamp when Beam shifted
    DoFn parameters after an unfilled side-input argument)."""
    images, ref = listed
    stamp = {img.image_url: 1_000 + 7 * i for i, img in enumerate(images)}
    index = KnownHashIndex.load(ref.path)
    expected = sorted(
        (img.image_url, stamp[img.image_url], stamp[img.image_url] // 60 * 60)
        for img in images
        for _ in index.match(match_module.image_hashes_of(img))
        for _page in img.page_urls
    )

    def where(m, ts=beam.DoFn.TimestampParam, win=beam.DoFn.WindowParam):
        return (m.image_url, int(ts.micros // 1_000_000), int(win.start.micros // 1_000_000))

    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        refs = FixedIndex(ref) if index_from == "fixed" else _FixedWatch(ref)
        rows = (
            pipeline
            | beam.Create(images, reshuffle=False)
            | beam.Map(lambda img: window.TimestampedValue(img, stamp[img.image_url]))
            | beam.WindowInto(window.FixedWindows(60))
            | MatchKnownHashes(refs, "run-1")
            | beam.Map(where)
        )
        assert_that(rows, equal_to(expected))
    assert len({w for _, _, w in expected}) > 3  # rows of several windows
