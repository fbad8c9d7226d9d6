"""A rescan killed with SIGKILL at any point, then rerun, reports every new match and every retraction
exactly once across all runs' outputs.

Why it holds (docs/rescan.md, "Crashes and reruns"): each table's files appear only by rename from Beam's
temp folder, one whole file at a time, and readers take only ``dt=*/run_id=*/*.parquet`` (never the temp
folders). A rerun recomputes what to write from the files that did appear: a match already in a final file
is active, so it is not reported again; a match not in any final file is reported by the rerun. New matches
and retractions concern disjoint matches (one is matched now, the other is not), so the two tables may
finalise in either order, or half of one, and the rerun still completes exactly what is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from rescan_helpers import identity, image, read_all, write_history, write_list

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("crash_driver.py")
REPO = Path(__file__).resolve().parents[2]


def _rescan(out: Path, lists: list[Path], spec: str = "none", run_id: str | None = None) -> subprocess.Popen:
    flags = [f"--history-dir={out}", "--progress-interval=0", *[f"--hash-list={p}" for p in lists]]
    if run_id:
        flags.append(f"--run-id={run_id}")
    return subprocess.Popen(
        [sys.executable, str(DRIVER), spec, "--", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, expect_killed: bool) -> str:
    output, _ = process.communicate(timeout=300)
    if expect_killed:
        assert process.returncode == -signal.SIGKILL, output[-3000:]
    else:
        assert process.returncode == 0, output[-3000:]
    return output


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """History (3 files, 300 images) and a first complete rescan with list v1; list v2 adds 120 entries and
    tombstones 30 of v1's, so the next rescan must write 120 + matches and 30 retractions."""
    root = tmp_path_factory.mktemp("crash-template")
    rnd = random.Random(99)
    out = root / "out"
    images = [
        image(rnd, f"http://cdn.test/{i}.jpg", pages=(f"http://site.test/{i % 7}.html",)) for i in range(300)
    ]
    for n in range(3):
        write_history(out, images[n * 100 : (n + 1) * 100], day=f"2026-11-0{n + 1}", run_id=f"crawl-{n}")
    v1 = [("md5", images[i].md5, "A", "iwf", "v1", "false") for i in range(0, 300, 5)]  # 60 entries
    added = [("sha1", images[i].sha1, "B", "iwf", "v2", "false") for i in range(1, 300, 5)]  # 60 entries
    added += [("sha256", images[i].sha256, "C", "ncmec", "n2", "false") for i in range(2, 300, 5)]  # 60
    deleted = [("md5", images[i].md5, "A", "iwf", "v2", "true") for i in range(0, 150, 5)]  # 30 of v1
    base = write_list(root / "v1.csv", v1)
    write_list(root / "v2.csv", added + deleted)
    _finish(_rescan(out, [base], run_id="baseline"), expect_killed=False)
    expected_new = Counter(
        identity(
            {
                "image_url": images[i].image_url,
                "page_url": f"http://site.test/{i % 7}.html",
                "hash_type": t,
                "list_hash": v,
                "source": s,
            }
        )
        for t, v, _c, s, _ver, _d in added
        for i in [next(k for k, im in enumerate(images) if getattr(im, t) == v)]
    )
    expected_retracted = Counter(
        identity(
            {
                "image_url": images[i].image_url,
                "page_url": f"http://site.test/{i % 7}.html",
                "hash_type": "md5",
                "list_hash": images[i].md5,
                "source": "iwf",
            }
        )
        for i in range(0, 150, 5)
    )
    return root, expected_new, expected_retracted


def _world(template, tmp_path) -> tuple[Path, list[Path]]:
    root = template[0]
    shutil.copytree(root, tmp_path / "w")
    return tmp_path / "w" / "out", [tmp_path / "w" / "v1.csv", tmp_path / "w" / "v2.csv"]


def _final_files(out: Path, run_id: str) -> list[Path]:
    return sorted(out.glob(f"*/dt=*/run_id={run_id}/*.parquet"))


def _assert_exactly_once(out: Path, template) -> None:
    _root, expected_new, expected_retracted = template
    matches = [r for r in read_all(out, "matches") if r["run_id"] != "baseline"]
    retractions = read_all(out, "retractions")
    assert Counter(identity(r) for r in matches) == expected_new
    assert Counter(identity(r) for r in retractions) == expected_retracted
    assert {r["match_run_id"] for r in retractions} == {"baseline"}
    # And a further run finds nothing left to do.
    _finish(_rescan(out, [out.parent / "v1.csv", out.parent / "v2.csv"], run_id="check"), expect_killed=False)
    assert [r for r in read_all(out, "matches") if r["run_id"] == "check"] == []
    assert [r for r in read_all(out, "retractions") if r["run_id"] == "check"] == []


@pytest.mark.parametrize(
    ("spec", "final_files"),
    [
        ("read:2", 0),  # killed while matching: nothing written
        ("rename:0", 0),  # every temp file written, none renamed into place
        ("rename:1", 1),  # one file of one table final
        ("rename:4", 4),  # one table complete (3 shards), one file of another
        ("rename:8", 8),  # all but one file of the three tables
        ("manifest", 9),  # every table final, no manifest
    ],
)
def test_killed_run_then_rerun_writes_everything_exactly_once(template, tmp_path, spec, final_files):
    out, lists = _world(template, tmp_path)
    _finish(_rescan(out, lists, spec, run_id="killed"), expect_killed=True)
    assert len(_final_files(out, "killed")) == final_files
    assert not list(out.glob("_runs/dt=*/run_id=killed/manifest.json"))
    if spec.startswith("rename"):
        assert list(out.glob("*/dt=*/run_id=killed/beam-temp-*")), "a killed finalisation leaves temp files"
    _finish(_rescan(out, lists), expect_killed=False)
    _assert_exactly_once(out, template)


def test_kill_after_kill_after_kill_then_a_complete_run(template, tmp_path):
    out, lists = _world(template, tmp_path)
    for n, spec in enumerate(("rename:2", "rename:1", "read:1", "rename:5")):
        _finish(_rescan(out, lists, spec, run_id=f"killed-{n}"), expect_killed=True)
    _finish(_rescan(out, lists), expect_killed=False)
    _assert_exactly_once(out, template)


def test_killed_from_outside_while_writing(template, tmp_path):
    out, lists = _world(template, tmp_path)
    process = _rescan(out, lists, run_id="outside")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(out.glob("*/dt=*/run_id=outside/beam-temp-*/*")):  # a sink has started writing its files
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.communicate(timeout=300)
    _finish(_rescan(out, lists), expect_killed=False)
    _assert_exactly_once(out, template)
