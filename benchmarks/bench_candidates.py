"""Benchmark: what the query-side candidates cost, against the plain hash set measured in the same run.

For real photos (Debian wallpapers, see :mod:`hashwatch.evaluation.photo_corpus`) encoded in memory as JPEG quality 85
at three sizes (the evaluation's 1024 px known originals, 1 MP and 6 MP) and as PNG at 1024 px (no draft),
it times per image the CPU time of the one thread that hashes (so waiting for a core while other jobs run on
this shared machine does not count), round-robin image by image:

- **plain**: :func:`compute_image_hashes` with ``HashConfig(candidates=())``: every hash hashwatch computed
  before issue 9 (digests, pHash, dHash, PDQ with its 7 DCT dihedral variants);
- **default**: with the default candidate families (what the pipeline runs);
- **all**: with every candidate family;
- **new size**: plain and default again, every per-size cache emptied before each image (the plain
  hashes' resampling matrices in :mod:`hashwatch.hashing.draft_resample` and the candidates' bands,
  :func:`~hashwatch.hashing.candidates.clear_size_caches`), as for the first image of a size not seen
  before;
- one column per family alone, for the breakdown.

and prints medians and the ratios to plain (the issue's limit: the whole candidate set at most 2x plain).

    python -m benchmarks.bench_candidates            # about two minutes
    python -m benchmarks.bench_candidates --quick    # a few seconds

BLAS is limited to one thread. Encoded test images live only in memory; only timings are printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

SIZES = {"1024 px": (1024, 683), "1 MP": (1224, 816), "6 MP": (3000, 2000)}


def interleaved_median_cpu_ms(
    fns: dict[str, Callable[[bytes], object]], images: Sequence[bytes], repeats: int
) -> dict[str, float]:
    """Median CPU milliseconds of this thread per method (``time.thread_time``: time the thread ran, not
    time it waited for a core, so other jobs on this shared machine do not inflate it), measured
    round-robin image by image, repeat by repeat."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for data in images:
        for fn in fns.values():
            fn(data)  # warm caches (kernel matrices, imports)
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.thread_time()
                fn(data)
                times[name].append(time.thread_time() - start)
    return {name: statistics.median(t) * 1000.0 for name, t in times.items()}


def encode(path: str, size: tuple[int, int], fmt: str = "JPEG") -> bytes:
    """A photo resized to ``size``, encoded in memory only (JPEG quality 85 or PNG)."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if fmt == "JPEG":
        rgb.save(buf, format="JPEG", quality=85)
    else:
        rgb.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def clear_all_size_caches() -> None:
    """Empty every per-size cache of the hashing: the plain hashes' resampling matrices and bands and the
    candidates' bands (what the first image of a size not seen before has to build)."""
    from hashwatch.hashing import draft_resample
    from hashwatch.hashing.candidates import clear_size_caches

    for name in (
        "_lanczos_full",
        "_jarosz_full",
        "lanczos_matrix",
        "jarosz_matrix",
        "_jarosz_matrix64",
        "_jarosz_band",
    ):
        getattr(draft_resample, name).cache_clear()
    clear_size_caches()


def run(n_photos: int, repeats: int) -> list[dict[str, object]]:
    from hashwatch.evaluation.photo_corpus import photos
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES, DEFAULT_CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    configs = {
        "plain": HashConfig(candidates=()),
        "default": HashConfig(candidates=DEFAULT_CANDIDATE_FAMILIES),
        "all": HashConfig(candidates=CANDIDATE_FAMILIES),
        **{f: HashConfig(candidates=(f,)) for f in CANDIDATE_FAMILIES},
    }
    fns = {name: (lambda d, c=c: compute_image_hashes(d, c)) for name, c in configs.items()}

    def new_size(config):
        def fn(data: bytes):
            clear_all_size_caches()
            return compute_image_hashes(data, config)

        return fn

    fns["plain, new size"] = new_size(configs["plain"])
    fns["new size"] = new_size(configs["default"])
    corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1500)
    corpus = corpus[:: max(1, len(corpus) // n_photos)][:n_photos]
    cases = [(label, size, "JPEG") for label, size in SIZES.items()] + [("1024 px", SIZES["1024 px"], "PNG")]
    rows = []
    for label, size, fmt in cases:
        images = [encode(p.path, size, fmt) for p in corpus]
        ms = interleaved_median_cpu_ms(fns, images, repeats)
        rows.append({"case": f"{fmt} {label}", "n": len(images), **ms})
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    head = ["image", "photos", "plain ms", "default ms", "default / plain", "all ms", "all / plain"]
    head += ["new size: plain ms", "default ms", "default / plain"]
    head += [f"+{f} ms" for f in CANDIDATE_FAMILIES]
    print("| " + " | ".join(head) + " |")
    print("| --- | ---: |" + " ---: |" * (len(head) - 2))
    for r in rows:
        plain = r["plain"]
        cells = [
            str(r["case"]),
            str(r["n"]),
            f"{plain:.2f}",
            f"{r['default']:.2f}",
            f"**{r['default'] / plain:.2f}x**",
            f"{r['all']:.2f}",
            f"{r['all'] / plain:.2f}x",
            f"{r['plain, new size']:.2f}",
            f"{r['new size']:.2f}",
            f"{r['new size'] / r['plain, new size']:.2f}x",
        ]
        cells += [f"{r[f] - plain:+.2f}" for f in CANDIDATE_FAMILIES]
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable

    parser = argparse.ArgumentParser(description="query-side candidates: cost against the plain hash set")
    parser.add_argument("--quick", action="store_true", help="3 photos, 2 repeats")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    n_photos, repeats = (3, 2) if args.quick else (args.photos, args.repeats)
    try:
        rows = run(n_photos, repeats)
    except PhotoCorpusUnavailable as exc:
        print(f"bench_candidates: {exc}", file=sys.stderr)
        return 2
    print_table(rows)
    print(f"(median CPU ms over {rows[0]['n']} photos x {repeats} repeats, round-robin, one thread)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
