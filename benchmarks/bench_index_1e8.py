"""Benchmark: the PDQ index at 1e6, 1e7 and 1e8 entries against faiss on the same data (issue 24, "Index at 1e8").

Each step is its own subprocess (its peak memory is its own) on the same seeded data: uniform random 256-bit
codes; 4,000 queries, half list members moved 0..31 bits (planted matches), half random; radius 31.

- **ours-build**: :func:`~hashwatch.hashing.index_build_large.write_hamming_index` (streamed, memory budget
  7.5 GiB) writes the index file: seconds, peak RSS of the building process, file size.
- **ours**: ``KnownHashIndex.load`` (memory-mapped), then queries/s two ways: batches of 800 queries a call
  (how a rescan calls it; the median of 5 batches) and one query a call (200 calls). RSS and PSS after the
  queries, for one process and for each of **two processes** querying the same file at once (the shared
  page cache is paid once: PSS is what each is charged).
- **faiss-flat**: ``faiss.IndexBinaryFlat`` ``range_search`` (exhaustive, exact): build seconds, queries/s on
  the first 40 queries, peak RSS. Its results are the truth our recall is checked against.
- **faiss-mih**: ``faiss.IndexBinaryMultiHash(256, 16, 16)``, ``nflip = 1`` (as python-threatexchange), whose
  recall is measured; at 1e8 it is skipped (3 GB at 1e7, ~30 GB at 1e8: over the machine's share).

Single thread everywhere (``OMP_NUM_THREADS=1``); queries/s are per CPU second of the querying process
(``time.process_time``), since the shared machine's load (often 5-12 on 2 cores) makes wall time a measure
of the neighbours. Sizes run in alternating order over ``--rounds``; the
table reports medians and ratios against ours measured in the same run::

    python -m benchmarks.bench_index_1e8 --sizes 1e6 1e7 --rounds 2
    python -m benchmarks.bench_index_1e8 --sizes 1e8 --rounds 1        # ~15 min; needs ~8 GiB free
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RADIUS = 31
N_QUERIES = 4000
BATCH = 800
SINGLE = 200
FAISS_QUERIES = {"faiss-flat": 40, "faiss-mih": 200}
TRUTH_QUERIES = 40  # queries whose results are compared with faiss-flat's
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench_index_1e8"


def memory() -> dict[str, float]:
    """This process's RSS, peak RSS and PSS in MiB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    return {"rss_mb": out["VmRSS"], "peak_mb": out["VmHWM"], "pss_mb": out.get("Pss", 0.0)}


def make_codes(n: int, seed: int = 24) -> np.ndarray:
    """n random 256-bit codes (n x 4 uint64; duplicates have probability ~n^2 / 2^257, none in practice)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)


def make_queries(codes: np.ndarray, seed: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    half = N_QUERIES // 2
    picked = codes[rng.integers(0, codes.shape[0], size=half)].copy()
    for row, k in enumerate(rng.integers(0, RADIUS + 1, size=half)):
        for pos in rng.choice(256, size=int(k), replace=False):
            picked[row, pos // 64] ^= np.uint64(1) << np.uint64(pos % 64)
    rand = rng.integers(0, 2**64, size=(N_QUERIES - half, 4), dtype=np.uint64)
    return np.ascontiguousarray(np.concatenate([picked, rand]))


def index_path(n: int) -> Path:
    return CACHE / f"pdq_{n:.0e}.hwidx"


def queries_path(n: int) -> Path:
    return CACHE / f"queries_{n:.0e}.npy"


def step_build(n: int) -> dict:
    from hashwatch.hashing.index_build_large import write_hamming_index

    CACHE.mkdir(parents=True, exist_ok=True)
    codes = make_codes(n)
    np.save(queries_path(n), make_queries(codes))
    base = memory()["rss_mb"]
    t0 = time.perf_counter()
    plan = write_hamming_index(str(index_path(n)), "pdq", 256, codes, RADIUS, memory_budget=int(7.5 * 2**30))
    seconds = time.perf_counter() - t0
    return {
        "build_s": seconds,
        "file_mb": index_path(n).stat().st_size / 2**20,
        "codes_mb": codes.nbytes / 2**20,
        "base_mb": base,
        "plan": [list(plan.lengths), plan.inline_words],
        **memory(),
    }


def _barrier(tag: str, parties: int = 2, timeout: float = 600.0) -> None:
    """Wait until ``parties`` processes have reached ``tag`` (files in CACHE), so both query processes are
    alive, their pages mapped, when PSS is read (a finished sibling would leave the other charged in full)."""
    (CACHE / f"{tag}.{os.getpid()}").touch()
    end = time.monotonic() + timeout
    while len(list(CACHE.glob(f"{tag}.*"))) < parties and time.monotonic() < end:
        time.sleep(0.2)


def step_query(n: int, out_pairs: bool, pair_tag: str | None = None) -> dict:
    from hashwatch.hashing.known_hash_index import KnownHashIndex

    queries = np.load(queries_path(n))
    t0 = time.perf_counter()
    index = KnownHashIndex.load(str(index_path(n)))
    load_s = time.perf_counter() - t0
    table = index._types["pdq"].hamming
    rates = []
    qis, poss = [], []
    for lo in range(0, N_QUERIES, BATCH):
        t0 = time.process_time()
        qi, pos, _ = table.search(queries[lo : lo + BATCH], RADIUS)
        rates.append(min(BATCH, N_QUERIES - lo) / (time.process_time() - t0))
        qis.append(qi.astype(np.int64) + lo)
        poss.append(pos)
    t0 = time.process_time()
    for k in range(SINGLE):
        table.search(queries[k : k + 1], RADIUS)
    single = SINGLE / (time.process_time() - t0)
    if pair_tag:
        _barrier(pair_tag + ".measure")
        out = {"qps": statistics.median(rates), "qps_single": single, "load_s": load_s, **memory()}
        _barrier(pair_tag + ".exit")
        return out
    out = {"qps": statistics.median(rates), "qps_single": single, "load_s": load_s, **memory()}
    if n <= 10**6:  # how the rate grows with the batch (the sweep pays off from ~250 PDQ queries a call)
        codes = make_codes(n)
        many = np.concatenate([make_queries(codes, seed=30 + k) for k in range(5)])  # 20,000 distinct
        del codes
        for size in (100, 1000, 20_000):
            t0 = time.process_time()
            for lo in range(0, min(many.shape[0], max(size * 3, 2000)), size):
                table.search(many[lo : lo + size], RADIUS)
            done = min(many.shape[0], max(size * 3, 2000))
            out[f"qps_batch_{size}"] = done / (time.process_time() - t0)
    if out_pairs:  # the truth queries' results as rows of the original codes (the file's codes, by position)
        qi, pos = np.concatenate(qis), np.concatenate(poss)
        keep = qi < TRUTH_QUERIES
        codes = np.asarray(table.codes[pos[keep]])
        out["pairs"] = sorted([int(q), codes[k].tobytes().hex()] for k, q in enumerate(qi[keep].tolist()))
        out["matches"] = int(qi.size)
    return out


def step_faiss(n: int, method: str) -> dict:
    import faiss

    faiss.omp_set_num_threads(1)
    codes = make_codes(n)
    queries = np.load(queries_path(n)) if queries_path(n).exists() else make_queries(codes)
    base = memory()["rss_mb"]
    t0 = time.perf_counter()
    if method == "faiss-flat":
        index = faiss.IndexBinaryFlat(256)
    else:
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = RADIUS // 16
    index.add(codes.view(np.uint8).reshape(n, 32))
    build_s = time.perf_counter() - t0
    nq = FAISS_QUERIES[method]
    raw = queries[:nq].view(np.uint8).reshape(nq, 32)
    rates = []
    lims_all, ids_all = [], []
    for part in np.array_split(np.arange(nq), 5):
        t0 = time.process_time()
        lims, _d, ids = index.range_search(raw[part], RADIUS + 1)
        rates.append(part.size / (time.process_time() - t0))
        lims_all.append(np.repeat(part, np.diff(lims).astype(np.int64)))
        ids_all.append(ids)
    qi, ids = np.concatenate(lims_all), np.concatenate(ids_all)
    keep = qi < TRUTH_QUERIES
    pairs = sorted([int(q), codes[i].tobytes().hex()] for q, i in zip(qi[keep].tolist(), ids[keep].tolist()))
    return {"qps": statistics.median(rates), "build_s": build_s, "base_mb": base, "pairs": pairs, **memory()}


def run(step: str, n: int, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_index_1e8", "--step", step, "--n", str(n), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_pair(n: int) -> list[dict]:
    """Two query processes on the same file at once: what each is charged (PSS) for the shared pages."""
    tag = f"pair{time.time_ns()}"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_index_1e8",
        "--step",
        "query",
        "--n",
        str(n),
        "--pair",
        tag,
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = []
    for p in procs:
        so, se = p.communicate()
        outs.append(json.loads(so.strip().splitlines()[-1]) if p.returncode == 0 else {"error": se[-300:]})
    for marker in CACHE.glob(f"{tag}.*"):
        marker.unlink()
    return outs


def recall(ours: dict, truth: dict) -> tuple[float, int]:
    got = {tuple(p) for p in ours.get("pairs", [])}
    want = {tuple(p) for p in truth.get("pairs", [])}
    if not want:
        return float("nan"), 0
    return len(got & want) / len(want), len(got - want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PDQ index at 1e6-1e8 against faiss, same data, same run")
    parser.add_argument("--step", choices=["build", "query", "query-pairs", "faiss-flat", "faiss-mih"])
    parser.add_argument("--n", type=int)
    parser.add_argument("--pair", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", default=["1e6", "1e7"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["ours", "faiss-flat", "faiss-mih"])
    args = parser.parse_args(argv)
    if args.step:
        if args.step == "build":
            out = step_build(args.n)
        elif args.step.startswith("query"):
            out = step_query(args.n, args.step == "query-pairs", args.pair)
        else:
            out = step_faiss(args.n, args.step)
        print(json.dumps(out))
        return 0
    results: dict[tuple[int, str], list[dict]] = {}
    for rnd in range(args.rounds):
        sizes = [int(float(s)) for s in args.sizes]
        methods = args.methods if rnd % 2 == 0 else list(reversed(args.methods))
        for n in sizes:
            for method in methods:
                if method == "faiss-mih" and n >= 10**8:
                    continue
                if method == "ours":
                    # The index is built (and its build measured) in the first round only: a 1e7 build
                    # writes 3 GB, which this shared disk takes minutes to absorb.
                    b = run("build", n) if rnd == 0 or not index_path(n).exists() else {}
                    q = run("query-pairs", n)
                    pair = run_pair(n) if rnd == 0 else []
                    results.setdefault((n, "ours"), []).append({**q, "build": b, "pair": pair})
                else:
                    results.setdefault((n, method), []).append(run(f"{method}", n))
                print(f"# round {rnd} done {method} {n:.0e}: {time.strftime('%H:%M:%S')}", file=sys.stderr)
            if index_path(n).exists() and n >= 10**8 and rnd == args.rounds - 1:
                index_path(n).unlink()  # 7.5 GiB
    print_table(results)
    (CACHE / "last_results.json").write_text(
        json.dumps({f"{n}:{m}": v for (n, m), v in results.items()}, default=str), encoding="utf-8"
    )
    return 0


def med(rows: list[dict], key: str, sub: str | None = None) -> float:
    vals = [(r[sub] if sub else r).get(key) for r in rows if "error" not in r and (not sub or sub in r)]
    vals = [v for v in vals if isinstance(v, int | float)]
    return statistics.median(vals) if vals else float("nan")


def print_table(results: dict[tuple[int, str], list[dict]]) -> None:
    for (n, method), rows in sorted(results.items()):
        sizes = [k for k in (rows[0] if rows else {}) if k.startswith("qps_batch_")]
        if method == "ours" and sizes:
            print(
                f"# ours at {n:.0e}, queries/s by batch size: "
                + ", ".join(f"{k[10:]}: {med(rows, k):,.0f}" for k in sizes)
            )
    print(
        "| N | method | queries/s (batch) | vs ours | queries/s (1 a call) | build s | build peak RSS MiB "
        "| index file MiB | RSS MiB after queries | PSS MiB, 2 processes | recall | runs |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (n, method), rows in sorted(results.items()):
        errors = [r["error"] for r in rows if "error" in r]
        ours = results.get((n, "ours"), [])
        ref = med(ours, "qps")
        truth = next((r for r in results.get((n, "faiss-flat"), []) if "pairs" in r), {})
        if method == "ours":
            pss = [p.get("pss_mb") for r in rows for p in r.get("pair", []) if "pss_mb" in p]
            rec, false = recall(next((r for r in rows if "pairs" in r), {}), truth)
            print(
                f"| {n:.0e} | ours | **{med(rows, 'qps'):,.0f}** | 1 | {med(rows, 'qps_single'):,.0f} "
                f"| {med(rows, 'build_s', 'build'):.1f} | {med(rows, 'peak_mb', 'build'):,.0f} "
                f"| {med(rows, 'file_mb', 'build'):,.0f} | {med(rows, 'rss_mb'):,.0f} "
                f"| {' / '.join(f'{p:,.0f}' for p in pss) or '-'} | {rec:.3f} (false {false}) "
                f"| {len(rows) - len(errors)} {('errors: ' + '; '.join(errors)) if errors else ''} |"
            )
        else:
            rec, false = recall(next((r for r in rows if "pairs" in r), {}), truth)
            q = med(rows, "qps")
            print(
                f"| {n:.0e} | {method} | **{q:,.1f}** | {q / ref:.4f}x | - | {med(rows, 'build_s'):.1f} "
                f"| {med(rows, 'peak_mb'):,.0f} | - | {med(rows, 'rss_mb'):,.0f} | - | {rec:.3f} (false {false}) "
                f"| {len(rows) - len(errors)} {('errors: ' + '; '.join(errors)) if errors else ''} |"
            )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
