"""The hashing handler, the index-matching transform, the image-record merge and the Parquet writer."""

from __future__ import annotations

import glob

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from hashwatch.crawling.image_handler import FetchedBody
from hashwatch.hashing.image_hashes import compute_image_hashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.sites.synthetic_images import encode, synthetic_photo
from schemas import IMAGES_SCHEMA, ImageTask
from schemas.known_hashes import IndexRef
from transforms.hash_images import HashImageBody
from transforms.match import FixedIndex, MatchKnownHashes, image_hashes_of
from transforms.merge_images import MergeImageRecords
from transforms.parquet_output import WriteParquetTable


def _fetched(body: bytes) -> FetchedBody:
    return FetchedBody(body, "http://h/final.jpg", 200, "image/jpeg", "image/jpeg", 1)


@pytest.fixture(scope="module")
def photos():
    return {i: encode(synthetic_photo(500 + i, (320, 240))) for i in range(3)}


@pytest.fixture(scope="module")
def index_ref(photos, tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    known = compute_image_hashes(photos[0])
    (folder / "list.csv").write_text(
        "hash_type,hash_value,category,source,list_version,deleted\n"
        f"md5,{known.md5},A,test,v1,false\npdq,{known.pdq},B,test,v1,false\n"
    )
    report = build_index([str(folder / "list.csv")], str(folder / "i.hwidx"))
    return IndexRef(str(folder / "i.hwidx"), report.checksum)


def test_handler_records_every_hash_and_hashes_same_bytes_once(photos, monkeypatch):
    handler = HashImageBody("run-1")
    handler.setup()
    task = ImageTask("http://h/a.jpg", 1, ["http://h/p1", "http://h/p2"], "http://h/")
    first = handler(task, _fetched(photos[1]))
    assert first.error_kind is None
    record = first.record
    expected = compute_image_hashes(photos[1])
    assert (record.md5, record.pdq, record.phash, record.dhash) == (
        expected.md5,
        expected.pdq,
        expected.phash,
        expected.dhash,
    )
    assert record.page_urls == ["http://h/p1", "http://h/p2"] and record.final_url == "http://h/final.jpg"
    assert record.pdq_dihedral and len(record.pdq_dihedral) == 7
    # The same bytes at another URL come from the cache: identical hashes, no new decode.
    calls = []
    monkeypatch.setattr(
        "transforms.hash_images.compute_image_hashes",
        lambda *args, **kwargs: calls.append(1) or compute_image_hashes(*args, **kwargs),
    )
    again = handler(task._replace(image_url="http://other/b.jpg"), _fetched(photos[1]))
    handler(task, _fetched(photos[2]))
    assert again.record.pdq == record.pdq and again.record.image_url == "http://other/b.jpg"
    assert len(calls) == 1  # only photos[2] was new


def test_handler_turns_a_truncated_file_into_a_decode_error_row(photos):
    handler = HashImageBody("run-1")
    handler.setup()
    handled = handler(ImageTask("http://h/t.jpg", 0, [], "http://h/"), _fetched(photos[1][:1500]))
    assert handled.error_kind == "decode_error"
    assert handled.record.md5 and handled.record.pdq is None
    assert handled.record.decode_status == "decode_error"


def _record(photo: bytes, url: str, pages: list[str], depth: int = 1):
    handler = HashImageBody("r")
    handler.setup()
    return handler(ImageTask(url, depth, pages, "s"), _fetched(photo)).record


def test_image_hashes_round_trip_through_the_record(photos):
    record = _record(photos[0], "http://h/x.jpg", ["p"])
    assert image_hashes_of(record) == compute_image_hashes(photos[0])


def test_match_transform_reports_every_page_and_loads_the_index_once(photos, index_ref):
    known = _record(photos[0], "http://h/known.jpg", ["http://h/p1", "http://h/p2"])
    other = _record(photos[2], "http://h/other.jpg", ["http://h/p1"])
    with beam.Pipeline(runner=FnApiRunner()) as p:
        matches = p | beam.Create([known, other]) | MatchKnownHashes(FixedIndex(index_ref), "run-1")
        summary = matches | beam.Map(
            lambda m: (m.page_url, m.hash_type, m.match_kind, m.category, m.distance)
        )
        assert_that(
            summary,
            equal_to(
                [
                    ("http://h/p1", "md5", "exact", "A", 0),
                    ("http://h/p2", "md5", "exact", "A", 0),
                    ("http://h/p1", "pdq", "near", "B", 0),
                    ("http://h/p2", "pdq", "near", "B", 0),
                ]
            ),
        )
        checksums = matches | beam.Map(lambda m: m.index_checksum)
        assert_that(checksums, equal_to([index_ref.checksum] * 4), label="checksums")


def test_an_index_that_changed_under_the_job_is_refused(index_ref, tmp_path):
    from transforms.match import load_index

    with pytest.raises(ValueError, match="replaced while the job ran"):
        load_index(index_ref._replace(checksum="0" * 64))
    assert load_index(index_ref).checksum == index_ref.checksum
    assert isinstance(load_index(index_ref), KnownHashIndex)


def test_merge_keeps_one_row_per_url_with_all_pages(photos):
    a = _record(photos[1], "data:image/png;sha256=ab", ["http://h/p2"], depth=2)
    b = _record(photos[1], "data:image/png;sha256=ab", ["http://h/p1"], depth=1)
    c = _record(photos[2], "http://h/c.jpg", ["http://h/p1"])
    with beam.Pipeline(runner=FnApiRunner()) as p:
        merged = p | beam.Create([a, b, c]) | MergeImageRecords()
        assert_that(
            merged | beam.Map(lambda r: (r.image_url, tuple(r.page_urls), r.depth)),
            equal_to(
                [
                    ("data:image/png;sha256=ab", ("http://h/p1", "http://h/p2"), 1),
                    ("http://h/c.jpg", ("http://h/p1",), 1),
                ]
            ),
        )


def test_parquet_writer_partitions_and_writes_empty_tables(photos, tmp_path):
    record = _record(photos[1], "http://h/a.jpg", ["http://h/p"])
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (
            p
            | "Some" >> beam.Create([record])
            | "W1" >> WriteParquetTable(str(tmp_path), "images", IMAGES_SCHEMA, "r1", "2026-11-25")
        )
        _ = (
            p
            | "None" >> beam.Create([]).with_output_types(type(record))
            | "W2" >> WriteParquetTable(str(tmp_path), "images", IMAGES_SCHEMA, "r2", "2026-11-25")
        )
    written = glob.glob(str(tmp_path / "images/dt=2026-11-25/run_id=r1/*.parquet"))
    table = pq.read_table(written[0])
    assert table.schema.equals(IMAGES_SCHEMA) and table.num_rows == 1
    assert table.column("page_urls").to_pylist() == [["http://h/p"]]
    empty = glob.glob(str(tmp_path / "images/dt=2026-11-25/run_id=r2/*.parquet"))
    assert len(empty) == 1 and pq.read_table(empty[0]).num_rows == 0
