import gzip

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from hashwatch.errors import UserError
from transforms.seeds import ReadSeeds, parse_seed_line, seed_format, validate_seed_patterns


@pytest.fixture
def seed_files(tmp_path):
    (tmp_path / "a.txt").write_text("# a comment\nhttp://a.example/\n\n  http://b.example/x  \n#http://no/\n")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as handle:
        handle.write("http://gz.example/\n")
    (tmp_path / "c.csv").write_text(
        'url,caption\nhttp://c.example/1,"a, b"\n,empty url\nhttp://c.example/2,x\n'
    )
    (tmp_path / "d.tsv").write_text("id\tURL\n1\thttp://d.example/\n")
    pq.write_table(pa.table({"url": ["http://p.example/", None], "w": [1, 2]}), tmp_path / "e.parquet")
    return tmp_path


def test_parse_seed_line():
    assert parse_seed_line("  http://x/ \n") == "http://x/"
    assert parse_seed_line("# comment") is None
    assert parse_seed_line("   ") is None


def test_seed_format():
    assert seed_format("s/*.parquet") == "parquet"
    assert seed_format("s.CSV") == "csv"
    assert seed_format("s.tsv.gz") == "csv"
    assert seed_format("seeds.txt") == "text"


def test_read_all_formats(seed_files):
    patterns = [str(seed_files / "*.txt*"), str(seed_files / "c.csv"), str(seed_files / "e.parquet")]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        seeds = p | ReadSeeds(patterns)
        assert_that(
            seeds,
            equal_to(
                [
                    "http://a.example/",
                    "http://b.example/x",
                    "http://gz.example/",
                    "http://c.example/1",
                    "",  # the empty CSV cell: kept so it ends as an invalid_url outcome row
                    "http://c.example/2",
                    "http://p.example/",
                    "",  # the null Parquet cell, likewise
                ]
            ),
        )


def test_url_column_option(seed_files):
    with beam.Pipeline(runner=FnApiRunner()) as p:
        assert_that(
            p | ReadSeeds([str(seed_files / "d.tsv")], url_column="URL"), equal_to(["http://d.example/"])
        )


def test_validation_errors_say_what_to_change(seed_files):
    with pytest.raises(UserError, match=r"d\.tsv: no 'url' column .* --seed-url-column"):
        validate_seed_patterns([str(seed_files / "d.tsv")])
    with pytest.raises(UserError, match="no seed file matches"):
        validate_seed_patterns([str(seed_files / "nothing-*.txt")])
    with pytest.raises(UserError, match=r"e\.parquet: no 'link' column"):
        validate_seed_patterns([str(seed_files / "e.parquet")], url_column="link")
    with pytest.raises(UserError, match="no seeds given"):
        validate_seed_patterns([])
    assert validate_seed_patterns([str(seed_files / "a.txt"), str(seed_files / "c.csv")]) == [
        str(seed_files / "a.txt"),
        str(seed_files / "c.csv"),
    ]
