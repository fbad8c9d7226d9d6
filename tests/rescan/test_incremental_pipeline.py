"""The incremental rescan through the real pipeline (embedded runner): a chain of crawls, list versions and
rescans ends with the matches of one full rescan from scratch; the manifest and the printed summary say what
was read and why; a second rescan on the same folder is refused while one runs."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from incremental_world import World, active_keys
from rescan_helpers import identity, read_all

from hashwatch.errors import UserError
from pipelines.rescan import main, run

pytestmark = pytest.mark.slow

# The chain helpers import no incremental code, so on a hashwatch without it these tests fail on what the
# runs did (every run a full pass), not on an import.
KNOWN_CHAIN = [
    ("add", 0, "pdq", "iwf"),
    ("add", 1, "md5", "iwf"),
    ("crawl", [0, 1, 2], 0),
    ("rescan",),
    ("add", 2, "md5", "iwf"),  # a new entry matching an old file
    ("add", 0, "pdq", "ncmec"),  # a second source listing the same hash
    ("crawl", [3], 1),
    ("rescan",),
    ("tombstone", 1, "md5", None),  # deleted for every source: retracted
    ("rescan",),
    ("add", 1, "md5", "iwf"),  # listed again: reported again
    ("allow", 0),
    ("rescan",),
    ("unallow", 0),  # the allowlist loses an entry: its matches are due again (a full pass)
]


class PipelineWorld:
    """Rescans with ``pipelines.rescan.run`` on files: the history folder is also the output folder."""

    def __init__(self, world: World, out: Path):
        self.world = world
        self.out = out
        self.reports = []

    def rescan(self, full: bool = False, extra: tuple[str, ...] = ()):
        if not self.world.lists:
            return None
        self.world.write_history(self.out)
        argv = [f"--history-dir={self.out}", "--progress-interval=0", *extra]
        argv += [f"--hash-list={p}" for p in self.world.lists]
        allowlist = self.world.allowlist_path()
        if allowlist is not None:
            argv.append(f"--allowlist={allowlist}")
        if full:
            argv.append("--full")
        report = run(argv)
        assert report.state == "DONE"
        self.reports.append(report)
        return report

    def active(self) -> set[str]:
        events: dict[str, list] = {}
        for table, kind in (("matches", "match"), ("retractions", "retraction")):
            for row in read_all(self.out, table):
                at = int(row["matched_at"].timestamp() * 1_000_000)
                events.setdefault(identity(row), []).append(SimpleNamespace(kind=kind, at=at))
        return active_keys(events)


def _chain(root: Path, ops: list[tuple]) -> tuple[PipelineWorld, set[str]]:
    world = World(root / "in")
    chain = PipelineWorld(world, root / "chain")
    for op in [*ops, ("rescan",)]:
        if world.apply(op):
            chain.rescan(full=op[0] == "full")
    scratch = PipelineWorld(world, root / "scratch")
    first = scratch.rescan()
    assert first.incremental["mode"] == "full" and "first rescan" in first.incremental["reason"]
    return chain, {identity(r) for r in read_all(scratch.out, "matches")}


def test_pipeline_chain_ends_with_the_matches_of_one_full_rescan(tmp_path):
    chain, expected = _chain(tmp_path, KNOWN_CHAIN)
    assert chain.active() == expected and expected
    modes = [
        (r.incremental["mode"], r.history["files_read"], r.history["files_screened_against_delta"])
        for r in chain.reports
    ]
    # first: full; then 1 new file read, 1 old screened against the 2-entry delta; a tombstone (a delta of
    # nothing added) skips the old files; the re-added entry screens them; the allowlist removal: full.
    assert modes == [
        ("full", 1, 0),
        ("incremental", 1, 1),
        ("incremental", 0, 0),
        ("incremental", 0, 2),
        ("full", 2, 0),
    ]
    second = chain.reports[1]
    assert second.incremental["list_delta"] == {"entries_added": 2, "entries_removed": 0}
    assert second.incremental["started_from"]["run_id"] == chain.reports[0].run_id
    tombstoned = chain.reports[2]
    assert tombstoned.history["files_skipped"] == 2 and tombstoned.retractions == 1
    assert tombstoned.incremental["list_delta"]["entries_removed"] == 1
    manifest = json.loads(Path(second.tables["manifest"]).read_text())
    assert manifest["incremental"]["mode"] == "incremental"
    assert "allowlist entries removed" in chain.reports[-1].incremental["reason"]


def test_cli_says_incremental_or_full_and_why(tmp_path, capsys, caplog):
    world = World(tmp_path / "in")
    for op in (("add", 0, "md5", "iwf"), ("crawl", [0, 1], 0)):
        world.apply(op)
    out = tmp_path / "out"
    world.write_history(out)
    argv = [f"--history-dir={out}", f"--hash-list={world.lists[0]}", "--progress-interval=0"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "mode            full (no rescan state in" in first.out
    assert "full pass: no rescan state" in caplog.text  # a warning on the console
    world.apply(("add", 1, "md5", "ncmec"))
    assert main([*argv[:1], *[f"--hash-list={p}" for p in world.lists], "--progress-interval=0"]) == 0
    second = capsys.readouterr().out
    assert "mode            incremental (since rescan" in second
    assert "0 files read, 1 screened against the list delta (+1 / -0 entries), 0 skipped" in second
    from hashwatch.rescan.state import read_state

    state, problem = read_state(str(out))
    assert problem is None and state.mode == "incremental" and state.entries == 2
    assert main([*argv, "--full"]) == 0
    assert "mode            full (--full)" in capsys.readouterr().out


def test_a_second_rescan_on_the_folder_is_refused_while_one_runs(tmp_path):
    world = World(tmp_path / "in")
    for op in (("add", 0, "md5", "iwf"), ("crawl", [0], 0)):
        world.apply(op)
    out = tmp_path / "out"
    world.write_history(out)
    from hashwatch.rescan.state import RescanLock

    with (
        RescanLock(str(out)),
        pytest.raises(UserError, match="another rescan is running on .*one rescan at a time"),
    ):
        run([f"--history-dir={out}", f"--hash-list={world.lists[0]}"])
    assert not list(out.glob("_runs/*"))  # refused before any work


def test_widened_threshold_forces_a_full_pass_that_finds_the_far_match(tmp_path):
    world = World(tmp_path / "in")
    for op in (("add", 0, "pdq", "iwf"), ("crawl", [0], 0)):
        world.apply(op)
    chain = PipelineWorld(world, tmp_path / "out")
    tight = chain.rescan(extra=("--threshold=pdq=2",))  # the listed PDQ is 4 bits away: no match
    assert tight.new_matches == 0
    tighter = chain.rescan(extra=("--threshold=pdq=1",))
    assert tighter.incremental["mode"] == "incremental" and tighter.history["files_skipped"] == 1
    wide = chain.rescan(extra=("--threshold=pdq=8",))
    assert (
        wide.incremental["mode"] == "full"
        and "--threshold pdq widened from 1 to 8" in wide.incremental["reason"]
    )
    assert wide.new_matches == 1


def test_a_crawl_after_the_rescan_is_read_once(tmp_path):
    world = World(tmp_path / "in")
    for op in (("add", 0, "md5", "iwf"), ("add", 1, "md5", "iwf"), ("crawl", [0], 0)):
        world.apply(op)
    chain = PipelineWorld(world, tmp_path / "out")
    chain.rescan()
    world.apply(("crawl", [1, 2], 1))
    later = chain.rescan()
    assert (later.history["files_read"], later.history["files_skipped"], later.new_matches) == (1, 1, 1)
    again = chain.rescan()
    assert (again.history["files_read"], again.history["files_skipped"], again.new_matches) == (0, 2, 0)
    # A copy of the folder without the state rescans everything: the same active matches.
    copy = tmp_path / "copy"
    shutil.copytree(chain.out, copy)
    shutil.rmtree(copy / "_rescan_state")
    fresh = PipelineWorld(world, copy)
    redo = fresh.rescan()
    assert redo.incremental["mode"] == "full" and redo.new_matches == 0
    assert Counter(fresh.active()) == Counter(chain.active())


def test_the_state_module_takes_url_file_systems_from_the_pipeline_layer(monkeypatch, tmp_path):
    """hashwatch.rescan stays Beam-free (tests/test_layering.py): a URL output's state goes through the file
    systems pipelines/rescan_incremental.py registers, and without them the error says so in one line."""
    from hashwatch.rescan import state

    monkeypatch.setattr(state._FILES, "remote", None)
    with pytest.raises(UserError, match="needs the pipeline's file systems"):
        state.read_state("gs://bucket/out")

    class LocalAsUrl:  # Beam's FileSystems' methods, over a local folder named by a fake URL
        @staticmethod
        def _local(path):
            return path.replace("fake://", str(tmp_path) + "/")

        join = staticmethod(lambda folder, name: folder.rstrip("/") + "/" + name)
        exists = classmethod(lambda cls, path: os.path.exists(cls._local(path)))
        open = classmethod(lambda cls, path: builtins_open(cls._local(path), "rb"))

    import builtins

    builtins_open = builtins.open
    state.use_url_file_systems(LocalAsUrl)
    found, why = state.read_state("fake://out")
    assert found is None and "no rescan state in fake://out/_rescan_state" in why


def test_a_state_that_cannot_be_saved_is_one_warning_and_the_next_rescan_redoes_the_work(
    tmp_path, capsys, caplog, monkeypatch
):
    """A full disk or a read-only _rescan_state/ after the outputs are written: the run is DONE (its tables
    are whole), one warning says the state was not saved, no traceback; the next rescan starts again from
    the state before (here none: a full pass) and reports nothing twice."""
    import pipelines.rescan_incremental as incremental

    world = World(tmp_path / "in")
    for op in (("add", 0, "md5", "iwf"), ("crawl", [0, 1], 0)):
        world.apply(op)
    out = tmp_path / "out"
    world.write_history(out)
    argv = [f"--history-dir={out}", f"--hash-list={world.lists[0]}", "--progress-interval=0"]

    def no_space(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(incremental, "write_state", no_space)
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "new matches     1" in first.out
    assert "the rescan state could not be saved" in caplog.text
    assert "No space left on device" in caplog.text and "Traceback" not in first.err
    monkeypatch.undo()
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert "mode            full (no rescan state in" in second and "new matches     0" in second
