"""Benchmark: the full hash set from JPEG bytes, ours against the naive way, measured in the same run.

For real photos (Debian wallpapers, see :mod:`hashwatch.evaluation.photo_corpus`) re-encoded in memory as baseline JPEG
(quality 85, ``--quality``) at 1 MP and 6 MP, it times per image, single-threaded:

- **naive**: full decode to RGB, md5/sha1/sha256/crc32c, ``imagehash.phash`` + ``imagehash.dhash`` and
  ``pdqhash.compute`` on the full image;
- **ours**: :func:`compute_image_hashes` (all built-in hashes, PDQ with its 7 dihedral variants; the
  query-side candidates left out, as the naive way has none: ``make bench-candidates`` times those);
- **draft decode**: only the JPEG draft decode ours starts with (``draft("L", (256, 256))``);
- **digests**: md5, sha1, sha256 and crc32c of the bytes alone (ours minus that is the image part).

and prints medians (over images x repeats) and the ratios the issue sets targets for: naive / ours >= 10 at
1 MP and >= 20 at 6 MP; ours within 1.5x of the draft decode at >= 6 MP.

    python -m benchmarks.bench_hashing            # about a minute
    python -m benchmarks.bench_hashing --quick    # a few seconds

BLAS is limited to one thread (OPENBLAS_NUM_THREADS=1) so the numbers are per core. Encoded test images live
only in memory; only timings are printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

SIZES_MP = {"1 MP": (1224, 816), "6 MP": (3000, 2000)}
TARGET_SPEEDUP = {"1 MP": 10.0, "6 MP": 20.0}


JPEG_QUALITY = 85  # between Pillow's default (75) and a camera's (90-95); typical of photos on web pages


def encode_jpeg(path: str, size: tuple[int, int], quality: int = JPEG_QUALITY) -> bytes:
    """A photo resized to ``size`` and encoded as baseline JPEG, in memory only."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def naive_hashes(data: bytes) -> dict[str, str]:
    import google_crc32c
    import imagehash
    import numpy as np
    import pdqhash
    from PIL import Image

    out = {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "crc32c": f"{google_crc32c.value(data):08x}",
    }
    img = Image.open(io.BytesIO(data)).convert("RGB")
    out["phash"] = str(imagehash.phash(img))
    out["dhash"] = str(imagehash.dhash(img))
    vec, quality = pdqhash.compute(np.asarray(img))
    out["pdq"] = np.packbits(np.asarray(vec, dtype=bool)).tobytes().hex()
    return out


def draft_decode(data: bytes, side: int = 256) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    if min(img.size[0] // side, img.size[1] // side) >= 2:
        img.draft("L", (side, side))
    img.load()


def digests(data: bytes) -> None:
    import google_crc32c

    hashlib.md5(data).digest()
    hashlib.sha1(data).digest()
    hashlib.sha256(data).digest()
    google_crc32c.value(data)


def interleaved_median_ms(
    fns: dict[str, Callable[[bytes], object]], images: Sequence[bytes], repeats: dict[str, int]
) -> dict[str, float]:
    """Median milliseconds per method, measured round-robin (image by image, repeat by repeat) so that load
    from other processes on a shared machine hits every method alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for data in images:
        for fn in fns.values():
            fn(data)  # warm caches (kernel matrices, imports)
        for r in range(max(repeats.values())):
            for name, fn in fns.items():
                if r >= repeats[name]:
                    continue
                start = time.perf_counter()
                fn(data)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000.0 for name, t in times.items()}


def run(
    n_photos: int, repeats: int, naive_repeats: int, quality: int = JPEG_QUALITY, draft_min_side: int = 256
) -> list[dict[str, object]]:
    from hashwatch.evaluation.photo_corpus import photos
    from hashwatch.hashing.decode import DecodeConfig
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    config = HashConfig(decode=DecodeConfig(draft_min_side=draft_min_side), candidates=())

    corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1500)
    corpus = corpus[:: max(1, len(corpus) // n_photos)][:n_photos]
    rows = []
    for label, size in SIZES_MP.items():
        images = [encode_jpeg(p.path, size, quality) for p in corpus]
        ms = interleaved_median_ms(
            {
                "naive": naive_hashes,
                "ours": lambda d: compute_image_hashes(d, config),
                "draft": lambda d: draft_decode(d, draft_min_side),
                "digests": digests,
            },
            images,
            {"naive": naive_repeats, "ours": repeats, "draft": repeats, "digests": repeats},
        )
        naive, ours, draft, digest = ms["naive"], ms["ours"], ms["draft"], ms["digests"]
        image_part = max(ours - digest, 0.0)
        rows.append(
            {
                "size": label,
                "n": len(images),
                "kb": statistics.median(len(d) for d in images) / 1024,
                "naive": naive,
                "ours": ours,
                "speedup": naive / ours,
                "target": TARGET_SPEEDUP[label],
                "draft": draft,
                "ours_vs_draft": ours / draft,
                "image_part": image_part,
                "image_vs_draft": image_part / draft,
                "digests": digest,
            }
        )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print(
        "| JPEG | photos | median size | naive ms | ours ms | naive / ours (target) | draft decode ms "
        "| ours / draft | ours minus digests ms | that / draft | digests ms |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['size']} | {r['n']} | {r['kb']:.0f} KB | {r['naive']:.1f} | {r['ours']:.2f} "
            f"| **{r['speedup']:.1f}x** (>= {r['target']:.0f}x) | {r['draft']:.2f} "
            f"| {r['ours_vs_draft']:.2f}x "
            f"| {r['image_part']:.2f} | {r['image_vs_draft']:.2f}x | {r['digests']:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable

    parser = argparse.ArgumentParser(description="hashing speed: ours vs naive, same run")
    parser.add_argument("--quick", action="store_true", help="3 photos, few repeats (a few seconds)")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality of the test images")
    parser.add_argument("--draft-min-side", type=int, default=256, help="ours: DecodeConfig.draft_min_side")
    args = parser.parse_args(argv)
    n_photos, repeats, naive_repeats = (3, 3, 1) if args.quick else (args.photos, args.repeats, 2)
    try:
        rows = run(n_photos, repeats, naive_repeats, args.quality, args.draft_min_side)
    except PhotoCorpusUnavailable as exc:
        print(f"bench_hashing: {exc}", file=sys.stderr)
        return 2
    print_table(rows)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
