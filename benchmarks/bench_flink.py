"""Flink benchmark: the same crawl on the embedded runner, embedded Flink, and the bundled cluster at
parallelism 1 and 2.

A site of N synthetic 1-megapixel JPEGs (``build_bench_site``: pages of 20 linked from one index page) is
served on 127.0.0.1 from a child process. Each target runs ``pipelines.crawl_match.run`` on it (politeness
delay 0 and robots Crawl-delay off, so the image stage spreads the one host's images over
``--per-host-concurrency`` keys, 32 here: Flink assigns keys to subtasks by hash, and with 8 keys one run's
two workers spent 11 and 5 CPU seconds; depth 1; a one-line hash list) and the run's images/s is counted
two ways:

- end to end: images hashed / wall time of ``run()`` (job submission, jar upload, SDK worker start-up,
  every stage, the Parquet written and read back for the report);
- image stage: images hashed / the span of the image fetch times in ``fetch_log`` (first to last image
  fetched), the part that parallelism can speed up.

Targets: ``embedded`` (FnApiRunner, in-process), ``local`` (``--flink_master=[local]``, LOOPBACK, as the
one-line command runs it), ``cluster-p1`` and ``cluster-p2`` (the bundled cluster, EXTERNAL worker pool,
``--parallelism=N --sdk_worker_parallelism=N``), and the same two with ``--fetch-threads=1``: one fetch
thread per DoFn, so each SDK worker process hashes one image at a time (with the default 16 threads one
process already keeps more than one core busy, since decoding and hashing release the GIL). Repeats are
interleaved (target after target), so load from other jobs on the machine spreads over all of them; the
table gives medians and the p2/p1 ratios of the same run. For the cluster it also lists the CPU seconds of
each SDK worker process (how the work was shared; ~1 s ones are workers of short stages).

    python -m benchmarks.bench_flink                     # make bench-flink (BENCH_ARGS=--quick)
    python -m benchmarks.bench_flink --images 600 --repeats 1 --targets cluster-p1,cluster-p2
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.bench_pipeline import bench_site_and_list
from benchmarks.machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "deploy" / "flink" / "cluster.sh"
FETCH_SCRIPT = REPO / "deploy" / "flink" / "fetch-job-server.sh"
LOCAL_CONF = REPO / "deploy" / "flink" / "local-conf"
EMBEDDED = "--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"
TARGETS = ("embedded", "local", "cluster-p1", "cluster-p2", "cluster-p1-1thread", "cluster-p2-1thread")


@dataclass
class Measurement:
    wall_s: float
    stage_s: float
    images: int
    worker_cpu_s: list[float] = field(default_factory=list)  # per SDK worker process, largest first
    job_s: float | None = None  # the Flink job's own duration (cluster: from the REST API)
    site_cpu_s: float = 0.0  # CPU seconds the test site's server process used during the run
    load: float = 0.0  # 1-minute load average when the run started


def last_job_seconds(rest_url: str) -> float | None:
    """Duration of the most recently started job on a Flink cluster (REST /jobs/overview)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=5) as response:
            jobs = json.load(response)["jobs"]
    except (OSError, ValueError, KeyError):
        return None
    if not jobs:
        return None
    return max(jobs, key=lambda job: job["start-time"])["duration"] / 1000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Child processes of ``pid``, whichever of its threads started them (the pool starts SDK workers from
    gRPC threads; /proc lists children per thread)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


class WorkerCpu:
    """Samples the CPU time of the SDK worker processes a worker pool starts, while a run lasts."""

    def __init__(self, pool_pid: int | None):
        self._pool_pid = pool_pid
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._before: set[int] = set()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> WorkerCpu:
        if self._pool_pid is not None:
            # SDK workers of the previous job may live on for --environment_cache_millis: not this run's.
            self._before = set(_children(self._pool_pid))
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._pool_pid is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            for pid in set(_children(self._pool_pid)) - self._before:
                seconds = _cpu_seconds(pid)
                if seconds is not None:
                    self._cpu[pid] = max(seconds, self._cpu.get(pid, 0.0))

    def busy_workers(self, floor: float = 0.5) -> list[float]:
        """CPU seconds of each worker that did more than ``floor`` seconds of work, largest first."""
        return sorted((s for s in self._cpu.values() if s > floor), reverse=True)


def image_stage_seconds(output: str, report) -> float:
    """First to last image fetch of the run, from fetch_log (what the fetch-and-hash stage took)."""
    from pipelines.run_report import read_run_table

    table = read_run_table(output, "fetch_log", report.started[:10], report.run_id, ["kind", "fetched_at"])
    times = [
        t for kind, t in zip(table["kind"].to_pylist(), table["fetched_at"].to_pylist()) if kind == "image"
    ]
    if len(times) < 2:
        return float("nan")
    return (max(times) - min(times)).total_seconds()


def site_alone(base_url: str, files: list[Path], root: Path, server_pid: int, threads: int = 16) -> tuple:
    """Serve every image of the site once, to ``threads`` concurrent clients, with nothing else of ours
    running: (images/s, server CPU seconds per image). What the site can give, against what a run takes."""
    import concurrent.futures
    import urllib.request

    urls = [base_url + f.relative_to(root).as_posix() for f in files]

    def get(url: str) -> int:
        with urllib.request.urlopen(url, timeout=30) as response:
            return len(response.read())

    cpu0 = _cpu_seconds(server_pid) or 0.0
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(get, urls))
    wall = time.perf_counter() - started
    cpu = (_cpu_seconds(server_pid) or 0.0) - cpu0
    return len(urls) / wall, cpu / len(urls)


def crawl_once(
    seed_url: str,
    hash_list: Path,
    extra: list[str],
    concurrency: int,
    pool_pid=None,
    rest_url=None,
    server_pid: int | None = None,
) -> Measurement:
    from pipelines.crawl_match import run

    with tempfile.TemporaryDirectory(prefix="bench-flink-") as out:
        seeds = Path(out) / "seeds.txt"
        seeds.write_text(seed_url + "\n")
        output = f"{out}/o"
        argv = [
            f"--seeds={seeds}",
            f"--hash-list={hash_list}",
            f"--output-dir={output}",
            "--allow-private-networks",
            "--per-host-delay=0",
            "--max-crawl-delay=0",
            f"--per-host-concurrency={concurrency}",
            "--max-depth=1",
            "--progress-interval=0",
            *extra,
        ]
        load = os.getloadavg()[0]
        site_cpu0 = _cpu_seconds(server_pid) if server_pid else None
        with WorkerCpu(pool_pid) as cpu:
            started = time.perf_counter()
            report = run(argv)
            wall = time.perf_counter() - started
        site_cpu = (_cpu_seconds(server_pid) or 0.0) - site_cpu0 if site_cpu0 is not None else 0.0
        if report.state != "DONE":
            raise RuntimeError(f"run ended {report.state}")
        job = last_job_seconds(rest_url) if rest_url else None
        stage = image_stage_seconds(output, report)
        return Measurement(wall, stage, report.images_hashed, cpu.busy_workers(), job, site_cpu, load)


# --- the Flink services, started once for the whole benchmark ----------------------------------------------


class LocalJobServer:
    """A job server for embedded Flink ([local]) on loopback, as the tests start one (one JVM for all runs)."""

    def __init__(self, jar: str, workdir: Path):
        self.port = _free_port()
        self.log = workdir / "job-server-local.log"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "java",
                    "-jar",
                    jar,
                    "--flink-master=[local]",
                    "--job-host=127.0.0.1",
                    f"--job-port={self.port}",
                    f"--artifact-port={_free_port()}",
                    "--expansion-port=0",
                    f"--artifacts-dir={workdir / 'artifacts'}",
                    f"--flink-conf-dir={LOCAL_CONF}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the [local] job server did not start; see {self.log}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class Cluster:
    """deploy/flink/cluster.sh in a folder of its own, on free ports; stopped whatever happens."""

    def __init__(self, workdir: Path):
        self.env = {
            **os.environ,
            "FLINK_CLUSTER_DIR": str(workdir / "cluster"),
            "FLINK_REST_PORT": str(_free_port()),
            "FLINK_RPC_PORT": str(_free_port()),
            "ZOOKEEPER_PORT": str(_free_port()),
            "WORKER_POOL_PORT": str(_free_port()),
            "JOB_SERVER_PORT": str(_free_port()),
            "JOB_SERVER_ARTIFACT_PORT": str(_free_port()),
            "FLINK_TASK_SLOTS": "2",
            "WORKER_POOL_PYTHON": sys.executable,
        }
        self.dir = workdir / "cluster"

    def start(self) -> list[str]:
        started = subprocess.run(
            [str(CLUSTER_SCRIPT), "start", "--with-job-server"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RuntimeError(f"cluster.sh start failed:\n{started.stderr[-3000:]}")
        options = subprocess.run(
            [str(CLUSTER_SCRIPT), "options"], env=self.env, capture_output=True, text=True, check=True
        )
        return [
            line
            for line in options.stdout.splitlines()
            if line and not line.startswith(("--parallelism=", "--sdk_worker_parallelism="))
        ]

    @property
    def pool_pid(self) -> int:
        return int((self.dir / "pid" / "worker-pool.pid").read_text().split()[0])

    def stop(self) -> None:
        subprocess.run([str(CLUSTER_SCRIPT), "stop"], env=self.env, capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--per-page", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="--per-host-concurrency, = the image stage's keys (Flink spreads keys over subtasks by hash: "
        "the more keys, the evener the split)",
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}"
    )
    parser.add_argument("--cache", default=".cache/bench-pipeline", help="where the site is built (reused)")
    parser.add_argument(
        "--flink-flag",
        action="append",
        default=[],
        help="an extra pipeline flag for the Flink targets, e.g. --flink-flag=--execution_mode_for_batch=BATCH_FORCED",
    )
    parser.add_argument("--quick", action="store_true", help="600 images, one repeat (a few minutes)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats = 600, 1
    targets = [t for t in args.targets.split(",") if t]
    if unknown := set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")

    from hashwatch.sites.server import ServerProcess

    root = Path(args.cache) / f"site-{args.images}"
    files, hash_list = bench_site_and_list(root, args.images, args.per_page)
    total_mb = sum(f.stat().st_size for f in files) / 1e6
    print(
        f"site: {len(files)} JPEGs at 1155x866, {total_mb:.0f} MB; machine: {describe_machine()}", flush=True
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="bench-flink-services-"))
    jar = ""
    if any(t != "embedded" for t in targets):
        jar = subprocess.run([str(FETCH_SCRIPT)], capture_output=True, text=True, check=True).stdout.strip()
    local_job_server = cluster = None
    results: dict[str, list[Measurement]] = {t: [] for t in targets}
    try:
        extras: dict[str, tuple[list[str], int | None]] = {"embedded": ([EMBEDDED], None)}
        rest_url = None
        if "local" in targets:
            local_job_server = LocalJobServer(jar, workdir)
            extras["local"] = (
                [
                    "--runner=FlinkRunner",
                    "--flink_master=[local]",
                    f"--job_endpoint=127.0.0.1:{local_job_server.port}",
                ],
                None,
            )
        if any(t.startswith("cluster") for t in targets):
            cluster = Cluster(workdir)
            started = time.perf_counter()
            options = cluster.start()
            print(f"cluster ready in {time.perf_counter() - started:.0f} s", flush=True)
            master = next(o for o in options if o.startswith("--flink_master="))
            rest_url = "http://" + master.split("=", 1)[1]
            for n in (1, 2):
                flags = [*options, f"--parallelism={n}", f"--sdk_worker_parallelism={n}"]
                extras[f"cluster-p{n}"] = (flags, cluster.pool_pid)
                extras[f"cluster-p{n}-1thread"] = ([*flags, "--fetch-threads=1"], cluster.pool_pid)
        with ServerProcess(root) as server:  # its own process: serving must not take the pipeline's GIL
            seed = server.base_url + "index.html"
            server_pid = server._proc.pid  # noqa: SLF001 - the benchmark reads the server's CPU time
            # The site alone (twice: the first pass warms the page cache), so a run's images/s can be
            # read against what the site gives, and its CPU during each run against the two cores.
            for _ in range(2):
                alone, cpu_per_image = site_alone(server.base_url, files, root, server_pid)
            print(
                f"site alone: {alone:.0f} images/s to 16 clients, {cpu_per_image * 1000:.2f} ms of server CPU "
                f"per image (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            if cluster is not None:
                # The first job of fresh JVMs pays their class loading and JIT (measured: 41.9 s against
                # 22.1 s for the next, same target): one job first, not counted, as a warm cluster runs.
                extra, pool_pid = extras["cluster-p1"]
                m = crawl_once(seed, hash_list, [*extra, *args.flink_flag], args.concurrency)
                print(f"  warm-up job on the cluster (not counted): {m.wall_s:.1f} s", flush=True)
            for repeat in range(args.repeats):
                for target in targets:
                    extra, pool_pid = extras[target]
                    if target != "embedded":
                        extra = [*extra, *args.flink_flag]
                    m = crawl_once(
                        seed,
                        hash_list,
                        extra,
                        args.concurrency,
                        pool_pid,
                        rest_url if pool_pid else None,
                        server_pid,
                    )
                    if m.images != len(files):
                        print(f"  warning: {target} hashed {m.images} of {len(files)} images")
                    results[target].append(m)
                    split = ", ".join(f"{s:.0f}" for s in m.worker_cpu_s)
                    job = f", Flink job {m.job_s:.1f} s" if m.job_s is not None else ""
                    print(
                        f"  repeat {repeat + 1}/{args.repeats} {target} (load {m.load:.1f}): {m.wall_s:.1f} s"
                        f"{job}, image stage {m.stage_s:.1f} s, site CPU {m.site_cpu_s:.1f} s "
                        f"({100 * m.site_cpu_s / m.wall_s:.0f} % of one core)"
                        + (f", SDK worker CPU s: {split}" if split else ""),
                        flush=True,
                    )
    finally:
        if cluster is not None:
            cluster.stop()
        if local_job_server is not None:
            local_job_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print()
    print(
        "| target | runs | median wall s | images/s end to end | median image stage s | images/s in the image stage | SDK worker CPU s (median run) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    rates: dict[str, tuple[float, float]] = {}
    for target, runs in results.items():
        wall = statistics.median(m.wall_s for m in runs)
        stage = statistics.median(m.stage_s for m in runs)
        rates[target] = (len(files) / wall, len(files) / stage)
        middle = sorted(runs, key=lambda m: m.wall_s)[len(runs) // 2]
        split = " + ".join(f"{s:.0f}" for s in middle.worker_cpu_s) or "(in process)"
        print(
            f"| {target} | {len(runs)} | {wall:.1f} | {rates[target][0]:.0f} | {stage:.1f} | "
            f"{rates[target][1]:.0f} | {split} |"
        )
    print()
    for suffix in ("", "-1thread"):
        p1, p2 = f"cluster-p1{suffix}", f"cluster-p2{suffix}"
        if p1 in rates and p2 in rates:
            (e1, s1), (e2, s2) = rates[p1], rates[p2]
            print(f"{p2}/{p1}: {e2 / e1:.2f}x end to end, {s2 / s1:.2f}x in the image stage (goal >= 1.7x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
