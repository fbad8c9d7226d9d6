"""Benchmark: what list-side variants cost, index size and query time, against the plain list in one run.

A list of ``--pictures`` pictures is written twice: *plain* (each picture's own hashes: md5, sha1, sha256,
pdq, phash, dhash, as ``hashwatch list from-images --variants none`` writes) and *with variants* (the same
plus the list-side variants of ``--variants``, as ``--variants default`` writes). Writing 20,000 real
pictures' variants would take the benchmark longer than the index does, so the list pictures are random
codes and each variant is planted at a distance from its picture drawn from the distances the variants
really have: ``--calibrate`` synthetic pictures (Pillow, in memory) are hashed with every variant by
:func:`hashwatch.hashing.list_from_images.picture_rows` and each variant's distance to its original is kept
per type. The rows per picture are the real ones (the same variants, deduplicated as the real writer does).

Both lists are built into index files (``build_index``: entries, bytes, build seconds) and matched by
``KnownHashIndex.match_many`` against one batch of ``--queries`` query hashes (half near a listed picture or
one of its variants, half random; each with PDQ's 8 dihedral rows, as a crawled image has), alternating
plain and variants for ``--rounds`` rounds; the medians and their ratio are printed.

    python -m benchmarks.bench_list_side                  # ~2 min: 20,000 pictures, default variants
    python -m benchmarks.bench_list_side --variants all --pictures 5000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

BITS = {"pdq": 256, "phash": 64, "dhash": 64}
CRYPTO = {"md5": 128, "sha1": 160, "sha256": 256}


def calibrate(n: int, variants: tuple[str, ...], seed: int = 5) -> dict[str, dict[str, list[int]]]:
    """Per type and variant, the Hamming distances of ``n`` synthetic pictures' variant hashes to their
    originals (a variant the writer dropped as a duplicate of another row is left out)."""
    from PIL import Image

    from hashwatch.hashing.list_from_images import picture_rows

    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[int]]] = {t: {} for t in BITS}
    for _ in range(n):
        coarse = rng.random((6, 8, 3)) * 255
        fine = rng.random((24, 32, 3)) * 255
        pic = Image.blend(
            Image.fromarray(coarse.astype("uint8")).resize((480, 360), Image.BICUBIC),
            Image.fromarray(fine.astype("uint8")).resize((480, 360), Image.BICUBIC),
            0.35,
        )
        buf = io.BytesIO()
        pic.save(buf, format="JPEG", quality=92)
        rows, _ = picture_rows(buf.getvalue(), "x", variants)
        original = {r.hash_type: r.hash_value for r in rows if r.variant == "original"}
        for r in rows:
            if r.variant != "original" and r.hash_type in BITS:
                d = (int(r.hash_value, 16) ^ int(original[r.hash_type], 16)).bit_count()
                out[r.hash_type].setdefault(r.variant, []).append(d)
    return out


def _flip(rng, value: int, bits: int, d: int) -> int:
    for b in rng.choice(bits, size=d, replace=False):
        value ^= 1 << int(b)
    return value


def write_lists(folder: str, pictures: int, distances, seed: int = 11):
    """The plain and the variant list (CSV) and, per picture, its codes (for planting queries)."""
    rng = np.random.default_rng(seed)
    header = ["hash_type", "hash_value", "source", "item_id", "note"]
    plain_path, variant_path = os.path.join(folder, "plain.csv"), os.path.join(folder, "variants.csv")
    listed: list[dict[str, list[int]]] = []
    with open(plain_path, "w", newline="") as pf, open(variant_path, "w", newline="") as vf:
        plain, var = csv.writer(pf), csv.writer(vf)
        plain.writerow(header)
        var.writerow(header)
        for i in range(pictures):
            item = f"p{i}"
            codes: dict[str, list[int]] = {}
            for name, bits in CRYPTO.items():
                row = [name, f"{int(rng.integers(0, 2**63)) << (bits - 63):0{bits // 4}x}", "bench", item]
                plain.writerow([*row, "variant=original"])
                var.writerow([*row, "variant=original"])
            for name, bits in BITS.items():
                value = int.from_bytes(rng.bytes(bits // 8), "big")
                codes[name] = [value]
                row = [name, f"{value:0{bits // 4}x}", "bench", item]
                plain.writerow([*row, "variant=original"])
                var.writerow([*row, "variant=original"])
                for variant, ds in distances[name].items():
                    v = _flip(rng, value, bits, int(ds[int(rng.integers(len(ds)))]))
                    codes[name].append(v)
                    var.writerow([name, f"{v:0{bits // 4}x}", "bench", item, f"variant={variant}"])
            listed.append(codes)
    return plain_path, variant_path, listed


def make_queries(listed, n: int, seed: int = 13):
    """``n`` query ImageHashes: half a listed code (the picture's or a variant's) moved a few bits, half
    random; each with PDQ's 7 dihedral rows (random: a crawled picture's turned hashes rarely match)."""
    from hashwatch.hashing.image_hashes import ImageHashes

    rng = np.random.default_rng(seed)
    out = []
    for q in range(n):
        cols: dict = {"md5": "0" * 32, "sha1": "0" * 40, "sha256": "0" * 64, "pdq_quality": 100}
        pick = listed[int(rng.integers(len(listed)))] if q % 2 == 0 else None
        for name, bits in BITS.items():
            if pick is None:
                value = int.from_bytes(rng.bytes(bits // 8), "big")
            else:
                base = pick[name][int(rng.integers(len(pick[name])))]
                value = _flip(rng, base, bits, int(rng.integers(0, bits // 16)))
            cols[name] = f"{value:0{bits // 4}x}"
        cols["pdq_dihedral"] = tuple(rng.bytes(32).hex() for _ in range(7))
        out.append(ImageHashes.from_columns(cols))
    return out


def main(argv=None) -> int:
    from hashwatch.hashing.index_build import build_index
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.list_from_images import parse_variants
    from hashwatch.hashing.match_policy import MatchOptions

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pictures", type=int, default=20_000)
    p.add_argument("--variants", default="default", help="as hashwatch list from-images --variants")
    p.add_argument("--calibrate", type=int, default=8, help="synthetic pictures hashed for the distances")
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    from benchmarks.machine import describe_machine

    variants = parse_variants(args.variants)
    print(describe_machine())
    t = time.perf_counter()
    distances = calibrate(args.calibrate, variants)
    print(
        f"calibrated on {args.calibrate} synthetic pictures in {time.perf_counter() - t:.1f} s; median bits "
        "from the original: "
        + "; ".join(
            f"{name} " + ", ".join(f"{v} {statistics.median(d):.0f}" for v, d in sorted(per.items()))
            for name, per in distances.items()
        )
    )
    with tempfile.TemporaryDirectory(prefix="bench-list-side-") as tmp:
        plain_csv, variant_csv, listed = write_lists(tmp, args.pictures, distances)
        facts = {}
        for label, path in (("plain", plain_csv), ("variants", variant_csv)):
            out = os.path.join(tmp, f"{label}.hwidx")
            t = time.perf_counter()
            report = build_index([path], out)
            facts[label] = {
                "entries": sum(report.entries.values()),
                "per_type": dict(report.entries),
                "bytes": os.path.getsize(out),
                "build_s": time.perf_counter() - t,
                "index": KnownHashIndex.load(out),
            }
        queries = make_queries(listed, args.queries)
        options = MatchOptions(candidates=())
        times: dict[str, list[float]] = {"plain": [], "variants": []}
        found: dict[str, int] = {}
        for _ in range(args.rounds):  # alternating, so a load change hits both alike
            for label in ("plain", "variants"):
                t = time.perf_counter()
                result = facts[label]["index"].match_many(queries, options)
                times[label].append(time.perf_counter() - t)
                found[label] = sum(1 for r in result if r)
    print(f"{args.pictures} pictures, variants: {', '.join(variants) or 'none'}")
    print(
        f"| list | entries | index bytes | build s | match {args.queries} queries, median s | queries matched |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for label in ("plain", "variants"):
        f = facts[label]
        print(
            f"| {label} | {f['entries']:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(f['per_type'].items()))})"
            f" | {f['bytes']:,} | {f['build_s']:.2f} | {statistics.median(times[label]):.3f} | {found[label]} |"
        )
    ratio = {k: facts["variants"][k] / facts["plain"][k] for k in ("entries", "bytes", "build_s")}
    q = statistics.median(times["variants"]) / statistics.median(times["plain"])
    print(
        f"ratios variants / plain: entries {ratio['entries']:.2f}x, bytes {ratio['bytes']:.2f}x, "
        f"build {ratio['build_s']:.2f}x, query time {q:.2f}x (median of {args.rounds} alternating rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
