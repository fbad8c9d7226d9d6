"""Pipeline overhead: crawl_match on the embedded runner vs the hashing library alone, same images, same run.

A local site of N synthetic 1-megapixel JPEGs (default 2,000: 100 pages of 20, linked from one index page)
is served on 127.0.0.1. The baseline hashes the same files with ``compute_image_hashes`` in one process,
one after the other. The pipeline crawls the site (politeness delay 0, robots Crawl-delay off, so the image
stage spreads the one host's images over ``--per-host-concurrency`` keys), fetches and hashes every image,
matches against a list and writes Parquet. Overhead = pipeline wall time / baseline time - 1 (goal <= 30 %).

    python -m benchmarks.bench_pipeline --images 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.machine import describe_machine
from hashwatch.sites.synthetic_images import encode, synthetic_photo

ONE_MP = (1155, 866)


def build_bench_site(root: Path, images: int, per_page: int, bases: int = 200) -> list[Path]:
    """Write (or reuse) the site: distinct bytes for every image (a base photo with a small tint).

    The images are synthetic (:func:`synthetic_photo`), generated here to be served as the site under test,
    under ``.cache/`` (never committed); nothing the pipeline fetches is ever written to disk."""
    marker = root / f".complete-{images}-{per_page}"
    files = [root / "img" / f"{i:05d}.jpg" for i in range(images)]
    if marker.exists():
        return files
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "page").mkdir(exist_ok=True)
    photos = [
        np.asarray(synthetic_photo(10_000 + b, ONE_MP), dtype=np.int16) for b in range(min(bases, images))
    ]
    for i, path in enumerate(files):
        base = photos[i % len(photos)]
        tint = np.array([(i * 7) % 11 - 5, (i * 3) % 7 - 3, (i // len(photos)) % 9 - 4], dtype=np.int16)
        path.write_bytes(
            encode(Image.fromarray(np.clip(base + tint, 0, 255).astype(np.uint8)), "JPEG", quality=88)
        )
    pages = [files[i : i + per_page] for i in range(0, images, per_page)]
    for p, chunk in enumerate(pages):
        imgs = "".join(f"<img src='/img/{f.name}'>" for f in chunk)
        (root / "page" / f"{p}.html").write_text(f"<html><body>{imgs}</body></html>")
    links = "".join(f"<a href='/page/{p}.html'>{p}</a> " for p in range(len(pages)))
    (root / "index.html").write_text(f"<html><body>{links}</body></html>")
    marker.touch()
    return files


def bench_site_and_list(root: Path, images: int, per_page: int) -> tuple[list[Path], Path]:
    """The site (:func:`build_bench_site`) and a one-entry MD5 list that none of its images match: the runs
    measure crawling and hashing; matching is one exact lookup per image and writes no rows."""
    files = build_bench_site(root, images, per_page)
    hash_list = root / "list.csv"
    hash_list.write_text(
        f"hash_type,hash_value,category,source,list_version,deleted\nmd5,{'ab' * 16},A,bench,1,false\n"
    )
    return files, hash_list


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the embedded runner's worker processes are
    reaped when a run ends; the site's server process only at the very end, so it is not counted)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline_seconds(files: list[Path]) -> float:
    from hashwatch.hashing.image_hashes import compute_image_hashes

    started = time.perf_counter()
    for path in files:
        compute_image_hashes(path.read_bytes())
    return time.perf_counter() - started


def pipeline_seconds(seed_url: str, hash_list: Path, extra: list[str]) -> tuple[float, int]:
    from pipelines.crawl_match import run

    with tempfile.TemporaryDirectory() as out:
        seeds = Path(out) / "seeds.txt"
        seeds.write_text(seed_url + "\n")
        started = time.perf_counter()
        report = run(
            [
                f"--seeds={seeds}",
                f"--hash-list={hash_list}",
                f"--output-dir={out}/o",
                "--allow-private-networks",
                "--per-host-delay=0",
                "--max-crawl-delay=0",  # no delay can apply: one host's images spread over several keys
                "--max-depth=1",
                "--progress-interval=0",
                *extra,
            ]
        )
        return time.perf_counter() - started, report.images_hashed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--per-page", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="in_memory,multi_processing",
        help="embedded-runner modes to measure (direct_running_mode); multi_* use all cores",
    )
    parser.add_argument("--cache", default=".cache/bench-pipeline")
    args = parser.parse_args(argv)

    from hashwatch.sites.server import ServerProcess

    root = Path(args.cache) / f"site-{args.images}"
    files, hash_list = bench_site_and_list(root, args.images, args.per_page)
    total_mb = sum(f.stat().st_size for f in files) / 1e6
    print(
        f"site: {len(files)} JPEGs at {ONE_MP[0]}x{ONE_MP[1]}, {total_mb:.0f} MB; machine: {describe_machine()}"
    )

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    baseline = "baseline (library, 1 process)"
    results: dict[str, list[float]] = {baseline: []}
    cpu: dict[str, list[float]] = {baseline: []}
    with ServerProcess(root) as server:  # its own process: serving must not take the pipeline's GIL
        for repeat in range(args.repeats):
            cpu_before = cpu_seconds()
            results[baseline].append(baseline_seconds(files))
            cpu[baseline].append(cpu_seconds() - cpu_before)
            for mode in args.modes.split(","):
                workers = "1" if mode == "in_memory" else str(os.cpu_count())
                extra = [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
                name = f"pipeline ({mode}, {workers} worker(s))"
                cpu_before = cpu_seconds()
                seconds, hashed = pipeline_seconds(server.base_url + "index.html", hash_list, extra)
                cpu.setdefault(name, []).append(cpu_seconds() - cpu_before)
                if hashed != len(files):
                    print(f"  warning: pipeline hashed {hashed} of {len(files)} images ({mode})")
                results.setdefault(name, []).append(seconds)
            print(f"  repeat {repeat + 1}/{args.repeats} done")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")

    base, base_cpu = statistics.median(results[baseline]), statistics.median(cpu[baseline])
    print()
    print("| what | median wall s | images/s | wall vs baseline | median CPU s | CPU vs baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, times in results.items():
        median, median_cpu = statistics.median(times), statistics.median(cpu[name])
        print(
            f"| {name} | {median:.1f} | {len(files) / median:.0f} | {median / base:.2f}x "
            f"| {median_cpu:.1f} | {median_cpu / base_cpu:.2f}x |"
        )
    print("\nOverhead goal: wall time <= 1.30x the baseline. CPU time (the pipeline's process and its worker")
    print("processes; the site's server excluded) is less sensitive to other load on the machine.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
