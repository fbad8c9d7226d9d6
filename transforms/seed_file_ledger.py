"""When the folder poll first found each seed file, kept on disk so a restored job gives it the same time.

A streaming run stamps a seed file's lines with the time the folder poll found the file; that time picks the
window its rows land in. Flink restores a job from its last checkpoint after a failure, and the files found
after that checkpoint are found again. Had the time of that second finding been used, a file found just before
the failure would move to a later window, and if its first window had already been written its rows would be
there twice. So the first finding is written down here, outside Flink's state, and every later finding of the
same file in the same run reads it back::

    ledger = SeedFileLedger("/data/hw/_seed_files/run_id=20261207T101500Z-1a2b3c")
    found_at = ledger.first_found(path, now)   # `now` the first time; the recorded time ever after

One small JSON file per seed file (``<sha1 of the path>.json``: ``path``, ``found_at`` in seconds since the
epoch, ``found_at_utc``), under ``OUTPUT/_seed_files/run_id=<run>/``: also the place to look up when a file
was found (its rows are in the window of that time). Written through Beam's file systems, so ``gs://`` and
``s3://`` outputs work as local ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import posixpath

from apache_beam.io.filesystems import FileSystems

__all__ = ["LEDGER_FOLDER", "SeedFileLedger", "ledger_dir"]

LEDGER_FOLDER = "_seed_files"


def ledger_dir(output: str, run_id: str) -> str:
    """``OUTPUT/_seed_files/run_id=<run_id>``: where one run's seed files are recorded."""
    join = FileSystems.join if "://" in output else posixpath.join
    return join(output, LEDGER_FOLDER, f"run_id={run_id}")


class SeedFileLedger:
    """The first-found times of one run's seed files (see the module's docstring). Picklable: holds a path."""

    def __init__(self, folder: str):
        self._folder = folder

    def _entry(self, path: str) -> str:
        name = hashlib.sha1(path.encode()).hexdigest() + ".json"  # noqa: S324 - a file name, not security
        join = FileSystems.join if "://" in self._folder else posixpath.join
        return join(self._folder, name)

    def recorded(self, path: str) -> float | None:
        """The recorded first-found time of ``path``, or None if it was never recorded (or the entry is
        unreadable: a half-written entry of a worker that died, which the next finding rewrites)."""
        entry = self._entry(path)
        try:
            if not FileSystems.exists(entry):
                return None
            with FileSystems.open(entry) as handle:
                record = json.loads(handle.read().decode())
            return float(record["found_at"]) if record.get("path") == path else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def first_found(self, path: str, now: float) -> float:
        """The time ``path`` was first found: the recorded one, else ``now``, recorded first (written to a
        temporary name and renamed, so a reader never sees half an entry)."""
        earlier = self.recorded(path)
        if earlier is not None:
            return earlier
        entry = self._entry(path)
        utc = dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="milliseconds")
        body = json.dumps({"path": path, "found_at": now, "found_at_utc": utc}).encode()
        partial = f"{entry}.partial"
        with contextlib.suppress(OSError):  # exists already (BeamIOError is an OSError); object stores
            FileSystems.mkdirs(self._folder)  # need no folders
        with FileSystems.create(partial) as handle:
            handle.write(body)
        FileSystems.rename([partial], [entry])
        return now

    def entries(self) -> dict[str, float]:
        """Every recorded seed file: path -> first-found time (tests and the fault test read them)."""
        found: dict[str, float] = {}
        pattern = (FileSystems.join if "://" in self._folder else posixpath.join)(self._folder, "*.json")
        for match in FileSystems.match([pattern])[0].metadata_list:
            with FileSystems.open(match.path) as handle:
                record = json.loads(handle.read().decode())
            found[record["path"]] = float(record["found_at"])
        return found
