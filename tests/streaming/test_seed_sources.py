"""The watched folder's file reader: lines of text and CSV files; a file that cannot be read is a dead letter."""

from __future__ import annotations

import gzip

from apache_beam.io.filesystem import FileMetadata
from apache_beam.pvalue import TaggedOutput

from transforms.seed_sources import SEED_SOURCES, WatchedFolderSeeds, _ReadSeedFileFn


def _read(path) -> tuple[list[str], list]:
    fn = _ReadSeedFileFn("run", "url")
    fn.setup()
    out = list(fn.process(FileMetadata(str(path), 0)))
    return [o for o in out if not isinstance(o, TaggedOutput)], [
        o.value for o in out if isinstance(o, TaggedOutput)
    ]


def test_text_gzip_and_csv_files(tmp_path):
    (tmp_path / "a.txt").write_text("# a comment\nhttp://a.example/\n\n  http://b.example/x  \nnot a url\n")
    assert _read(tmp_path / "a.txt") == (["http://a.example/", "http://b.example/x", "not a url"], [])
    with gzip.open(tmp_path / "b.txt.gz", "wt") as handle:
        handle.write("http://c.example/\n")
    assert _read(tmp_path / "b.txt.gz") == (["http://c.example/"], [])
    (tmp_path / "c.csv").write_text("id,url\n1,http://d.example/\n2,\n")
    assert _read(tmp_path / "c.csv") == (["http://d.example/", ""], [])


def test_unreadable_file_is_one_failed_row(tmp_path):
    seeds, dead = _read(tmp_path / "vanished.txt")
    assert seeds == []
    (row,) = dead
    assert (row.url, row.outcome, row.error_kind, row.kind) == (
        str(tmp_path / "vanished.txt"),
        "failed",
        "unreadable_seed_file",
        "page",
    )
    (tmp_path / "no-column.csv").write_text("link\nhttp://e.example/\n")
    _, dead = _read(tmp_path / "no-column.csv")
    assert [r.error_kind for r in dead] == ["unreadable_seed_file"]
    assert "url" in dead[0].error_message


def test_folder_is_the_registered_source():
    assert isinstance(SEED_SOURCES["folder"](_config()), WatchedFolderSeeds)


def _config():
    from transforms.seed_sources import SeedSourceConfig

    return SeedSourceConfig(
        patterns=["/in/*.txt"], url_column="url", poll_interval_s=5, run_id="r", stop_after_s=None
    )
