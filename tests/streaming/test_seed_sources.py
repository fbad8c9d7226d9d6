"""The watched folder: its file reader (lines of text and CSV files; a file that cannot be read is a dead
letter), its poll clock (a poll stamped with the time it runs, also after a restore) and the first sighting of
each file (its first-found time kept in the ledger, so a restored job gives a file found again the same time)."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.restriction_trackers import OffsetRange
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


def test_a_line_that_is_not_utf8_is_a_dead_letter_and_the_rest_is_read(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"http://a.example/\nhttp://b.example/\xff\nhttp://c.example/\n")
    seeds, dead = _read(tmp_path / "a.txt")
    assert seeds == ["http://a.example/", "http://c.example/"]  # the folder source used to fetch the
    (row,) = dead  # replacement-character URL of line 2 as if it were a seed
    assert (row.error_kind, row.outcome, row.url) == ("invalid_seed", "failed", "http://b.example/\ufffd")
    assert row.error_message.startswith(f"{tmp_path / 'a.txt'}:2: seed line is not UTF-8 text")


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
    assert isinstance(SEED_SOURCES["folder"].make(_config()), WatchedFolderSeeds)


def test_a_run_reads_its_mode_s_source():
    from transforms.seed_sources import seed_source, streaming_source_names
    from transforms.seeds import ReadSeeds

    assert streaming_source_names() == ["folder"]  # the choices of --seed-source
    assert isinstance(seed_source(_config()).make(_config()), WatchedFolderSeeds)
    batch = dataclasses.replace(_config(), streaming=None)
    assert isinstance(seed_source(batch).make(batch), ReadSeeds)


def _config():
    from hashwatch.run_config import OutputConfig, RunConfig, SeedConfig, StreamingConfig

    return RunConfig(
        seeds=SeedConfig(("/in/*.txt",)),
        output=OutputConfig("/out", "r"),
        streaming=StreamingConfig(seed_poll_interval=5),
    )


# --- the poll clock and first sightings: the time a file was found, also after a restore ------------------------


class _Tracker:
    """What _PollClockFn uses of Beam's restriction tracker view."""

    def __init__(self, start: int, stop: int = 10**9):
        self.range = OffsetRange(start, stop)
        self.claimed: list[int] = []
        self.deferred_to = None

    def current_restriction(self):
        return self.range

    def try_claim(self, position: int) -> bool:
        assert not self.claimed or position > self.claimed[-1]
        if position >= self.range.stop:
            return False
        self.claimed.append(position)
        return True

    def defer_remainder(self, timestamp):
        self.deferred_to = timestamp


class _Watermark:
    def __init__(self):
        self.values = []

    def set_watermark(self, timestamp):
        assert not self.values or timestamp >= self.values[-1], "the watermark went back"
        self.values.append(timestamp)


def _poll(now: float, tracker: _Tracker, start: float = 1000.0, interval: float = 10.0):
    from transforms.seed_sources import _PollClockFn

    watermark = _Watermark()
    out = list(_PollClockFn(clock=lambda: now).process((start, 1e12, interval), tracker, watermark))
    return out, watermark


def test_a_poll_is_stamped_with_the_time_it_runs():
    tracker = _Tracker(0)
    out, watermark = _poll(1000.4, tracker)
    assert [(o.value, float(o.timestamp)) for o in out] == [(1000.4, 1000.4)]
    assert tracker.claimed == [0]
    assert float(tracker.deferred_to) == 1010.0 and [float(w) for w in watermark.values] == [1010.0]


def test_a_restored_poll_skips_the_ticks_it_missed():
    # Restored from a checkpoint taken before tick 3 (due 1030); the job ran again at 1097.3. Beam's
    # PeriodicImpulse would now emit ticks 3..9 stamped 1030..1090 at once, and the first of them would find
    # every file that landed during the outage: all of them in the window of 1030.
    tracker = _Tracker(3)
    out, watermark = _poll(1097.3, tracker)
    assert [float(o.timestamp) for o in out] == [1097.3]
    assert tracker.claimed == [9]
    assert float(tracker.deferred_to) == 1100.0 and [float(w) for w in watermark.values] == [1100.0]


def test_a_poll_not_due_yet_waits():
    tracker = _Tracker(3)
    out, watermark = _poll(1025.0, tracker)
    assert out == [] and tracker.claimed == [] and watermark.values == []
    assert float(tracker.deferred_to) == 1030.0


def test_the_last_tick_ends_the_polling():
    tracker = _Tracker(3, stop=3)  # every tick up to --run-for polled
    out, _ = _poll(1200.0, tracker)
    assert out == [] and tracker.deferred_to is None


class _State:
    def __init__(self):
        self.count = 0

    def read(self):
        return self.count

    def add(self, value):
        self.count += value


def test_a_file_found_again_after_a_restore_keeps_its_first_time(tmp_path):
    from apache_beam.utils.timestamp import Timestamp

    from transforms.seed_sources import _FirstSightingFn

    ledger = str(tmp_path / "_seed_files" / "run_id=r")
    metadata = FileMetadata("/in/a.txt", 10)
    fn, state = _FirstSightingFn(ledger), _State()
    (first,) = fn.process(("/in/a.txt", metadata), Timestamp.of(1050.5), state)
    assert (first.value, float(first.timestamp)) == (metadata, 1050.5)
    assert list(fn.process(("/in/a.txt", metadata), Timestamp.of(1052.5), state)) == []  # seen: dropped
    # The job failed and was restored from a checkpoint taken before that: its state does not know the file.
    restored = _FirstSightingFn(ledger)
    (again,) = restored.process(("/in/a.txt", metadata), Timestamp.of(1110.0), _State())
    assert float(again.timestamp) == 1050.5
    # A file first found after the restore gets the time of that poll.
    (new,) = restored.process(("/in/b.txt", FileMetadata("/in/b.txt", 3)), Timestamp.of(1110.0), _State())
    assert float(new.timestamp) == 1110.0
    from transforms.seed_file_ledger import SeedFileLedger

    assert SeedFileLedger(ledger).entries() == {"/in/a.txt": 1050.5, "/in/b.txt": 1110.0}


def test_the_ledger_ignores_half_written_and_foreign_entries(tmp_path):
    from transforms.seed_file_ledger import SeedFileLedger, ledger_dir

    folder = ledger_dir(str(tmp_path), "r1")
    assert folder == str(tmp_path / "_seed_files" / "run_id=r1")
    ledger = SeedFileLedger(folder)
    assert ledger.recorded("/in/a.txt") is None
    assert ledger.first_found("/in/a.txt", 5.0) == 5.0
    assert ledger.first_found("/in/a.txt", 9.0) == 5.0
    entry = next(Path(folder).glob("*.json"))
    assert not list(Path(folder).glob("*.partial"))
    entry.write_text("{not json")  # a worker died while writing (not possible with the rename; still)
    assert ledger.recorded("/in/a.txt") is None
    assert ledger.first_found("/in/a.txt", 9.0) == 9.0  # rewritten whole
    entry.write_text('{"path": "/in/other.txt", "found_at": 1}')
    assert ledger.recorded("/in/a.txt") is None
