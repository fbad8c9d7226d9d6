"""An animation through the match transform on the embedded runner (issue 19): its images/ record crosses
Beam's RowCoder with its frames, and the matches/ row of a listed later frame says animation and which frame."""

import csv

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from hashwatch.hashing.image_hashes import compute_image_hashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.sites.synthetic_animations import make_animation
from hashwatch.sites.synthetic_images import encode, synthetic_photo
from schemas import ImageRecord
from schemas.known_hashes import IndexRef
from transforms.match import FixedIndex, MatchKnownHashes


def test_a_later_frame_matches_through_match_known_hashes(tmp_path):
    listed = compute_image_hashes(encode(synthetic_photo(143, (320, 240)), "PNG"))
    still = compute_image_hashes(encode(synthetic_photo(143, (320, 240)), "JPEG"))
    animation = compute_image_hashes(make_animation("GIF", [141, 142, 143], (320, 240)))
    path = tmp_path / "list.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["hash_type", "hash_value", "source"], ["pdq", listed.pdq, "iwf"]])
    index = str(tmp_path / "known.hwidx")
    build_index([str(path)], index)
    ref = IndexRef(index, KnownHashIndex.load(index).checksum)
    records = [
        ImageRecord(
            run_id="r1",
            image_url=url,
            final_url=None,
            page_urls=["http://site.test/"],
            depth=1,
            http_status=200,
            content_type=None,
            hashed_at=1,
            **h.to_columns(),
        )
        for url, h in (("http://site.test/a.gif", animation), ("http://site.test/b.jpg", still))
    ]
    with BeamTestPipeline(runner="apache_beam.runners.portability.fn_api_runner.FnApiRunner") as pipeline:
        rows = (
            pipeline
            | beam.Create(records)
            | MatchKnownHashes(FixedIndex(ref), "r1")
            | beam.Map(lambda m: (m.image_url, m.hash_type, m.media_kind, m.frame_index))
        )
        assert_that(
            rows,
            equal_to(
                [
                    ("http://site.test/a.gif", "pdq", "animation", 2),
                    ("http://site.test/b.jpg", "pdq", "image", None),
                ]
            ),
        )
