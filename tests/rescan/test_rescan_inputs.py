"""Bad input to the rescan: a clear one-line error before any work, or a counted, written dead letter."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rescan_helpers import image, run_rows, write_history, write_list

from hashwatch.cli import main as cli_main
from hashwatch.errors import UserError
from pipelines.rescan import run

RND = random.Random(3)


@pytest.fixture
def listed(tmp_path):
    """A history of three images (the first one listed) and its list."""
    images = [image(RND, f"http://cdn.test/{i}.jpg") for i in range(3)]
    out = tmp_path / "out"
    write_history(out, images)
    hash_list = write_list(tmp_path / "list.csv", [("md5", images[0].md5, "A", "iwf", "v1", "false")])
    return out, hash_list, images


def rescan(out, hash_list, *extra):
    return run([f"--history-dir={out}", f"--hash-list={hash_list}", "--progress-interval=0", *extra])


def test_missing_history_is_a_clear_error(tmp_path, listed):
    _, hash_list, _ = listed
    with pytest.raises(
        UserError, match=r"no images/ history to rescan: no file matches .*nowhere/images/dt="
    ):
        rescan(tmp_path / "nowhere", hash_list)


def test_empty_dt_range_is_a_clear_error(listed):
    out, hash_list, _ = listed
    with pytest.raises(UserError, match=r"with dt in \[2027-01-01, \.\.\.\]"):
        rescan(out, hash_list, "--since=2027-01-01")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--since=2026-13-01"], "not a valid date"),
        (["--until=yesterday"], "expected a day, YYYY-MM-DD"),
        (["--since=2026-11-02", "--until=2026-11-01"], "is after --until"),
        (["--threshold=pdq"], "expected TYPE=N"),
        (["--threshold=nosuch=3"], "unknown hash type 'nosuch'"),
        (["--max-dept=3"], r"unknown option\(s\): --max-dept"),
    ],
)
def test_bad_flags_are_clear_errors(listed, flags, message):
    out, hash_list, _ = listed
    with pytest.raises(UserError, match=message):
        rescan(out, hash_list, *flags)


def test_history_file_with_a_wrong_schema_names_file_and_column(listed):
    out, hash_list, _ = listed
    stray = out / "images" / "dt=2026-11-02" / "run_id=oops"
    stray.mkdir(parents=True)
    pq.write_table(pa.table({"url": ["http://x/"], "outcome": ["ok"]}), stray / "part-0.parquet")
    with pytest.raises(
        UserError, match=r"run_id=oops/part-0.parquet: not a images/ file: it has no column 'image_url'"
    ):
        rescan(out, hash_list)


def test_history_column_of_the_wrong_type_is_named(listed):
    out, hash_list, images = listed
    table = pq.read_table(next((out / "images").rglob("*.parquet")))
    bad = table.set_column(table.schema.get_field_index("md5"), "md5", pa.array([1, 2, 3], pa.int64()))
    target = out / "images" / "dt=2026-11-02" / "run_id=typed"
    target.mkdir(parents=True)
    pq.write_table(bad, target / "part-0.parquet")
    with pytest.raises(UserError, match=r"column 'md5' is int64, a images/ file has string"):
        rescan(out, hash_list)


def test_history_file_that_is_not_parquet(listed):
    out, hash_list, _ = listed
    target = out / "images" / "dt=2026-11-02" / "run_id=junk"
    target.mkdir(parents=True)
    (target / "part-0.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match=r"part-0.parquet: cannot read as Parquet"):
        rescan(out, hash_list)


def test_empty_list_is_a_clear_error(tmp_path, listed):
    out, _, _ = listed
    empty = write_list(tmp_path / "empty.csv", [])
    with pytest.raises(UserError, match="holds no entries"):
        rescan(out, empty)


def test_malformed_list_row_names_file_and_line(tmp_path, listed):
    out, _, _ = listed
    bad = write_list(tmp_path / "bad.csv", [("md5", "abc", "A", "iwf", "v1", "false")])
    with pytest.raises(UserError, match=r"bad.csv:2: md5 needs 32 hex digits, got 3"):
        rescan(out, bad)


def test_lists_and_index_exclude_each_other_and_one_is_needed(tmp_path, listed):
    out, hash_list, _ = listed
    with pytest.raises(UserError, match="exclude each other"):
        rescan(out, hash_list, f"--index={tmp_path / 'x.hwidx'}")
    with pytest.raises(UserError, match="give the known hashes"):
        run([f"--history-dir={out}"])
    with pytest.raises(UserError, match="--history-dir is required"):
        run([f"--hash-list={hash_list}"])


def test_bad_allowlist_names_file_and_line(tmp_path, listed):
    out, hash_list, _ = listed
    allowlist = tmp_path / "allow.csv"
    allowlist.write_text("hash_type,hash_value,reason\npdq,abcd,too short\n")
    with pytest.raises(UserError, match=r"allow.csv:2: pdq needs 64 hex digits, got 4"):
        rescan(out, hash_list, f"--allowlist={allowlist}")


@pytest.mark.slow
def test_run_id_is_never_reused(listed):
    out, hash_list, _ = listed
    rescan(out, hash_list, "--run-id=nightly-1")
    with pytest.raises(UserError, match="run id nightly-1 already has output"):
        rescan(out, hash_list, "--run-id=nightly-1")


@pytest.mark.slow
def test_malformed_history_rows_are_written_as_rejected_rows_not_dropped(listed):
    out, hash_list, images = listed
    bad = [
        image(RND, "http://cdn.test/short-md5.jpg", md5="abc"),
        image(RND, "http://cdn.test/upper.jpg", pdq="A" * 64),
        image(RND, "", md5=images[0].md5),
        image(RND, "http://cdn.test/dihedral.jpg", pdq_dihedral=["0" * 64] * 6),
        image(RND, "http://cdn.test/also-listed.jpg", md5=images[0].md5),  # fine: must still match
    ]
    write_history(out, bad, day="2026-11-02", run_id="crawl-2")
    report = rescan(out, hash_list)
    rejected = run_rows(out, "rejected_rows", report.run_id)
    assert sorted((r["image_url"], r["column"], r["error_kind"]) for r in rejected) == [
        ("", "image_url", "missing_image_url"),
        ("http://cdn.test/dihedral.jpg", "pdq_dihedral", "invalid_hash"),
        ("http://cdn.test/short-md5.jpg", "md5", "invalid_hash"),
        ("http://cdn.test/upper.jpg", "pdq", "invalid_hash"),
    ]
    assert all(r["file"].endswith(".parquet") and "crawl-2" in r["file"] for r in rejected)
    assert all("abc" not in r["error_message"] for r in rejected)  # the value itself is never copied
    assert report.rejected_rows == 4
    assert report.rejected_by_error == {
        "image_url/missing_image_url": 1,
        "md5/invalid_hash": 1,
        "pdq/invalid_hash": 1,
        "pdq_dihedral/invalid_hash": 1,
    }
    matched = {r["image_url"] for r in run_rows(out, "matches", report.run_id)}
    assert matched == {images[0].image_url, "http://cdn.test/also-listed.jpg"}


@pytest.mark.slow
def test_cli_rescan_runs_and_reports_errors_in_one_line(listed, capsys):
    out, hash_list, _ = listed
    assert (
        cli_main(["rescan", f"--history-dir={out}", f"--hash-list={hash_list}", "--progress-interval=0"]) == 0
    )
    assert "new matches     1" in capsys.readouterr().out
    assert cli_main(["rescan", f"--history-dir={out}/none", f"--hash-list={hash_list}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hashwatch rescan: error: no images/ history to rescan")


def test_cli_passes_leading_flags_to_the_pipelines(capsys):
    # argparse leaves options before any positional out of a REMAINDER: they must still reach the pipeline.
    assert cli_main(["crawl", "--seeds=nowhere.txt"]) == 2
    assert "hashwatch crawl: error: --output-dir is required" in capsys.readouterr().err
    assert cli_main(["rescan", "--help"]) == 0
    assert "--history-dir" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main(["hash", "--no-such-flag"])


def test_a_history_without_rows_is_refused_unless_allowed(tmp_path, listed):
    _, hash_list, _ = listed
    empty = tmp_path / "empty"
    write_history(empty, [])  # the files a crawl that hashed nothing leaves
    with pytest.raises(UserError, match=r"the images/ history holds no row \(1 files under .*--allow-empty"):
        rescan(empty, hash_list)
    assert rescan(empty, hash_list, "--allow-empty").state == "DONE"


def test_a_rescan_whose_pipeline_raises_prints_one_line_and_writes_a_failed_manifest(
    listed, capsys, monkeypatch
):
    import json

    import transforms.rescan
    from pipelines import rescan as rescan_module

    out, hash_list, _ = listed

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(transforms.rescan._MatchHistoryFn, "process", explode)
    status = rescan_module.main([f"--history-dir={out}", f"--hash-list={hash_list}", "--progress-interval=0"])
    err = capsys.readouterr().err
    assert status == 1
    (line,) = [x for x in err.splitlines() if x.startswith("hashwatch rescan: error:")]
    assert "the pipeline failed (RuntimeError" in line and "Traceback" not in err
    (manifest,) = out.glob("_runs/dt=*/run_id=*/manifest.json")
    assert json.loads(manifest.read_text())["state"] == "FAILED"
