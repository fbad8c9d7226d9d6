"""A list delta that changes only how a pHash entry is corroborated is still a delta.

pHash matches count only when the same list picture's dHash is near the image's (docs/hashing.md). A new
picture listed with a pHash value the list already has (same source) and a dHash near the image's adds no new
(type, value, source) entry for pHash, yet a full rescan now reports the match. The entry fingerprints hash
each pHash entry's corroborating dHash values, so the entry is in the delta and the old file is screened."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
from incremental_world import ModelWorld, World
from rescan_helpers import flip, hexes, image

import hashwatch.rescan.plan as plan_module
from schemas import IMAGES_SCHEMA
from schemas.arrow_util import records_to_table

COLUMNS = ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id"]


def _list(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def _chain(tmp_path: Path) -> tuple[ModelWorld, set[str], set[str]]:
    rnd = random.Random(3)
    phash, dhash = hexes(rnd, 16), hexes(rnd, 16)
    world = World(tmp_path / "in")
    rel = "images/dt=2026-11-01/run_id=crawl-1/part-00000-of-00001.parquet"
    world.files[rel] = records_to_table(
        [image(rnd, "http://cdn.test/x.jpg", phash=phash, dhash=dhash)], IMAGES_SCHEMA
    )
    listed = flip(phash, 2)  # within pHash's threshold
    world.lists.append(
        _list(
            tmp_path / "v1.csv",
            [
                ("phash", listed, "A", "iwf", "v1", "false", "pic-1"),
                ("dhash", flip(dhash, 30), "A", "iwf", "v1", "false", "pic-1"),  # far: not corroborated
            ],
        )
    )
    model = ModelWorld(world, tmp_path / "chain")
    first = model.rescan()
    world.lists.append(
        _list(
            tmp_path / "v2.csv",
            [
                ("phash", listed, "A", "iwf", "v2", "false", "pic-2"),  # the same pHash value and source
                ("dhash", flip(dhash, 3), "A", "iwf", "v2", "false", "pic-2"),  # near: corroborates
            ],
        )
    )
    second = model.rescan()
    expected = ModelWorld(world, tmp_path / "scratch").rescan(full=True)
    return model, first | second, expected


def test_a_new_corroborating_picture_puts_the_phash_entry_in_the_delta(tmp_path):
    model, reported, expected = _chain(tmp_path)
    assert len(expected) == 1 and next(iter(expected)).split("\x1f")[2] == "phash"
    assert reported == expected and model.active() == expected
    assert model.plans[1].mode == "incremental" and model.plans[1].added == 2  # the pHash entry and the dHash


def test_without_the_corroborating_hashes_in_the_fingerprint_the_match_is_missed(tmp_path, monkeypatch):
    monkeypatch.setattr(
        plan_module,
        "_corroboration_means",
        lambda index, name, options: np.zeros(index.size(name), np.uint64),
    )
    model, reported, expected = _chain(tmp_path)
    assert len(expected) == 1 and reported == set() and model.plans[1].added == 1  # only the dHash
