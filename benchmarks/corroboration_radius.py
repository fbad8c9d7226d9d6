"""Choose pHash's dHash corroboration radius on the evaluation's tuning half; report the held-back half.

The rule measured is the default matcher of the evaluation (``any(pdq+all, phash&dhash@R)``: PDQ with every
query-side candidate @ 31, or pHash @ 4 where the same list picture's dHash is within R of the copy's) for R
in 6..20. For each half (:func:`hashwatch.evaluation.split.split_known`) the list is that half's known
originals plus the list-only entries; the queries are that half's edited copies (the evaluation's suite and
cropped rotations, below) and every distractor. Recall counts a copy found by its own original; a false
match is a copy (or a distractor) within the rule of another list entry (pairs within a photo series are
not counted, as in the evaluation).

**Cropped rotation** (written here from the issue's words, not from the evaluation's new edit suite):
rotate by ``a`` degrees about the centre, keep the canvas size, and zoom just enough that no corner of the
canvas falls outside the rotated picture (the corners are cut, as a phone's "straighten" does); one affine
Pillow transform, bicubic, saved as JPEG quality 90. The tuning half uses a = 1, 2, 3, 4, 5, 6 degrees, the
held-back half 1.5, 2.5, 3.5, 4.5, 5.5 (parameters never seen while tuning).

Run (2 workers, niced; hashes land in the evaluation's hash cache)::

    nice -n 10 .venv/bin/python -m benchmarks.corroboration_radius --workers 2 [--limit N]

It prints one table per half and writes the figures as JSON (``--out``). Nothing but hashes is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

RADII = tuple(range(6, 21))
TUNING_ANGLES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
HELD_BACK_ANGLES = (1.5, 2.5, 3.5, 4.5, 5.5)
PDQ_T, PHASH_T = 31, 4


def rotate_cropped(image: Image.Image, degrees: float) -> Image.Image:
    """``image`` rotated by ``degrees`` (counter-clockwise) on its own canvas, zoomed so no corner is empty.

    For a w x h canvas the zoom is ``cos a + max(w/h, h/w) * sin a``: the smallest that keeps the four
    corners of the canvas inside the rotated picture."""
    w, h = image.size
    a = math.radians(degrees)
    zoom = math.cos(a) + max(w / h, h / w) * abs(math.sin(a))
    cx, cy = w / 2.0, h / 2.0
    # Output pixel (x, y) -> input: rotate (x - cx, y - cy) by -a (Pillow's y axis points down), scale 1/zoom.
    c, s = math.cos(a) / zoom, math.sin(a) / zoom
    matrix = (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)
    return image.convert("RGB").transform(
        (w, h), Image.Transform.AFFINE, matrix, resample=Image.Resampling.BICUBIC
    )


def rotation_edits(angles):
    from benchmarks.corroboration_radius import rotate_cropped as fn  # by module name: spawned workers
    from hashwatch.evaluation.edits import Edit, _At

    return tuple(Edit("rotate cropped", "rotate_cropped", a, "deg", _At(fn, a)) for a in angles)


def _fusion():
    from hashwatch.evaluation.matchers import AnyOfMatcher, CandidateMatcher, HammingMatcher
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES

    pdq_all = CandidateMatcher("pdq", CANDIDATE_FAMILIES, name="pdq+all")
    return AnyOfMatcher(
        [pdq_all, HammingMatcher("phash"), HammingMatcher("dhash")],
        (PDQ_T, PHASH_T, 10),
        "any(pdq+all,phash&dhash@10)",
        corroborated_by={1: 2},
    )


def _parts(fusion, rows, owners, n, known):
    pdq, ph, dh = fusion.part_distances(rows, owners, n, known)
    return pdq, ph, dh


def _rule(pdq, ph, dh, radius):
    return (pdq <= PDQ_T) | ((ph <= PHASH_T) & (dh <= radius))


def measure_half(fusion, hashed, list_only_codes, distractor_rows, families):
    """Recall and false matches per radius for one half (see the module docstring)."""
    from hashwatch.evaluation.runner import _stack

    n = len(hashed.sources)
    codes = np.concatenate([hashed.known[fusion.name], list_only_codes])
    scenes = np.array([s.scene or "" for s in hashed.sources], dtype=object)
    same = (scenes[:, None] == scenes[None, :]) & (scenes[:, None] != "")
    not_counted = np.zeros((n, codes.shape[0]), bool)
    not_counted[:, :n] = np.eye(n, dtype=bool) | same
    found = {r: {} for r in RADII}
    false_copies = {r: 0 for r in RADII}
    lost_by_dhash: dict[int, list] = {r: [] for r in RADII}
    total = {}
    for edit_id in hashed.edit_ids:
        rows, owners = _stack(hashed.edits[fusion.name][edit_id], fusion.words)
        pdq, ph, dh = _parts(fusion, rows, owners, n, codes)
        own = np.arange(n)
        total[edit_id] = n
        for r in RADII:
            hit = _rule(pdq, ph, dh, r)
            found[r][edit_id] = int(hit[own, own].sum())
            false_copies[r] += int((hit & ~not_counted).sum())
            lost = (pdq[own, own] > PDQ_T) & (ph[own, own] <= PHASH_T) & (dh[own, own] > r)
            lost_by_dhash[r] += [(edit_id, int(dh[i, i])) for i in np.flatnonzero(lost)]
    false_distractors = {r: 0 for r in RADII}
    for start in range(0, len(distractor_rows), 2048):
        part = distractor_rows[start : start + 2048]
        rows, owners = _stack(part, fusion.words)
        pdq, ph, dh = _parts(fusion, rows, owners, len(part), codes)
        for r in RADII:
            false_distractors[r] += int(_rule(pdq, ph, dh, r).sum())
    out = {}
    for r in RADII:
        per_family: dict[str, list[int]] = {}
        for edit_id, k in found[r].items():
            fam = families[edit_id]
            per_family.setdefault(fam, [0, 0])
            per_family[fam][0] += k
            per_family[fam][1] += total[edit_id]
        got, of = sum(found[r].values()), sum(total.values())
        out[r] = {
            "found": got,
            "copies": of,
            "recall": got / of if of else 0.0,
            "false_copy_pairs": false_copies[r],
            "false_distractor_pairs": false_distractors[r],
            "per_family": per_family,
            "lost_to_dhash": lost_by_dhash[r][:40],
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N known photos of each half")
    p.add_argument(
        "--held-back-limit", type=int, default=None, help="first N known photos of the held-back half"
    )
    p.add_argument("--half", choices=("both", "tuning", "held-back"), default="both")
    p.add_argument("--max-distractors", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("/tmp/corroboration_radius.json"))
    args = p.parse_args(argv)

    from hashwatch.evaluation.cli import _pool
    from hashwatch.evaluation.corpus import EVAL_PACKAGES, LIST_ONLY_PACKAGES, select_corpus
    from hashwatch.evaluation.edits import EDIT_SUITE, KnownSettings, select_edits
    from hashwatch.evaluation.hash_cache import default_cache_dir
    from hashwatch.evaluation.runner import hash_known_set, hash_plain, stderr_progress
    from hashwatch.evaluation.split import HELD_BACK, TUNING, split_known

    started = time.monotonic()
    fusion = _fusion()
    cache = default_cache_dir()
    pool = _pool(EVAL_PACKAGES)
    plain = hash_plain(
        [c.source for c in pool],
        [fusion],
        workers=args.workers,
        cache_root=cache,
        progress=stderr_progress("pool"),
    )
    index = {s.key: i for i, s in enumerate(plain.sources)}
    has = [plain.known[fusion.name][i] is not None for i in range(len(pool))]
    corpus = select_corpus(pool, has_hashes=has)
    distractors = corpus.distractors[: args.max_distractors] if args.max_distractors else corpus.distractors
    distractor_rows = [plain.query[fusion.name][index[s.key]] for s in distractors]
    pool_keys = {c.source.key for c in pool}
    extra = [
        c
        for c in _pool(LIST_ONLY_PACKAGES)
        if min(c.width, c.height) >= 256 and c.source.key not in pool_keys
    ]
    unique = list({c.source.key: c.source for c in extra}.values())
    settings = KnownSettings()
    list_only = hash_known_set(
        unique,
        select_edits(["original"]),
        [fusion],
        settings=settings,
        workers=args.workers,
        cache_root=cache,
        progress=stderr_progress("list-only"),
    )
    tuning, held_back = split_known(corpus.known)
    report = {"facts": {}}
    for half, all_sources, angles in (
        (TUNING, tuning, TUNING_ANGLES),
        (HELD_BACK, held_back, HELD_BACK_ANGLES),
    ):
        if args.half not in ("both", half):
            continue
        limit = args.held_back_limit if half == HELD_BACK and args.held_back_limit else args.limit
        sources = all_sources[:limit] if limit else all_sources
        edits = EDIT_SUITE + rotation_edits(angles)
        families = {e.id: e.family for e in edits}
        hashed = hash_known_set(
            sources,
            edits,
            [fusion],
            settings=settings,
            workers=args.workers,
            cache_root=cache,
            progress=stderr_progress(f"{half} photos and edits"),
        )
        figures = measure_half(fusion, hashed, list_only.known[fusion.name], distractor_rows, families)
        report[half] = figures
        report["facts"][half] = {"known photos": len(hashed.sources), "edits": len(edits)}
        print(
            f"\n{half}: {len(hashed.sources)} known photos x {len(edits)} edits, "
            f"{len(distractor_rows)} distractors, list {len(hashed.sources) + len(unique)} entries"
        )
        print("radius  recall            rotate-cropped     false(copies)  false(distractors)")
        for r, f in figures.items():
            rc = f["per_family"].get("rotate cropped", [0, 0])
            print(
                f"{r:6d}  {f['found']:5d}/{f['copies']:5d} {100 * f['recall']:6.2f} %  "
                f"{rc[0]:4d}/{rc[1]:4d}        {f['false_copy_pairs']:6d}  {f['false_distractor_pairs']:6d}"
            )
    report["facts"]["distractors"] = len(distractor_rows)
    report["facts"]["list-only entries"] = len(unique)
    report["facts"]["seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(report, indent=1, default=int))
    print(f"written {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
