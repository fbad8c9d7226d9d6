"""Benchmark: Hamming-radius search in the known-hash index against faiss and numpy, in the same run.

Each method runs in its own subprocess on the same seeded data, so its resident memory is its own:

- **ours**: :class:`hashwatch.hashing.known_hash_index.HammingTable` (multi-index hashing in C), built from
  the codes, written to an index file, then loaded (memory-mapped) by the process that queries;
- **faiss-flat**: ``faiss.IndexBinaryFlat`` (exhaustive, SIMD popcount), ``range_search``;
- **faiss-mih**: ``faiss.IndexBinaryMultiHash(bits, 16, bits // 16)`` with ``nflip = r // 16``, as
  python-threatexchange's PDQ index does (it is not exhaustive: its recall is measured too);
- **numpy**: brute force with ``np.bitwise_count`` (``brute_force_search``).

Data: ``random`` uniform codes, or ``clustered`` near-duplicates (N / 20 centres, members 0..24 bits away).
Queries: half are list members moved 0..radius bits (planted matches), half random. Recall is checked against
an exact scan of the same queries. Prints a table of queries/s (single thread), build seconds, load
seconds, resident memory (MB, after the queries; the process baseline is printed too) and recall. Queries/s
is the median of five rounds, each over a fifth of the queries.

    python -m benchmarks.bench_index --quick            # ~1 min: 1e6 codes
    python -m benchmarks.bench_index                    # 1e6 and 1e7, random and clustered, pHash 1e7
    python -m benchmarks.bench_index --sizes 1e7 --kinds random --methods ours
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

METHODS = ("ours", "faiss-flat", "faiss-mih", "numpy")
# How many queries each method gets (slow exhaustive methods get fewer; q/s is what is compared).
QUERIES = {"ours": 2000, "faiss-flat": 40, "faiss-mih": 200, "numpy": 10}


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    cur = peak = 0.0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def make_data(n: int, bits: int, kind: str, radius: int, n_queries: int, *, seed: int = 7):
    """Codes (n x words uint64) and queries (half planted near members, half random)."""
    rng = np.random.default_rng(seed)
    words = bits // 64
    if kind == "random":
        codes = rng.integers(0, 2**64, size=(n, words), dtype=np.uint64, endpoint=False)
    else:
        n_centres = max(1, n // 20)
        centres = rng.integers(0, 2**64, size=(n_centres, words), dtype=np.uint64)
        codes = centres[rng.integers(0, n_centres, size=n)]
        codes = flip_bits(codes, rng.integers(0, 25, size=n), bits, rng)
    codes = np.unique(codes, axis=0)
    rng.shuffle(codes)
    half = n_queries // 2
    picked = codes[rng.integers(0, codes.shape[0], size=half)]
    planted = flip_bits(picked, rng.integers(0, radius + 1, size=half), bits, rng)
    rand = rng.integers(0, 2**64, size=(n_queries - half, words), dtype=np.uint64)
    return np.ascontiguousarray(codes), np.ascontiguousarray(np.concatenate([planted, rand]))


def flip_bits(codes: np.ndarray, counts: np.ndarray, bits: int, rng) -> np.ndarray:
    """Flip up to ``counts[i]`` random bits of row i (a position drawn twice cancels: distance <= count)."""
    out = codes.copy()
    for j in range(int(counts.max(initial=0))):
        rows = np.nonzero(counts > j)[0]
        pos = rng.integers(0, bits, size=rows.size)
        out[rows, pos // 64] ^= np.left_shift(np.uint64(1), (pos % 64).astype(np.uint64))
    return out


ROUNDS = 5


def timed_rounds(search, queries: np.ndarray) -> tuple[float, tuple]:
    """Queries/s as the median over ROUNDS equal slices of the queries (a shared machine's load comes and
    goes), and the concatenated results of ``search(slice)`` as (query_idx, ids)."""
    rates, qis, idss = [], [], []
    bounds = np.linspace(0, queries.shape[0], ROUNDS + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        t0 = time.perf_counter()
        qi, ids = search(queries[lo:hi])
        rates.append((hi - lo) / (time.perf_counter() - t0))
        qis.append(np.asarray(qi, dtype=np.int64) + lo)
        idss.append(np.asarray(ids, dtype=np.int64))
    return float(np.median(rates)), (np.concatenate(qis), np.concatenate(idss))


def exact_pairs(codes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int]]:
    from hashwatch.hashing.hamming_search import brute_force_search

    qi, ci, _ = brute_force_search(codes, queries, radius)
    return set(zip(qi.tolist(), ci.tolist(), strict=True))


def worker(args: argparse.Namespace) -> dict[str, object]:
    n, bits, radius = int(float(args.n)), args.bits, args.radius
    n_queries = args.queries or QUERIES[args.method]
    codes, queries = make_data(n, bits, args.kind, radius, n_queries)
    truth_q = min(n_queries, args.check)
    out: dict[str, object] = {"method": args.method, "n": codes.shape[0], "kind": args.kind, "bits": bits}
    base_rss = rss_mb()[0]
    found: set[tuple[int, int]] = set()
    if args.method == "ours":
        from hashwatch.hashing.hamming_search import HammingTable
        from hashwatch.hashing.known_hash_index import KnownHashIndex

        t0 = time.perf_counter()
        table, perm = HammingTable.build(bits, codes, radius)
        build_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bench.hwidx")
            t0 = time.perf_counter()
            _save_table(table, bits, path)
            save_s = time.perf_counter() - t0
            del table
            codes_for_truth = codes[perm]
            del codes
            base_rss = rss_mb()[0] - codes_for_truth.nbytes / 2**20
            t0 = time.perf_counter()
            index = KnownHashIndex.load(path)
            load_s = time.perf_counter() - t0
            table = index._types["bench"].hamming
            t0 = time.perf_counter()
            qi, ids, _ = table.search(queries[:1], radius)
            first_ms = (time.perf_counter() - t0) * 1000
            qps, (qi, ids) = timed_rounds(lambda q: table.search(q, radius)[:2], queries)
            found = {(q, i) for q, i in zip(qi.tolist(), ids.tolist(), strict=True) if q < truth_q}
            out.update(build_s=build_s + save_s, load_s=load_s, first_query_ms=first_ms, plan=table.lengths)
            rss = rss_mb()[0] - codes_for_truth.nbytes / 2**20
            truth = exact_pairs(codes_for_truth, queries[:truth_q], radius)
    elif args.method.startswith("faiss"):
        import faiss

        faiss.omp_set_num_threads(1)
        raw = codes.view(np.uint8).reshape(codes.shape[0], -1)
        t0 = time.perf_counter()
        if args.method == "faiss-flat":
            index = faiss.IndexBinaryFlat(bits)
        else:
            index = faiss.IndexBinaryMultiHash(bits, 16, bits // 16)
            index.nflip = radius // 16
        index.add(raw)
        out["build_s"] = time.perf_counter() - t0
        qraw = queries.view(np.uint8).reshape(queries.shape[0], -1)

        def faiss_search(qs):
            lims, _dist, ids = index.range_search(qs, radius + 1)
            return np.repeat(np.arange(qs.shape[0]), np.diff(lims).astype(np.int64)), ids

        qps, (qi, ids) = timed_rounds(faiss_search, qraw)
        found = {(q, i) for q, i in zip(qi.tolist(), ids.tolist(), strict=True) if q < truth_q}
        rss = rss_mb()[0]
        truth = exact_pairs(codes, queries[:truth_q], radius)
    else:
        from hashwatch.hashing.hamming_search import brute_force_search

        qps, (qi, ids) = timed_rounds(lambda q: brute_force_search(codes, q, radius)[:2], queries)
        found = {(q, i) for q, i in zip(qi.tolist(), ids.tolist(), strict=True) if q < truth_q}
        rss = rss_mb()[0]
        truth = found
    out["qps"] = qps
    out["rss_mb"] = rss
    out["base_rss_mb"] = base_rss
    out["recall"] = (len(found & truth) / len(truth)) if truth else 1.0
    out["false"] = len(found - truth)
    out["matches"] = len(truth)
    return out


def _save_table(table, bits: int, path: str) -> None:
    """Write one Hamming table as an index file with a single type named 'bench' (one empty label)."""
    from hashwatch.hashing.index_file import write_container

    header = {
        "format_version": table.format_version(),  # 3 for issue 24's fingerprinted or wide chunks
        "checksum": "bench",
        "list_versions": {},
        "files": [],
        "types": {"bench": {"kind": "hamming", "bits": bits, "count": table.n, **table.layout()}},
        # One empty label and one set holding it: every entry's label_set (0) must name a set (index_file_check).
        "labels": [[None, None, None]],
        "label_sets": [[0]],
    }
    arrays = {"bench.label_set": np.zeros(table.n, dtype=np.int32), **table.arrays("bench")}
    write_container(path, header, arrays)


def run_one(method: str, n: str, kind: str, *, bits: int, radius: int, queries: int, check: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_index",
        "--worker",
        method,
        "--n",
        n,
        "--kind",
        kind,
        "--bits",
        str(bits),
        "--radius",
        str(radius),
        "--queries",
        str(queries),
        "--check",
        str(check),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {
            "method": method,
            "n": n,
            "kind": kind,
            "error": (proc.stderr.strip().splitlines() or ["?"])[-1],
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    print(
        "| hash / radius | N | data | method | queries/s | vs ours | build s | load s | RSS MB (base) "
        "| recall |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ours = {
        (r["bits"], r["n"], r["kind"]): r["qps"] for r in rows if r.get("method") == "ours" and "qps" in r
    }
    for r in rows:
        if "error" in r:
            print(f"| | {r['n']} | {r['kind']} | {r['method']} | error: {r['error']} | | | | | |")
            continue
        label = "PDQ 256 / 31" if r["bits"] == 256 else f"{r['bits']}-bit / {r.get('radius', '')}"
        if r["bits"] == 64:
            label = "pHash 64 / 10"
        ref = ours.get((r["bits"], r["n"], r["kind"]))
        ratio = f"{r['qps'] / ref:.3f}x" if ref and r["method"] != "ours" else "1"
        build = f"{r['build_s']:.1f}" if "build_s" in r else "-"
        load = f"{r['load_s'] * 1000:.1f} ms" if "load_s" in r else "-"
        print(
            f"| {label} | {r['n']:.0e} | {r['kind']} | {r['method']} | **{r['qps']:,.0f}** | {ratio} "
            f"| {build} "
            f"| {load} | {r['rss_mb']:.0f} ({r['base_rss_mb']:.0f}) | {r['recall']:.3f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hamming search: ours vs faiss vs numpy, same run")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", default="1e6", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="random", help=argparse.SUPPRESS)
    parser.add_argument("--bits", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--radius", type=int, default=31, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--check", type=int, default=10, help="queries whose recall is checked by a full scan"
    )
    parser.add_argument("--quick", action="store_true", help="1e6 codes only, fewer queries")
    parser.add_argument("--sizes", nargs="+", default=None, help="list sizes, e.g. 1e6 1e7")
    parser.add_argument("--kinds", nargs="+", default=["random", "clustered"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--no-phash", action="store_true", help="skip the 64-bit pHash run")
    args = parser.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(json.dumps(worker(args)))
        return 0
    sizes = args.sizes or (["1e6"] if args.quick else ["1e6", "1e7"])
    rows = []
    for n in sizes:
        for kind in args.kinds:
            for method in args.methods:
                q = QUERIES[method] // (4 if args.quick else 1)
                r = run_one(method, n, kind, bits=256, radius=31, queries=max(q, 4), check=args.check)
                r["radius"] = 31
                rows.append(r)
                print(f"# done {method} {n} {kind}", file=sys.stderr)
    if not args.no_phash:
        n = sizes[-1]
        for method in [m for m in args.methods if m in ("ours", "numpy", "faiss-flat")]:
            q = QUERIES[method] // (4 if args.quick else 1)
            r = run_one(method, n, "random", bits=64, radius=10, queries=max(q, 4), check=args.check)
            r["radius"] = 10
            rows.append(r)
            print(f"# done {method} {n} pHash", file=sys.stderr)
    print_table(rows)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
