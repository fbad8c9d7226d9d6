"""Bad configuration fails at start-up with a message that says what to change."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hashwatch.errors import UserError
from pipelines.crawl_match import run
from pipelines.index_setup import prepare_index
from pipelines.options import reject_unknown_flags


@pytest.fixture
def inputs(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n")
    listing = tmp_path / "list.csv"
    listing.write_text(
        f"hash_type,hash_value,category,source,list_version,deleted\nmd5,{'a' * 32},A,s,v1,false\n"
    )
    return seeds, listing, tmp_path / "out"


def test_unknown_flag_is_an_error_not_a_warning():
    with pytest.raises(UserError, match="unknown option.*--max-dept"):
        reject_unknown_flags(["--max-dept=3", "--runner=FlinkRunner"])
    reject_unknown_flags(["--max-depth=3", "--runner=FlinkRunner", "--parallelism=2", "--output-dir=x"])


def test_a_bad_flag_value_is_one_line_not_beams_whole_usage(inputs, capsys):
    from pipelines.crawl_match import main

    seeds, listing, out = inputs
    argv = [f"--seeds={seeds}", f"--hash-list={listing}", f"--output-dir={out}", "--per-host-delay=abc"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hashwatch crawl: error: argument --per-host-delay: invalid float value: 'abc'"]


@pytest.mark.parametrize(
    ("drop", "extra", "message"),
    [
        ("--output-dir", [], "--output-dir is required"),
        ("--hash-list", [], "--hash-list FILE .* or --index FILE"),
        (None, ["--index=x.hwidx"], "exclude each other"),
        ("--seeds", [], "no seeds given"),
    ],
)
def test_missing_or_conflicting_options(inputs, drop, extra, message):
    seeds, listing, out = inputs
    argv = [f"--seeds={seeds}", f"--hash-list={listing}", f"--output-dir={out}", *extra]
    argv = [arg for arg in argv if drop is None or not arg.startswith(drop)]
    with pytest.raises(UserError, match=message):
        run(argv)


def test_a_bad_list_row_names_file_and_line(inputs):
    seeds, listing, out = inputs
    listing.write_text(listing.read_text() + "md5,not-hex,A,s,v1,false\n")
    with pytest.raises(UserError, match=r"list\.csv:3: md5 needs 32 hex digits"):
        run([f"--seeds={seeds}", f"--hash-list={listing}", f"--output-dir={out}"])
    ref, info = prepare_index(str(out), [str(listing)], None, skip_invalid=True)
    assert info["build"]["rows_skipped"] == 1
    assert info["index"] == ref.path and ref.path.startswith(str(out / "_indexes"))


def test_prebuilt_index_is_used_as_is(inputs):
    _, listing, out = inputs
    ref, info = prepare_index(str(out), [str(listing)], None, skip_invalid=False)
    again, info2 = prepare_index(str(out), [], ref.path, skip_invalid=False)
    assert again == ref and info2["checksum"] == info["checksum"]
    with pytest.raises(UserError, match="no such index file"):
        prepare_index(str(out), [], str(out / "missing.hwidx"), skip_invalid=False)


def test_cli_prints_one_line_and_exits_2(inputs):
    seeds, _, out = inputs
    proc = subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", "crawl", f"--seeds={seeds}", f"--output-dir={out}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("hashwatch crawl: error: give the known hashes")


def test_relative_paths_reach_the_workers_as_absolute_paths(inputs, monkeypatch):
    """On Flink the SDK workers resolve paths in the worker pool's working folder, not the launcher's."""
    seeds, listing, out = inputs
    monkeypatch.chdir(out.parent)
    report = run(
        [f"--seeds={seeds.name}", f"--hash-list={listing.name}", "--output-dir=out", "--progress-interval=0"]
    )
    assert report.state == "DONE"
    assert report.output == str(out)
    assert report.options["output_dir"] == str(out) and report.options["seeds"] == [str(seeds)]
    assert report.index["index"].startswith(str(out / "_indexes") + "/")
    assert report.fetches  # the launcher read back what the workers wrote


def test_candidates_flag_picks_switches_off_or_rejects_families(inputs):
    from hashwatch.hashing.candidate_defaults import DEFAULT_CANDIDATE_FAMILIES
    from pipelines.options import candidate_families

    assert candidate_families("default") == candidate_families(None) == DEFAULT_CANDIDATE_FAMILIES
    assert candidate_families("none") == ()
    assert candidate_families("trimmed, deskew") == ("trimmed", "deskew")
    seeds, listing, out = inputs
    with pytest.raises(UserError, match="--candidates: unknown candidate families: wobble"):
        run(
            [
                f"--seeds={seeds}",
                f"--hash-list={listing}",
                f"--output-dir={out}",
                "--candidates=trimmed,wobble",
            ]
        )


def test_candidate_hash_types_flag():
    from pipelines.options import KnownHashOptions, match_options_from

    default = match_options_from(KnownHashOptions([]))
    assert default.candidate_types() == {"pdq"}
    both = match_options_from(KnownHashOptions(["--candidate-hash-types=pdq,phash", "--candidates=trimmed"]))
    assert both.candidate_types() == {"pdq", "phash"} and both.candidate_families() == {"trimmed"}
    with pytest.raises(UserError, match="--candidate-hash-types: dhash"):
        match_options_from(KnownHashOptions(["--candidate-hash-types=dhash"]))


def test_corroboration_flags():
    from pipelines.options import KnownHashOptions, match_options_from

    default = match_options_from(KnownHashOptions([]))
    assert default.corroborations() == {"phash": ("dhash", 12)} and default.uncorroborated == "keep"
    off = match_options_from(KnownHashOptions(["--corroborate=none"]))
    assert off.corroborations() == {}
    tight = match_options_from(KnownHashOptions(["--corroborate=phash=dhash:6", "--uncorroborated=drop"]))
    assert tight.corroborations() == {"phash": ("dhash", 6)} and tight.uncorroborated == "drop"
    by_pdq = match_options_from(KnownHashOptions(["--corroborate", "PHASH=pdq:70"]))
    assert by_pdq.corroborations() == {"phash": ("pdq", 70)}
    for bad, message in (
        ("phash=dhash", "expected TYPE=OTHER:N"),
        ("phash=dhash:x", "expected TYPE=OTHER:N"),
        ("phash=nohash:3", "unknown hash type 'nohash'"),
        ("md5=dhash:3", "md5 is not a perceptual"),
        ("phash=phash:3", "cannot corroborate itself"),
    ):
        with pytest.raises(UserError, match=message):
            match_options_from(KnownHashOptions([f"--corroborate={bad}"]))
    with pytest.raises(UserError, match="cannot be combined"):
        match_options_from(KnownHashOptions(["--corroborate=none", "--corroborate=phash=dhash:3"]))
