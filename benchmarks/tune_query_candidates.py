"""Measure the query-side candidate families on edits written from issue 23's words, per half.

The edits here are this module's own (Pillow), written from the issue's text only: a rotation of 0.5-6
degrees keeping the canvas (corners filled black, white or another colour) or on an expanded canvas; a band
of 5-25 % of the height painted at the top, bottom or across, opaque or translucent, with text; a caption
box; a centred crop of 3-20 % resized back to the original size. Parameters are drawn per half, picture and
edit with :func:`hashwatch.evaluation.split.edit_rng`; choose settings on the tuning half only.

For every known picture of the half it hashes the known original (longest side 1024 px, JPEG 95), makes
each edit (JPEG 85) and reports per edit the share of copies within PDQ 31 of their original: plain PDQ with
its DCT dihedral variants, with the families before issue 23, and with each family added.

    python -m benchmarks.tune_query_candidates --half tuning
    python -m benchmarks.tune_query_candidates --half held-back
    python -m benchmarks.tune_query_candidates --distractors   # false matches of the families, PDQ 31
    python -m benchmarks.tune_query_candidates --angles        # deskew's angle error on cropped rotations

Images live only in memory; only hashes, distances and counts are printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from multiprocessing import Pool  # noqa: E402

import numpy as np  # noqa: E402

THRESHOLD = 31
OLD_FAMILIES = ("trimmed", "uncaptioned", "dihedral_real", "deskew", "extended")
_WORDS = "SALE TODAY breaking news caption watermark www.example.org 2026 photo credit LOOK"


def _fill_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    kind = rng.integers(3)
    if kind == 0:
        return (0, 0, 0)
    if kind == 1:
        return (255, 255, 255)
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _text(draw, box: tuple[int, int, int, int], rng: np.random.Generator, colour) -> None:
    from PIL import ImageFont

    x0, y0, x1, y1 = box
    size = max(8, int((y1 - y0) * rng.uniform(0.35, 0.6)))
    font = ImageFont.load_default(size=size)
    words = _WORDS.split()
    text = " ".join(rng.choice(words, size=int(rng.integers(2, 6))))
    draw.text(
        (x0 + int(rng.uniform(0.02, 0.1) * (x1 - x0)), y0 + (y1 - y0 - size) // 2),
        text,
        fill=colour,
        font=font,
    )


def rotate_cropped(img, rng):
    angle = float(rng.uniform(0.5, 6.0) * rng.choice([-1, 1]))
    return img.rotate(angle, resample=3, expand=False, fillcolor=_fill_colour(rng)), angle


def rotate_expanded(img, rng):
    angle = float(rng.uniform(0.5, 6.0) * rng.choice([-1, 1]))
    return img.rotate(angle, resample=3, expand=True, fillcolor=_fill_colour(rng)), angle


def _band(img, rng, where: str, box_width: float = 1.0):
    from PIL import Image, ImageDraw

    w, h = img.size
    bh = max(2, int(rng.uniform(0.05, 0.25) * h))
    if where == "top":
        y0 = 0
    elif where == "bottom":
        y0 = h - bh
    else:
        y0 = int(rng.uniform(0.2, 0.8) * h - bh / 2)
    bw = int(box_width * w)
    x0 = 0 if box_width >= 1.0 else int(rng.uniform(0.0, 1.0) * (w - bw))
    colour = _fill_colour(rng)
    alpha = 255 if rng.random() < 0.5 else int(rng.uniform(0.45, 0.8) * 255)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle((x0, y0, x0 + bw - 1, y0 + bh - 1), fill=(*colour, alpha))
    text_colour = (255, 255, 255, 255) if sum(colour) < 384 else (0, 0, 0, 255)
    _text(draw, (x0, y0, x0 + bw, y0 + bh), rng, text_colour)
    out = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    box = (x0 / w, y0 / h, (x0 + bw) / w, (y0 + bh) / h)
    return out, (f"{where} {bh / h:.2f} {'opaque' if alpha == 255 else 'alpha'}", box)


def band_top(img, rng):
    return _band(img, rng, "top")


def band_bottom(img, rng):
    return _band(img, rng, "bottom")


def band_across(img, rng):
    return _band(img, rng, "across")


def caption_box(img, rng):
    where = ["top", "bottom", "across"][int(rng.integers(3))]
    return _band(img, rng, where, box_width=float(rng.uniform(0.3, 0.8)))


def crop_rescale(img, rng):
    from PIL import Image

    c = float(rng.uniform(0.03, 0.20))
    w, h = img.size
    cw, ch = round(w * (1 - c)), round(h * (1 - c))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return img.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.LANCZOS), c


EDITS: dict[str, Callable] = {
    "rotate_cropped": rotate_cropped,
    "rotate_expanded": rotate_expanded,
    "band_top": band_top,
    "band_bottom": band_bottom,
    "band_across": band_across,
    "caption_box": caption_box,
    "crop_rescale": crop_rescale,
}


def _jpeg(img, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _dist(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _best_by_family(hashes, ref: str) -> dict[str, int]:
    """Nearest PDQ distance to ``ref``: plain (with DCT variants) and per candidate family."""
    from hashwatch.hashing.candidates import candidate_family

    plain = hashes.hash_value("pdq")
    out = {"plain": 256}
    if plain is not None:
        out["plain"] = min(_dist(v, ref) for v in [plain, *hashes.variants("pdq").values()])
    for name, value in hashes.candidates("pdq").items():
        fam = candidate_family(name) or "?"
        out[fam] = min(out.get(fam, 256), _dist(value, ref))
    return out


def _picture_task(args):
    from PIL import Image

    from hashwatch.evaluation.edits import KnownSettings, make_known_original
    from hashwatch.evaluation.split import edit_rng
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    half, label, path = args
    with open(path, "rb") as fh:
        original = make_known_original(fh.read(), KnownSettings())
    ref = compute_image_hashes(original, HashConfig(candidates=())).hash_value("pdq")
    if ref is None:
        return label, None, {}
    img = Image.open(io.BytesIO(original)).convert("RGB")
    config = HashConfig(candidates=CANDIDATE_FAMILIES, hash_types=("pdq",))
    rows = {}
    for edit, fn in EDITS.items():
        copy, param = fn(img, edit_rng(half, label, edit))
        hashes = compute_image_hashes(_jpeg(copy), config)
        rows[edit] = (param, _best_by_family(hashes, ref))
    plain = compute_image_hashes(original, config)
    rows["none"] = (None, {k: v for k, v in _best_by_family(plain, ref).items()})
    return label, ref, rows


def known_half(half: str):
    from hashwatch.evaluation.cli import _pool
    from hashwatch.evaluation.corpus import EVAL_PACKAGES, select_corpus
    from hashwatch.evaluation.split import TUNING, split_known

    corpus = select_corpus(_pool(EVAL_PACKAGES))
    tuning, held = split_known(corpus.known)
    return (tuning if half == TUNING else held), corpus


def run_half(half: str, workers: int, limit: int | None) -> list:
    sources, _ = known_half(half)
    sources = sources[:limit] if limit else sources
    tasks = [(half, s.label, s.path) for s in sources]
    with Pool(workers) as pool:
        return [r for r in pool.imap_unordered(_picture_task, tasks, chunksize=2) if r[1] is not None]


def recall_table(results: list, new_families: tuple[str, ...]) -> None:
    columns = ["plain", "before (5 families)", *[f"+{f}" for f in new_families], "all"]
    print("| edit | copies | " + " | ".join(columns) + " |")
    print("| --- | ---: |" + " ---: |" * len(columns))
    edits = [*EDITS, "none"]
    for edit in edits:
        rows = [r[2][edit][1] for r in results if edit in r[2]]

        def found(fams, rows=rows):
            return sum(min(row.get(f, 256) for f in ("plain", *fams)) <= THRESHOLD for row in rows)

        counts = [
            found(()),
            found(OLD_FAMILIES),
            *[found((*OLD_FAMILIES, f)) for f in new_families],
            found((*OLD_FAMILIES, *new_families)),
        ]
        print(
            f"| {edit} | {len(rows)} | " + " | ".join(f"{100 * c / len(rows):.1f} %" for c in counts) + " |"
        )


def _codes(hexes: list[str]) -> np.ndarray:
    return np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in hexes]).reshape(len(hexes), 32)


_KNOWN: list[np.ndarray] = []  # the known originals' codes, in each worker (set by _set_known)


def _set_known(codes: np.ndarray) -> None:
    _KNOWN[:] = [codes]


def _known_task(path: str) -> str | None:
    from hashwatch.evaluation.edits import KnownSettings, make_known_original
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    with open(path, "rb") as fh:
        original = make_known_original(fh.read(), KnownSettings())
    return compute_image_hashes(original, HashConfig(candidates=(), hash_types=("pdq",))).hash_value("pdq")


def _distractor_task(path: str) -> dict[str, int]:
    """Nearest distance of a distractor to any known original: plain (with DCT variants) and per family."""
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES, candidate_family
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    with open(path, "rb") as fh:
        hashes = compute_image_hashes(
            fh.read(), HashConfig(candidates=CANDIDATE_FAMILIES, hash_types=("pdq",))
        )
    plain = hashes.hash_value("pdq")
    if plain is None:
        return {}
    named = {"plain": [plain, *hashes.variants("pdq").values()]}
    for name, value in hashes.candidates("pdq").items():
        named.setdefault(candidate_family(name) or "?", []).append(value)
    out = {}
    for fam, values in named.items():
        x = np.bitwise_xor(_codes(values)[:, None, :], _KNOWN[0][None, :, :])
        out[fam] = int(np.unpackbits(x, axis=2).sum(axis=2).min())
    return out


def run_distractors(workers: int) -> None:
    """False matches of each family at PDQ 31: distractor x every known original (both halves)."""
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    _, corpus = known_half("tuning")
    with Pool(workers) as pool:
        known = [k for k in pool.map(_known_task, [s.path for s in corpus.known], chunksize=4) if k]
    with Pool(workers, initializer=_set_known, initargs=(_codes(known),)) as pool:
        rows = list(pool.imap_unordered(_distractor_task, [s.path for s in corpus.distractors], chunksize=16))
    rows = [r for r in rows if r]
    print(f"{len(rows)} distractors with a PDQ hash x {len(known)} known originals, PDQ <= {THRESHOLD}")
    print("| family | distractors matched | nearest |")
    print("| --- | ---: | ---: |")
    for fam in ("plain", *CANDIDATE_FAMILIES):
        ds = [r[fam] for r in rows if fam in r]
        print(f"| {fam} | {sum(d <= THRESHOLD for d in ds)} of {len(ds)} | {min(ds) if ds else '-'} |")


def main(argv: list[str] | None = None) -> int:
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", default="tuning", choices=["tuning", "held-back"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--detail", help="print per-copy distances of this edit")
    parser.add_argument("--distractors", action="store_true", help="false matches on the distractors")
    args = parser.parse_args(argv)
    if args.distractors:
        run_distractors(args.workers)
        return 0
    results = run_half(args.half, args.workers, args.limit)
    new = tuple(f for f in CANDIDATE_FAMILIES if f not in OLD_FAMILIES)
    print(f"{args.half} half: {len(results)} pictures, PDQ <= {THRESHOLD}")
    recall_table(results, new)
    if args.detail:
        for label, _, rows in sorted(results):
            param, best = rows[args.detail]
            print(label, param, best)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
