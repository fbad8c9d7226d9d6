"""How far hashwatch's PDQ is from the reference's on real images: ``pdqhash.compute`` on the RGB picture.

The reference is called the way a user would: ``pdqhash.compute(np.asarray(Image.open(f).convert("RGB")))``
(the first frame; no EXIF rotation; alpha dropped by ``convert``). Ours is ``decode_image`` then PDQ's DCT of
``DecodedImage.pdq_luma`` (``luma`` on code that predates it), without the quality gate (the reference prints
a hash at any quality). Per format (JPEG split into drafted and undrafted): how many files, the share at 0
bits, the mean and the largest distance, over all files and over those whose reference quality is >= 50 (the
ones PDQ would list or match).

Files: the photo corpus (:mod:`hashwatch.evaluation.photo_corpus`, every package, shorter side >= 64 px),
and, since the corpus has no WebP, synthetic WebP encodes made in memory from its JPEG and PNG photos
(lossy quality 80 and lossless, alternately). Run on two checkouts to compare code (``PYTHONPATH``)::

    .venv/bin/python -m benchmarks.pdq_colour_agreement --per-format 400

Nothing is written but the printed figures (and ``--json``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np


def _ours(data: bytes) -> tuple[str, int, int]:
    from hashwatch.hashing.algorithms.pdq import pdq_dct_and_quality, pdq_hex
    from hashwatch.hashing.decode import decode_image

    d = decode_image(data)
    if d.image is None:
        return "", 0, -1
    luma = getattr(d, "pdq_luma", None)
    luma = d.luma if luma is None else luma
    dct, quality = pdq_dct_and_quality(luma, d.full_size, d.draft_scale)
    return pdq_hex(dct)[0], quality, d.draft_scale


def _reference(data: bytes) -> tuple[str, int]:
    import pdqhash
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    vec, quality = pdqhash.compute(arr)
    return np.packbits(np.asarray(vec, dtype=bool)).tobytes().hex(), int(quality)


def _webp(data: bytes, lossless: bool) -> bytes:
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="WEBP", lossless=lossless, quality=80)
    return out.getvalue()


def _items(per_format: int, max_pixels: int):
    from hashwatch.evaluation.photo_corpus import ALL_PACKAGES, photos

    found = [p for p in photos(ALL_PACKAGES, formats=None, min_side=64) if p.width * p.height <= max_pixels]
    by_format: dict[str, list] = {}
    for p in found:
        by_format.setdefault(p.format, []).append(p)
    for fmt, rows in sorted(by_format.items()):
        step = max(1, len(rows) // per_format)
        for p in rows[::step][:per_format]:
            yield fmt, p.path, Path(p.path).read_bytes()
    sources = [p for p in found if p.format in ("JPEG", "PNG") and min(p.width, p.height) >= 128]
    step = max(1, len(sources) // per_format)
    for i, p in enumerate(sources[::step][:per_format]):
        lossless = i % 2 == 1
        yield (
            "WEBP (synthetic)",
            p.path + (" lossless" if lossless else " q80"),
            _webp(Path(p.path).read_bytes(), lossless),
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-format", type=int, default=400, help="at most this many files of each format")
    ap.add_argument("--max-pixels", type=int, default=20_000_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for fmt, label, data in _items(args.per_format, args.max_pixels):
        ours, _q, scale = _ours(data)
        if scale < 0:
            continue
        ref, ref_q = _reference(data)
        kind = fmt if fmt != "JPEG" else ("JPEG drafted" if scale > 1 else "JPEG undrafted")
        rows.append((kind, label, (int(ours, 16) ^ int(ref, 16)).bit_count(), ref_q))
    print("| format | files | identical | mean | max | quality >= 50: files | identical | mean | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    out = {}
    for kind in sorted({r[0] for r in rows}):
        cells = []
        for gated in (False, True):
            d = np.array([r[2] for r in rows if r[0] == kind and (not gated or r[3] >= 50)])
            if d.size:
                cells += [f"{d.size}", f"{100 * np.mean(d == 0):.1f} %", f"{d.mean():.2f}", f"{d.max()}"]
                out[f"{kind}{' q>=50' if gated else ''}"] = np.bincount(d).tolist()
            else:
                cells += ["0", "-", "-", "-"]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"histograms": out, "rows": rows}, indent=0))
    print(f"{len(rows)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
