"""Benchmark: what animations (issue 19) cost still images, and what an animation's frames cost.

1. **Still images, A/B**: ``compute_image_hashes`` of this tree against another tree (before animations), in
   alternating rounds of the same worker as :mod:`benchmarks.bench_hashing_ab` (CPU time per call, single
   BLAS thread), on real photos (Debian wallpapers, re-encoded in memory) as still GIF, WebP, PNG and JPEG:
   the formats that can be animated pay a byte sniff (:func:`hashwatch.hashing.animation.is_animated`).
2. **The sniff alone**, per format, in this process.
3. **Animations**: milliseconds per frame of synthetic 480 x 270 animations, all frames distinct and all
   near-duplicates (PDQ decides early).

::

    git archive main | tar -x -C /tmp/base && cp hashwatch/hashing/_mih*.so /tmp/base/hashwatch/hashing/
    python -m benchmarks.bench_animation --other /tmp/base           # about two minutes
    python -m benchmarks.bench_animation --other /tmp/base --quick   # about thirty seconds

Images exist only in memory; only timings are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.bench_hashing_ab import _Worker

SIZES = {
    "gif 0.3 MP": (640, 480, "GIF"),
    "webp 0.3 MP": (640, 480, "WEBP"),
    "png 0.3 MP": (640, 480, "PNG"),
    "jpeg 1 MP": (1224, 816, "JPEG"),
}


def _ab(other: Path, photos: int, rounds: int, repeats: int) -> None:
    from hashwatch.evaluation.photo_corpus import photos as corpus_photos

    corpus = corpus_photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1500)
    corpus = corpus[:: max(1, len(corpus) // photos)][:photos]
    root = Path(__file__).resolve().parents[1]
    config = {"paths": [p.path for p in corpus], "sizes": SIZES, "candidates": True}
    trees = {"this": root, "other": other.resolve()}
    workers = {name: _Worker(tree, config) for name, tree in trees.items()}
    times: dict[tuple[str, str], list[float]] = {(n, s): [] for n in trees for s in SIZES}
    try:
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for size in SIZES:
                for name in order:
                    times[(name, size)] += workers[name].round(size, repeats)
    finally:
        for worker in workers.values():
            worker.close()
    print(f"still images: {len(corpus)} photos x {repeats} repeats x {rounds} rounds, alternating, CPU ms")
    print(f"{'size':<12} {'this ms':>9} {'other ms':>9} {'this/other':>11}")
    for size in SIZES:
        this, base = statistics.median(times[("this", size)]), statistics.median(times[("other", size)])
        print(f"{size:<12} {this:>9.2f} {base:>9.2f} {this / base:>11.3f}")


def _sniff() -> None:
    from hashwatch.hashing.animation import is_animated
    from hashwatch.sites.synthetic_images import encode, synthetic_photo

    picture = synthetic_photo(1, (1024, 768))
    print("byte sniff alone (is_animated), still 1024 x 768, us per call:")
    for fmt in ("GIF", "WEBP", "PNG", "JPEG"):
        data = encode(picture, fmt)
        start = time.process_time()
        for _ in range(200):
            is_animated(data, fmt)
        print(f"  {fmt:<5} {len(data):>8} bytes {(time.process_time() - start) / 200 * 1e6:>8.1f} us")


def _frames(frames: int) -> None:
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.sites.synthetic_animations import make_animation

    print(f"animations, 480 x 270, {frames} frames, CPU ms per frame (whole call / frames):")
    for fmt in ("GIF", "WEBP", "PNG"):
        for label, seeds in (("distinct", range(frames)), ("near-dup", [7] * frames)):
            jitter = (3 if fmt == "WEBP" else 1) if label == "near-dup" else 0
            data = make_animation(fmt, list(seeds), (480, 270), jitter=jitter)
            compute_image_hashes(data)
            runs = []
            for _ in range(3):
                start = time.process_time()
                h = compute_image_hashes(data)
                runs.append((time.process_time() - start) * 1000 / max(1, h.frame_count or 1))
            print(
                f"  {fmt:<5} {label:<9} frames {h.frame_count}, hashed {h.frames_hashed}: "
                f"{statistics.median(runs):.2f} ms/frame"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="animations: the cost to still images, and per frame")
    parser.add_argument("--other", type=Path, help="a tree before animations (repository copy, built)")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="3 photos, 3 rounds, 12 frames")
    args = parser.parse_args(argv)
    if args.quick:
        args.photos, args.rounds, args.frames = 3, 3, 12
    if args.other is not None:
        _ab(args.other, args.photos, args.rounds, args.repeats)
    _sniff()
    _frames(args.frames)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
