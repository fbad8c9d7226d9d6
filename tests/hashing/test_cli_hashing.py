"""hashwatch hash / index build / index info / match: JSON lines out, one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hashwatch.cli import main

from .conftest import encode, synthetic_array


def run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", *args], input=stdin, capture_output=True, check=False
    )


@pytest.fixture()
def images(tmp_path):
    arr = synthetic_array(640, 480, seed=42)
    paths = {}
    for name, data in {
        "photo.jpg": encode(arr, "JPEG", quality=92),
        "rotated.png": encode(np.rot90(arr).copy(), "PNG"),
        "other.png": encode(synthetic_array(500, 400, seed=43), "PNG"),
        "broken.jpg": encode(arr, "JPEG")[:300],
    }.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    return paths


def test_hash_prints_one_json_line_per_file(images):
    out = run(["hash", images["photo.jpg"], images["broken.jpg"]])
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["file"] for r in rows] == [images["photo.jpg"], images["broken.jpg"]]
    assert rows[0]["decode_status"] == "ok" and len(rows[0]["pdq"]) == 64
    assert rows[1]["decode_status"] == "decode_error" and rows[1]["pdq"] is None
    assert len(rows[1]["sha256"]) == 64


def test_hash_reads_stdin_and_selects_types(images):
    with open(images["photo.jpg"], "rb") as fh:
        data = fh.read()
    out = run(["hash", "-", "--types", "md5,phash"], stdin=data)
    row = json.loads(out.stdout)
    assert row["file"] == "-" and row["phash"] and row["pdq"] is None and row["dhash"] is None


def test_build_info_and_match(tmp_path, images, capsys):
    assert main(["hash", images["photo.jpg"], images["other.png"]]) == 0
    photo, other = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    lst = tmp_path / "known.csv"
    lst.write_text(
        "hash_type,hash_value,category,source,list_version\n"
        f"pdq,{photo['pdq']},A,test-list,3\n"
        f"md5,{other['md5']},B,test-list,3\n",
        encoding="utf-8",
    )
    index = str(tmp_path / "known.hwidx")
    assert main(["index", "build", str(lst), "--out", index]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["entries"] == {"md5": 1, "pdq": 1}
    assert report["list_versions"] == {"test-list": "3"}

    assert main(["index", "info", index, "--verify"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["checksum"] == report["checksum"] and info["verified"] is True

    assert (
        main(["match", "--index", index, images["photo.jpg"], images["rotated.png"], images["other.png"]])
        == 0
    )
    found = capsys.readouterr()
    assert found.err.startswith("hashwatch match: 3 match(es) in 3 of 3 file(s) against")
    matches = [json.loads(x) for x in found.out.splitlines()]
    by_file = {(m["file"], m["hash_type"]): m for m in matches}
    assert by_file[(images["photo.jpg"], "pdq")]["variant"] is None
    assert by_file[(images["rotated.png"], "pdq")]["variant"] is not None  # dihedral match
    assert by_file[(images["other.png"], "md5")]["match_kind"] == "exact"
    assert by_file[(images["other.png"], "md5")]["category"] == "B"
    assert len(matches) == 3

    assert (
        main(["match", "--index", index, "--no-dihedral", images["rotated.png"], images["broken.jpg"]]) == 0
    )
    nothing = capsys.readouterr()
    assert nothing.out == ""  # stdout stays JSON lines; the verdict is on stderr, never silence
    assert nothing.err.startswith("hashwatch match: no match in 2 file(s); not decoded as images")
    assert f"{images['broken.jpg']} (" in nothing.err and f"against {index} (2 entries)" in nothing.err
    # The list holds this very file's PDQ: distance 0 still matches at threshold 0, and --match-types pdq
    # drops the md5 match of other.png.
    args = ["match", "--index", index, "--threshold", "pdq=0", "--match-types", "pdq"]
    assert main([*args, images["photo.jpg"], images["other.png"]]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["file"], r["hash_type"], r["distance"]) for r in rows] == [(images["photo.jpg"], "pdq", 0)]


def test_errors_are_one_line_and_exit_2(tmp_path, images):
    bad = tmp_path / "bad.csv"
    bad.write_text("hash_type,hash_value\nmd5,xyz\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(f"hash_type,hash_value\nmd5,{'a' * 32}\n", encoding="utf-8")
    cases = [
        (["index", "build", str(bad), "--out", str(tmp_path / "x")], "bad.csv:2: md5 needs 32 hex digits"),
        (["match", "--index", str(bad), images["photo.jpg"]], "not a hashwatch index"),
        (["hash", str(tmp_path / "missing.jpg")], "no such file"),
        (["index", "build", str(tmp_path), "--out", str(tmp_path / "x")], "is a folder: give list files"),
        (
            ["index", "build", str(good), "--out", str(tmp_path / "photo.jpg" / "x.hwidx")],
            "cannot write the index",
        ),
        (["hash", "--types", "nope", images["photo.jpg"]], "unknown hash types: nope"),
        (
            ["match", "--index", str(bad), "--threshold", "pdq", images["photo.jpg"]],
            "--threshold wants TYPE=N",
        ),
    ]
    for args, message in cases:
        out = run(args)
        err = out.stderr.decode()
        assert out.returncode == 2, args
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert out.stdout == b""


def test_index_build_names_the_rows_it_skips_and_refuses_an_empty_index(tmp_path, capsys):
    lst = tmp_path / "known.csv"
    rows = "".join(f"md5,{'x' * 32},A,s,1\n" for _ in range(7))  # not hex
    lst.write_text("hash_type,hash_value,category,source,list_version\n" + rows, encoding="utf-8")
    index = str(tmp_path / "known.hwidx")
    assert main(["index", "build", str(lst), "--out", index, "--skip-invalid"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "hashwatch index build: --skip-invalid skipped 7 of 7 list rows (invalid md5 value 7): "
        + "; ".join(f"{lst}:{line}: md5 value is not hexadecimal" for line in range(2, 7))
        + " ..."
    )
    assert (
        err[1]
        == f"hashwatch index build: error: {index} holds no entry (7 rows read, 7 skipped): it can match nothing"
    )
    assert main(["index", "build", str(lst), "--out", index, "--skip-invalid", "--allow-empty"]) == 0


def test_match_matches_files_in_batches_with_the_rows_of_one_at_a_time(tmp_path, images, capsys, monkeypatch):
    """``hashwatch match`` hands the index MATCH_BATCH files' hashes per match_many call (on main: one file
    per call, through match), with the rows, in file order, that matching one file at a time gives."""
    from hashwatch.hashing import match_policy
    from hashwatch.hashing.known_hash_index import KnownHashIndex

    assert main(["hash", images["photo.jpg"], images["other.png"]]) == 0
    photo, other = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    lst = tmp_path / "known.csv"
    lst.write_text(
        f"hash_type,hash_value,category,source\npdq,{photo['pdq']},A,s\nmd5,{other['md5']},B,s\n",
        encoding="utf-8",
    )
    index = str(tmp_path / "known.hwidx")
    assert main(["index", "build", str(lst), "--out", index]) == 0
    capsys.readouterr()
    files = [images[name] for name in ("photo.jpg", "rotated.png", "other.png", "broken.jpg")] * 2
    monkeypatch.setattr(match_policy, "MATCH_BATCH", 3)
    alone = []
    for path in files:
        assert main(["match", "--index", index, path]) == 0
        alone += capsys.readouterr().out.splitlines()
    sizes: list[int] = []
    original = KnownHashIndex.match_many

    def counting(self, many, options=None):
        sizes.append(len(many))
        return original(self, many, options)

    monkeypatch.setattr(KnownHashIndex, "match_many", counting)
    assert main(["match", "--index", index, *files]) == 0
    together = capsys.readouterr()
    assert together.out.splitlines() == alone and len(alone) == 6
    assert together.err.startswith("hashwatch match: 6 match(es) in 6 of 8 file(s)")
    assert sizes == [3, 3, 2]
