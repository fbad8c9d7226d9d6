"""Benchmark: ``compute_image_hashes`` of this tree against another tree of hashwatch, in the same run.

A refactor of the hashing code must not make it slower; this measures it the way a shared machine allows:
two worker processes, one importing hashwatch from each tree, hash the same real photos (Debian wallpapers,
:mod:`hashwatch.evaluation.photo_corpus`, re-encoded in memory as JPEG at 1 MP and 6 MP, PNG at 0.3 and 1 MP
and WebP at 1 MP),
in alternating rounds (A, B, A, B, ...), and the medians per size and the ratio this / other are printed.
The other tree is any copy of the repository with its C extension built, e.g. ``git worktree add`` or::

    git archive main | tar -x -C /tmp/base && cp hashwatch/hashing/_mih*.so /tmp/base/hashwatch/hashing/
    python -m benchmarks.bench_hashing_ab --other /tmp/base            # about two minutes
    python -m benchmarks.bench_hashing_ab --other /tmp/base --quick    # about twenty seconds

Both workers run single-threaded BLAS and time the CPU each call takes (``time.process_time``): on a machine
shared with other jobs a wall clock also counts the waits for a core, which hit the two trees unevenly (the
same code measured 0.89-1.11 x itself by wall clock under a load of 10 on 2 cores). The images exist only
in the workers' memory; only timings are printed. ``--candidates`` times the default query-side candidates too (the pipeline's configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SIZES = {
    "png 0.3 MP": (640, 480, "PNG"),
    # PNG and WebP hash PDQ from the float luma of their RGB (the reference's colour path): its cost shows here.
    "png 1 MP": (1224, 816, "PNG"),
    "webp 1 MP": (1224, 816, "WEBP"),
    "jpeg 1 MP": (1224, 816, "JPEG"),
    "jpeg 6 MP": (3000, 2000, "JPEG"),
}

# The worker, run with ``python -c`` in each tree (the other tree need not have this module): reads one JSON
# config line, encodes the photos in memory, then answers each "round" line with the milliseconds per image.
_WORKER = r"""
import io, json, sys, time
from PIL import Image
from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes
config = json.loads(sys.stdin.readline())
hash_config = HashConfig() if config["candidates"] else HashConfig(candidates=())
images = {}
for label, (w, h, fmt) in config["sizes"].items():
    images[label] = []
    for path in config["paths"]:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        rgb.save(buf, format=fmt, **({"quality": 85} if fmt in ("JPEG", "WEBP") else {"compress_level": 1}))
        images[label].append(buf.getvalue())
for data in [d for ds in images.values() for d in ds]:
    compute_image_hashes(data, hash_config)  # warm: imports, per-size matrices
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    times = []
    for data in images[request["size"]]:
        for _ in range(request["repeats"]):
            start = time.process_time()
            compute_image_hashes(data, hash_config)
            times.append((time.process_time() - start) * 1000.0)
    print(json.dumps(times), flush=True)
"""


class _Worker:
    def __init__(self, tree: Path, config: dict):
        env = {**os.environ, "PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send(config)
        if not json.loads(self._read()).get("ready"):
            raise RuntimeError(f"worker for {tree} did not start")

    def _send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a worker stopped (see its error output above)")
        return line

    def round(self, size: str, repeats: int) -> list[float]:
        self._send({"size": size, "repeats": repeats})
        return json.loads(self._read())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="compute_image_hashes: this tree against another, alternating"
    )
    parser.add_argument("--other", type=Path, required=True, help="the other tree (a repository copy, built)")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per size and tree")
    parser.add_argument("--repeats", type=int, default=2, help="repeats per image in a round")
    parser.add_argument("--candidates", action="store_true", help="compute the default candidates too")
    parser.add_argument("--quick", action="store_true", help="3 photos, 3 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.photos, args.rounds = 3, 3

    from hashwatch.evaluation.photo_corpus import photos

    corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1500)
    corpus = corpus[:: max(1, len(corpus) // args.photos)][: args.photos]
    root = Path(__file__).resolve().parents[1]
    config = {
        "paths": [p.path for p in corpus],  # absolute
        "sizes": SIZES,
        "candidates": args.candidates,
    }
    trees = {"this": root, "other": args.other.resolve()}
    workers = {name: _Worker(tree, config) for name, tree in trees.items()}
    times: dict[tuple[str, str], list[float]] = {(n, s): [] for n in trees for s in SIZES}
    try:
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for size in SIZES:
                for name in order:
                    times[(name, size)] += workers[name].round(size, args.repeats)
    finally:
        for worker in workers.values():
            worker.close()
    print(
        f"{len(corpus)} photos x {args.repeats} repeats x {args.rounds} rounds, alternating; candidates: "
        f"{'default' if args.candidates else 'none'}; this = {root}, other = {trees['other']}"
    )
    print(f"{'size':<12} {'this ms':>9} {'other ms':>9} {'this/other':>11}")
    for size in SIZES:
        this, other = statistics.median(times[("this", size)]), statistics.median(times[("other", size)])
        print(f"{size:<12} {this:>9.2f} {other:>9.2f} {this / other:>11.3f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
