"""Benchmark: what the ``regions`` candidate family costs and finds (issue 23, pictures inside a larger one).

**Cost.** For real photos (Debian wallpapers, :mod:`hashwatch.evaluation.photo_corpus`) as JPEG quality 85 at
1024 px and 1 MP, and for canvases holding them (a screenshot frame, a 2x2 collage, where regions are found
and hashed), it times per image the CPU time of the hashing thread, round-robin image by image (the same
method as benchmarks/bench_candidates.py), for:

- **plain**: ``HashConfig(candidates=())``, the hashes without candidates;
- **default**: the default candidate families;
- **default + regions**: the default families and ``regions``;
- **regions**: ``regions`` alone;

and prints medians and the ratios to plain (the issue's limit: the whole hash-and-candidate step at most 2x
plain).

**Recall.** Pictures of the corpus, split by :func:`hashwatch.evaluation.split.split_known` (tuning half
unless ``--half held-back``), each pasted into canvases written here from the issue's words, parameters drawn
per picture and edit with :func:`~hashwatch.evaluation.split.edit_rng`:

- ``screenshot``: a window: a title bar with text, a side panel listing albums (left or right), the picture
  shown at 45-75 % of the window's width, a line of text under it; light or dark theme;
- ``collage``: a 1x2, 2x1, 1x3 or 2x2 grid of the picture and other corpus pictures, cells of one size (each
  picture resized to the cell), a gap of 0-16 px of white, black or grey, the picture in a random cell;
- ``page``: a page of a uniform colour, lines of text above, below and beside the picture (floated left or
  right at 50-70 % of the width);
- ``meme``: a meme template: the picture under a white band with a large caption, on a white canvas with a
  margin, with a smaller caption band under it half the time.

A copy is found when the plain PDQ, its DCT dihedral variants or a candidate of the matched families is
within PDQ 31 of the picture's own PDQ (the original as JPEG quality 95, fitted to 1024 px).

    python -m benchmarks.bench_regions                # cost and recall, about five minutes
    python -m benchmarks.bench_regions --quick        # a few photos
    python -m benchmarks.bench_regions --half held-back --no-cost

Encoded test images live only in memory; only timings, counts and distances are printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

PDQ_THRESHOLD = 31
EDITS = ("screenshot", "collage", "page", "meme")
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "photos",
    "and",
    "albums",
    "load",
    "slowly",
]


def _text(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, size=n).tolist())


def _jpeg(image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def screenshot(picture, rng: np.random.Generator, others):
    from PIL import Image, ImageDraw

    dark = rng.random() < 0.4
    bg, panel, bar, ink = (
        ((30, 30, 34), (44, 44, 50), (20, 20, 24), (220, 220, 220))
        if dark
        else ((236, 236, 236), (250, 250, 250), (52, 52, 64), (25, 25, 25))
    )
    width, height = int(rng.integers(1200, 1700)), int(rng.integers(800, 1100))
    canvas = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(canvas)
    bar_h = int(rng.integers(28, 60))
    draw.rectangle((0, 0, width, bar_h), fill=bar)
    draw.text((12, bar_h // 3), _text(rng, 5), fill=(255, 255, 255))
    panel_w = int(rng.integers(180, 300))
    left = rng.random() < 0.6
    px0 = 0 if left else width - panel_w
    draw.rectangle((px0, bar_h, px0 + panel_w, height), fill=panel)
    for i in range((height - bar_h) // 30):
        draw.text((px0 + 12, bar_h + 14 + 30 * i), _text(rng, 3), fill=ink)
    area_x0, area_x1 = (panel_w, width) if left else (0, width - panel_w)
    shown_w = int((area_x1 - area_x0) * rng.uniform(0.45, 0.75))
    shown_h = round(shown_w * picture.height / picture.width)
    if shown_h > height - bar_h - 80:
        shown_h = height - bar_h - 80
        shown_w = round(shown_h * picture.width / picture.height)
    x = int(rng.integers(area_x0 + 10, max(area_x0 + 11, area_x1 - shown_w - 10)))
    y = int(rng.integers(bar_h + 10, max(bar_h + 11, height - shown_h - 50)))
    canvas.paste(picture.resize((shown_w, shown_h), Image.Resampling.BILINEAR), (x, y))
    draw.text((x, y + shown_h + 12), _text(rng, 8), fill=ink)
    return canvas


def collage(picture, rng: np.random.Generator, others):
    from PIL import Image

    cols, rows = [(2, 1), (1, 2), (3, 1), (2, 2)][int(rng.integers(0, 4))]
    n = cols * rows
    fill = [(255, 255, 255), (0, 0, 0), (128, 128, 128)][int(rng.integers(0, 3))]
    gap = 0 if rng.random() < 0.4 else int(rng.integers(2, 17))
    cell_w = int(rng.integers(360, 560))
    cell_h = round(cell_w * picture.height / picture.width * rng.uniform(0.95, 1.05))
    where = int(rng.integers(0, n))
    picks = rng.choice(len(others), size=n, replace=False)
    canvas = Image.new("RGB", (cols * cell_w + (cols + 1) * gap, rows * cell_h + (rows + 1) * gap), fill)
    for i in range(n):
        cell = picture if i == where else others[int(picks[i])]
        x, y = gap + (i % cols) * (cell_w + gap), gap + (i // cols) * (cell_h + gap)
        canvas.paste(cell.resize((cell_w, cell_h), Image.Resampling.BILINEAR), (x, y))
    return canvas


def page(picture, rng: np.random.Generator, others):
    from PIL import Image, ImageDraw

    shade = int(rng.integers(225, 256))
    colour = (shade, shade - int(rng.integers(0, 10)), shade - int(rng.integers(0, 20)))
    width = int(rng.integers(1000, 1300))
    shown_w = int(width * rng.uniform(0.5, 0.7))
    shown_h = round(shown_w * picture.height / picture.width)
    top = int(rng.integers(120, 360))
    height = top + shown_h + int(rng.integers(150, 400))
    canvas = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(canvas)
    for i in range((top - 40) // 26):
        draw.text((60, 30 + 26 * i), _text(rng, 14), fill=(20, 20, 20))
    right = rng.random() < 0.5
    x = width - 60 - shown_w if right else 60
    canvas.paste(picture.resize((shown_w, shown_h), Image.Resampling.BILINEAR), (x, top))
    tx = 60 if right else x + shown_w + 20
    for i in range(shown_h // 26):
        draw.text((tx, top + 8 + 26 * i), _text(rng, 3), fill=(20, 20, 20))
    for i in range((height - top - shown_h - 40) // 26):
        draw.text((60, top + shown_h + 24 + 26 * i), _text(rng, 14), fill=(20, 20, 20))
    return canvas


def meme(picture, rng: np.random.Generator, others):
    from PIL import Image, ImageDraw, ImageFont

    shown_w = int(rng.integers(500, 800))
    shown_h = round(shown_w * picture.height / picture.width)
    margin = int(rng.integers(8, 30))
    band = int(shown_h * rng.uniform(0.12, 0.3))
    lower = int(shown_h * rng.uniform(0.08, 0.2)) if rng.random() < 0.5 else 0
    canvas = Image.new("RGB", (shown_w + 2 * margin, band + shown_h + lower + 2 * margin), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=max(12, band // 3))
    except TypeError:  # pragma: no cover - Pillow < 10.1
        font = ImageFont.load_default()
    draw.text((margin + 10, margin + band // 4), _text(rng, 5).upper(), fill=(0, 0, 0), font=font)
    canvas.paste(picture.resize((shown_w, shown_h), Image.Resampling.BILINEAR), (margin, margin + band))
    if lower:
        draw.text((margin + 10, margin + band + shown_h + lower // 4), _text(rng, 6), fill=(0, 0, 0))
    return canvas


MAKERS: dict[str, Callable] = {"screenshot": screenshot, "collage": collage, "page": page, "meme": meme}


def _fitted(path: str, max_side: int = 1024):
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def _distance(hashes, original: str, families: tuple[str, ...]) -> int:
    from hashwatch.hashing.candidates import candidate_family

    values = [hashes.hash_value("pdq"), *hashes.variants("pdq").values()]
    values += [v for k, v in hashes.candidates("pdq").items() if candidate_family(k) in families]
    values = [v for v in values if v]
    if not values:
        return 256
    return min(bin(int(v, 16) ^ int(original, 16)).count("1") for v in values)


def known_pictures() -> list:
    """The evaluation's known pictures (the photo and wallpaper folders of
    :data:`hashwatch.evaluation.corpus.KNOWN_FOLDERS`, shorter side >= 600 px) as ``ImageSource``s."""
    from hashwatch.evaluation.corpus import KNOWN_FOLDERS
    from hashwatch.evaluation.photo_corpus import default_cache_dir, photos
    from hashwatch.evaluation.runner import ImageSource

    root = str(default_cache_dir())
    out = []
    for p in photos(list(KNOWN_FOLDERS), formats=("JPEG", "PNG"), min_side=600):
        label = p.path[len(root) :].lstrip("/")
        if any(label.startswith(f"{p.package}/{folder}") for folder in KNOWN_FOLDERS[p.package]):
            out.append(ImageSource(key=p.sha256, label=label, group=p.package, path=p.path))
    return out


def recall(half: str, n_pictures: int) -> dict[str, object]:
    from hashwatch.evaluation.split import edit_rng, split_known
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES, DEFAULT_CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    tuning, held = split_known(known_pictures())
    chosen = (tuning if half == "tuning" else held)[:: max(1, len(tuning) // n_pictures)][:n_pictures]
    others = [_fitted(s.path, 600) for s in (held if half == "tuning" else tuning)[:12]]
    every = tuple(CANDIDATE_FAMILIES)
    without = tuple(f for f in every if f != "regions")
    rows = {edit: {"copies": 0, "default": 0, "all but regions": 0, "regions": 0, "all": 0} for edit in EDITS}
    n_regions: list[int] = []
    for source in chosen:
        picture = _fitted(source.path)
        original = compute_image_hashes(_jpeg(picture, 95), HashConfig(candidates=())).hash_value("pdq")
        if original is None:
            continue
        for edit in EDITS:
            canvas = MAKERS[edit](picture, edit_rng(half, source.label, f"regions-{edit}"), others)
            hashes = compute_image_hashes(_jpeg(canvas), HashConfig(candidates=every))
            n_regions.append(sum(1 for k in hashes.candidates("pdq") if k.startswith("region-")))
            r = rows[edit]
            r["copies"] += 1
            for name, fams in (
                ("default", tuple(DEFAULT_CANDIDATE_FAMILIES)),
                ("all but regions", without),
                ("regions", ("regions",)),
                ("all", every),
            ):
                r[name] += _distance(hashes, original, fams) <= PDQ_THRESHOLD
    return {"rows": rows, "regions per canvas": float(np.mean(n_regions)) if n_regions else 0.0}


def regions_on_photos(n: int) -> list[int]:
    """How many regions each of ``n`` plain corpus photos (1024 px JPEG) yields."""
    from hashwatch.evaluation.photo_corpus import photos
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    corpus = photos(min_side=600)
    corpus = corpus[:: max(1, len(corpus) // n)][:n]
    out = []
    for p in corpus:
        hashes = compute_image_hashes(_jpeg(_fitted(p.path)), HashConfig(candidates=("regions",)))
        out.append(sum(1 for k in hashes.candidates("pdq") if k.startswith("region-")))
    return out


def cost(n_photos: int, repeats: int) -> list[dict[str, object]]:
    from benchmarks.bench_candidates import SIZES, encode, interleaved_median_cpu_ms
    from hashwatch.evaluation.photo_corpus import photos
    from hashwatch.hashing.candidates import DEFAULT_CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    configs = {
        "plain": HashConfig(candidates=()),
        "default": HashConfig(candidates=DEFAULT_CANDIDATE_FAMILIES),
        "default + regions": HashConfig(candidates=(*DEFAULT_CANDIDATE_FAMILIES, "regions")),
        "regions": HashConfig(candidates=("regions",)),
    }
    fns = {name: (lambda d, c=c: compute_image_hashes(d, c)) for name, c in configs.items()}
    corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1500)
    corpus = corpus[:: max(1, len(corpus) // n_photos)][:n_photos]
    rows = []
    for label in ("1024 px", "1 MP"):
        images = [encode(p.path, SIZES[label]) for p in corpus]
        rows.append(
            {
                "case": f"photo, JPEG {label}",
                "n": len(images),
                **interleaved_median_cpu_ms(fns, images, repeats),
            }
        )
    pictures = [_fitted(p.path) for p in corpus]
    for name in ("screenshot", "collage"):
        images = [
            _jpeg(MAKERS[name](pic, np.random.default_rng(i), pictures), 85) for i, pic in enumerate(pictures)
        ]
        rows.append(
            {"case": f"{name}, JPEG", "n": len(images), **interleaved_median_cpu_ms(fns, images, repeats)}
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable

    parser = argparse.ArgumentParser(description="the regions candidate family: cost and recall")
    parser.add_argument("--quick", action="store_true", help="3 photos, 2 repeats, 8 pictures")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pictures", type=int, default=60, help="pictures for the recall (per half)")
    parser.add_argument("--half", choices=("tuning", "held-back"), default="tuning")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--no-recall", action="store_true")
    args = parser.parse_args(argv)
    n_photos, repeats, n_pictures = (3, 2, 8) if args.quick else (args.photos, args.repeats, args.pictures)
    try:
        if not args.no_cost:
            rows = cost(n_photos, repeats)
            print(
                "| image | n | plain ms | default ms | default / plain | default + regions ms | "
                "(default + regions) / plain | regions alone / plain |"
            )
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for r in rows:
                p = r["plain"]
                print(
                    f"| {r['case']} | {r['n']} | {p:.2f} | {r['default']:.2f} | {r['default'] / p:.2f}x | "
                    f"{r['default + regions']:.2f} | **{r['default + regions'] / p:.2f}x** | "
                    f"{r['regions'] / p:.2f}x |"
                )
            print(f"(median CPU ms over {rows[0]['n']} images x {repeats} repeats, round-robin, one thread)")
            counts = regions_on_photos(4 * n_photos)
            print(f"regions on {len(counts)} plain photos: {counts} (mean {np.mean(counts):.2f})")
        if not args.no_recall:
            result = recall(args.half, n_pictures)
            names = ["default", "all but regions", "regions", "all"]
            print(
                f"\nrecall at PDQ {PDQ_THRESHOLD}, {args.half} half (plain PDQ + DCT dihedral + candidates of):"
            )
            print("| edit | copies | " + " | ".join(names) + " |")
            print("| --- | ---: |" + " ---: |" * len(names))
            total = {n: 0 for n in ["copies", *names]}
            for edit, r in result["rows"].items():
                for k in total:
                    total[k] += r[k]
                cells = [f"{100 * r[n] / max(1, r['copies']):.1f} %" for n in names]
                print(f"| {edit} | {r['copies']} | " + " | ".join(cells) + " |")
            cells = [f"{100 * total[n] / max(1, total['copies']):.1f} %" for n in names]
            print(f"| all | {total['copies']} | " + " | ".join(cells) + " |")
            print(f"(regions per canvas: {result['regions per canvas']:.2f})")
    except PhotoCorpusUnavailable as exc:
        print(f"bench_regions: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
