"""A run that could detect nothing fails loudly; bad input ends in one line or a dead-letter row, never a
traceback; a run whose pipeline raised leaves no partial tables that look complete.

Each case runs ``hashwatch crawl`` as a user would (``crawl_match.main``: exit status, stdout, stderr) and
reads what the run left on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import crawl_match

LIST_HEADER = "hash_type,hash_value,category,source,list_version,deleted\n"
GOOD_ROW = f"md5,{'a' * 32},A,s,v1,false\n"


@pytest.fixture
def files(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(LIST_HEADER + GOOD_ROW)
    return tmp_path, listing, tmp_path / "out"


def _crawl(capsys, seeds: Path, listing: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    status = crawl_match.main(
        [f"--seeds={seeds}", f"--hash-list={listing}", f"--output-dir={out}", "--progress-interval=0", *extra]
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _manifest(out: Path) -> dict:
    (path,) = out.glob("_runs/dt=*/run_id=*/manifest.json")
    return json.loads(path.read_text())


def _fetch_log(out: Path) -> list[dict]:
    rows = []
    for path in sorted(out.glob("fetch_log/dt=*/run_id=*/*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def test_an_empty_seed_file_fails_loudly(capsys, files):
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_text("# nothing yet\n\n")
    status, stdout, _ = _crawl(capsys, seeds, listing, out)
    assert status == 3
    assert "PROBLEM: no seed URL" in stdout
    assert _manifest(out)["problems"] == [
        "no seed URL: the seed files hold no URL (only blank or # comment lines, or no rows)"
    ]


def test_allow_empty_lets_it_pass_and_still_records_why(capsys, files):
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_text("")
    status, stdout, _ = _crawl(capsys, seeds, listing, out, "--allow-empty")
    assert status == 0
    assert "PROBLEM: no seed URL" in stdout
    assert _manifest(out)["problems"]


@pytest.mark.parametrize(
    ("list_text", "extra"),
    [
        (LIST_HEADER, ()),  # header only
        (LIST_HEADER + "md5,not-hex,A,s,v1,false\nsha1,xyz,A,s,v1,false\n", ("--skip-invalid",)),
    ],
    ids=["header-only", "no-usable-row"],
)
def test_a_list_that_can_match_nothing_stops_before_crawling(capsys, files, list_text, extra):
    tmp, listing, out = files
    listing.write_text(list_text)
    seeds = tmp / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    status, stdout, _ = _crawl(capsys, seeds, listing, out, *extra)
    assert status == 3
    assert "PROBLEM: the known-hash index has no entry" in stdout
    manifest = _manifest(out)
    assert manifest["state"] == "NOT_STARTED"
    assert manifest["problems"][0].startswith("the known-hash index has no entry")
    assert not (out / "fetch_log").exists()  # nothing was crawled


def test_seeds_that_are_all_invalid_fail_loudly(capsys, files):
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_text("not a url\nftp://example.com/x\n")
    status, stdout, _ = _crawl(capsys, seeds, listing, out)
    assert status == 3
    assert "PROBLEM: nothing was fetched: every one of the 2 seed(s) failed or was skipped" in stdout


def test_every_seed_blocked_fails_loudly_with_a_hint(capsys, files):
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\nhttp://10.1.2.3/\n")
    status, stdout, _ = _crawl(capsys, seeds, listing, out)
    assert status == 3
    assert "(blocked_address 2)" in stdout
    assert "hint: 2 seed(s) were refused by the SSRF guard" in stdout
    assert "--allow-private-networks" in stdout


def test_seed_lines_that_are_not_utf8_are_dead_letters_not_a_traceback(capsys, files):
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_bytes(b"http://127.0.0.1:9/a\nhttp://127.0.0.1:9/\xff\xfe\n")
    status, stdout, stderr = _crawl(capsys, seeds, listing, out)
    assert "Traceback" not in stdout + stderr
    assert status == 3  # neither seed could be fetched
    kinds = sorted(row["error_kind"] for row in _fetch_log(out))
    assert kinds == ["blocked_address", "invalid_seed"]
    (bad,) = [row for row in _fetch_log(out) if row["error_kind"] == "invalid_seed"]
    assert bad["error_message"] == f"{seeds}:2: seed line is not UTF-8 text (byte 20 of the line)"


@pytest.mark.parametrize("where", ["out", "out/sub"])
def test_an_output_dir_that_is_a_file_is_one_line_and_status_2(capsys, files, where):
    tmp, listing, _ = files
    (tmp / "out").write_text("a file")
    seeds = tmp / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    status, _, stderr = _crawl(capsys, seeds, listing, tmp / where)
    assert status == 2
    assert stderr.strip().splitlines() == [
        line
        for line in stderr.strip().splitlines()
        if line.startswith("hashwatch crawl: error: --output-dir")
    ]
    assert "is a file" in stderr or "which is a file" in stderr


def test_a_pipeline_that_raises_leaves_a_failed_manifest_and_no_partial_tables(capsys, files, monkeypatch):
    import transforms.seeds

    def explode(path, url_column="url"):
        yield "http://127.0.0.1:9/"
        raise RuntimeError("boom")

    monkeypatch.setattr(transforms.seeds, "iter_seed_file", explode)
    tmp, listing, out = files
    seeds = tmp / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    status, stdout, stderr = _crawl(capsys, seeds, listing, out)
    assert status == 1
    assert "Traceback" not in stdout + stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("hashwatch crawl: error:")]
    assert "the pipeline failed (RuntimeError in step 'ReadSeeds/ReadSeedFile" in line
    manifest = _manifest(out)
    assert manifest["state"] == "FAILED" and manifest["error"].startswith("RuntimeError")
    assert not list(out.glob("*/dt=*/run_id=*/*.parquet"))  # no table of this run is left
    (log,) = out.glob("_runs/dt=*/run_id=*/run.log")
    assert "RuntimeError: boom" in log.read_text()  # the traceback is kept, off the console
