"""Streaming on Flink: latency from a seed file landing to its match row being readable, and throughput.

Starts a standalone Flink 1.19 cluster of its own (deploy/flink/cluster.sh, a private folder and free ports on
127.0.0.1; stopped at the end), serves a site of synthetic 1-megapixel JPEGs on 127.0.0.1 in a process of its
own (``--pages`` pages of ``--per-page`` images; the first image of each page is in the known-hash list), and
runs ``hashwatch crawl --streaming`` against it with checkpointing on. Once the job runs, one seed file per
page lands in the watched folder every ``--every`` seconds (written elsewhere, renamed in). For each file the
script polls the matches table until that page's match row can be read: that delay is the latency. Throughput
comes from a burst afterwards: one seed file listing ``--burst`` more pages at once, timed from landing until
every one of their images has a readable images/ row (window wait included, so it is a lower bound). The
same-run baseline: the burst's pages crawled again by the batch job on the embedded runner, after the
streaming job is cancelled; the script prints streaming burst / batch and latency / window length.

    python -m benchmarks.bench_streaming                   # make bench-streaming
    python -m benchmarks.bench_streaming --pages 20 --window 5 --every 2
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.bench_pipeline import build_bench_site
from benchmarks.machine import describe_machine
from hashwatch.flink.rest import cancel_flink_job, flink_late_drops

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "deploy" / "flink" / "cluster.sh"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _jobs(rest: str) -> list[dict]:
    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:  # noqa: S310 - loopback
        return json.load(response)["jobs"]


def _rows(folder: Path, columns: list[str]) -> list[dict]:
    rows = []
    for path in folder.rglob("*.parquet"):
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def _write_list(site: Path, pages: int, per_page: int, target: Path) -> None:
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hash_type", "hash_value", "category", "source", "list_version", "deleted"])
        for p in range(pages):
            body = (site / "img" / f"{p * per_page:05d}.jpg").read_bytes()
            writer.writerow(["md5", hashlib.md5(body).hexdigest(), "A", "bench", "bench-1", "false"])  # noqa: S324


def _batch_baseline(burst_pages: list[str], list_path: Path, work: Path) -> float | None:
    """The same-run baseline: the burst's pages crawled by the batch job on the embedded runner (one process,
    against the same site), timed from launch to exit (so it includes the pipeline's start, which the
    streaming burst does not pay). Returns seconds, None if the crawl failed."""
    seeds = work / "baseline-seeds.txt"
    seeds.write_text("\n".join(burst_pages) + "\n")
    command = [
        str(Path(sys.executable).with_name("hashwatch")),
        "crawl",
        f"--seeds={seeds}",
        f"--hash-list={list_path}",
        f"--output-dir={work / 'baseline-out'}",
        "--allow-private-networks",
        "--per-host-delay=0",
        "--max-depth=0",
        "--progress-interval=0",
    ]
    start = time.monotonic()
    with (work / "baseline.log").open("w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=1800)
    seconds = time.monotonic() - start
    return seconds if done.returncode == 0 else None


def _report(landed, seen, burst_images, burst_landed, burst_done, window, work, baseline_s=None) -> int:
    latencies = sorted(seen[p] - landed[p] for p in seen)
    missing = len(landed) - len(seen)
    print()
    print(
        "| seed files | matched | latency median s | p90 s | max s | burst images | burst s | images/s | window s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    if latencies:
        p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
        burst_s = (burst_done - burst_landed) if burst_done else float("nan")
        print(
            f"| {len(landed)} | {len(seen)} | {statistics.median(latencies):.1f} | {p90:.1f} | "
            f"{latencies[-1]:.1f} | {len(burst_images)} | {burst_s:.1f} | {len(burst_images) / burst_s:.1f} | "
            f"{window:.0f} |"
        )
    if missing:
        print(f"{missing} seed file(s) had no match row in time; launcher log: {work / 'launcher.log'}")
    if latencies:
        print(
            f"latency median / window length: {statistics.median(latencies) / window:.2f} "
            "(a file waits for its window to close)"
        )
    if baseline_s and burst_done:
        batch = len(burst_images) / baseline_s
        stream = len(burst_images) / (burst_done - burst_landed)
        print(
            f"baseline, same run: the burst's pages by the batch job on the embedded runner: {baseline_s:.1f} s "
            f"({batch:.1f} images/s, launch to exit); streaming burst / batch: {stream / batch:.2f}x"
        )
    elif baseline_s is None:
        print(f"baseline: the batch crawl failed; see {work / 'baseline.log'}")
    return 0 if latencies and not missing and burst_done else 1


def _report_losses(rest: str, landed: dict, seen: dict, output: Path) -> None:
    """Which seed files had no match, whether their pages have any fetch_log row, and every element Flink
    dropped as late (a loss no table shows)."""
    logged = (
        {r["url"] for r in _rows(output / "fetch_log", ["url"])} if (output / "fetch_log").exists() else set()
    )
    for page in sorted(set(landed) - set(seen)):
        state = "has a fetch_log row" if page in logged else "no fetch_log row"
        print(f"missing: {page} (landed {time.strftime('%H:%M:%S', time.gmtime(landed[page]))} UTC, {state})")
    for job in _jobs(rest):
        if job["state"] == "RUNNING":
            drops = flink_late_drops(rest, job["jid"])
            total = sum(drops.values())
            print(
                f"elements dropped as late (Flink droppedDueToLateness): {total} in {len(drops)} operator(s)"
            )
            for metric, count in sorted(drops.items()):
                print(f"  {count:6d}  {metric}")


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=30, help="seed files, one page each (default 30)")
    parser.add_argument("--per-page", type=int, default=20, help="images per page (default 20)")
    parser.add_argument("--window", type=float, default=10.0, help="--window-length (default 10 s)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two seed files (default 3)")
    parser.add_argument("--poll", type=float, default=2.0, help="--seed-poll-interval (default 2 s)")
    parser.add_argument("--allowed-lateness", type=float, default=0.0, help="--allowed-lateness (default 0)")
    parser.add_argument(
        "--flink-flag",
        action="append",
        default=[],
        help="extra Flink option, e.g. --flink-flag=--finish_bundle_before_checkpointing (repeatable)",
    )
    parser.add_argument(
        "--checkpoint-ms", type=int, default=10000, help="--checkpointing_interval (default 10000 ms)"
    )
    parser.add_argument("--burst", type=int, default=30, help="pages in the throughput burst (default 30)")
    parser.add_argument("--cache", default=str(REPO / ".cache" / "bench-streaming"))
    args = parser.parse_args(argv)

    total_pages = args.pages + args.burst
    site = Path(args.cache) / f"site-{total_pages}x{args.per_page}"
    build_bench_site(site, total_pages * args.per_page, args.per_page)
    work = Path(tempfile.mkdtemp(prefix="hashwatch-bench-streaming-"))
    incoming, output = work / "incoming", work / "out"
    incoming.mkdir()
    _write_list(site, args.pages, args.per_page, work / "list.csv")
    env = {
        **os.environ,
        "FLINK_CLUSTER_DIR": str(work / "cluster"),
        "FLINK_REST_PORT": str(_free_port()),
        "FLINK_RPC_PORT": str(_free_port()),
        "ZOOKEEPER_PORT": str(_free_port()),
        "WORKER_POOL_PORT": str(_free_port()),
        "JOB_SERVER_PORT": str(_free_port()),
        "JOB_SERVER_ARTIFACT_PORT": str(_free_port()),
        "WORKER_POOL_PYTHON": sys.executable,
    }
    rest = f"http://127.0.0.1:{env['FLINK_REST_PORT']}"
    print(f"machine: {describe_machine()}")
    print(
        f"site: {args.pages} pages x {args.per_page} 1 MP JPEGs; window {args.window:.0f} s; work dir {work}"
    )
    from hashwatch.sites.server import ServerProcess

    started = subprocess.run([str(CLUSTER), "start", "--with-job-server"], env=env, check=False)
    if started.returncode != 0:
        print("cluster did not start", file=sys.stderr)
        return 1
    launcher = None
    code = 1
    try:
        options = subprocess.run(
            [str(CLUSTER), "options"], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        with ServerProcess(site) as server:
            run_for = 120 + args.pages * args.every + 6 * args.window + args.burst * args.per_page / 5
            command = [
                str(Path(sys.executable).with_name("hashwatch")),
                "crawl",
                *options,
                "--streaming",
                f"--checkpointing_interval={args.checkpoint_ms}",
                *args.flink_flag,
                f"--seeds={incoming}/*.txt",
                f"--hash-list={work / 'list.csv'}",
                f"--output-dir={output}",
                "--allow-private-networks",
                "--per-host-delay=0",
                "--max-depth=0",
                f"--window-length={args.window}",
                f"--allowed-lateness={args.allowed_lateness}",
                f"--seed-poll-interval={args.poll}",
                f"--run-for={run_for}",
                "--progress-interval=0",
            ]
            log = (work / "launcher.log").open("w")
            launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while not [j for j in _jobs(rest) if j["state"] == "RUNNING"]:
                if time.monotonic() > deadline or launcher.poll() is not None:
                    print(f"the job did not start; see {work / 'launcher.log'}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
            time.sleep(5)  # let the SDK workers start: the first file should not pay for that
            landed: dict[str, float] = {}
            seen: dict[str, float] = {}
            pages = [f"{server.base_url}page/{p}.html" for p in range(args.pages)]
            next_drop = time.time()
            while len(seen) < len(pages) and time.time() < next_drop + 3 * args.window + 60:
                if len(landed) < len(pages) and time.time() >= next_drop:
                    page = pages[len(landed)]
                    part = incoming / f".{len(landed)}.part"
                    part.write_text(page + "\n")
                    os.replace(part, incoming / f"seed-{len(landed):04d}.txt")
                    landed[page] = time.time()
                    next_drop += args.every
                for row in _rows(output / "matches", ["page_url"]) if (output / "matches").exists() else []:
                    if row["page_url"] in landed and row["page_url"] not in seen:
                        seen[row["page_url"]] = time.time()
                time.sleep(0.2)
            # Throughput: a burst of pages in one seed file; time until all their images are readable.
            burst_pages = [f"{server.base_url}page/{p}.html" for p in range(args.pages, total_pages)]
            burst_images = {
                f"{server.base_url}img/{i:05d}.jpg"
                for i in range(args.pages * args.per_page, total_pages * args.per_page)
            }
            part = incoming / ".burst.part"
            part.write_text("\n".join(burst_pages) + "\n")
            os.replace(part, incoming / "burst.txt")
            burst_landed = time.time()
            burst_done = None
            while time.time() < burst_landed + run_for:
                done = {r["image_url"] for r in _rows(output / "images", ["image_url"])} & burst_images
                if len(done) == len(burst_images):
                    burst_done = time.time()
                    break
                time.sleep(0.5)
            _report_losses(rest, landed, seen, output)
            # Stop the job through Flink's REST API (the launcher's --run-for would do it later), then the
            # launcher, so the baseline has the machine to itself.
            for job in _jobs(rest):
                if job["state"] == "RUNNING":
                    cancel_flink_job(rest, job["name"])
            launcher.terminate()
            launcher.wait(timeout=60)
            baseline_s = _batch_baseline(burst_pages, work / "list.csv", work)
            code = _report(
                landed, seen, burst_images, burst_landed, burst_done, args.window, work, baseline_s
            )
    finally:
        if launcher is not None and launcher.poll() is None:
            launcher.terminate()
            launcher.wait(timeout=60)
        subprocess.run([str(CLUSTER), "stop"], env=env, check=False)

    return code


if __name__ == "__main__":
    sys.exit(main())
