"""Benchmark: what pHash-by-dHash corroboration costs, against matching without it, in the same run.

A list of N pictures (pdq, phash and dhash rows, linked by ``item_id``) is written as Parquet, built into an
index with and without the item ids, and queried with ``KnownHashIndex.match_many`` in batches of 1,000 image
hashes (as the pipeline's DoFn does): a share of the queries (``--near``) are copies of list pictures (pHash
moved 0-4 bits, dHash 0-14, PDQ 0-30), the rest random. Prints per configuration the median over rounds of
images matched per second (rounds interleaved across configurations after a warm-up), the ratio to the plain rule on the index without item ids (the baseline), the pHash
matches found, and the index build time and file size. Single thread.

    python -m benchmarks.bench_corroboration            # 1e6 pictures, 20,000 queries, half near: ~2 min
    python -m benchmarks.bench_corroboration --quick    # 1e5 pictures, 5,000 queries
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _hex(codes: np.ndarray) -> list[str]:
    raw = np.ascontiguousarray(codes).view(np.uint8).reshape(codes.shape[0], -1)
    flat = raw.tobytes().hex()
    step = raw.shape[1] * 2
    return [flat[i : i + step] for i in range(0, len(flat), step)]


def _flip(codes: np.ndarray, max_bits: int, rng: np.random.Generator) -> np.ndarray:
    """Each row with 0..max_bits random bits flipped (rows of uint8)."""
    out = codes.copy()
    nbits = codes.shape[1] * 8
    for i, k in enumerate(rng.integers(0, max_bits + 1, size=codes.shape[0])):
        for b in rng.choice(nbits, size=int(k), replace=False):
            out[i, b // 8] ^= np.uint8(1 << (b % 8))
    return out


def make_list(path: str, n: int, with_items: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    codes = {
        "pdq": rng.integers(0, 256, size=(n, 32), dtype=np.uint8),
        "phash": rng.integers(0, 256, size=(n, 8), dtype=np.uint8),
        "dhash": rng.integers(0, 256, size=(n, 8), dtype=np.uint8),
    }
    types, values, items = [], [], []
    for name, c in codes.items():
        types += [name] * n
        values += _hex(c)
        items += [f"pic-{i}" for i in range(n)] if with_items else [""] * n
    table = pa.table(
        {
            "hash_type": pa.array(types, pa.large_string()),
            "hash_value": pa.array(values, pa.large_string()),
            "category": pa.array(["A"] * len(types), pa.large_string()),
            "source": pa.array(["bench"] * len(types), pa.large_string()),
            "item_id": pa.array(items, pa.large_string()),
        }
    )
    pq.write_table(table, path)
    return codes


def make_queries(codes: dict[str, np.ndarray], m: int, near: float, rng: np.random.Generator):
    from hashwatch.hashing.image_hashes import ImageHashes

    n = codes["phash"].shape[0]
    k = int(m * near)
    pick = rng.integers(0, n, size=k)
    q = {}
    for name, max_bits in (("pdq", 30), ("phash", 4), ("dhash", 14)):
        planted = _flip(codes[name][pick], max_bits, rng)
        random = rng.integers(0, 256, size=(m - k, codes[name].shape[1]), dtype=np.uint8)
        q[name] = _hex(np.concatenate([planted, random]))
    zero = {"md5": "0" * 32, "sha1": "0" * 40, "sha256": "0" * 64, "crc32c": "0" * 8}
    return [
        ImageHashes(bytes_length=1, **zero, phash=q["phash"][i], dhash=q["dhash"][i], pdq=q["pdq"][i])
        for i in range(m)
    ]


def time_once(index, queries, options, batch: int = 1000) -> tuple[float, int]:
    """Images per second over all queries, and the pHash matches found."""
    start = time.perf_counter()
    found = 0
    for i in range(0, len(queries), batch):
        for matches in index.match_many(queries[i : i + batch], options):
            found += sum(m.hash_type == "phash" for m in matches)
    return len(queries) / (time.perf_counter() - start), found


def main(argv: list[str] | None = None) -> int:
    from hashwatch.hashing.index_build import build_index
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pictures", type=float, default=1e6)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--near", type=float, default=0.5, help="share of queries that are copies")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.pictures, args.queries, args.rounds = 1e5, 5_000, 3
    n = int(args.pictures)
    rng = np.random.default_rng(11)
    work = tempfile.mkdtemp(prefix="bench-corroboration-")
    indexes, builds = {}, {}
    codes = None
    for with_items in (False, True):
        lst = os.path.join(work, f"list-{with_items}.parquet")
        codes = make_list(lst, n, with_items, np.random.default_rng(11))
        out = os.path.join(work, f"known-{with_items}.hwidx")
        start = time.perf_counter()
        build_index([lst], out)
        builds[with_items] = (time.perf_counter() - start, os.path.getsize(out) / 2**20)
        indexes[with_items] = KnownHashIndex.load(out)
    queries = make_queries(codes, args.queries, args.near, rng)
    configs = (
        ("no item ids, plain rule (baseline)", False, MatchOptions(corroborate={})),
        ("no item ids, default (keep: nothing to corroborate)", False, MatchOptions()),
        ("item ids, plain rule", True, MatchOptions(corroborate={})),
        ("item ids, default: pHash by dHash @ 10", True, MatchOptions()),
    )
    print(
        f"{n:,} pictures x 3 types; {args.queries:,} queries ({args.near:.0%} copies); median of "
        f"{args.rounds} rounds; candidates none (hashes given)"
    )
    print("| configuration | images/s | vs baseline | pHash matches | build s | index MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    # One warm-up pass each, then the rounds interleaved (config 1, 2, 3, 4, 1, 2, ...), so drift in the
    # machine's load falls on every configuration alike.
    rates: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    found: dict[int, int] = {}
    for r in range(args.rounds + 1):
        for i, (_, with_items, options) in enumerate(configs):
            rate, found[i] = time_once(indexes[with_items], queries, options)
            if r:
                rates[i].append(rate)
    base = statistics.median(rates[0])
    for i, (label, with_items, _) in enumerate(configs):
        rate = statistics.median(rates[i])
        seconds, size = builds[with_items]
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f}x | {found[i]:,} | {seconds:.1f} | {size:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
