"""An incremental rescan killed (SIGKILL) after its outputs are final but before its state is saved, or after
the state's temp file is written but before its rename, then rerun: every match and retraction exactly once,
the same as one uninterrupted run, and the state left is whole (the old one, then the rerun's).

The world: test_rescan_crash.py's history and lists (a baseline rescan with list v1 left a state), plus a new
crawl; the killed run is incremental: the new file against the whole index (v1 + v2), the old files against
v2's delta, v2's tombstones retracted."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from rescan_helpers import identity, image, read_all, write_history
from test_rescan_crash import _finish, _rescan, _world
from test_rescan_crash import template as crash_template

pytestmark = pytest.mark.slow
template = crash_template  # test_rescan_crash's module fixture: history, lists v1 and v2, a baseline rescan


def _outcome(out) -> tuple[Counter, Counter]:
    matches = [r for r in read_all(out, "matches") if r["run_id"] != "baseline"]
    return Counter(map(identity, matches)), Counter(map(identity, read_all(out, "retractions")))


def _add_crawl(out, world) -> None:
    """A crawl after the baseline: 20 images, every 4th one's md5 in v1 (past the 30 v2 tombstones)."""
    root = world[0]
    rnd = random.Random(5)
    v1 = [line.split(",")[1] for line in (root / "v1.csv").read_text().splitlines()[1:]]
    images = [
        image(rnd, f"http://cdn.test/new-{i}.jpg", md5=v1[30 + i] if i % 4 == 0 else None) for i in range(20)
    ]
    images = [im._replace(md5=im.md5 or f"{i:032x}") for i, im in enumerate(images)]
    write_history(out, images, day="2026-11-09", run_id="crawl-new")


def _state_run(out) -> str:
    return json.loads((out / "_rescan_state" / "state.json").read_text())["run_id"]


@pytest.fixture()
def reference(template, tmp_path):
    """One uninterrupted incremental run's outcome."""
    out, lists = _world(template, tmp_path / "ref")
    _add_crawl(out, template)
    report = _finish(_rescan(out, lists, run_id="whole"), expect_killed=False)
    assert "mode            incremental" in report and "1 files read" in report
    return _outcome(out)


@pytest.mark.parametrize("spec", ["state", "state-temp"])
def test_killed_before_the_state_is_saved_then_rerun(template, tmp_path, reference, spec):
    out, lists = _world(template, tmp_path / "w")
    _add_crawl(out, template)
    _finish(_rescan(out, lists, spec, run_id="killed"), expect_killed=True)
    # The killed run's outputs and manifest are final; the state is still the baseline's.
    assert list(out.glob("_runs/dt=*/run_id=killed/manifest.json"))
    assert _state_run(out) == "baseline"
    assert (out / "_rescan_state" / "state.json.tmp").exists() == (spec == "state-temp")
    assert _outcome(out) == reference  # everything was written once already
    rerun = _finish(_rescan(out, lists, run_id="rerun"), expect_killed=False)
    assert "mode            incremental (since rescan baseline" in rerun  # redoes the same delta
    assert _outcome(out) == reference  # and writes nothing twice
    assert [r for r in read_all(out, "matches") if r["run_id"] == "rerun"] == []
    assert _state_run(out) == "rerun"
    final = _finish(_rescan(out, lists, run_id="check"), expect_killed=False)
    assert "0 files read, 0 screened against the list delta (+0 / -0 entries), 4 skipped" in final
    assert _outcome(out) == reference
