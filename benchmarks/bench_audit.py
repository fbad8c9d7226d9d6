"""Audit benchmark: ``audit --images`` of the first audit (benchmarks/audit_baseline.py) against hashwatch.audit.

    python -m benchmarks.bench_audit                 # ~300 MB of reference images, 3 runs of each
    python -m benchmarks.bench_audit --quick         # ~40 MB, for a look in a minute

Input (generated once into ``.cache/bench-audit/<size>``, reused when the arguments match):

- reference images: half real photos (the Debian photo corpus, ``make photos``; JPEG and PNG), half synthetic
  noise images (JPEG, PNG, WebP; some WebPs carry a zero-filled EXIF block, as the issue's false positive did);
- an output tree shaped like a crawl's: ``images`` Parquet (hashes, PDQ dihedral list, candidate-hash map, URLs),
  ``fetch_log`` Parquet, a run log (plain and gzip'd), a manifest, and a compiled index of a generated list.

Each audit runs in a process of its own, the two alternating (baseline first), ``--repeats`` times for the new
code and ``--baseline-repeats`` times for the old one (it took 529 s and 13 GB on 289 MB in the issue: one run
by default); then both on the output tree alone, without references (``--plain-repeats``). Printed per run: wall seconds, findings, and the process's peak resident memory (VmHWM from
/proc/self/status at its end); then medians and the ratio of medians. The old process gets an address-space
limit (``--baseline-memory-gb``) so it fails rather than exhausting a shared machine; a failure is reported.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench-audit"


# ----------------------------------------------------------------------------------------------- input


def _noise_images(folder: Path, budget: int, rng: random.Random) -> int:
    import numpy as np
    from PIL import Image

    written = 0
    n = 0
    while written < budget:
        side = rng.choice([256, 512, 768, 1024])
        pixels = np.random.default_rng(n).integers(0, 256, (side, side * 3 // 4, 3), dtype=np.uint8)
        if n % 3 == 2:  # smooth regions too: noise on a gradient, more like a photo's statistics
            pixels = (pixels // 8 + np.linspace(0, 200, side)[:, None, None]).astype(np.uint8)
        image = Image.fromarray(pixels)
        fmt = ["JPEG", "PNG", "WEBP"][n % 3]
        buffer = io.BytesIO()
        if fmt == "WEBP":
            image.save(buffer, format=fmt, quality=90, exif=b"Exif\x00\x00" + bytes(256))
        else:
            image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        (folder / f"noise-{n:04d}.{fmt.lower()}").write_bytes(buffer.getvalue())
        written += buffer.tell()
        n += 1
    return written


def _real_photos(folder: Path, budget: int) -> int:
    from hashwatch.evaluation.photo_corpus import photo_paths

    written = 0
    for i, path in enumerate(sorted(photo_paths(formats={"JPEG", "PNG"}))):
        if written >= budget:
            break
        size = os.path.getsize(path)
        shutil.copyfile(path, folder / f"photo-{i:04d}{Path(path).suffix.lower()}")
        written += size
    return written


def _output_tree(out: Path, rows: int, rng: random.Random) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hashwatch.hashing.index_build import build_index

    def h(n: int) -> str:
        return rng.randbytes(n).hex()

    urls = [f"https://site{rng.randrange(50)}.example.test/img/{h(6)}/photo-{i}.jpg" for i in range(rows)]
    images = pa.table(
        {
            "image_url": urls,
            "page_urls": [[f"https://site.example.test/gallery/{i % 300}.html"] for i in range(rows)],
            "md5": [h(16) for _ in range(rows)],
            "sha1": [h(20) for _ in range(rows)],
            "sha256": [h(32) for _ in range(rows)],
            "crc32c": [h(4) for _ in range(rows)],
            "phash": [h(8) for _ in range(rows)],
            "dhash": [h(8) for _ in range(rows)],
            "pdq": [h(32) for _ in range(rows)],
            "pdq_dihedral": [[h(32) for _ in range(7)] for _ in range(rows)],
            "candidate_hashes": pa.array(
                [[(f"pdq:variant-{k}", h(32)) for k in range(16)] for _ in range(rows)],
                type=pa.map_(pa.string(), pa.string()),
            ),
        }
    )
    part = out / "images" / "dt=2026-12-07" / "run_id=bench"
    part.mkdir(parents=True)
    pq.write_table(images, part / "part-00000-of-00001.parquet", compression="zstd")
    kinds = ["ok", "bad_status", "timeout", "not_an_image", "robots_disallowed"]
    fetch_log = pa.table(
        {
            "url": urls + [f"https://site.example.test/gallery/{i}.html" for i in range(rows)],
            "outcome": [rng.choice(kinds) for _ in range(2 * rows)],
            "error_message": [f"HTTP 404 for {u}" if i % 7 == 0 else None for i, u in enumerate(urls * 2)],
        }
    )
    part = out / "fetch_log" / "dt=2026-12-07" / "run_id=bench"
    part.mkdir(parents=True)
    pq.write_table(fetch_log, part / "part-00000-of-00001.parquet", compression="zstd")
    runs = out / "_runs" / "dt=2026-12-07" / "run_id=bench"
    runs.mkdir(parents=True)
    lines = [
        f"2026-12-07 13:36:{i % 60:02d},963 INFO fetched {u} md5={h(16)} status=200\n"
        for i, u in enumerate(urls)
    ]
    (runs / "run.log").write_text("".join(lines))
    with gzip.open(runs / "run.log.1.gz", "wt") as handle:
        handle.writelines(lines)
    (runs / "manifest.json").write_text(json.dumps({"counts": {"ok": rows}, "sample": urls[:1000]}, indent=2))
    listing = out.parent / "list.csv"
    with open(listing, "w") as handle:
        handle.write("hash_type,hash_value,category,source,list_version,deleted\n")
        for i in range(rows * 10):
            handle.write(f"md5,{h(16)},A,bench,1,false\n" if i % 2 else f"pdq,{h(32)},B,bench,1,false\n")
    (out / "_indexes").mkdir()
    build_index([str(listing)], str(out / "_indexes" / "bench.hwidx"))
    listing.unlink()


def prepare(megabytes: int, rows: int) -> Path:
    root = CACHE / f"{megabytes}mb-{rows}rows"
    if (root / "done").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    images = root / "images"
    images.mkdir(parents=True)
    rng = random.Random(17)
    real = _real_photos(images, megabytes * 1_000_000 // 2)
    _noise_images(images, megabytes * 1_000_000 - real, rng)
    _output_tree(root / "output", rows, rng)
    (root / "done").write_text("")
    return root


# --------------------------------------------------------------------------------------------- workers


def _worker(which: str, root: Path) -> None:
    """``old``/``new``: audit --images; ``old-plain``/``new-plain``: the output tree alone, no references."""
    images = sorted(str(p) for p in (root / "images").iterdir())
    started = time.perf_counter()
    if which.startswith("old"):
        from benchmarks import audit_baseline as audit
    else:
        from hashwatch import audit
    index = None
    if not which.endswith("plain"):
        index = audit.ContentIndex()
        index.add_files(images)
    findings = audit.audit_tree(str(root / "output"), index)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "findings": [str(f) for f in findings], "peak_kib": peak}))


def _measure(which: str, root: Path, memory_gb: float | None) -> dict:
    def limit() -> None:
        if memory_gb:
            cap = int(memory_gb * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    argv = [sys.executable, "-m", "benchmarks.bench_audit", "--worker", which, str(root)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, preexec_fn=limit, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"exit {done.returncode}: {tail[:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=300, help="reference images to generate")
    parser.add_argument("--rows", type=int, default=20_000, help="images rows in the output tree")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1)
    parser.add_argument("--baseline-memory-gb", type=float, default=18.0)
    parser.add_argument("--quick", action="store_true", help="40 MB, 4,000 rows, 3 runs of each")
    parser.add_argument("--plain-repeats", type=int, default=3, help="runs of each without --images")
    parser.add_argument("--worker", choices=["old", "new", "old-plain", "new-plain"], help=argparse.SUPPRESS)
    parser.add_argument("root", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, Path(args.root))
        return 0
    if args.quick:
        args.megabytes, args.rows, args.baseline_repeats = 40, 4_000, 3
    root = prepare(args.megabytes, args.rows)
    image_mb = sum(p.stat().st_size for p in (root / "images").iterdir()) / 1e6
    output_mb = sum(p.stat().st_size for p in (root / "output").rglob("*") if p.is_file()) / 1e6
    n_images = len(list((root / "images").iterdir()))
    print(f"machine: {describe_machine()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"input: {n_images} reference images, {image_mb:.0f} MB; output tree {output_mb:.0f} MB ({root})")
    results: dict[str, list[dict]] = {"old": [], "new": []}
    for i in range(max(args.repeats, args.baseline_repeats)):
        for which in ("old", "new"):
            if i >= (args.baseline_repeats if which == "old" else args.repeats):
                continue
            result = _measure(which, root, args.baseline_memory_gb if which == "old" else None)
            results[which].append(result)
            if "failed" in result:
                print(f"  {which} run {i + 1}: FAILED ({result['failed']})")
            else:
                print(
                    f"  {which} run {i + 1}: {result['seconds']:.1f} s, peak {result['peak_kib'] / 1024**2:.2f} GiB,"
                    f" {len(result['findings'])} findings {result['findings'][:2]}"
                )
    for i in range(args.plain_repeats):  # the output tree alone (no --images): what every demo and test runs
        for which in ("old-plain", "new-plain"):
            result = _measure(which, root, None)
            results.setdefault(which, []).append(result)
            print(f"  {which} run {i + 1}: {result['seconds']:.1f} s, {len(result['findings'])} findings")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    medians = {}
    for which, runs in results.items():
        ok = [r for r in runs if "failed" not in r]
        if ok:
            medians[which] = statistics.median(r["seconds"] for r in ok)
            peak = max(r["peak_kib"] for r in ok) / 1024**2
            print(f"{which}: median {medians[which]:.1f} s over {len(ok)} run(s), peak RSS {peak:.2f} GiB")
    for old_key, new_key in (("old", "new"), ("old-plain", "new-plain")):
        if old_key in medians and new_key in medians:
            print(f"{old_key}/{new_key}: {medians[old_key] / medians[new_key]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
