"""Record what three runs write, and compare two records: the proof that a refactoring changed no output.

::

    python -m benchmarks.output_snapshot record before.json      # on the commit before the change
    python -m benchmarks.output_snapshot record after.json       # on the commit after it
    python -m benchmarks.output_snapshot compare before.json after.json

``record`` runs, in a scratch folder:

1. the demo (``python -m hashwatch.demo``): crawl of a synthetic two-host site on loopback, match, Parquet;
2. a rescan of (a copy of) the demo's output against a second version of its list in which one item is withdrawn
   (tombstoned) and one recategorised and listed by a second source, so the rescan retracts the first item's
   matches and reports the second's under the new source; only the rescan's own partitions are recorded;
3. an evaluation (``hashwatch eval --limit 40 --max-distractors 400 --no-cache``: real photos from Debian
   packages, every edit, hashed afresh; about 3 minutes here).

Every Parquet table of 1 and 2 (``matches``, ``images``, ``fetch_log``, ``retractions``, ...) is read whole,
the fields a rerun changes anyway are dropped (run ids, times, elapsed milliseconds, the index checksum), the
loopback ports are replaced by ``PORT``, and the rows are sorted; the evaluation's ``summary.json`` is kept
without its timings. Only hashes and metadata are recorded (never image bytes). ``compare`` prints, per table, whether the
schema and the rows are equal, with the first differing rows, and exits 1 when anything differs.

``make snapshot SNAPSHOT=path.json`` records; ``make snapshot-compare A=... B=...`` compares.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Fields a rerun of the same code changes: identities and clocks of the run, and the index checksum (its file
# embeds the build time). A change of content shows elsewhere in the row (hash values, list columns).
VOLATILE_FIELDS = frozenset(
    {"run_id", "matched_at", "hashed_at", "fetched_at", "retracted_at", "elapsed_ms", "index_checksum"}
)
# Timestamps of any column named *_at are volatile too; checked by name below.
_PORT = re.compile(r"\b(127\.0\.0\.\d+|localhost):\d+")
_RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b")


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode not in (0,):
        sys.exit(f"output_snapshot: {' '.join(cmd[:4])} ... exited {done.returncode}; see {log}")


def _normalise(value):
    if isinstance(value, str):
        return _RUN_ID.sub("RUN_ID", _PORT.sub(r"\1:PORT", value))
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):  # no column holds content; a digest or key at most
        return value.hex()
    return value


def _table_snapshot(folder: Path, leave_out: frozenset[str] | set[str] = frozenset()) -> dict:
    """Every row of one Parquet table (its dt=/run_id= partitions but ``leave_out``), normalised and sorted."""
    import pyarrow.parquet as pq

    files = sorted(p for p in folder.rglob("*.parquet") if p.parent.name not in leave_out)
    schema = None
    rows = []
    for path in files:
        table = pq.read_table(path)
        fields = [(f.name, str(f.type)) for f in table.schema]
        if schema is None:
            schema = fields
        elif schema != fields:
            sys.exit(f"output_snapshot: {path} has a different schema from the other files of {folder}")
        for row in table.to_pylist():
            kept = {
                k: _normalise(v) for k, v in row.items() if k not in VOLATILE_FIELDS and not k.endswith("_at")
            }
            rows.append(kept)
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return {"files": len(files), "schema": schema, "rows": rows}


def _tables(output: Path, leave_out: frozenset[str] | set[str] = frozenset()) -> dict:
    return {
        child.name: _table_snapshot(child, leave_out)
        for child in sorted(output.iterdir())
        if child.is_dir() and not child.name.startswith(("_", "."))
    }


def _second_list_version(first: Path, second: Path) -> None:
    """The demo list, next version: its first item withdrawn, its second recategorised and listed by a second
    source too (new match identities for the rescan to report)."""
    with first.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    items = list(dict.fromkeys(r["item_id"] for r in rows))
    withdrawn, recategorised = items[0], items[1]
    for row in rows:
        row["list_version"] = row["list_version"] + "-next"
        if row["item_id"] == withdrawn:
            row["deleted"] = "true"
        if row["item_id"] == recategorised:
            row["category"] = "C" if row["category"] != "C" else "B"
    rows += [{**row, "source": row["source"] + "-second"} for row in rows if row["item_id"] == recategorised]
    with second.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def record(out: Path, workdir: Path, eval_limit: int) -> dict:
    python = sys.executable
    log = workdir / "runs.log"
    demo = workdir / "demo"
    _run([python, "-m", "hashwatch.demo", "--workdir", str(demo)], log)
    next_list = workdir / "hash-list-next.csv"
    _second_list_version(demo / "demo-hash-list.csv", next_list)
    # The rescan writes into a copy of the demo's folder (its default --output-dir is --history-dir), so it
    # reconciles with the demo's matches: the withdrawn item's matches are retracted, the rest already reported.
    rescan_out = workdir / "rescan"
    shutil.copytree(demo / "output", rescan_out)
    _run(
        [
            python,
            "-m",
            "hashwatch.cli",
            "rescan",
            "--history-dir",
            str(rescan_out),
            "--hash-list",
            str(next_list),
        ],
        log,
    )
    demo_runs = {p.name for p in (demo / "output" / "_runs").glob("*/run_id=*")}
    snapshot = {"demo": _tables(demo / "output"), "rescan": _tables(rescan_out, leave_out=demo_runs)}
    if eval_limit:
        eval_out = workdir / "eval"
        _run(
            [
                python,
                "-m",
                "hashwatch.cli",
                "eval",
                "--limit",
                str(eval_limit),
                "--no-cache",
                "--max-distractors",
                str(eval_limit * 10),
                "--out",
                str(eval_out),
            ],
            log,
        )
        snapshot["eval"] = {
            "summary.json": _without_timings(json.loads((eval_out / "summary.json").read_text()))
        }
    out.write_text(json.dumps(snapshot, indent=1, sort_keys=True, default=str) + "\n")
    return snapshot


def _without_timings(value):
    """The evaluation's summary without its wall-clock facts (``seconds (this run; ...)``)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not k.startswith("seconds")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _describe_difference(name: str, a: dict, b: dict, shown: int = 3) -> list[str]:
    lines = []
    if a.get("schema") != b.get("schema"):
        lines.append(f"  {name}: schema differs:\n    before {a.get('schema')}\n    after  {b.get('schema')}")
    rows_a = [json.dumps(r, sort_keys=True) for r in a.get("rows", [])]
    rows_b = [json.dumps(r, sort_keys=True) for r in b.get("rows", [])]
    if rows_a != rows_b:
        only_a = sorted(set(rows_a) - set(rows_b))
        only_b = sorted(set(rows_b) - set(rows_a))
        lines.append(
            f"  {name}: rows differ ({len(rows_a)} before, {len(rows_b)} after;"
            f" {len(only_a)} only before, {len(only_b)} only after)"
        )
        lines += [f"    - {r[:400]}" for r in only_a[:shown]]
        lines += [f"    + {r[:400]}" for r in only_b[:shown]]
    return lines


def compare(before: dict, after: dict) -> list[str]:
    """One line per table; the returned list holds the differences (empty when the outputs are equal)."""
    problems: list[str] = []
    for run in sorted(set(before) | set(after)):
        tables_a, tables_b = before.get(run, {}), after.get(run, {})
        for table in sorted(set(tables_a) | set(tables_b)):
            if table not in tables_a or table not in tables_b:
                where = "before" if table in tables_a else "after"
                problems.append(f"  {run}/{table}: only {where}")
                continue
            a, b = tables_a[table], tables_b[table]
            if "rows" not in a:  # the evaluation's summary: compare as a whole, timings left out
                a, b = _without_timings(a), _without_timings(b)
                if a != b:
                    problems.append(f"  {run}/{table}: differs")
                print(f"{run}/{table}: {'equal' if a == b else 'DIFFERENT'}")
                continue
            found = _describe_difference(f"{run}/{table}", a, b)
            problems += found
            print(f"{run}/{table}: {len(a['rows'])} rows, {'equal' if not found else 'DIFFERENT'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.output_snapshot", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run demo, rescan and eval; write their normalised outputs")
    rec.add_argument("out", type=Path)
    rec.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary folder)")
    rec.add_argument("--eval-limit", type=int, default=40, help="known photos in the evaluation; 0 skips it")
    cmp_ = sub.add_parser("compare", help="compare two records; exit 1 when they differ")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        if args.workdir:
            if args.workdir.exists() and any(args.workdir.iterdir()):
                parser.error(f"--workdir {args.workdir} is not empty (a second run would add to its tables)")
            args.workdir.mkdir(parents=True, exist_ok=True)
            snapshot = record(args.out, args.workdir, args.eval_limit)
        else:
            with tempfile.TemporaryDirectory(prefix="hashwatch-snapshot-") as tmp:
                snapshot = record(args.out, Path(tmp), args.eval_limit)
        counts = {f"{run}/{t}": len(v.get("rows", [])) for run, ts in snapshot.items() for t, v in ts.items()}
        print(f"recorded {args.out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
        return 0
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    problems = compare(before, after)
    if problems:
        print("DIFFERENT:\n" + "\n".join(problems))
        return 1
    print("same output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
