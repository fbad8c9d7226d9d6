"""How far do our JPEG-draft hashes drift from the same hashes on a full-resolution decode?

For each real photo (see :mod:`hashwatch.evaluation.photo_corpus`) and each candidate ``draft_min_side``, compares
pHash, dHash and PDQ computed by :func:`hashwatch.hashing.image_hashes.compute_image_hashes` with the naive
reference: full decode to RGB, ``imagehash.phash``/``dhash`` and ``pdqhash.compute`` on the full image.
The tolerance the issue asks for: pHash and dHash within 2 bits, PDQ within 10 bits.

    python -m benchmarks.draft_tolerance                      # default corpus, candidates 64..512
    python -m benchmarks.draft_tolerance --package all --sides 128 256

Prints one table row per candidate (max, 99th percentile, mean, share within tolerance), and the
photos over tolerance. Only hashes and file names are printed, never image content.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TOLERANCE", "Drift", "measure_drift", "reference_hashes", "summarise"]

TOLERANCE = {"phash": 2, "dhash": 2, "pdq": 10}


def reference_hashes(data: bytes) -> dict[str, str]:
    """The naive way: full decode, imagehash and pdqhash on the full-resolution image."""
    import imagehash
    import numpy as np
    import pdqhash
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    vec, _quality = pdqhash.compute(np.asarray(img))
    return {
        "phash": str(imagehash.phash(img)),
        "dhash": str(imagehash.dhash(img)),
        "pdq": np.packbits(np.asarray(vec, dtype=bool)).tobytes().hex(),
    }


@dataclass(frozen=True)
class Drift:
    path: str
    side: int
    pixels: int
    phash: int
    dhash: int
    pdq: int | None  # None when either PDQ is missing (quality < 50)


def _dist(a: str | None, b: str | None) -> int | None:
    if a is None or b is None:
        return None
    return (int(a, 16) ^ int(b, 16)).bit_count()


def measure_drift(paths: Sequence[str], sides: Sequence[int]) -> list[Drift]:
    from hashwatch.hashing.decode import DecodeConfig
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    out: list[Drift] = []
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        ref = reference_hashes(data)
        for side in sides:
            cfg = HashConfig(decode=DecodeConfig(draft_min_side=side), hash_types=("phash", "dhash", "pdq"))
            ours = compute_image_hashes(data, cfg)
            out.append(
                Drift(
                    path=path,
                    side=side,
                    pixels=(ours.width or 0) * (ours.height or 0),
                    phash=_dist(ours.phash, ref["phash"]) or 0,
                    dhash=_dist(ours.dhash, ref["dhash"]) or 0,
                    pdq=_dist(ours.pdq, ref["pdq"]),
                )
            )
    return out


def _pct(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(drifts: Sequence[Drift]) -> list[dict[str, object]]:
    """One row per side: n, and for each hash max / p99 / mean and the share within tolerance."""
    rows = []
    for side in sorted({d.side for d in drifts}):
        ds = [d for d in drifts if d.side == side]
        row: dict[str, object] = {"side": side, "n": len(ds)}
        for name, tol in TOLERANCE.items():
            vals = [v for d in ds if (v := getattr(d, name)) is not None]
            row[name] = {
                "max": max(vals),
                "p99": _pct(vals, 0.99),
                "mean": round(statistics.fmean(vals), 2),
                "within": round(sum(v <= tol for v in vals) / len(vals), 4),
            }
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    from hashwatch.evaluation.photo_corpus import (
        ALL_PACKAGES,
        DEFAULT_PACKAGES,
        PhotoCorpusUnavailable,
        photo_paths,
    )

    parser = argparse.ArgumentParser(description="JPEG draft hash drift against full-resolution decode")
    parser.add_argument("--package", action="append", help="photo package (repeatable; 'all')")
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument(
        "--min-side", type=int, default=256, help="photos with a shorter side below are skipped"
    )
    parser.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    args = parser.parse_args(argv)
    packages = args.package or list(DEFAULT_PACKAGES)
    if packages == ["all"]:
        packages = list(ALL_PACKAGES)
    try:
        paths = photo_paths(packages, formats=["JPEG"], min_side=args.min_side)
    except PhotoCorpusUnavailable as exc:
        print(f"draft_tolerance: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        paths = paths[: args.limit]
    drifts = measure_drift(paths, args.sides)
    print(f"{len(paths)} JPEG photos from {', '.join(packages)} (shorter side >= {args.min_side} px)")
    print(
        "| draft_min_side | n | pHash max / p99 / mean | dHash max / p99 / mean | PDQ max / p99 / mean "
        "| all within |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in summarise(drifts):
        cells = []
        for name in TOLERANCE:
            s = row[name]
            cells.append(f"{s['max']} / {s['p99']} / {s['mean']}")
        within = min(row[name]["within"] for name in TOLERANCE)
        print(f"| {row['side']} | {row['n']} | {' | '.join(cells)} | {within:.1%} |")
    over = [d for d in drifts if d.phash > 2 or d.dhash > 2 or (d.pdq or 0) > 10]
    for d in over:
        print(
            f"over tolerance at {d.side}: {d.path} ({d.pixels / 1e6:.1f} MP) phash={d.phash} dhash={d.dhash} "
            f"pdq={d.pdq}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
