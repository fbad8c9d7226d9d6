"""Rescan benchmark: N generated images/ history rows against a generated list, on the embedded runner.

    python -m benchmarks.bench_rescan                       # 10 million rows, 1 million list entries
    python -m benchmarks.bench_rescan --rows 200000 --list-entries 100000 --repeats 1   # a quick look

What runs, each in a process of its own (its peak memory is its own), on the same Parquet files:

1. **exact**: the rescan with ``--match-types md5,sha1,sha256`` (the digests only), and **DuckDB** joining the
   same history files with the same list on md5/sha1/sha256 (the list already loaded in a DuckDB table, as
   the rescan has its compiled index). Interleaved ``--repeats`` times (the machine is shared: medians, and
   the ratio of medians measured in the same run). Both must find the same match identities.
2. **all types**: the whole rescan (digests, pHash, dHash, PDQ; the history has no dihedral variants), with
   the time each hash type spent in the index's batched search (Beam counters) as queries/s.
3. **dihedral**: ``--dihedral-rows`` rows whose PDQ carries the 7 rotated/flipped variants (8 PDQ searches a
   row, as real crawl output has), all types.

Rows/s is history rows over the pipeline's own time (the run manifest's ``elapsed_s``: reading, matching,
reconciling, writing); the process's wall time (Python and Beam start-up, footer checks) is shown too. Peak
memory, sampled from /proc every 0.1 s: the largest single process's peak (VmHWM) and the largest sum of the
resident sizes of the run's process tree (the launcher and its SDK worker processes; shared pages of the
memory-mapped index count once per process). The rescans use ``--direct_num_workers``
(default 2, the cores here) in ``multi_processing`` mode, DuckDB its default threads (the cores).

The generated data is kept in ``.cache/bench-rescan/`` and reused when the arguments match.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench-rescan"
EXACT = ("md5", "sha1", "sha256")


# --------------------------------------------------------------------------------------------- processes


def _tree_memory_kib(pid: int) -> tuple[int, int]:
    """(sum of VmRSS, largest VmHWM) over ``pid`` and all its descendants, in KiB (from /proc).

    VmHWM is per address space, so it starts afresh at exec; ``ru_maxrss`` does not (Linux carries the
    parent's peak across fork and exec), which is why it is not used here."""
    total = 0
    largest = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        largest = max(largest, int(line.split()[1]))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    stack.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            continue
    return total, largest


def measured(argv: list[str], env: dict | None = None) -> dict:
    """Run ``argv``; return wall seconds, stdout, and peak memory: the largest sum of resident sizes over the
    process tree and the largest single process's peak (both sampled from /proc every 0.1 s)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peak = [0, 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            total, largest = _tree_memory_kib(process.pid)
            peak[0] = max(peak[0], total)
            peak[1] = max(peak[1], largest)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read().decode(errors="replace")
    done.set()  # the last samples were taken while the process was still there (before its output closed)
    sampler.join()
    process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({process.returncode}):\n{output[-4000:]}")
    return {
        "wall_s": time.monotonic() - started,
        "output": output,
        "maxrss_mib": peak[1] / 1024,
        "tree_peak_mib": peak[0] / 1024,
    }


# --------------------------------------------------------------------------------------------- the runs


def supports_incremental() -> bool:
    """Whether ``hashwatch rescan`` here is incremental by default (it has ``--full``: incr's branch)."""
    argv = [sys.executable, "-m", "pipelines.rescan", "--help"]
    return "--full" in subprocess.run(argv, check=False, cwd=REPO, capture_output=True, text=True).stdout


def rescan(history: str, index: str, workers: int, *flags: str, output: str | None = None) -> dict:
    """One ``pipelines.rescan`` run; ``output`` given: kept (an incremental run reads its state)."""
    keep = output is not None
    output = output or tempfile.mkdtemp(prefix="bench-rescan-out-", dir=CACHE)
    argv = [
        sys.executable,
        "-m",
        "pipelines.rescan",
        f"--history-dir={history}",
        f"--output-dir={output}",
        f"--index={index}",
        "--progress-interval=0",
        *flags,
    ]
    if workers > 1:
        argv += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    result = measured(argv)
    manifests = sorted(glob.glob(f"{output}/_runs/*/*/manifest.json"), key=os.path.getmtime)
    manifest = json.loads(Path(manifests[-1]).read_text())
    import pyarrow.parquet as pq

    files = glob.glob(f"{output}/matches/dt=*/run_id=*/*.parquet")
    columns = ["image_url", "page_url", "hash_type", "list_hash", "source"]
    rows = [r for f in files for r in pq.read_table(f, columns=columns).to_pylist()]
    identities = {tuple(r.values()) for r in rows}
    if not keep:
        shutil.rmtree(output, ignore_errors=True)
    return {**result, "manifest": manifest, "identities": identities}


def duckdb_join_main(history: str, list_path: str) -> None:
    """Child process: load the list into DuckDB, then time the exact join over the history files."""
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(
        f"CREATE TABLE list AS SELECT hash_type, hash_value, source FROM read_csv('{list_path}', header = true) "
        f"WHERE hash_type IN {EXACT}"
    )
    load_s = time.perf_counter() - started
    images = f"read_parquet('{history}/images/*/*/*.parquet', hive_partitioning = false)"
    joins = " UNION ALL ".join(
        f"SELECT h.image_url, h.page_urls, l.hash_type, l.hash_value, l.source FROM {images} AS h "
        f"JOIN list AS l ON l.hash_type = '{t}' AND l.hash_value = h.{t}"
        for t in EXACT
    )
    query = (
        f"SELECT DISTINCT image_url, unnest(CASE WHEN len(page_urls) = 0 THEN [NULL] ELSE page_urls END) AS page, "
        f"hash_type, hash_value, source FROM ({joins})"
    )
    started = time.perf_counter()
    rows = con.execute(query).fetchall()
    join_s = time.perf_counter() - started
    (history_rows,) = con.execute(f"SELECT count(*) FROM {images}").fetchone()
    print(json.dumps({"load_s": load_s, "join_s": join_s, "rows": history_rows, "identities": rows}))


def duckdb_join(history: str, list_path: str) -> dict:
    result = measured([sys.executable, "-m", "benchmarks.bench_rescan", "duckdb-join", history, list_path])
    data = json.loads(result["output"].strip().splitlines()[-1])
    data["identities"] = {tuple(r) for r in data["identities"]}
    return {**result, **data}


# --------------------------------------------------------------------------------------------- main


def _data(rows: int, entries: int, dihedral: bool) -> tuple[str, str]:
    from benchmarks.rescan_data import generate

    folder = CACHE / f"data-{rows}-{entries}{'-dihedral' if dihedral else ''}"
    marker = folder / ".complete"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        made = generate(str(folder), rows, entries, dihedral=dihedral)
        print(
            f"generated {rows:,} history rows ({made.files} files, {made.duplicates:,} duplicates, planted "
            f"{made.planted}) and {entries:,} list entries in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        marker.touch()
    return str(folder / "history"), str(folder / "list.csv")


def _index(list_path: str) -> tuple[str, float]:
    from hashwatch.hashing.index_build import build_index

    path = list_path.replace(".csv", ".hwidx")
    if not os.path.exists(path):
        report = build_index([list_path], path)
        Path(path + ".seconds").write_text(str(report.seconds))
    return path, float(Path(path + ".seconds").read_text())


def screening(history: str, index_path: str, sample_rows: int, rounds: int = 3) -> dict:
    """In this process, single thread, the same history rows (one row group per file until ``sample_rows``):
    ``match_many`` on every row (an ImageHashes per row, as the crawl matches) against the rescan's way
    (``query_hits`` per hash type, then ``match_many`` on the rows with a hit). Interleaved rounds, medians;
    both must find the same matches."""
    import pyarrow.parquet as pq

    from hashwatch.hashing.image_hashes import ImageHashes
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions
    from hashwatch.rescan.history import HISTORY_COLUMNS, HistoryRows, hit_rows

    index = KnownHashIndex.load(index_path)
    tables = []
    for path in sorted(glob.glob(f"{history}/images/*/*/*.parquet")):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            if sum(t.num_rows for t in tables) >= sample_rows:
                break
            tables.append(parquet.read_row_group(group, columns=list(HISTORY_COLUMNS)))
    options = MatchOptions()

    def every_row():
        found = 0
        for table in tables:
            hashes = [ImageHashes.from_columns(r) for r in table.to_pylist()]
            found += sum(len(m) for m in index.match_many(hashes, options))
        return found

    def screened():
        from hashwatch.rescan import distinct_queries

        distinct_queries._MISSES.clear()  # each round from a cold start: no misses remembered from the last
        found = 0
        for table in tables:
            hit = hit_rows(index, HistoryRows(table, []), options)
            rows = table.take(hit).to_pylist()
            found += sum(
                len(m) for m in index.match_many([ImageHashes.from_columns(r) for r in rows], options)
            )
        return found

    times: dict[str, list[float]] = {"every_row": [], "screened": []}
    counts = {}
    for _ in range(rounds):
        for name, method in (("every_row", every_row), ("screened", screened)):
            started = time.perf_counter()
            counts[name] = method()
            times[name].append(time.perf_counter() - started)
    rows = sum(t.num_rows for t in tables)
    return {
        "rows": rows,
        "every_row_rows_per_s": rows / statistics.median(times["every_row"]),
        "screened_rows_per_s": rows / statistics.median(times["screened"]),
        "same": counts["every_row"] == counts["screened"],
        "matches": counts["screened"],
    }


def _lookup_rates(manifest: dict) -> dict[str, float]:
    counters = manifest["beam_counters"]
    rates = {}
    for key, queries in counters.items():
        if key.startswith("MatchHistory.queries_"):
            name = key.rsplit("_", 1)[1]
            micros = counters.get(f"MatchHistory.lookup_us_{name}", 0)
            rates[name] = queries / (micros / 1e6) if micros else 0.0
    return rates


def incremental_night(args, history: str, list_path: str, output: str) -> dict:
    """After the full pass into ``output``: a night's new images and list delta (rescan_data.generate_night),
    then ``hashwatch rescan`` as scheduled (incremental by default) against the list with the delta."""
    from benchmarks.rescan_data import generate_night
    from hashwatch.hashing.index_build import build_index

    folder = tempfile.mkdtemp(prefix="bench-rescan-night-", dir=CACHE)
    new_rows = max(1, int(args.rows * args.night_share))
    delta = max(1, int(args.list_entries * args.night_share / 10))
    made = generate_night(folder, history, list_path, new_rows, delta)
    index = os.path.join(folder, "night.hwidx")
    build_index([list_path, made.delta_path], index)
    try:
        run = rescan(history, index, args.workers, output=output)
    finally:
        for path in made.new_files:  # the history stays what the next run's cache key says
            os.remove(path)
        shutil.rmtree(folder, ignore_errors=True)
    return {"run": run, "new_rows": new_rows, "delta_entries": delta, "from_history": made.delta_from_history}


def _cost_table(costs: list[dict]) -> str:
    lines = [
        f"\nper-row costs, in process, one thread (load {os.getloadavg()[0]:.1f}):",
        "| work | rows | us/row | in the index's search | rest (Python, numpy) | searched values/row "
        "| rows/s | same rows again (misses remembered) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in costs:
        lines.append(
            f"| {c['what']} | {c['rows']:,} | {c['us_per_row']:,.1f} | {c['search_us_per_row']:,.1f} "
            f"({c['search_share']:.0%}) | {c['other_us_per_row']:,.1f} | {c['searched_per_row']:.2f} "
            f"| {c['rows_per_s']:,.0f} | {c['again_us_per_row']:,.1f} us/row |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["duckdb-join"]:
        duckdb_join_main(*argv[1:3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="history rows (default 10 million)")
    parser.add_argument("--list-entries", type=int, default=1_000_000)
    parser.add_argument(
        "--dihedral-rows", type=int, default=200_000, help="rows of the dihedral run (0: skip)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the exact comparison")
    parser.add_argument("--workers", type=int, default=2, help="--direct_num_workers of the rescans")
    parser.add_argument("--skip-full", action="store_true", help="skip the all-types run")
    parser.add_argument(
        "--cost-rows", type=int, default=2000, help="rows of each perceptual per-row cost (0: skip)"
    )
    parser.add_argument(
        "--night-share",
        type=float,
        default=0.01,
        help="new images of the incremental night, as a share of --rows (the list delta is a tenth of it)",
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=50_000,
        help="rows of the in-process comparison: match_many on every row vs the rescan's screening (0: skip)",
    )
    args = parser.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    history, list_path = _data(args.rows, args.list_entries, dihedral=False)
    index, build_s = _index(list_path)
    print(
        f"machine: {describe_machine()}\nindex of {args.list_entries:,} entries built in {build_s:.1f} s",
        flush=True,
    )

    if args.sample_rows:
        sample = screening(history, index, args.sample_rows)
        print(
            f"in-process, one thread, {sample['rows']:,} history rows, all types: match_many on every row "
            f"{sample['every_row_rows_per_s']:,.0f} rows/s; query_hits screening + match_many on the hits "
            f"{sample['screened_rows_per_s']:,.0f} rows/s ({sample['screened_rows_per_s'] / sample['every_row_rows_per_s']:.1f}x, "
            f"medians of 3 interleaved rounds); same matches: {'yes' if sample['same'] else 'NO'} "
            f"({sample['matches']:,})",
            flush=True,
        )
    costs = []
    if args.cost_rows:
        from benchmarks.rescan_costs import per_row_costs

        d_history, d_list = _data(max(args.dihedral_rows, args.cost_rows), args.list_entries, dihedral=True)
        costs = per_row_costs(history, d_history, index, _index(d_list)[0], rows=args.cost_rows)
        print(_cost_table(costs), flush=True)
    if args.repeats == 0:
        return 0
    beam_runs, duck_runs = [], []
    for round_no in range(args.repeats):
        beam_runs.append(rescan(history, index, args.workers, f"--match-types={','.join(EXACT)}"))
        duck_runs.append(duckdb_join(history, list_path))
        b, d = beam_runs[-1], duck_runs[-1]
        print(
            f"round {round_no + 1}: rescan exact {b['manifest']['elapsed_s']:.1f} s, "
            f"duckdb join {d['join_s']:.1f} s",
            flush=True,
        )
    same = all(b["identities"] == d["identities"] for b, d in zip(beam_runs, duck_runs, strict=True))

    rows = []

    def row(name: str, n: int, seconds: list[float], wall: list[float], runs: list[dict], note: str = ""):
        median = statistics.median(seconds)
        rows.append(
            {
                "what": name,
                "rows": n,
                "seconds": median,
                "rows_per_s": n / median,
                "wall_s": statistics.median(wall),
                "maxrss_mib": max(r["maxrss_mib"] for r in runs),
                "tree_peak_mib": max(r["tree_peak_mib"] for r in runs),
                "note": note,
            }
        )

    beam_exact = [r["manifest"]["elapsed_s"] for r in beam_runs]
    duck_exact = [r["join_s"] for r in duck_runs]
    matches = len(beam_runs[0]["identities"])
    row(
        "rescan, digests only (md5, sha1, sha256)",
        args.rows,
        beam_exact,
        [r["wall_s"] for r in beam_runs],
        beam_runs,
        f"{matches:,} matches",
    )
    row(
        "DuckDB join, same files and digests",
        args.rows,
        duck_exact,
        [r["wall_s"] for r in duck_runs],
        duck_runs,
        f"{len(duck_runs[0]['identities']):,} matches; list load {statistics.median(r['load_s'] for r in duck_runs):.1f} s",
    )
    rates: dict[str, dict[str, float]] = {}
    incremental = supports_incremental()
    night = None
    if not args.skip_full:
        full_output = tempfile.mkdtemp(prefix="bench-rescan-full-", dir=CACHE)
        full = rescan(history, index, args.workers, *(["--full"] if incremental else []), output=full_output)
        rates["all types"] = _lookup_rates(full["manifest"])
        row(
            "rescan, all types (no dihedral variants)",
            args.rows,
            [full["manifest"]["elapsed_s"]],
            [full["wall_s"]],
            [full],
            f"{full['manifest']['new_matches']:,} matches",
        )
        if incremental:
            night = incremental_night(args, history, list_path, full_output)
            row(
                f"incremental night: {night['new_rows']:,} new rows, {night['delta_entries']:,} new entries",
                args.rows + night["new_rows"],
                [night["run"]["manifest"]["elapsed_s"]],
                [night["run"]["wall_s"]],
                [night["run"]],
                f"{night['run']['manifest']['new_matches']:,} new matches ({night['from_history']:,} delta "
                "entries copy old rows' values)",
            )
        shutil.rmtree(full_output, ignore_errors=True)
    if args.dihedral_rows:
        d_history, d_list = _data(args.dihedral_rows, args.list_entries, dihedral=True)
        d_index, _ = _index(d_list)
        dihedral = rescan(d_history, d_index, args.workers)
        rates["dihedral"] = _lookup_rates(dihedral["manifest"])
        row(
            "rescan, all types, PDQ + 7 dihedral variants",
            args.dihedral_rows,
            [dihedral["manifest"]["elapsed_s"]],
            [dihedral["wall_s"]],
            [dihedral],
            f"{dihedral['manifest']['new_matches']:,} matches",
        )

    ratio = statistics.median(beam_exact) / statistics.median(duck_exact)
    print(f"\nmachine: {describe_machine()}; rescans with --direct_num_workers={args.workers}")
    print(
        f"history {args.rows:,} rows, list {args.list_entries:,} entries (index built in {build_s:.1f} s)\n"
    )
    print(
        "| run | rows | pipeline s (median) | rows/s | process wall s | peak RSS, one process | peak RSS, process tree | |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['what']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['wall_s']:.1f} | "
            f"{r['maxrss_mib']:,.0f} MiB | {r['tree_peak_mib']:,.0f} MiB | {r['note']} |"
        )
    print(
        f"\nexact part: the rescan takes {ratio:.1f}x DuckDB's time (medians of {args.repeats} interleaved rounds); "
        f"same match identities: {'yes' if same else 'NO'}"
    )
    if not incremental:
        print(
            "incremental night: not run: this checkout's `hashwatch rescan` has no --full (not incremental; "
            "incr's branch i24-incr is not merged here)"
        )
    elif args.skip_full:
        print("incremental night: not run (--skip-full: it follows the full pass)")
    if costs:
        print(_cost_table(costs))
    for what, by_type in rates.items():
        text = ", ".join(f"{name} {rate:,.0f}" for name, rate in sorted(by_type.items()))
        print(f"index batched search, queries/s per worker ({what}): {text}")
    (CACHE / "results.json").write_text(
        json.dumps(
            {
                "machine": describe_machine(),
                "args": vars(args),
                "rows": rows,
                "rates": rates,
                "ratio": ratio,
                "costs": costs,
                "load": os.getloadavg(),
            },
            indent=2,
        )
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
