"""MatchKnownHashes with an allowlist: the crawl's matches without allowlisted list entries or images."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from schemas.known_hashes import IndexRef
from transforms.match import FixedIndex, MatchKnownHashes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rescan"))
from rescan_helpers import image  # noqa: E402


def test_allowlisted_entries_and_images_produce_no_match_rows(tmp_path):
    rnd = random.Random(5)
    images = [image(rnd, f"http://x/{i}.jpg", pages=("http://x/a", "http://x/b")) for i in range(4)]
    listed = tmp_path / "list.csv"
    with listed.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hash_type", "hash_value", "source"])
        for i in images:
            writer.writerow(["md5", i.md5, "iwf"])
        writer.writerow(["pdq", images[0].pdq, "iwf"])
    path = str(tmp_path / "known.hwidx")
    build_index([str(listed)], path)
    ref = IndexRef(path, KnownHashIndex.load(path).checksum)
    allowlist = Allowlist.parse(
        (
            "hash_type,hash_value,reason,scope\n"
            f"md5,{images[1].md5},collision,list\n"  # a list entry known to collide
            f"sha256,{images[2].sha256},cleared,image\n"  # an image known innocent
        ).encode(),
        "allow.csv",
    )
    with BeamTestPipeline(runner="apache_beam.runners.portability.fn_api_runner.FnApiRunner") as pipeline:
        matches = (
            pipeline
            | beam.Create(images)
            | MatchKnownHashes(FixedIndex(ref), "run-1", allowlist=allowlist)
            | beam.Map(lambda m: (m.image_url, m.page_url, m.hash_type))
        )
        expected = [
            (images[k].image_url, page, hash_type)
            for k, hash_type in ((0, "md5"), (0, "pdq"), (3, "md5"))
            for page in ("http://x/a", "http://x/b")
        ]
        assert_that(matches, equal_to(expected))
    counters = pipeline.result.metrics().query()["counters"]
    allowlisted = sum(c.committed for c in counters if c.key.metric.name == "allowlisted_matches")
    assert allowlisted == 4  # two matches (image 1's md5, image 2's md5), each on two pages
