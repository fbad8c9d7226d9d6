"""The incremental rescan's state: what the last finished rescan applied, kept beside its outputs.

``OUTPUT/_rescan_state/`` holds

- ``state.json``: the history files that were matched (paths relative to the history folder), the list
  entries they were matched against (the compiled index's checksum and the file of their fingerprints), the
  matching options, the allowlist's entries, and the run that wrote it;
- ``entries-<checksum>.npy``: the applied entries' 128-bit fingerprints, sorted (16 bytes an entry: 16 MB
  for a 1 M-entry list), named after the index checksum they came from;
- ``lock``: held (``flock``) by the running rescan, so a second one on the same folder is refused.

Written crash-safely and only after a run's outputs and manifest are final: each file goes to a temp name,
is fsynced and renamed over the old one (atomic on a POSIX file system), then the folder is fsynced. A rescan
killed before the rename leaves the previous state, so the next one redoes the same delta; the
reconciliation writes each match and retraction once either way (docs/rescan.md, Crashes and reruns)::

    with RescanLock(output):
        state, problem = read_state(output)        # (None, why) when there is none or it cannot be used
        ...                                         # the run
        write_state(output, RescanState(...), fingerprints)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hashwatch.errors import UserError

__all__ = [
    "STATE_DIR",
    "STATE_VERSION",
    "RescanLock",
    "RescanState",
    "read_fingerprints",
    "read_state",
    "use_url_file_systems",
    "write_state",
]

STATE_DIR = "_rescan_state"
STATE_VERSION = 1
_STATE = "state.json"
_LOCK = "lock"


@dataclass
class RescanState:
    """What a finished rescan applied: every history file in ``images``/``videos`` (relative paths) was
    matched against every entry of ``index_checksum`` (fingerprints in ``entries_file``) with
    ``match_options`` and without the allowlist keys ``allowlist`` (their reports are active, retracted by
    a rule, or left out by the allowlist)."""

    run_id: str
    finished: str
    history_dir: str
    images: list[str]
    videos: list[str]
    index_checksum: str
    entries_file: str
    entries: int
    match_options: dict[str, Any]
    allowlist: list[list[str]] = field(default_factory=list)  # [scope, hash_type, hash_value]
    mode: str = "full"
    version: int = STATE_VERSION

    def describe(self) -> dict[str, Any]:
        """For the manifest: the state a run started from (without the file lists)."""
        return {
            "run_id": self.run_id,
            "finished": self.finished,
            "mode": self.mode,
            "images_files": len(self.images),
            "video_files": len(self.videos),
            "index_checksum": self.index_checksum,
            "entries": self.entries,
            "allowlist_entries": len(self.allowlist),
        }


class _Files:
    """Local paths with ``os`` (no Beam: this module is imported by the Beam-free planner); a URL
    (``gs://...``) through the file systems the pipeline layer registers with :func:`use_url_file_systems`
    (Beam's ``FileSystems``: ``pipelines/rescan_incremental.py``)."""

    remote: Any = None

    def _beam(self):
        if self.remote is None:
            raise UserError(
                "the rescan state of an output folder given as a URL needs the pipeline's file systems "
                "(hashwatch.rescan.state.use_url_file_systems); run the rescan through hashwatch rescan"
            )
        return self.remote

    def join(self, folder: str, name: str) -> str:
        return self._beam().join(folder, name) if "://" in folder else os.path.join(folder, name)

    def exists(self, path: str) -> bool:
        return self._beam().exists(path) if "://" in path else os.path.exists(path)

    def read(self, path: str) -> bytes:
        if "://" in path:
            with self._beam().open(path) as handle:
                return handle.read()
        with open(path, "rb") as handle:
            return handle.read()

    def glob(self, pattern: str) -> list[str]:
        if "://" in pattern:
            return [m.path for m in self._beam().match([pattern])[0].metadata_list]
        import glob

        return glob.glob(pattern)

    def delete(self, paths: list[str]) -> None:
        if paths and "://" in paths[0]:
            self._beam().delete(paths)
            return
        for path in paths:
            os.remove(path)


_FILES = _Files()


def use_url_file_systems(file_systems: Any) -> None:
    """Read and write the state of a URL output folder through ``file_systems`` (an object with Beam's
    ``FileSystems`` class methods: join, exists, open, create, rename, match, delete)."""
    _FILES.remote = file_systems


def _dir(output: str) -> str:
    return _FILES.join(output, STATE_DIR)


def read_state(output: str) -> tuple[RescanState | None, str | None]:
    """The state under ``output``: ``(state, None)``, or ``(None, why not)`` (none yet, unreadable, of
    another version, or its fingerprints file is missing); the caller then does a full pass."""
    path = _FILES.join(_dir(output), _STATE)
    if not _FILES.exists(path):
        return None, f"no rescan state in {_dir(output)}: the first rescan of this folder"
    try:
        raw = json.loads(_FILES.read(path).decode())
        if raw.get("version") != STATE_VERSION:
            return (
                None,
                f"{path} is of state version {raw.get('version')}, this hashwatch writes {STATE_VERSION}",
            )
        state = RescanState(**raw)
    except (OSError, ValueError, TypeError) as exc:
        return None, f"{path} cannot be read ({type(exc).__name__}): it is rebuilt"
    if not _FILES.exists(_FILES.join(_dir(output), state.entries_file)):
        return None, f"{path} names {state.entries_file}, which is missing: it is rebuilt"
    return state, None


def read_fingerprints(output: str, state: RescanState) -> np.ndarray:
    """The applied entries' fingerprints (sorted ``(n, 2)`` uint64)."""
    return np.load(io.BytesIO(_FILES.read(_FILES.join(_dir(output), state.entries_file))), allow_pickle=False)


def _write_atomic(path: str, data: bytes) -> None:
    """Temp file + fsync + rename (+ fsync of the folder) locally; temp + rename on other file systems."""
    temp = path + ".tmp"
    if "://" in path:
        beam = _FILES._beam()  # noqa: SLF001
        with beam.create(temp) as handle:
            handle.write(data)
        beam.rename([temp], [path])
        return
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    folder = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_state(output: str, state: RescanState, fingerprints: np.ndarray | Callable[[], np.ndarray]) -> str:
    """Write the fingerprints file (content-addressed: skipped when already there; ``fingerprints`` may be a
    function, called only then), then ``state.json``; remove fingerprint files no longer named. Returns the
    state file's path."""
    folder = _dir(output)
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
    entries_path = _FILES.join(folder, state.entries_file)
    if not _FILES.exists(entries_path):
        buffer = io.BytesIO()
        values = fingerprints() if callable(fingerprints) else fingerprints
        np.save(buffer, np.ascontiguousarray(values, dtype=np.uint64), allow_pickle=False)
        _write_atomic(entries_path, buffer.getvalue())
    path = _FILES.join(folder, _STATE)
    _write_atomic(path, json.dumps(dataclasses.asdict(state), indent=1).encode())
    # Older fingerprint files (and temp files of killed writes) are no longer named: remove them.
    gone = [p for p in _FILES.glob(_FILES.join(folder, "entries-*")) if not p.endswith(state.entries_file)]
    if gone:
        with contextlib.suppress(OSError):
            _FILES.delete(gone)
    return path


class RescanLock:
    """One rescan at a time per output folder: an exclusive ``flock`` on ``OUTPUT/_rescan_state/lock``,
    released when the process ends however it ends (a SIGKILL leaves no stale lock). A second rescan gets a
    :class:`UserError` naming the holder. On a remote file system (``gs://``...) no lock can be taken: the
    scheduler must keep to one (docs/rescan.md)."""

    def __init__(self, output: str):
        self.output = output
        self._handle = None
        self.taken = False

    def __enter__(self) -> RescanLock:
        if "://" in self.output:
            return self
        import fcntl

        folder = _dir(self.output)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, _LOCK)
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"another rescan is running on {self.output} ({holder}; lock {path}): one rescan at a time "
                "per output folder; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
        handle.flush()
        self._handle, self.taken = handle, True
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the flock
            self._handle = None
