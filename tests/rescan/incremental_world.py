"""A chain of crawls, list versions and rescans, for the incremental rescan's equivalence tests.

The same chain runs two ways: through the Beam-free layer (:class:`ModelWorld`: the planner, the delta screen,
``match_history_batch``/``match_delta_batch`` and the reconciliation's ``decide``, the state written and read
as the pipeline does) and through the real pipeline on the embedded runner (:class:`PipelineWorld`, files on
disk). Hashes only: every picture is random hex.

An op is a tuple:

- ``("crawl", pictures, page)``: a crawl finds those pictures on page 0 or 1 (one new images/ file);
- ``("add", picture, hash_type, source)``: a list delta file listing the picture's md5 or (near) PDQ;
- ``("tombstone", picture, hash_type, source)``: a delta file deleting it (source None: for every source);
- ``("allow", picture)`` / ``("unallow", picture)``: the allowlist gains / loses the picture's listed PDQ;
- ``("rescan",)`` an incremental rescan; ``("full",)`` a rescan with ``--full``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
from rescan_helpers import flip, hexes, image, write_allowlist, write_list

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.index_build import build_index
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.list_tombstones import read_tombstones
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.history import match_history_batch
from hashwatch.rescan.rules import Rules, decide, events_from_table
from schemas import IMAGES_SCHEMA, MATCHES_SCHEMA, RETRACTIONS_SCHEMA, MatchRecord
from schemas.arrow_util import records_to_table

PAGES = ("http://site.test/a.html", "http://site.test/b.html")
PICTURES = 5
SOURCES = ("iwf", "ncmec")


class Pictures:
    """Random hashes of ``PICTURES`` pictures: the md5 and PDQ an image of it has, and the listed PDQ (a
    near copy, 4 bits away, so matches go through the Hamming search)."""

    def __init__(self, seed: int = 1):
        rnd = random.Random(seed)
        self.md5 = [hexes(rnd, 32) for _ in range(PICTURES)]
        self.pdq = [hexes(rnd, 64) for _ in range(PICTURES)]
        self.listed_pdq = [flip(v, 4, 8 * k) for k, v in enumerate(self.pdq)]
        self.rnd = rnd

    def listed(self, picture: int, hash_type: str) -> str:
        return self.md5[picture] if hash_type == "md5" else self.listed_pdq[picture]


class World:
    """The chain's inputs, on disk (lists, allowlist) and in memory (the history files' rows)."""

    def __init__(self, root: Path, pictures: Pictures | None = None):
        self.root = root
        self.pics = pictures or Pictures()
        self.lists: list[Path] = []
        self.allowed: set[int] = set()
        self.files: dict[str, object] = {}  # relative path -> pa.Table
        self.crawls = 0
        (root / "lists").mkdir(parents=True, exist_ok=True)

    # -- inputs
    def apply(self, op: tuple) -> bool:
        """Change the inputs; True for a rescan op (the caller runs it)."""
        kind = op[0]
        if kind == "crawl":
            self.crawls += 1
            rows = [
                image(
                    self.pics.rnd,
                    f"http://cdn.test/p{p}.jpg",
                    pages=(PAGES[op[2]],),
                    md5=self.pics.md5[p],
                    pdq=self.pics.pdq[p],
                )
                for p in sorted(set(op[1]))
            ]
            day = f"2026-11-{self.crawls:02d}"
            rel = f"images/dt={day}/run_id=crawl-{self.crawls}/part-00000-of-00001.parquet"
            self.files[rel] = records_to_table(
                [r._replace(run_id=f"crawl-{self.crawls}") for r in rows], IMAGES_SCHEMA
            )
            return False
        if kind in ("add", "tombstone"):
            _, picture, hash_type, source = op
            version = f"v{len(self.lists) + 1}"
            row = (hash_type, self.pics.listed(picture, hash_type), "A1", source or "", version)
            path = self.root / "lists" / f"{version}.csv"
            write_list(path, [(*row, "true" if kind == "tombstone" else "false")])
            self.lists.append(path)
            return False
        if kind == "allow":
            self.allowed.add(op[1])
            return False
        if kind == "unallow":
            self.allowed.discard(op[1])
            return False
        return True

    def allowlist_path(self) -> Path | None:
        if not self.allowed:
            return None
        rows = [
            {"hash_type": "pdq", "hash_value": self.pics.listed_pdq[p], "scope": "list"}
            for p in sorted(self.allowed)
        ]
        return write_allowlist(self.root / f"allow-{len(self.lists)}-{sorted(self.allowed)}.csv", rows)

    def write_history(self, folder: Path) -> None:
        for rel, table in self.files.items():
            path = folder / rel
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, path)


def active_keys(events: dict[str, list]) -> set[str]:
    """The active identities: latest report later than everything retracted (docs/rescan.md)."""
    out = set()
    for key, group in events.items():
        reported = max((e.at for e in group if e.kind == "match"), default=None)
        retracted = max((e.at for e in group if e.kind == "retraction"), default=None)
        if reported is not None and (retracted is None or reported > retracted):
            out.add(key)
    return out


class ModelWorld:
    """Rescans through the Beam-free layer: what the pipeline's transforms do, file by file, in process."""

    def __init__(self, world: World, out: Path, delta_matcher=None):
        from hashwatch.rescan.plan import (
            match_delta_batch,  # here: World is used without the incremental code
        )

        self.world = world
        self.out = out
        self.history = out / "history"  # the state's history folder (files stay in memory)
        self.events: dict[str, list] = defaultdict(list)
        self.runs = 0
        self.clock = 1_800_000_000_000_000
        self.delta_matcher = delta_matcher or match_delta_batch
        self.plans: list = []
        self._indexes: dict[tuple, KnownHashIndex] = {}

    def _index(self) -> KnownHashIndex:
        key = tuple(self.world.lists)
        if key not in self._indexes:
            path = self.out / "_idx" / f"{len(key)}.hwidx"
            path.parent.mkdir(parents=True, exist_ok=True)
            build_index([str(p) for p in key], str(path))
            self._indexes[key] = KnownHashIndex.load(str(path))
        return self._indexes[key]

    def rescan(self, full: bool = False, options: MatchOptions | None = None) -> set[str]:
        """One rescan; returns the identities it reported."""
        from pipelines.rescan_incremental import plan_incremental, save_state

        if not self.world.lists:
            return set()
        options = options or MatchOptions()
        self.runs += 1
        self.clock += 1_000_000
        run_id = f"rescan-{self.runs}"
        index = self._index()
        tombstones = read_tombstones([str(p) for p in self.world.lists])
        path = self.world.allowlist_path()
        allowlist = Allowlist.parse(path.read_bytes(), str(path)) if path else None
        files = sorted(self.world.files)
        planned = plan_incremental(
            str(self.out),
            str(self.history),
            [f"{self.history}/{f}" for f in files],
            [],
            index,
            options,
            allowlist,
            full=full,
        )
        plan = planned.plan
        self.plans.append(plan)
        candidates: dict[str, list[MatchRecord]] = defaultdict(list)
        common = dict(run_id=run_id, now_us=self.clock)
        for rel in plan.new_images:
            found = match_history_batch(self.world.files[rel], index, options, allowlist, path=rel, **common)
            for key, record in found.candidates:
                candidates[key].append(record)
        if planned.screen is not None:
            screen = KnownHashIndex.load(planned.screen.path)
            for rel in plan.old_images:
                table = self.world.files[rel]
                found = self.delta_matcher(table, index, screen, options, allowlist, path=rel, **common)
                for key, record in found.candidates:
                    candidates[key].append(record)
        rules = Rules(index, tombstones, allowlist)
        written = {"matches": [], "retractions": []}
        for key in sorted(set(candidates) | set(self.events)):
            decision = decide(
                candidates.get(key, []),
                self.events.get(key, []),
                lambda: rules,
                run_id=run_id,
                index_checksum=index.checksum,
                now_us=self.clock,
            )
            if decision.record is not None:
                table = "matches" if isinstance(decision.record, MatchRecord) else "retractions"
                written[table].append(decision.record)
        reported = set()
        for table, schema, kind in (
            ("matches", MATCHES_SCHEMA, "match"),
            ("retractions", RETRACTIONS_SCHEMA, "retraction"),
        ):
            if written[table]:
                for key, event in events_from_table(records_to_table(written[table], schema), kind):
                    self.events[key].append(event)
                    if kind == "match":
                        reported.add(key)
        save_state(planned, run_id, f"t{self.clock}")
        return reported

    def active(self) -> set[str]:
        return active_keys(self.events)


def run_chain(world: World, model: ModelWorld, ops: list[tuple]) -> None:
    """Apply ``ops`` to ``world``, rescanning through ``model`` at each rescan op."""
    for op in ops:
        if world.apply(op):
            model.rescan(full=op[0] == "full")


def from_scratch(world: World, root: Path) -> set[str]:
    """The identities one full rescan reports on the final history and lists, with no earlier output."""
    return ModelWorld(world, root).rescan(full=True)
