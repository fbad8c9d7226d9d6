import gzip

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from hashwatch.errors import UserError
from transforms.seeds import (
    InvalidSeed,
    ReadSeeds,
    iter_seed_file,
    parse_seed_line,
    seed_dead_letter,
    seed_format,
    validate_seed_patterns,
)


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
        stream = p | ReadSeeds(patterns)
        assert_that(stream.fetch_log, equal_to([]), label="no dead letters")
        assert_that(
            stream.seeds,
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
            (p | ReadSeeds([str(seed_files / "d.tsv")], url_column="URL")).seeds,
            equal_to(["http://d.example/"]),
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


def _dead_letters(rows):
    return sorted((r.url, r.outcome, r.error_kind, r.error_message) for r in rows)


def test_lines_that_are_not_utf8_become_dead_letters_naming_file_and_line(tmp_path):
    text = tmp_path / "s.txt"
    text.write_bytes(
        b"\xef\xbb\xbfhttp://bom.example/\nhttp://ok.example/\nhttp://bad.example/\xff\xfe\n# c\n"
    )
    table = tmp_path / "s.csv"
    table.write_bytes(b"url,n\nhttp://c.example/,1\nhttp://c.example/\xe9t\xe9,2\n")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        stream = p | ReadSeeds([str(text), str(table)], run_id="r1")
        assert_that(
            stream.seeds,
            equal_to(["http://bom.example/", "http://ok.example/", "http://c.example/"]),
            label="seeds",
        )
        assert_that(
            stream.fetch_log | beam.combiners.ToList() | beam.Map(_dead_letters),
            equal_to(
                [
                    [
                        (
                            "http://bad.example/\ufffd\ufffd",
                            "failed",
                            "invalid_seed",
                            f"{text}:3: seed line is not UTF-8 text (byte 20 of the line)",
                        ),
                        (
                            "http://c.example/\ufffdt\ufffd",
                            "failed",
                            "invalid_seed",
                            f"{table}:3: URL cell is not UTF-8 text",
                        ),
                    ]
                ]
            ),
            label="dead letters",
        )


def test_a_file_that_breaks_part_way_keeps_its_seeds_and_says_where(tmp_path):
    good = gzip.compress(b"".join(b"http://h%d.example/\n" % i for i in range(5000)))
    broken = tmp_path / "s.txt.gz"
    broken.write_bytes(good[: len(good) // 2])  # cut off: gzip's end of stream is missing
    seeds = list(iter_seed_file(str(broken)))
    *urls, last = seeds
    assert urls and all(isinstance(u, str) for u in urls)
    assert urls == [f"http://h{i}.example/" for i in range(len(urls))]
    assert isinstance(last, InvalidSeed) and last.error_kind == "unreadable_seed_file"
    assert last.problem.startswith(f"seed file could not be read after {len(urls)} seed(s)")


def test_corrupt_parquet_seed_file_is_a_dead_letter_not_a_crash(tmp_path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"url": [f"http://h{i}.example/" for i in range(1000)]}), path)
    data = bytearray(path.read_bytes())
    for i in range(100, 400):  # inside the data page; the footer stays readable
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    validate_seed_patterns([str(path)])  # opens: the break is found while reading
    seeds = list(iter_seed_file(str(path)))
    assert isinstance(seeds[-1], InvalidSeed) and seeds[-1].error_kind == "unreadable_seed_file"
    row = seed_dead_letter("r1", seeds[-1])
    assert (row.url, row.kind, row.depth, row.outcome) == (str(path), "page", 0, "failed")
    assert row.error_message.startswith(f"{path}: seed file could not be read")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("s.parquet", b"PAR1 not really", r"s\.parquet: cannot be read as a Parquet file"),
        ("s.csv.gz", b"\x1f\x8b\x08\x00broken", r"s\.csv\.gz: cannot be read as a CSV/TSV file"),
    ],
)
def test_a_seed_file_that_does_not_open_is_a_start_up_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=message):
        validate_seed_patterns([str(tmp_path / name)])
