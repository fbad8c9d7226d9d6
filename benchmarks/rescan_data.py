"""Generated images/ history and a known-hash list for the rescan benchmark (no images: hashes only).

History rows have every column of ``IMAGES_SCHEMA`` with realistic values: random md5/sha1/sha256 digests,
pHash/dHash/PDQ, 1-3 page URLs, sizes and statuses. A few percent of rows repeat an earlier row's hashes (the
same image crawled again under its URL, or a mirror under another URL). The list mixes every type; a small
fraction of history rows is planted to match it (exact digests, and PDQ/pHash/dHash a few bits away).

Everything is vectorised (numpy random bytes -> hex -> Arrow string buffers): 10 million rows take about a
minute to write. Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import IMAGES_SCHEMA

__all__ = ["GeneratedData", "generate"]

TYPES = {"md5": 16, "sha1": 20, "sha256": 32, "phash": 8, "dhash": 8, "pdq": 32}  # bytes
LIST_MIX = {"md5": 0.30, "sha1": 0.10, "sha256": 0.20, "pdq": 0.25, "phash": 0.075, "dhash": 0.075}
NEAR_BITS = {"pdq": 12, "phash": 4, "dhash": 4}  # planted near matches differ by up to this many bits


@dataclass
class GeneratedData:
    history_dir: str
    list_path: str
    rows: int
    files: int
    list_entries: int
    planted: dict[str, int]  # hash type -> history rows planted to match it
    duplicates: int


def _hex_array(raw: np.ndarray) -> pa.Array:
    """(n, k) uint8 -> a string array of n lower-case hex values (2k characters each), zero-copy-ish."""
    n, k = raw.shape
    table = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.empty((n, 2 * k), dtype=np.uint8)
    digits[:, 0::2] = table[raw >> 4]
    digits[:, 1::2] = table[raw & 15]
    offsets = np.arange(0, n * 2 * k + 1, 2 * k, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes()))


def _flip_bits(raw: np.ndarray, max_bits: int, rng: np.random.Generator) -> np.ndarray:
    out = raw.copy()
    nbits = raw.shape[1] * 8
    for i in range(raw.shape[0]):
        for bit in rng.choice(nbits, size=int(rng.integers(1, max_bits + 1)), replace=False):
            out[i, bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def _strings(prefix: str, ids: np.ndarray, suffix: str = "") -> pa.Array:
    return pa.array([f"{prefix}{i}{suffix}" for i in ids.tolist()], pa.string())


def generate(
    folder: str,
    rows: int,
    list_entries: int,
    *,
    seed: int = 7,
    rows_per_file: int = 500_000,
    row_group: int = 100_000,
    partitions: int = 10,
    planted_fraction: float = 0.0005,
    duplicate_fraction: float = 0.03,
    dihedral: bool = False,
) -> GeneratedData:
    """Write ``folder/history/images/dt=*/run_id=*/part-*.parquet`` and ``folder/list.csv``."""
    rng = np.random.default_rng(seed)
    history_dir = os.path.join(folder, "history")
    # The list first: planted history rows copy (or perturb) some of its values.
    counts = {t: int(round(list_entries * f)) for t, f in LIST_MIX.items()}
    counts["md5"] += list_entries - sum(counts.values())
    list_raw = {t: rng.integers(0, 256, size=(counts[t], TYPES[t]), dtype=np.uint8) for t in TYPES}
    list_path = os.path.join(folder, "list.csv")
    os.makedirs(folder, exist_ok=True)
    parts = []
    for t, raw in list_raw.items():
        n = raw.shape[0]
        parts.append(
            pa.table(
                {
                    "hash_type": pa.array([t] * n),
                    "hash_value": _hex_array(raw),
                    "category": pa.array(np.array(["A", "B", "C"])[rng.integers(0, 3, n)]),
                    "source": pa.array(np.array(["iwf", "ncmec"])[rng.integers(0, 2, n)]),
                    "list_version": pa.array(["2026-11-25"] * n),
                    "deleted": pa.array(["false"] * n),
                }
            )
        )
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa.concat_tables(parts), list_path)

    planted_total = {t: 0 for t in TYPES}
    duplicates = 0
    files = 0
    written = 0
    file_no = 0
    per_partition = -(-rows // partitions)
    while written < rows:
        n = min(rows_per_file, rows - written)
        part = written // per_partition
        day = f"2026-{1 + part // 28:02d}-{1 + part % 28:02d}"
        run_id = f"crawl-{part:03d}"
        hashes = {t: rng.integers(0, 256, size=(n, TYPES[t]), dtype=np.uint8) for t in TYPES}
        ids = np.arange(written, written + n)
        image_ids = ids.copy()
        # Duplicates: the hashes of an earlier row of this file; half keep its URL (a re-crawl), half a mirror.
        dup = np.nonzero(rng.random(n) < duplicate_fraction)[0]
        dup = dup[dup > 0]
        src = (rng.random(dup.size) * dup).astype(np.int64)
        for t in TYPES:
            hashes[t][dup] = hashes[t][src]
        same_url = rng.random(dup.size) < 0.5
        image_ids[dup[same_url]] = image_ids[src[same_url]]
        duplicates += int(dup.size)
        # Planted matches: copy a list value (digests) or a few bits away from one (perceptual hashes).
        for t in TYPES:
            pick = np.nonzero(rng.random(n) < planted_fraction * LIST_MIX[t] / max(LIST_MIX.values()))[0]
            if pick.size == 0 or counts[t] == 0:
                continue
            values = list_raw[t][rng.integers(0, counts[t], pick.size)]
            hashes[t][pick] = _flip_bits(values, NEAR_BITS[t], rng) if t in NEAR_BITS else values
            planted_total[t] += int(pick.size)
        pages = rng.integers(1, 4, n)
        page_ids = rng.integers(0, max(1, rows // 20), size=(n, 3))
        flat_pages = [f"https://site{p % 997}.example/page/{p}.html" for p in page_ids.ravel().tolist()]
        offsets = np.concatenate([[0], np.cumsum(pages)]).astype(np.int32)
        chosen = np.concatenate([np.arange(3 * i, 3 * i + k) for i, k in enumerate(pages.tolist())])
        page_urls = pa.ListArray.from_arrays(pa.array(offsets), pa.array([flat_pages[c] for c in chosen]))
        dihedral_col = pa.nulls(n, pa.list_(pa.string()))
        if dihedral:
            variants = _hex_array(rng.integers(0, 256, size=(n * 7, 32), dtype=np.uint8))
            dihedral_col = pa.ListArray.from_arrays(
                pa.array(np.arange(0, 7 * n + 1, 7, dtype=np.int32)), variants
            )
        columns = {
            "run_id": pa.array([run_id] * n),
            "image_url": _strings("https://cdn.example/img/", image_ids, ".jpg"),
            "final_url": pa.nulls(n, pa.string()),
            "page_urls": page_urls,
            "depth": pa.array(rng.integers(0, 3, n).astype(np.int32)),
            "http_status": pa.array(np.full(n, 200, dtype=np.int32)),
            "content_type": pa.array(["image/jpeg"] * n),
            "bytes_length": pa.array(rng.integers(2_000, 3_000_000, n)),
            "format": pa.array(["JPEG"] * n),
            "width": pa.array(rng.integers(64, 4000, n).astype(np.int32)),
            "height": pa.array(rng.integers(64, 4000, n).astype(np.int32)),
            **{t: _hex_array(hashes[t]) for t in ("md5", "sha1", "sha256")},
            "crc32c": _hex_array(rng.integers(0, 256, size=(n, 4), dtype=np.uint8)),
            **{t: _hex_array(hashes[t]) for t in ("phash", "dhash", "pdq")},
            "pdq_quality": pa.array(rng.integers(50, 101, n).astype(np.int32)),
            "pdq_dihedral": dihedral_col,
            "exif_orientation": pa.nulls(n, pa.int32()),
            "decode_status": pa.array(["ok"] * n),
            "decode_error": pa.nulls(n, pa.string()),
            "extra_hashes": pa.array([[] for _ in range(n)], pa.map_(pa.string(), pa.string())),
            "candidate_hashes": pa.array([[] for _ in range(n)], pa.map_(pa.string(), pa.string())),
            "hashed_at": pa.array(np.full(n, 1_764_000_000_000_000, dtype=np.int64) + ids).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
        # Columns added to images/ since (an animation's frame columns, issue 19): null, as a still image's.
        for f in IMAGES_SCHEMA:
            columns.setdefault(f.name, pa.nulls(n, f.type))
        table = pa.table({f.name: columns[f.name] for f in IMAGES_SCHEMA}).cast(IMAGES_SCHEMA)
        folder_path = os.path.join(history_dir, "images", f"dt={day}", f"run_id={run_id}")
        os.makedirs(folder_path, exist_ok=True)
        pq.write_table(
            table,
            os.path.join(folder_path, f"part-{file_no:05d}.parquet"),
            row_group_size=row_group,
            compression="zstd",
        )
        written += n
        files += 1
        file_no += 1
    return GeneratedData(history_dir, list_path, rows, files, list_entries, planted_total, duplicates)


@dataclass
class GeneratedNight:
    new_files: list[str]
    delta_path: str
    new_rows: int
    delta_entries: int
    delta_from_history: int  # delta entries that copy a value of an old history row (a picture listed late)


def generate_night(
    folder: str, history_dir: str, list_path: str, new_rows: int, delta_entries: int, *, seed: int = 99
) -> GeneratedNight:
    """One night after :func:`generate`: ``new_rows`` freshly crawled images (a new ``dt=`` partition, a
    fraction planted with values of the list) and ``folder/delta.csv``, ``delta_entries`` new list entries
    of the same mix (half of the md5 and PDQ ones copy values of old history rows: pictures crawled earlier
    and listed only now, which an incremental rescan must find in the old files)."""
    import glob

    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    made = generate(os.path.join(folder, "night"), new_rows, 0, seed=seed, planted_fraction=0.0)
    listed = pacsv.read_csv(list_path).to_pydict()
    by_type: dict[str, list[str]] = {}
    for t, v in zip(listed["hash_type"], listed["hash_value"], strict=True):
        by_type.setdefault(t, []).append(v)
    new_files = []
    for k, path in enumerate(sorted(glob.glob(f"{made.history_dir}/images/*/*/*.parquet"))):
        table = pq.read_table(path)
        n = table.num_rows
        columns = {name: table.column(name) for name in table.column_names}
        columns["run_id"] = pa.array(["crawl-night"] * n)
        md5 = columns["md5"].to_pylist()
        for row in np.nonzero(rng.random(n) < 0.0005)[0].tolist():
            md5[row] = by_type["md5"][int(rng.integers(0, len(by_type["md5"])))]
        columns["md5"] = pa.array(md5, pa.string())
        target = os.path.join(history_dir, "images", "dt=2027-01-01", "run_id=crawl-night")
        os.makedirs(target, exist_ok=True)
        out = os.path.join(target, f"part-night-{k:05d}.parquet")
        pq.write_table(pa.table(columns).cast(IMAGES_SCHEMA), out, row_group_size=100_000, compression="zstd")
        new_files.append(out)
    old = sorted(glob.glob(f"{history_dir}/images/dt=2026-*/*/*.parquet"))[0]
    seen = pq.read_table(old, columns=["md5", "pdq"]).to_pydict()
    counts = {t: int(round(delta_entries * f)) for t, f in LIST_MIX.items()}
    counts["md5"] += delta_entries - sum(counts.values())
    rows, from_history = [], 0
    for t, count in counts.items():
        for i in range(count):
            if t in seen and i % 2 == 0:
                value = seen[t][int(rng.integers(0, len(seen[t])))]
                from_history += 1
            else:
                value = bytes(rng.integers(0, 256, TYPES[t], dtype=np.uint8)).hex()
            rows.append((t, value, "A", "iwf", "2027-01-01", "false"))
    delta_path = os.path.join(folder, "delta.csv")
    names = ["hash_type", "hash_value", "category", "source", "list_version", "deleted"]
    pacsv.write_csv(pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}), delta_path)
    return GeneratedNight(new_files, delta_path, new_rows, delta_entries, from_history)
