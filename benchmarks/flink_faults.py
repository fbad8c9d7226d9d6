"""Flink fault test: a streaming crawl survives a killed TaskManager, worker pool and JobManager, and says so.

Starts a standalone Flink 1.19 cluster of its own (deploy/flink/cluster.sh: supervisor, ZooKeeper HA, durable
checkpoints; a private folder and free ports on 127.0.0.1; stopped at the end, also on failure), serves a site
of synthetic pictures on 127.0.0.1, and runs ``hashwatch crawl --streaming`` over seed files, one page per
file, dropped into the watched folder every ``--every`` seconds:

1. **faulted**: while seeds keep landing, SIGKILL by pid the TaskManager; once the job runs again, the worker
   pool and its SDK workers; once it runs again, the JobManager. The supervisor restarts each part, ZooKeeper
   HA hands the job to the new JobManager, Flink restores the latest checkpoint. Then the launcher is sent
   SIGTERM: it stops the job with a savepoint.
2. **resumed**: the same crawl started from that savepoint (same flags, ``--savepoint_path``, ``--run-id``),
   ``--resume-seeds`` new seed files into the same folder; stopped by SIGTERM.
3. **undisturbed**: the faulted run's seed files at the same pace, nothing killed; stopped by
   ``cluster.sh stop`` (a savepoint), then the cluster is started again.

Checks, each printed with its numbers (exit status 1 if any fails):

- the faulted run's matches, images and fetch_log rows are the undisturbed run's (as multisets, without run
  ids and wall-clock columns): no row lost, none duplicated;
- every row is in the window of the time the folder poll first found its seed file (the run's ledger,
  ``OUT/_seed_files/``), and no window ended before its seed file landed (what the unfixed source did: files
  that landed during an outage went into the window of the restored checkpoint);
- every seed file's match row became readable, and those an outage held up within window + 2 polls + 20 s
  of landing or of the job running again, whichever was later;
- the launcher logged each restart and the job running again, and the savepoint of its stop;
- the resumed job read every new seed file and none of the old ones again, no row twice;
- ``cluster.sh stop`` printed the undisturbed job's savepoint, its launcher exited 0, and the job did not
  come back at the next start.

    python -m benchmarks.flink_faults              # make flink-fault-test; 6-8 minutes here
    python -m benchmarks.flink_faults --faults taskmanager --every 2 --resume-seeds 0
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.bench_pipeline import build_bench_site
from benchmarks.flink_fault_checks import (
    Outage,
    RunResult,
    check,
    check_cluster_stop,
    check_resume,
    savepoint_of,
    table_rows,
)
from benchmarks.machine import describe_machine
from hashwatch.flink.rest import FlinkRest, FlinkRestError

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "deploy" / "flink" / "cluster.sh"
FAULTS = ("taskmanager", "worker-pool", "jobmanager")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


@dataclass
class Cluster:
    """The cluster of deploy/flink/cluster.sh in a folder of its own."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, folder: Path) -> Cluster:
        env = {
            **os.environ,
            "FLINK_CLUSTER_DIR": str(folder),
            "FLINK_REST_PORT": str(_free_port()),
            "FLINK_RPC_PORT": str(_free_port()),
            "ZOOKEEPER_PORT": str(_free_port()),
            "WORKER_POOL_PORT": str(_free_port()),
            "JOB_SERVER_PORT": str(_free_port()),
            "JOB_SERVER_ARTIFACT_PORT": str(_free_port()),
            "WORKER_POOL_PYTHON": sys.executable,
        }
        cluster = cls(folder, env)
        done = cluster.run("start", "--with-job-server", timeout=600)
        if done.returncode != 0:
            cluster.stop()
            raise RuntimeError(f"cluster.sh start failed:\n{done.stderr[-3000:]}")
        return cluster

    @property
    def rest(self) -> FlinkRest:
        return FlinkRest(f"127.0.0.1:{self.env['FLINK_REST_PORT']}", timeout=5)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CLUSTER), *args], env=self.env, capture_output=True, text=True, check=False, timeout=timeout
        )

    def options(self) -> list[str]:
        return self.run("options").stdout.split()

    def pids(self, part: str) -> list[int]:
        """Live pids of a part, as cluster.sh records them (its pid files)."""
        names = {
            "taskmanager": "flink-hashwatch-taskexecutor.pid",
            "jobmanager": "flink-hashwatch-standalonesession.pid",
            "worker-pool": "worker-pool.pid",
        }
        alive = []
        for text in (self.folder / "pid" / names[part]).read_text().split():
            try:
                os.kill(int(text), 0)
                alive.append(int(text))
            except (OSError, ValueError):
                continue
        return alive

    def supervisor_log(self) -> str:
        path = self.folder / "log" / "supervisor.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.run("stop", "--no-savepoint", timeout=180)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def kill_part(cluster: Cluster, part: str) -> list[int]:
    """SIGKILL a part by pid (the worker pool together with its SDK workers); returns the pids killed."""
    pids = cluster.pids(part)
    if part == "worker-pool":
        pids += [child for pid in pids for child in _children(pid)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def _job_running(rest: FlinkRest, job_id: str | None) -> bool:
    try:
        return bool(job_id) and rest.all_tasks_running(job_id)
    except (OSError, FlinkRestError):
        return False


def _recovered(rest: FlinkRest, job_id: str | None, since: float) -> bool:
    """Every task of the job runs again, restored from a checkpoint after ``since`` (a kill): right after a
    kill Flink still shows the job running until it notices."""
    if not _job_running(rest, job_id):
        return False
    try:
        restored = ((rest.checkpoints(job_id) or {}).get("latest") or {}).get("restored") or {}
    except (OSError, FlinkRestError):
        return False
    return restored.get("restore_timestamp", 0) / 1000 > since


def _match_pages(output: Path) -> set[str]:
    pages = set()
    for path in (output / "matches").rglob("*.parquet") if (output / "matches").exists() else []:
        pages.update(pq.read_table(path, columns=["page_url"]).column("page_url").to_pylist())
    return pages


def run_stream(
    name: str,
    cluster: Cluster,
    pages: list[str],
    list_path: Path,
    work: Path,
    args,
    faults: tuple[str, ...] = (),
    minimum: int | None = None,
    folders_of: str | None = None,
    extra: tuple[str, ...] = (),
    stop_cluster: bool = False,
) -> RunResult:
    """One streaming crawl: seed files land every ``args.every`` s (at least ``minimum`` of them, default
    ``args.seeds``; more while faults are still being injected, as long as pages remain); the faults are
    injected one after the other, each once the job runs again after the previous one; then SIGTERM to the
    launcher (``stop_cluster``: ``cluster.sh stop`` instead, which stops the job with a savepoint and the
    cluster; its output is kept in ``RunResult.cluster_stop``). ``folders_of``: watch and write the folders
    of that earlier run (a resume, with ``extra`` flags ``--savepoint_path`` and ``--run-id``)."""
    minimum = args.seeds if minimum is None else minimum
    output, incoming = work / f"{folders_of or name}-out", work / f"{folders_of or name}-in"
    incoming.mkdir(exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("hashwatch")),
        "crawl",
        *cluster.options(),
        "--streaming",
        f"--checkpointing_interval={args.checkpoint_ms}",
        f"--seeds={incoming}/*.txt",
        f"--hash-list={list_path}",
        f"--output-dir={output}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=0",
        f"--window-length={args.window}",
        f"--seed-poll-interval={args.poll}",
        "--progress-interval=10",
        *extra,
    ]
    log_path = work / f"{name}-launcher.log"
    rest = cluster.rest
    before = {job["jid"] for job in rest.jobs()}
    landed: dict[str, float] = {}
    readable: dict[str, float] = {}
    outages: list[Outage] = []
    cluster_stop = ""
    with log_path.open("w") as log:
        launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            job_id = None
            deadline = time.monotonic() + 180
            while not _job_running(rest, job_id):
                if time.monotonic() > deadline or launcher.poll() is not None:
                    raise RuntimeError(f"{name}: the job did not start; see {log_path}")
                new = [job for job in rest.jobs() if job["jid"] not in before]
                job_id = new[0]["jid"] if new else None
                time.sleep(0.5)
            _say(f"{name}: job {job_id} running")
            time.sleep(3)  # the SDK workers of the first stages start now: not counted as latency
            todo = list(faults)
            next_drop = time.time()
            healthy_since = time.time()
            while len(landed) < len(pages) and (
                len(landed) < minimum or todo or outages and not outages[-1].running_at
            ):
                now = time.time()
                if now >= next_drop:
                    page = pages[len(landed)]
                    part = incoming / f".{name}-{len(landed)}.part"
                    part.write_text(page + "\n")
                    os.replace(part, incoming / f"{name}-{len(landed):04d}.txt")
                    landed[page] = time.time()
                    next_drop += args.every
                if (
                    outages
                    and outages[-1].running_at is None
                    and _recovered(rest, job_id, outages[-1].killed_at)
                ):
                    outages[-1].running_at = time.time()
                    healthy_since = time.time()
                    _say(
                        f"{name}: job running again {outages[-1].seconds:.1f} s after the {outages[-1].part} was killed"
                    )
                if todo and (not outages or outages[-1].running_at) and now - healthy_since >= args.settle:
                    part_name = todo.pop(0)
                    killed = kill_part(cluster, part_name)
                    outages.append(Outage(part_name, time.time(), killed))
                    _say(f"{name}: killed the {part_name} (pid {', '.join(map(str, killed))})")
                for page in (_match_pages(output) & set(landed)) - set(readable):
                    readable[page] = time.time()
                time.sleep(0.3)
            # All seeds landed: wait for their rows (a window closes, then its rounds run).
            deadline = time.time() + 4 * args.window + 120
            while set(landed) - set(readable) and time.time() < deadline:
                for page in (_match_pages(output) & set(landed)) - set(readable):
                    readable[page] = time.time()
                time.sleep(0.3)
            time.sleep(args.window)  # a late duplicate would land in a later window: give it the time
            if stop_cluster:
                stopped = cluster.run("stop", timeout=300)
                cluster_stop = stopped.stdout + stopped.stderr
            else:
                launcher.send_signal(signal.SIGTERM)  # a clean stop: a savepoint
            launcher.wait(timeout=300)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
    _say(f"{name}: launcher exited {launcher.returncode}; {len(readable)}/{len(landed)} seed files matched")
    return RunResult(
        name,
        output,
        landed,
        readable,
        outages,
        log_path.read_text(errors="replace"),
        launcher.returncode,
        cluster_stop,
    )


# --- checks ---------------------------------------------------------------------------------------------------


def _write_list(site: Path, pages: int, per_page: int, target: Path) -> None:
    lines = ["hash_type,hash_value,category,source,list_version,deleted"]
    for p in range(pages):
        body = (site / "img" / f"{p * per_page:05d}.jpg").read_bytes()
        lines.append(f"md5,{hashlib.md5(body).hexdigest()},A,faults,faults-1,false")  # noqa: S324
    target.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=24, help="seed files at least, one page each (default 24)"
    )
    parser.add_argument("--per-page", type=int, default=4, help="pictures per page (default 4)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two seed files (default 3)")
    parser.add_argument("--window", type=float, default=10.0, help="--window-length (default 10 s)")
    parser.add_argument("--poll", type=float, default=2.0, help="--seed-poll-interval (default 2 s)")
    parser.add_argument(
        "--checkpoint-ms", type=int, default=5000, help="--checkpointing_interval (default 5000)"
    )
    parser.add_argument(
        "--settle", type=float, default=12.0, help="seconds of running between faults (default 12)"
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"which parts to kill, in order (default {','.join(FAULTS)})",
    )
    parser.add_argument(
        "--resume-seeds",
        type=int,
        default=4,
        help="seed files for the run resumed from the savepoint (0: none)",
    )
    parser.add_argument("--cache", default=str(REPO / ".cache" / "flink-faults"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    args = parser.parse_args(argv)
    faults = tuple(f for f in args.faults.split(",") if f)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s) {sorted(unknown)}: choose from {', '.join(FAULTS)}")

    max_pages = args.seeds * 4
    site = Path(args.cache) / f"site-{max_pages}x{args.per_page}"
    build_bench_site(site, max_pages * args.per_page, args.per_page)
    work = Path(tempfile.mkdtemp(prefix="hashwatch-flink-faults-"))
    _write_list(site, max_pages, args.per_page, work / "list.csv")
    print(
        f"machine: {describe_machine()}; load average {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d')}"
    )
    print(f"work folder {work}; faults {', '.join(faults) or 'none'}")
    from hashwatch.sites.server import ServerProcess

    started = time.monotonic()
    cluster = None
    try:
        _say("starting the cluster")
        cluster = Cluster.start(work / "cluster")
        _say(f"cluster ready in {time.monotonic() - started:.0f} s")
        failures = []
        with ServerProcess(site) as server:
            pages = [f"{server.base_url}page/{p}.html" for p in range(max_pages)]
            faulted = run_stream("faulted", cluster, pages, work / "list.csv", work, args, faults)
            stopped = {
                table: table_rows(faulted.output, table) for table in ("matches", "images", "fetch_log")
            }
            saved = savepoint_of(faulted)
            if saved is None:
                failures.append("the faulted run's stop printed no savepoint to resume from")
            elif args.resume_seeds:
                resumed = run_stream(
                    "resumed",
                    cluster,
                    pages[len(faulted.landed) :],
                    work / "list.csv",
                    work,
                    args,
                    minimum=args.resume_seeds,
                    folders_of="faulted",
                    extra=(f"--savepoint_path={saved[0]}", f"--run-id={saved[1]}"),
                )
            # The same seed files as the faulted run, at the same pace; stopped by `cluster.sh stop`.
            reference = run_stream(
                "undisturbed",
                cluster,
                pages,
                work / "list.csv",
                work,
                args,
                minimum=len(faulted.landed),
                stop_cluster=True,
            )
            failures += check_cluster_stop(cluster, reference)
        print()
        print("supervisor restarts:")
        for line in cluster.supervisor_log().splitlines():
            if "restarted, now" in line:
                print(f"  {line}")
        if saved is not None and args.resume_seeds:
            failures += check_resume(stopped, resumed)
        failures += check(faulted, reference, args)
        print(
            f"load average at the end {os.getloadavg()[0]:.1f}; wall time {time.monotonic() - started:.0f} s"
        )
    finally:
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
