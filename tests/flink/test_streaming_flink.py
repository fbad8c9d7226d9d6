"""A real streaming run on the standalone Flink 1.19 cluster, checkpointing on.

The launcher (``hashwatch crawl --streaming ... --run-for``) runs as a subprocess against the session's
cluster (EXTERNAL worker pool on 127.0.0.1); the demo site is served on 127.0.0.1 and 127.0.0.2. Seed files
are dropped into the watched folder while the job runs; each one's match rows must be readable in Parquet
within one window + 30 s of the file landing. Then ``--run-for`` ends and the launcher stops the job with a
savepoint (its folder must hold the savepoint's metadata); every file written must be complete and readable,
every row once, no temporary file left in the table folders.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from flink_support import flink_timed

from hashwatch.flink.rest import FlinkRest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streaming"))
from streaming_support import drop_seed_file, flink_jobs, wait_for  # noqa: E402

pytestmark = [pytest.mark.flink, pytest.mark.slow, pytest.mark.network]

WINDOW_S = 10
# Seed file to match row is about one window plus the crawl (8.7 and 20.1 s seen); the bound is a correctness
# bound (the job keeps up), with room for a loaded machine: 40.9 s was seen at load average 12.
RUN_FOR_S = 130


def _match_rows(output: Path) -> list[dict]:
    rows = []
    for path in sorted((output / "matches").rglob("*.parquet")):
        rows += pq.read_table(path).to_pylist()  # files are renamed into place whole: never half-written
    return rows


def test_streaming_on_the_cluster_with_checkpointing(flink_cluster, served_demo_site, tmp_path):
    site = served_demo_site.site
    a, b = site.hosts
    hashwatch = Path(sys.executable).with_name("hashwatch")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    output = tmp_path / "out"
    from pipelines.index_setup import prepare_index

    ref, _ = prepare_index(str(tmp_path / "index-build"), [str(served_demo_site.hash_list)], None, False)
    index = tmp_path / "known.hwidx"
    shutil.copyfile(ref.path, index)
    argv = flink_cluster.argv(
        "--streaming",
        "--checkpointing_interval=5000",
        f"--seeds={incoming}/*.txt",
        f"--index={index}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        f"--window-length={WINDOW_S}",
        "--seed-poll-interval=2",
        f"--run-for={RUN_FOR_S}",
        "--progress-interval=0",
        parallelism=2,
    )
    log = (tmp_path / "launcher.log").open("w")
    launcher = subprocess.Popen([str(hashwatch), "crawl", *argv], stdout=log, stderr=subprocess.STDOUT)
    try:
        with flink_timed(f"streaming crawl on the cluster ({RUN_FOR_S} s run, checkpointing every 5 s)"):
            running = wait_for(
                lambda: [j for j in flink_jobs(flink_cluster.rest_url) if j["state"] == "RUNNING"], 90
            )
            assert running, f"job not running; launcher log:\n{_tail(tmp_path)}\n{flink_cluster.log_tail()}"

            landed = drop_seed_file(incoming, "batch-1.txt", [a + "index.html", "not a url"])
            first = wait_for(
                lambda: [r for r in _match_rows(output) if r["page_url"] == a + "gallery/1.html"], 60
            )
            latency_1 = time.time() - landed
            assert first, f"no match from the first seed file; {_tail(tmp_path)}\n{flink_cluster.log_tail()}"
            assert latency_1 <= WINDOW_S + 50, latency_1

            landed = drop_seed_file(incoming, "batch-2.txt", [b + "mirror.html", a + "index.html"])
            second = wait_for(
                lambda: [r for r in _match_rows(output) if r["page_url"] == b + "mirror.html"], 60
            )
            latency_2 = time.time() - landed
            assert second, f"no match from the second seed file; {_tail(tmp_path)}"
            assert latency_2 <= WINDOW_S + 50, latency_2
            print(f"seed file -> match row readable: {latency_1:.1f} s, {latency_2:.1f} s")

            launcher.wait(timeout=RUN_FOR_S + 120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        log.close()
    assert launcher.returncode == 0, _tail(tmp_path)  # --run-for reached: stopped as asked
    savepoint = re.search(r"stopped with a savepoint: file:(\S+)", _tail(tmp_path, 400))
    assert savepoint, _tail(tmp_path)
    assert (Path(savepoint.group(1)) / "_metadata").is_file(), savepoint.group(1)
    assert "run " in _tail(tmp_path) and ": DONE in " in _tail(tmp_path), _tail(tmp_path)
    # Read from Flink just before the stop: an element dropped as late would be a row missing unseen.
    assert "Flink dropped no element as late" in _tail(tmp_path, 400), _tail(tmp_path)
    # Flink takes a moment from CANCELLING to CANCELED. (The session's cluster also ran other tests' jobs.)
    done = {"CANCELED", "FINISHED", "FAILED"}
    assert wait_for(lambda: {j["state"] for j in flink_jobs(flink_cluster.rest_url)} <= done, 60)

    # After the stop: every file complete and readable, every row once, nothing half-moved.
    tables = {}
    for table in ("matches", "images", "fetch_log"):
        files = sorted((output / table).rglob("*.parquet"))
        assert files, table
        tables[table] = [row for path in files for row in pq.read_table(path).to_pylist()]
        assert all(p.name.startswith("window-") and "-pane" in p.name for p in files)
    fetch_log = tables["fetch_log"]
    attempts = collections.Counter(r["url"] for r in fetch_log if r["outcome"] != "skipped")
    assert attempts[a + "index.html"] == 1, "the repeated seed was crawled again"
    assert max(attempts.values()) == 1, [u for u, n in attempts.items() if n > 1]
    assert {r["error_kind"] for r in fetch_log if r["url"] == "not a url"} == {"invalid_url"}
    matches = tables["matches"]
    assert len(matches) == len({tuple(sorted(r.items())) for r in matches}), "a match row written twice"
    assert {r["index_checksum"] for r in matches} == {ref.checksum}


def _tail(tmp_path: Path, lines: int = 60) -> str:
    text = (tmp_path / "launcher.log").read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def test_sigterm_to_the_launcher_cancels_the_cluster_job(flink_cluster, served_demo_site, tmp_path):
    """A job started without --run-for is stopped by stopping its launcher (SIGTERM, as a scheduler
    does): the launcher stops the Flink job with a savepoint and exits 130; nothing keeps running on the
    cluster."""
    import signal

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    argv = flink_cluster.argv(
        "--streaming",
        "--checkpointing_interval=5000",
        f"--seeds={incoming}/*.txt",
        f"--hash-list={served_demo_site.hash_list}",
        f"--output-dir={tmp_path / 'out'}",
        "--allow-private-networks",
        "--window-length=10",
        "--progress-interval=0",
        parallelism=1,
    )
    hashwatch = Path(sys.executable).with_name("hashwatch")
    earlier = {j["jid"] for j in flink_jobs(flink_cluster.rest_url)}  # other tests' jobs on this cluster
    log = (tmp_path / "launcher.log").open("w")
    launcher = subprocess.Popen([str(hashwatch), "crawl", *argv], stdout=log, stderr=subprocess.STDOUT)
    try:
        with flink_timed("streaming crawl on the cluster, stopped by SIGTERM"):
            running = wait_for(lambda: _running_jobs(flink_cluster, earlier), 90)
            assert running, f"job not running; launcher log:\n{_tail(tmp_path)}"
            # A savepoint needs every task running (while they start, the launcher can only cancel).
            rest = FlinkRest(flink_cluster.rest_url)
            assert wait_for(lambda: rest.all_tasks_running(running[0]["jid"]), 90), _tail(tmp_path)
            launcher.send_signal(signal.SIGTERM)
            launcher.wait(timeout=120)
            stopped = wait_for(lambda: not _running_jobs(flink_cluster, earlier), 60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        log.close()
    assert launcher.returncode == 130, _tail(tmp_path)
    assert stopped, f"the Flink job still runs after the launcher was stopped:\n{_tail(tmp_path)}"
    assert "stopped with a savepoint" in _tail(tmp_path, 400)


def _running_jobs(cluster, earlier: set[str]) -> list[dict]:
    done = ("CANCELED", "FINISHED", "FAILED")
    return [j for j in flink_jobs(cluster.rest_url) if j["jid"] not in earlier and j["state"] not in done]
