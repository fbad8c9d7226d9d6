"""The crawl-and-match pipeline on Flink writes what the embedded runner writes.

One crawl of the demo site (``served_demo_site``: two loopback hosts, exact and near copies of listed
photos, distractors, and every failure kind; no politeness delay, so each host's images are spread over
8 keys) per target: the embedded FnApiRunner (the reference),
embedded Flink (``[local]``) and the standalone cluster, both at parallelism 2 with SDK workers from an
EXTERNAL worker pool (separate Python processes, as on a real cluster). ``matches/``, ``images/`` and
``fetch_log/`` must hold the same rows, as multisets, except for the columns that differ between any two
runs of the same crawl, whatever the runner:

- ``run_id``: every run has its own (it names the partition too);
- ``matched_at``, ``hashed_at``, ``fetched_at``: wall-clock times of the run;
- ``elapsed_ms``: how long a fetch took.

Everything else must be equal: URLs, depths, outcomes, error kinds and messages, HTTP status, robots
decisions, attempts, byte counts, every hash, the match rows with their distances and list entries.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from flink_support import FNAPI_RUNNER, ListenerAudit, flink_timed

from pipelines.crawl_match import run
from pipelines.run_report import RunReport, read_run_table

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.network]

TABLES = ("matches", "images", "fetch_log")
VARYING_COLUMNS = frozenset({"run_id", "matched_at", "hashed_at", "fetched_at", "elapsed_ms"})


def _crawl_flags(site, output: Path, progress_interval: float = 0) -> list[str]:
    return [
        f"--seeds={site.seeds_file}",
        f"--hash-list={site.hash_list}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-crawl-delay=0",  # no delay at all: the image stage spreads each host over 8 keys
        "--max-depth=2",
        f"--progress-interval={progress_interval}",
    ]


def run_rows(output: Path, report: RunReport, table: str) -> collections.Counter:
    """One run's rows of ``table`` as a multiset, without the columns that vary from run to run."""
    rows = read_run_table(str(output), table, report.started[:10], report.run_id).to_pylist()
    return collections.Counter(
        tuple(sorted((name, _hashable(value)) for name, value in row.items() if name not in VARYING_COLUMNS))
        for row in rows
    )


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


@pytest.fixture(scope="module")
def reference(served_demo_site, tmp_path_factory):
    """The embedded FnApiRunner's rows of every table."""
    output = tmp_path_factory.mktemp("crawl-fnapi")
    with flink_timed("crawl_match on the demo site, FnApiRunner (reference)"):
        report = run([FNAPI_RUNNER, *_crawl_flags(served_demo_site, output)])
    assert report.state == "DONE"
    rows = {table: run_rows(output, report, table) for table in TABLES}
    # A reference that could hide a broken run: every kind of row is there.
    assert len(rows["matches"]) > 20 and len(rows["images"]) > 10 and len(rows["fetch_log"]) > 20
    outcomes = {dict(row)["outcome"] for row in rows["fetch_log"]}
    assert outcomes == {"ok", "failed", "skipped"}, outcomes
    return rows


def _diff(got: collections.Counter, want: collections.Counter) -> str:
    extra, missing = got - want, want - got
    lines = [f"{sum(extra.values())} rows only on Flink, {sum(missing.values())} only on the reference"]
    for label, rows in (("only on Flink", extra), ("only on the reference", missing)):
        lines += [f"  {label}: {dict(row)}" for row in list(rows)[:3]]
    return "\n".join(lines)


@pytest.mark.parametrize("target_fixture", ["flink_local_options", "flink_cluster"])
def test_crawl_on_flink_writes_the_embedded_runners_rows(
    target_fixture, request, served_demo_site, reference, tmp_path
):
    target = request.getfixturevalue(target_fixture)
    output = tmp_path / "out"
    flags = _crawl_flags(served_demo_site, output, progress_interval=1)
    with (
        flink_timed(f"crawl_match on the demo site, {target.name} parallelism 2"),
        ListenerAudit(target.service_pids) as audit,
    ):
        report = run(target.argv(*flags, parallelism=2))
    assert report.state == "DONE", target.log_tail()

    for table in TABLES:
        got = run_rows(output, report, table)
        assert got == reference[table], f"{table} on {target.name}: {_diff(got, reference[table])}"

    # The index was compiled under the output folder, and the SDK worker processes loaded it from there.
    index = Path(report.index["index"])
    assert index.parent == output / "_indexes" and index.is_file()
    assert report.beam_counters.get("MatchKnownHashes.index_loads", 0) >= 1, report.beam_counters
    # Beam's system metrics do not leak into the manifest's counters.
    assert not [name for name in report.beam_counters if name.startswith("beam.")]
    # Nothing off loopback but Beam's own wildcard gRPC servers (docs/flink.md, "What listens where").
    assert not audit.unexpected
    if target.name == "flink-cluster":
        # The SDK workers' progress lines (--progress-interval=1) reach the worker pool's log.
        log = (target.log_dir / "worker-pool.log").read_text(errors="replace")
        progress = [
            line for line in log.splitlines() if "hashwatch.progress" in line and "progress: " in line
        ]
        assert progress, "no progress line in worker-pool.log"
        assert all("sdk-worker" in line for line in progress)
