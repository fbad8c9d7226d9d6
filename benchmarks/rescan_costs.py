"""Per-row costs of the rescan's matching, in this process, one thread: what the lead projects 100 M and
1 B rows on N workers from (docs/benchmarks.md "Rescan", docs/scaling.md).

    from benchmarks.rescan_costs import per_row_costs
    for cost in per_row_costs(history, dihedral_history, index_path, dihedral_index_path):
        print(cost["what"], cost["us_per_row"], cost["search_share"])

Each kind of work on real row groups of the generated history (read once, outside the timing), through
``match_history_batch`` (validation of every hash column, the screening, ``match_many`` on the rows with a
hit): the digests alone; PDQ's plain value; PDQ with its 7 dihedral variants; PDQ with the variants and
19 query-side candidates a row (random values, as many as a crawl keeps with every family on). Each is
timed from a cold start (no value remembered from an earlier batch), the median of ``rounds``; the time
inside the index's search (the C Hamming search, or the digests' screen) is reported apart from the rest
(Python and numpy around it). "again" runs the same rows a second time in the same process: what a
history that repeats its pictures gains from remembered misses.
"""

from __future__ import annotations

import glob
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CANDIDATE_NAMES = (
    "trimmed",
    "uncaptioned-1",
    "uncaptioned-2",
    "rot90-real",
    "rot180-real",
    "rot270-real",
    "flipx-real",
    "flipy-real",
    "transpose-real",
    "transverse-real",
    "deskew-2.0",
    "deskew--2.0",
    "extend-1",
    "extend-2",
    "unband-1",
    "unband-2",
    "region-1",
    "region-2",
    "region-3",
)


def _rows(history: str, n: int) -> pa.Table:
    from hashwatch.rescan.history import CANDIDATE_COLUMNS, HISTORY_COLUMNS

    path = sorted(glob.glob(f"{history}/images/*/*/*.parquet"))[0]
    table = pq.ParquetFile(path).read_row_group(0, columns=[*HISTORY_COLUMNS, *CANDIDATE_COLUMNS])
    return table.slice(0, n).combine_chunks()


def _with_candidates(table: pa.Table, seed: int = 5) -> pa.Table:
    rng = np.random.default_rng(seed)
    n, k = table.num_rows, len(CANDIDATE_NAMES)
    values = rng.integers(0, 256, size=(n * k, 32), dtype=np.uint8)
    hexed = pa.array([bytes(v).hex() for v in values], pa.string())
    keys = pa.array([f"pdq:{name}" for name in CANDIDATE_NAMES] * n, pa.string())
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    column = pa.MapArray.from_arrays(offsets, keys, hexed)
    return table.set_column(table.schema.get_field_index("candidate_hashes"), "candidate_hashes", column)


def _time(table: pa.Table, index, options, forget: bool) -> tuple[float, float, int]:
    """(seconds, seconds inside the index's search, values searched) for one pass over ``table``."""
    from hashwatch.rescan import distinct_queries
    from hashwatch.rescan.history import match_history_batch

    if forget:
        distinct_queries._MISSES.clear()
    inside = [0.0, 0]

    def timer(_name: str, seconds: float, queries: int) -> None:
        inside[0] += seconds
        inside[1] += queries

    started = time.perf_counter()
    match_history_batch(table, index, options, None, run_id="r", now_us=0, path="bench", timer=timer)
    return time.perf_counter() - started, inside[0], inside[1]


def per_row_costs(
    history: str,
    dihedral_history: str,
    index_path: str,
    dihedral_index_path: str,
    rows: int = 2000,
    digest_rows: int = 100_000,
    rounds: int = 3,
) -> list[dict]:
    """The table of per-row costs (module docstring); ``rows`` for the perceptual kinds."""
    from hashwatch.hashing.known_hash_index import KnownHashIndex
    from hashwatch.hashing.match_policy import MatchOptions

    index = KnownHashIndex.load(index_path)
    dihedral_index = KnownHashIndex.load(dihedral_index_path)
    plain = _rows(history, rows)
    dihedral = _rows(dihedral_history, rows)
    cases = [
        ("digests (md5, sha1, sha256)", _rows(history, digest_rows), index,
         MatchOptions(hash_types=("md5", "sha1", "sha256"))),
        ("PDQ plain", plain, index, MatchOptions(hash_types=("pdq",), dihedral=False, candidates=())),
        ("PDQ + 7 dihedral variants", dihedral, dihedral_index,
         MatchOptions(hash_types=("pdq",), candidates=())),
        (f"PDQ + 7 variants + {len(CANDIDATE_NAMES)} candidates", _with_candidates(dihedral),
         dihedral_index, MatchOptions(hash_types=("pdq",))),
    ]  # fmt: skip
    out = []
    for what, table, known, options in cases:
        timings = [_time(table, known, options, forget=True) for _ in range(rounds)]
        seconds = statistics.median(t[0] for t in timings)
        search = statistics.median(t[1] for t in timings)
        again = _time(table, known, options, forget=False)  # the same rows once more: misses remembered
        n = table.num_rows
        out.append(
            {
                "what": what,
                "rows": n,
                "us_per_row": seconds / n * 1e6,
                "search_us_per_row": search / n * 1e6,
                "other_us_per_row": (seconds - search) / n * 1e6,
                "search_share": search / seconds if seconds else 0.0,
                "searched_per_row": timings[0][2] / n,
                "again_us_per_row": again[0] / n * 1e6,
                "rows_per_s": n / seconds,
            }
        )
    return out
