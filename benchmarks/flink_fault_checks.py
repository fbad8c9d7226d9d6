"""The checks of the Flink fault test (benchmarks/flink_faults.py): what a run gives, and what must hold.

Each check prints its numbers and returns the failures as one line each (empty: passed)::

    failures = compare_tables(faulted.output, reference.output) + check_windows(faulted)
"""

from __future__ import annotations

import collections
import datetime as dt
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from transforms.seed_file_ledger import LEDGER_FOLDER, SeedFileLedger

# Columns that differ between any two runs of the same crawl: the run id and wall-clock times.
VOLATILE = {"run_id", "matched_at", "fetched_at", "hashed_at", "elapsed_ms", "dt"}
_WINDOW = re.compile(r"window-(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)-pane")


@dataclass
class Outage:
    """One part killed: when, its pids, and when every task of the job ran again (None: never)."""

    part: str
    killed_at: float
    pids: list[int]
    running_at: float | None = None

    @property
    def seconds(self) -> float:
        return (self.running_at or float("nan")) - self.killed_at


@dataclass
class RunResult:
    """One streaming run of the fault test: where it wrote, when each seed file landed and was matched."""

    name: str
    output: Path
    landed: dict[str, float]  # page -> time its seed file landed
    readable: dict[str, float]  # page -> first time its match row could be read
    outages: list[Outage]
    launcher_log: str
    launcher_rc: int | None
    cluster_stop: str = ""  # what `cluster.sh stop` printed, when it stopped the run


def table_rows(output: Path, table: str, pages: set[str] | None = None) -> collections.Counter:
    """A table's rows as a multiset, without the VOLATILE columns; ``pages``: only the rows of these pages
    (``page_url``, or for fetch_log ``url`` or ``parent_url``)."""
    rows: collections.Counter = collections.Counter()
    for path in (output / table).rglob("*.parquet"):
        for row in pq.read_table(path).to_pylist():
            if pages is not None and not pages & _pages_of(row):
                continue
            rows[tuple(sorted((k, _hashable(v)) for k, v in row.items() if k not in VOLATILE))] += 1
    return rows


def _pages_of(row: dict) -> set[str]:
    """The pages a row belongs to: matches ``page_url``, images ``page_urls``, fetch_log ``url`` (a page) or
    ``parent_url`` (an image's page)."""
    return {row.get("page_url"), row.get("url"), row.get("parent_url"), *(row.get("page_urls") or [])}


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _utc(text: str) -> float:
    return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def match_windows(output: Path) -> dict[str, list[tuple[float, float]]]:
    """page -> the windows (start, end) of the files its match rows are in."""
    windows: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for path in (output / "matches").rglob("*.parquet"):
        found = _WINDOW.search(path.name)
        span = (_utc(found.group(1)), _utc(found.group(2)))
        for page in pq.read_table(path, columns=["page_url"]).column("page_url").to_pylist():
            windows[page].append(span)
    return windows


def found_times(output: Path, run: RunResult) -> dict[str, float]:
    """page -> when the folder poll first found its seed file (the ledger; empty when the code under test
    keeps none)."""
    found = {}
    for folder in (output / LEDGER_FOLDER).glob("run_id=*"):
        for path, at in SeedFileLedger(str(folder)).entries().items():
            found[Path(path).read_text().strip()] = at
    return found


def compare_tables(got: Path, want: Path, name: str = "faulted", pages: set[str] | None = None) -> list[str]:
    """The tables under ``got`` hold the rows of those under ``want`` (multisets without the run id and
    wall-clock columns): no row lost, none extra, none duplicated. ``pages``: compare only the rows of these
    pages (a resumed run added others to ``got``)."""
    failures = []
    for table in ("matches", "images", "fetch_log"):
        have, expected = table_rows(got, table, pages), table_rows(want, table, pages)
        missing, extra = expected - have, have - expected
        duplicated = sum(n - 1 for n in have.values() if n > 1)
        print(
            f"{table}: {name} {sum(have.values())} rows, reference {sum(expected.values())}; "
            f"missing {sum(missing.values())}, extra {sum(extra.values())}, duplicated {duplicated}"
        )
        if missing or extra or duplicated or not expected:
            failures.append(
                f"{table}: {sum(missing.values())} missing, {sum(extra.values())} extra, {duplicated} duplicated"
            )
    return failures


def check_windows(run: RunResult) -> list[str]:
    """Every match row in the window of its seed file's first-found time (the ledger), none in a window that
    ended before its file landed, every seed file matched."""
    failures = []
    windows = match_windows(run.output)
    found = found_times(run.output, run)
    early = [p for p, spans in windows.items() if any(end <= run.landed.get(p, 0) for _, end in spans)]
    outside = [
        p for p, spans in windows.items() if p in found and any(not (s <= found[p] < e) for s, e in spans)
    ]
    unfound = [p for p in windows if p not in found]
    print(
        f"{run.name}: {len(windows)} pages in windows; {len(early)} in a window that ended before their "
        f"seed file landed; {len(outside)} outside the window of their first-found time; "
        f"{len(unfound)} without a recorded first-found time"
    )
    if early:
        failures.append(
            f"{run.name}: rows in a window that ended before their seed landed: {sorted(early)[:3]}"
        )
    if outside or unfound:
        failures.append(
            f"{run.name}: rows outside the window of their first-found time: {sorted(outside + unfound)[:3]}"
        )
    lost = set(run.landed) - set(run.readable)
    if lost:
        failures.append(f"{run.name}: {len(lost)} seed file(s) never matched: {sorted(lost)[:3]}")
    return failures


def held_up(run: RunResult, outage: Outage) -> list[str]:
    """Seed files an outage held up: landed before the job ran again, not readable before the kill."""
    return [
        p
        for p, t in run.landed.items()
        if t < (outage.running_at or float("inf")) and run.readable.get(p, float("inf")) > outage.killed_at
    ]


def check_outages(run: RunResult, args) -> list[str]:
    """The job ran again after every kill, and the seed files each outage held up were readable within
    ``window + 2 x poll + 20 s`` of landing or of the job running again, whichever was later."""
    failures = []
    bound = args.window + 2 * args.poll + 20
    for outage in run.outages:
        if outage.running_at is None:
            failures.append(f"the job never ran again after the {outage.part} was killed")
            continue
        held = held_up(run, outage)
        during = [p for p in held if run.landed[p] >= outage.killed_at]
        after = {p: run.readable.get(p, float("inf")) - max(run.landed[p], outage.running_at) for p in held}
        late = [p for p, seconds in after.items() if seconds > bound]
        print(
            f"{outage.part}: running again {outage.seconds:.1f} s after the kill; {len(held)} seed file(s) held "
            f"up ({len(during)} landed during the outage): readable "
            f"{_spread([run.readable[p] - run.landed[p] for p in held if p in run.readable])} after landing, "
            f"{_spread([s for s in after.values() if s != float('inf')])} after landing or the job running "
            f"again, whichever is later (bound {bound:.0f} s)"
        )
        if late:
            failures.append(f"{outage.part}: {len(late)} held-up seed file(s) readable later than the bound")
    quiet = [
        run.readable[p] - run.landed[p]
        for p in run.readable
        if not any(p in held_up(run, o) for o in run.outages)
    ]
    print(f"{run.name}: seed file -> match row readable, files no outage held up: {_spread(quiet)}")
    return failures


def check_launcher(run: RunResult) -> list[str]:
    """The launcher logged each outage, the job running again, and the savepoint of its stop."""
    log = run.launcher_log
    said = {
        "a restart": "flink: job " in log and " restarted at " in log,
        "running again": "running again after" in log,
        "the savepoint": "stopped with a savepoint" in log,
    }
    lines = [line.split(": ", 1)[-1] for line in log.splitlines() if "hashwatch.flink: flink:" in line]
    print("launcher: " + "\n  ".join(["", *[line[:150] for line in lines]]))
    return [f"the launcher did not log {what}" for what, ok in said.items() if not ok]


def savepoint_of(run: RunResult) -> tuple[str, str] | None:
    """(savepoint path, run id) the launcher printed at its stop."""
    found = re.search(r"--savepoint_path=(\S+) --run-id=(\S+)\)", run.launcher_log)
    return (found.group(1), found.group(2)) if found else None


def check_resume(before: dict[str, collections.Counter], resumed: RunResult) -> list[str]:
    """A job resumed from its savepoint: read none of the seed files it had read (no new row of an old
    page), read the new ones (each matched, in the window of its first-found time), no row twice."""
    failures = check_windows(resumed)
    new_pages = set(resumed.landed)
    for table in ("matches", "images", "fetch_log"):
        after = table_rows(resumed.output, table)
        added = after - before[table]
        old = [row for row in added if not new_pages & _pages_of(dict(row))]
        twice = sum(n - 1 for n in after.values() if n > 1)
        print(
            f"resumed, {table}: {sum(added.values())} rows added, {len(old)} of them of old pages; {twice} twice"
        )
        if old or twice:
            failures.append(
                f"resumed: {table}: {len(old)} added rows of pages read before the stop, {twice} twice"
            )
    if "restored from" not in resumed.launcher_log:
        failures.append("resumed: the launcher did not say it restored the savepoint")
    return failures


def check_cluster_stop(cluster, run: RunResult) -> list[str]:
    """``cluster.sh stop`` stopped the run's job with a savepoint, its launcher ended as DONE (exit 0), and
    the job does not come back at the next start (``cluster``: a :class:`benchmarks.flink_faults.Cluster`)."""
    failures = []
    if "stopped with a savepoint: file:" not in run.cluster_stop:
        failures.append(f"cluster.sh stop printed no savepoint: {run.cluster_stop[-500:]}")
    if run.launcher_rc != 0:
        failures.append(f"the launcher of a job stopped by cluster.sh stop exited {run.launcher_rc}")
    started = cluster.run("start", "--with-job-server", timeout=600)
    if started.returncode != 0:
        return [*failures, f"cluster.sh start after the stop failed: {started.stderr[-500:]}"]
    time.sleep(10)  # a job recovered from the HA store would be listed by now
    back = [job for job in cluster.rest.jobs() if job["state"] not in ("FINISHED", "CANCELED", "FAILED")]
    print(f"after cluster.sh stop and start: {len(back)} job(s) running")
    if back:
        failures.append(f"a job stopped by cluster.sh stop came back at the next start: {back}")
    return failures


def check(faulted: RunResult, reference: RunResult, args) -> list[str]:
    """Every check of the module's docstring; returns the failures (empty: all passed). Prints numbers."""
    failures = compare_tables(faulted.output, reference.output, pages=set(faulted.landed))
    failures += check_windows(faulted) + check_windows(reference)
    failures += check_outages(faulted, args)
    check_outages(reference, args)  # the undisturbed latencies, for comparison
    return failures + check_launcher(faulted)


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s (n={len(values)})"
