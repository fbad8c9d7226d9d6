"""Check that a change to the candidate code leaves every candidate hash bit-identical.

Computes :func:`compute_image_hashes` with every candidate family and both candidate hash types (PDQ and pHash)
for real photos (Debian wallpapers and the evaluation's other packages, see
:mod:`hashwatch.evaluation.photo_corpus`) at several encodings and sizes, and for edited copies of their known
originals that make every detector fire (borders, caption bands, small turns, crops, flips, quarter turns), and
writes one JSON file of hashes (no pixels, no image bytes: ``{case id: {hash name: hex}}``).

    python -m benchmarks.check_candidate_hashes --write /tmp/cand-before.json    # before the change
    python -m benchmarks.check_candidate_hashes --compare /tmp/cand-before.json  # after: exit 1 on any difference

A speed-up that passes ``--compare`` does not need the evaluation rerun for its recall numbers (the
evaluation's hash cache is still keyed by the source, so it recomputes, but to the same codes).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Edited copies of each known original: every candidate detector has something to find.
EDIT_IDS = (
    "original",
    "border@5",
    "border_white@10",
    "pad_square",
    "caption@10",
    "caption@20",
    "rotate@2",
    "rotate@5",
    "rotate@10",
    "crop_center@5",
    "crop_corner@10",
    "flip_horizontal",
    "rotate90@90",
    "resize@0.25",
    "brightness@1.4",
)
SIZES = {"1024": (1024, 683), "1mp": (1224, 816), "6mp": (3000, 2000), "small": (300, 200)}


def collect(n_photos: int) -> dict[str, dict[str, str]]:
    from PIL import Image

    from benchmarks.bench_candidates import encode
    from hashwatch.evaluation.edits import KnownSettings, edits_by_id, make_known_original
    from hashwatch.evaluation.photo_corpus import photos
    from hashwatch.hashing.candidates import CANDIDATE_FAMILIES
    from hashwatch.hashing.image_hashes import HashConfig, compute_image_hashes

    config = HashConfig(candidates=CANDIDATE_FAMILIES)

    def hashes(data: bytes) -> dict[str, str]:
        # compute_candidates is asked for both types only when both plain hashes exist, as in the pipeline.
        h = compute_image_hashes(data, config)
        out = dict(sorted(h.candidate_hashes.items()))
        out.update({"plain:pdq": str(h.pdq), "plain:phash": str(h.phash), "status": str(h.decode_status)})
        return out

    corpus = photos(["mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"], min_side=1000)
    corpus = corpus[:: max(1, len(corpus) // n_photos)][:n_photos]
    edits = edits_by_id()
    settings = KnownSettings()
    result: dict[str, dict[str, str]] = {}
    for i, photo in enumerate(corpus):
        for label, size in SIZES.items():
            for fmt in ("JPEG", "PNG") if label in ("1024", "small") else ("JPEG",):
                result[f"{i}/{label}/{fmt}"] = hashes(encode(photo.path, size, fmt))
        known = make_known_original(Path(photo.path).read_bytes(), settings)
        with Image.open(io.BytesIO(known)) as img:
            known_rgb = img.convert("RGB")
        for edit_id in EDIT_IDS:
            data = edits[edit_id].apply(known_rgb, known)
            result[f"{i}/known/{edit_id}"] = hashes(data)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="candidate hashes of real photos: write, or compare with a file"
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the hashes to this JSON file")
    group.add_argument(
        "--compare", type=Path, help="compare with a file written before; exit 1 on a difference"
    )
    parser.add_argument("--photos", type=int, default=24)
    args = parser.parse_args(argv)
    result = collect(args.photos)
    n_hashes = sum(len(v) for v in result.values())
    if args.write:
        args.write.write_text(json.dumps(result, indent=0, sort_keys=True), encoding="utf-8")
        print(f"wrote {n_hashes} hashes of {len(result)} images to {args.write}")
        return 0
    before = json.loads(args.compare.read_text(encoding="utf-8"))
    differ = []
    for case in sorted(set(before) | set(result)):
        a, b = before.get(case, {}), result.get(case, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                differ.append(f"{case} {key}: {a.get(key)} -> {b.get(key)}")
    for line in differ[:40]:
        print(line)
    print(f"{len(differ)} of {n_hashes} hashes differ ({len(result)} images)")
    return 1 if differ else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
