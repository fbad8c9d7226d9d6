"""The evaluation's copies through the product: :meth:`KnownHashIndex.match_many` with hashwatch's options.

The harness's matchers (:mod:`hashwatch.evaluation.matchers`) compute distances themselves; this runs the
same hashes through the code a crawl runs. A list is written from the known originals' hashes (pdq, phash and
dhash, one ``item_id`` and one category per original, as a hotline's list would link them) plus the list-only
entries, compiled with :func:`build_index`, and every edited copy and every distractor is matched with the
given :class:`MatchOptions` (default: hashwatch's defaults). A copy is found if a match names its own original;
a false match is a (query, other original) pair with a match, pairs within a photo series left out as the
harness does.

The queries are rebuilt from the harness's cached codes (hashes only): the plain pHash and dHash, and PDQ's
rows of the ``pdq+all`` matcher (the plain hash, its 7 DCT dihedral variants, then the query-side candidates
that applied, whose names the cache does not keep: they are matched under placeholder names of the
``extended`` family, so ``options.candidates`` must include it). So it measures matching, not hashing.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from hashwatch.hashing.hash_codes import codes_to_hex
from hashwatch.hashing.hash_types import get_hash_type, hash_columns
from hashwatch.hashing.image_hashes import ImageHashes
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.match_policy import MatchOptions

__all__ = ["ISSUE_9_EDITS", "product_check"]

# The edit suite issue 9 sets its >= 95 % goal on (43 edits): crops and borders to 10 %, captions, turns to 5
# degrees, flips, quarter turns, resizes, re-encodes and colour changes.
ISSUE_9_EDITS: tuple[str, ...] = (
    *("crop_center@2", "crop_center@5", "crop_center@10", "crop_corner@5", "crop_corner@10"),
    *("border@2", "border@5", "border@10", "border_white@5", "border_white@10", "pad_square"),
    *("caption@10", "caption@20", "rotate@2", "rotate@5", "flip_horizontal", "flip_vertical"),
    *("rotate90@90", "rotate90@180", "rotate90@270"),
    *("resize@0.25", "resize@0.5", "resize@0.75", "resize@1.5", "resize@2"),
    *("jpeg@20", "jpeg@35", "jpeg@50", "jpeg@75", "jpeg@95"),
    *("grayscale", "brightness@0.6", "brightness@0.8", "brightness@1.2", "brightness@1.4"),
    *("contrast@0.6", "contrast@0.8", "contrast@1.25", "contrast@1.5"),
    *("gamma@0.6", "gamma@0.8", "gamma@1.25", "gamma@1.6"),
)

# The digests a query rebuilt from codes has (zeros: the evaluation matches perceptual hashes only).
_ZERO = {
    "bytes_length": 1,
    **{c.name: "0" * get_hash_type(c.hash_type).hex_length for c in hash_columns() if c.required},
}


def _hex_rows(codes: np.ndarray | None, bits: int) -> list[str]:
    if codes is None or codes.shape[0] == 0:
        return []
    return codes_to_hex(np.asarray(codes, dtype=np.uint64).reshape(-1, (bits + 63) // 64), bits)


def _query(pdq_rows: list[str], phash_rows: list[str], dhash_rows: list[str]) -> ImageHashes:
    """An ImageHashes from the cached codes of one query (see the module docstring)."""
    pdq = pdq_rows[0] if pdq_rows else None
    dihedral = tuple(pdq_rows[1:8]) if len(pdq_rows) >= 8 else None
    if pdq is not None and dihedral is None:
        raise ValueError("pdq rows must hold the plain hash and its 7 dihedral variants")
    candidates = {f"pdq:extend-eval{j}": v for j, v in enumerate(pdq_rows[8:])}
    return ImageHashes(
        **_ZERO,
        pdq=pdq,
        pdq_quality=100 if pdq else None,
        pdq_dihedral=dihedral,
        phash=phash_rows[0] if phash_rows else None,
        dhash=dhash_rows[0] if dhash_rows else None,
        candidate_hashes=candidates,
    )


def _write_list(path: str, known, list_only, names: dict[str, str], with_item_ids: bool) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hash_type", "hash_value", "category", "source", "item_id"])
        sets = [("k", known)] + ([("x", list_only)] if list_only is not None else [])
        for prefix, hashed in sets:
            for i in range(len(hashed.sources)):
                item = f"{prefix}{i}"
                for hash_type, matcher in names.items():
                    code = hashed.known[matcher][i]
                    if code is None:
                        continue
                    [value] = _hex_rows(np.asarray(code)[None, :], get_hash_type(hash_type).bits)
                    writer.writerow([hash_type, value, item, "eval", item if with_item_ids else ""])


def product_check(
    known,
    distractors=None,
    list_only=None,
    *,
    options: MatchOptions | None = None,
    with_item_ids: bool = True,
    pdq: str = "pdq+all",
    phash: str = "phash",
    dhash: str = "dhash",
    edits: Sequence[str] | None = None,
    batch: int = 2000,
) -> dict[str, Any]:
    """Match the evaluation's copies and distractors through a compiled index (see the module docstring).

    ``known``/``distractors``/``list_only`` are the runner's HashedKnown/HashedPlain/HashedKnown, hashed with
    the matchers named ``pdq`` (a CandidateMatcher over every family), ``phash`` and ``dhash`` (plain).
    Returns counts: copies and found (in all and per edit), false matches (copies x other originals and
    distractors x originals), and the share found over ``edits`` (default :data:`ISSUE_9_EDITS`, those the
    run has).
    """
    options = options or MatchOptions()
    names = {"pdq": pdq, "phash": phash, "dhash": dhash}
    with tempfile.TemporaryDirectory(prefix="hashwatch-eval-product-") as work:
        list_path = os.path.join(work, "list.csv")
        _write_list(list_path, known, list_only, names, with_item_ids)
        build_index([list_path], os.path.join(work, "known.hwidx"))
        index = KnownHashIndex.load(os.path.join(work, "known.hwidx"))

        scenes = [s.scene or "" for s in known.sources]
        n = len(known.sources)

        def categories(hashes: list[ImageHashes]) -> list[set[str]]:
            out: list[set[str]] = []
            for start in range(0, len(hashes), batch):
                for matches in index.match_many(hashes[start : start + batch], options):
                    out.append({m.category for m in matches if m.hash_type in ("pdq", "phash")})
            return out

        def rows(per_query: Sequence[np.ndarray], i: int, hash_type: str) -> list[str]:
            return _hex_rows(per_query[i], get_hash_type(hash_type).bits)

        found_by_edit: dict[str, int] = {}
        copies_by_edit: dict[str, int] = {}
        false_copies = 0
        for edit_id in known.edit_ids:
            queries = [
                _query(
                    rows(known.edits[pdq][edit_id], i, "pdq"),
                    rows(known.edits[phash][edit_id], i, "phash"),
                    rows(known.edits[dhash][edit_id], i, "dhash"),
                )
                for i in range(n)
            ]
            got = categories(queries)
            copies_by_edit[edit_id] = n
            found_by_edit[edit_id] = sum(f"k{i}" in cats for i, cats in enumerate(got))
            for i, cats in enumerate(got):
                same_scene = {f"k{j}" for j in range(n) if scenes[i] and scenes[j] == scenes[i]}
                false_copies += len(cats - {f"k{i}"} - same_scene)
        false_distractors = 0
        n_distractors = 0
        if distractors is not None:
            n_distractors = len(distractors.sources)
            queries = [
                _query(
                    rows(distractors.query[pdq], i, "pdq"),
                    rows(distractors.query[phash], i, "phash"),
                    rows(distractors.query[dhash], i, "dhash"),
                )
                for i in range(n_distractors)
            ]
            false_distractors = sum(len(cats) for cats in categories(queries))
    suite = [e for e in (ISSUE_9_EDITS if edits is None else edits) if e in found_by_edit]
    suite_found = sum(found_by_edit[e] for e in suite)
    suite_copies = sum(copies_by_edit[e] for e in suite)
    all_edits = [e for e in found_by_edit if e != "original"]
    return {
        "list entries": index.size(),
        "corroboration": index.corroboration_coverage(options.corroborations()),
        "copies": sum(copies_by_edit[e] for e in all_edits),
        "found": sum(found_by_edit[e] for e in all_edits),
        "suite edits": len(suite),
        "suite copies": suite_copies,
        "suite found": suite_found,
        "suite recall": suite_found / suite_copies if suite_copies else float("nan"),
        "false matches (copies x other originals)": false_copies,
        "false matches (distractors x originals)": false_distractors,
        "distractors": n_distractors,
        "found by edit": found_by_edit,
    }
