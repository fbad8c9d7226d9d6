"""Live progress: a line every ``--progress-interval`` seconds while a crawl runs, from the stages doing the work.

The fetch, hash and match stages count as they work (:mod:`transforms.run_counters`), into live totals per
run and process. Who turns them into lines depends on where the DoFns run:

* the launcher (``hashwatch crawl``) logs the run-wide line, on every runner::

      progress: pages=12 (failed 1) images=40 (failed 2) matches=3 errors=14 (max_depth 11, bad_status 2,
      timeout 1) rate=1.0 pages/s 3.6 images/s elapsed=11s workers=2

  It sums its own process's totals (the embedded runner's default, one process; embedded Flink's LOOPBACK
  workers) and the totals the other worker processes left in ``OUTPUT/_runs/dt=.../run_id=.../progress/``
  (``--direct_running_mode=multi_processing``, Flink's SDK workers): :class:`ProgressMonitor`.
* every other worker process writes its totals there (``<host>-<pid>.json``, replaced each interval and at
  the end of each bundle that counted, kept after the run as each process's last counts) and logs its own
  ``worker progress: ...`` line, which the Flink worker pool puts in its log (``worker-pool.log`` on the
  bundled cluster): :func:`start_reporting`, :func:`report_bundle_end`.

A line is logged only when something moved since the last one. ``--progress-interval 0`` turns all of it off.
The rescan still counts rows as they reach its writers (:class:`CountProgress`).
"""

import json
import logging
import os
import posixpath
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.run_counters import (
    HASHING,
    IMAGES,
    MATCHING,
    PAGES,
    VIDEO_HASHING,
    VIDEO_MATCHING,
    VIDEOS,
    reset_run_totals,
    run_totals,
)

__all__ = [
    "CountProgress",
    "ProgressConfig",
    "ProgressMonitor",
    "progress_folder",
    "progress_line",
    "read_worker_totals",
    "report_bundle_end",
    "start_reporting",
]

_LOGGER = logging.getLogger("hashwatch.progress")
_WORKER_LOGGER = logging.getLogger("hashwatch.progress.worker")
_ERROR = re.compile(rf"^(?:{re.escape(PAGES)}|{re.escape(IMAGES)}|{re.escape(VIDEOS)})\.error_(.+)$")
_SHOWN_ERROR_KINDS = 4


class ProgressConfig(NamedTuple):
    """What the counting stages need to report a run's progress: picklable, built by the launcher.

    ``interval``: seconds between lines (0: none). ``folder``: where worker processes other than the
    launcher's leave their totals (None: they only log)."""

    run_id: str
    interval: float = 0.0
    folder: str | None = None


def progress_folder(run_files_dir: str) -> str:
    """The folder of the workers' totals inside a run's ``_runs/dt=.../run_id=...`` folder."""
    join = FileSystems.join if "://" in run_files_dir else posixpath.join
    return join(run_files_dir, "progress")


# --- the line ---------------------------------------------------------------------------------------------


class _Rates(NamedTuple):
    pages: float
    images: float


def _figures(counts: Mapping[str, int]) -> dict[str, int]:
    def get(key: str) -> int:
        return int(counts.get(key, 0))

    return {
        "pages": get(f"{PAGES}.page_ok"),
        "pages_failed": get(f"{PAGES}.page_failed"),
        "images": get(f"{HASHING}.images_hashed") + get(f"{HASHING}.same_bytes_hashed_once"),
        "images_failed": get(f"{IMAGES}.image_failed") + get(f"{PAGES}.image_failed"),
        "matches": get(f"{MATCHING}.match_rows") + get(f"{VIDEO_MATCHING}.match_rows"),
        "videos": get(f"{VIDEO_HASHING}.videos_hashed"),
        "videos_failed": get(f"{VIDEOS}.video_failed"),
    }


def progress_line(
    counts: Mapping[str, int],
    elapsed_s: float,
    *,
    rates: _Rates | None = None,
    workers: int | None = None,
    prefix: str = "progress",
) -> str:
    """``progress: pages=.. (failed ..) images=.. (failed ..) matches=.. errors=.. (kind n, ..) rate=..``.

    ``counts``: ``namespace.name -> n`` (:func:`transforms.run_counters.run_totals`); ``rates``: pages and
    images per second over the last interval (default: over ``elapsed_s``)."""
    f = _figures(counts)
    errors: Counter[str] = Counter()
    for key, value in counts.items():
        match = _ERROR.match(key)
        if match and value:
            errors[match.group(1)] += int(value)
    kinds = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{kind} {n}" for kind, n in kinds[:_SHOWN_ERROR_KINDS])
    if len(kinds) > _SHOWN_ERROR_KINDS:
        shown += ", ..."
    if rates is None:
        per_s = 1.0 / elapsed_s if elapsed_s > 0 else 0.0
        rates = _Rates(f["pages"] * per_s, f["images"] * per_s)
    line = (
        f"{prefix}: pages={f['pages']} (failed {f['pages_failed']}) images={f['images']} "
        f"(failed {f['images_failed']})"
        # Shown once a video was met, so lines of runs without videos read as before.
        + (
            f" videos={f['videos']} (failed {f['videos_failed']})"
            if f["videos"] or f["videos_failed"]
            else ""
        )
        + f" matches={f['matches']} errors={sum(errors.values())}"
        + (f" ({shown})" if shown else "")
        + f" rate={rates.pages:.1f} pages/s {rates.images:.1f} images/s elapsed={elapsed_s:.0f}s"
    )
    return line + (f" workers={workers}" if workers and workers > 1 else "")


class _LineMaker:
    """Remembers the last line's counts: logs only when something moved, rates over the last interval."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._last: dict[str, int] | None = None
        self._last_at = self._started

    def next_line(self, counts: dict[str, int], workers: int | None = None, prefix: str = "progress"):
        now = time.monotonic()
        if counts == self._last or not counts:
            return None
        previous = _figures(self._last or {})
        current = _figures(counts)
        span = now - self._last_at
        rates = _Rates(
            (current["pages"] - previous["pages"]) / span if span > 0 else 0.0,
            (current["images"] - previous["images"]) / span if span > 0 else 0.0,
        )
        self._last, self._last_at = counts, now
        return progress_line(counts, now - self._started, rates=rates, workers=workers, prefix=prefix)


# --- worker processes: totals to a file, a line to the log ------------------------------------------------


class _Run:
    def __init__(self, config: ProgressConfig) -> None:
        self.config = config
        self.lines = _LineMaker()
        self.due = time.monotonic() + config.interval
        self.lock = threading.Lock()  # the reporter thread and a DoFn's finish_bundle both report
        self.written: dict[str, int] | None = None  # the counts in this process's file
        self.logged_at: float | None = None  # when this process last logged a line for the run


_registry_lock = threading.Lock()
_runs: dict[str, _Run] = {}  # run id -> state, the runs this process counts for
# Runs whose launcher (ProgressMonitor) is this process: it reports them itself, during the run and after
# (kept, so that no worker line or file for it follows the run's end).
_launched_here: set[str] = set()
_reporter: list[threading.Thread] = []  # at most one per process
_TICK_S = 0.2


def start_reporting(config: ProgressConfig | None) -> None:
    """Called by each counting DoFn's ``setup``: from now on this process reports ``config.run_id``'s totals
    every ``config.interval`` seconds (one thread per process, whatever the number of runs and DoFns)."""
    if config is None or config.interval <= 0:
        return
    with _registry_lock:
        if config.run_id not in _runs:
            _runs[config.run_id] = _Run(config)
        if not _reporter:
            thread = threading.Thread(target=_report_forever, name="hashwatch-progress", daemon=True)
            _reporter.append(thread)
            thread.start()


def report_bundle_end(config: ProgressConfig | None) -> None:
    """Called by each counting DoFn's ``finish_bundle``, after its counts are published: a worker process
    (not the launcher's) writes its totals file now if they moved, and logs a line if it logged none for the
    run within the interval. An SDK worker that the runner stops as the job ends, before its first interval,
    has left its last totals and at least one line (the launcher's final line sums the files)."""
    if config is None or config.interval <= 0:
        return
    with _registry_lock:
        run = _runs.get(config.run_id)
        mine = config.run_id in _launched_here
    if run is None or mine:
        return
    try:
        _report_worker(run, bundle_end=True)
    except Exception as exc:  # noqa: BLE001 - progress must never stop the work
        _WORKER_LOGGER.warning("progress of run %s not reported: %r", config.run_id, exc)


def _report_forever() -> None:
    while True:
        time.sleep(_TICK_S)
        now = time.monotonic()
        with _registry_lock:
            due = [run for run in _runs.values() if run.due <= now]
            for run in due:
                run.due = now + run.config.interval
            mine = set(_launched_here)
        for run in due:
            if run.config.run_id not in mine:  # the launcher in this process reports it itself
                try:
                    _report_worker(run)
                except Exception as exc:  # noqa: BLE001 - progress must never stop the work
                    _WORKER_LOGGER.warning("progress of run %s not reported: %r", run.config.run_id, exc)


def _worker_file_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}.json"


def _report_worker(run: _Run, bundle_end: bool = False) -> None:
    """Log a line and replace this process's totals file, if the counts moved. At a bundle's end the file is
    always brought up to date, the line only if none was logged within the interval."""
    with run.lock:
        counts = run_totals(run.config.run_id)
        if not counts:
            return
        now = time.monotonic()
        if not bundle_end or run.logged_at is None or now - run.logged_at >= run.config.interval:
            line = run.lines.next_line(counts, prefix="worker progress")
            if line is not None:
                _WORKER_LOGGER.info("%s (run %s, pid %d)", line, run.config.run_id, os.getpid())
                run.logged_at = now
                run.due = now + run.config.interval
        if counts != run.written:
            if run.config.folder:
                payload = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "updated": time.time(),
                    "counts": counts,
                }
                _write(run.config.folder, _worker_file_name(), json.dumps(payload, sort_keys=True).encode())
            run.written = counts


def _write(folder: str, name: str, data: bytes) -> None:
    """Replace ``folder/name``: atomically on a local disk (a reader never sees half a file)."""
    if "://" in folder:
        with FileSystems.create(FileSystems.join(folder, name)) as handle:
            handle.write(data)
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    partial = f"{path}.part"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def read_worker_totals(folder: str, skip: Iterable[str] = ()) -> list[dict[str, int]]:
    """The totals the worker processes left in ``folder`` (files that cannot be read are left out)."""
    pattern = FileSystems.join(folder, "*.json") if "://" in folder else posixpath.join(folder, "*.json")
    try:
        paths = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:  # noqa: BLE001 - no folder yet: no worker wrote
        return []
    skipped = set(skip)
    totals = []
    for path in sorted(paths):
        if posixpath.basename(path) in skipped:
            continue
        try:
            with FileSystems.open(path) as handle:
                counts = json.loads(handle.read())["counts"]
            totals.append({str(k): int(v) for k, v in counts.items()})
        except Exception:  # noqa: BLE001, S112 - written as we read (remote stores), or not ours: next time
            continue
    return totals


# --- the launcher: the run-wide line ----------------------------------------------------------------------


class ProgressMonitor:
    """In the launcher, for the time of the run: every ``config.interval`` seconds, log the run-wide line
    (this process's totals plus the worker processes' files). ``with ProgressMonitor(config): run...``"""

    def __init__(self, config: ProgressConfig) -> None:
        self._config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lines = _LineMaker()

    def __enter__(self) -> "ProgressMonitor":
        if self._config.interval > 0:
            run_id = self._config.run_id
            reset_run_totals(run_id)
            with _registry_lock:
                _launched_here.add(run_id)
            self._thread = threading.Thread(target=self._loop, name="hashwatch-progress-run", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            with _registry_lock:
                _runs.pop(self._config.run_id, None)

    def totals(self) -> tuple[dict[str, int], int]:
        """The run's totals so far over every process, and how many processes have counted."""
        local = run_totals(self._config.run_id)
        others = []
        if self._config.folder:
            others = read_worker_totals(self._config.folder, skip=[_worker_file_name()])
        combined: Counter[str] = Counter(local)
        for counts in others:
            combined.update(counts)
        return dict(combined), len(others) + (1 if local else 0)

    def _loop(self) -> None:
        while not self._stop.wait(self._config.interval):
            try:
                counts, workers = self.totals()
                line = self._lines.next_line(counts, workers=workers)
                if line is not None:
                    _LOGGER.info(line)
            except Exception as exc:  # noqa: BLE001 - progress must never stop the run
                _LOGGER.warning("progress not reported: %r", exc)


# --- the rescan: rows as they reach the writers -----------------------------------------------------------

# Per run: a process may run several rescans (tests, a notebook), and each run's line counts its own rows, at
# its own interval, from the first of its DoFns set up in this process.
_rows_lock = threading.Lock()
_rows: dict[str, Counter[str]] = {}
_rows_started: dict[str, float] = {}


def _rows_line(run_id: str) -> str:
    with _rows_lock:
        counts = dict(_rows.get(run_id, {}))
        started = _rows_started.get(run_id, time.monotonic())
    elapsed = time.monotonic() - started
    return (
        "progress: "
        + " ".join(f"{table}={n}" for table, n in sorted(counts.items()))
        + f" elapsed={elapsed:.0f}s"
    )


def _report_rows_forever(run_id: str, interval: float) -> None:
    last = None
    while True:
        time.sleep(interval)
        with _rows_lock:
            snapshot = dict(_rows[run_id])
        if snapshot != last:
            _LOGGER.info(_rows_line(run_id))
            last = snapshot


class _CountRowsFn(beam.DoFn):
    def __init__(self, table: str, interval: float, run_id: str):
        self._table = table
        self._interval = interval
        self._run_id = run_id

    def setup(self):
        with _rows_lock:
            if self._run_id not in _rows:
                _rows[self._run_id] = Counter()
                _rows_started[self._run_id] = time.monotonic()
                if self._interval > 0:
                    threading.Thread(
                        target=_report_rows_forever,
                        args=(self._run_id, self._interval),
                        name=f"progress-{self._run_id}",
                        daemon=True,
                    ).start()

    def process(self, record):
        with _rows_lock:
            _rows[self._run_id][self._table] += 1
        yield record


class CountProgress(beam.PTransform):
    """The rescan's progress: pass records through unchanged, counting them per table for a line every
    ``interval`` s from each worker process (``progress: matches=.. retractions=..``). The crawl counts
    where the work happens instead (:class:`ProgressMonitor`)."""

    def __init__(self, table: str, interval: float = 10.0, run_id: str = ""):
        super().__init__()
        self._table = table
        self._interval = interval
        self._run_id = run_id or f"unnamed-{id(self)}"

    def expand(self, records):
        fn = _CountRowsFn(self._table, self._interval, self._run_id)
        return records | "Count" >> beam.ParDo(fn).with_output_types(records.element_type)
