"""The incremental rescan ends where one full rescan from scratch ends (docs/rescan.md, Incremental rescans).

A random chain of crawls (new images/ files), list versions (adds, tombstones, a second source, a tombstone
for every source), allowlist changes and incremental rescans, then one last incremental rescan: its active
matches must be exactly the matches one full rescan reports on the same final history and lists with no
earlier output. Most examples run through the Beam-free layer (``incremental_world.ModelWorld``); the
pipeline's own chains are in test_incremental_pipeline.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incremental_world import PICTURES, SOURCES, ModelWorld, World, from_scratch, run_chain
from test_incremental_pipeline import KNOWN_CHAIN

import hashwatch.rescan.plan as plan_module
from hashwatch.rescan.history import HistoryBatchResult

pictures = st.integers(0, PICTURES - 1)
hash_types = st.sampled_from(("md5", "pdq"))
OPS = st.one_of(
    st.tuples(st.just("crawl"), st.lists(pictures, min_size=1, max_size=3), st.integers(0, 1)),
    st.tuples(st.just("add"), pictures, hash_types, st.sampled_from(SOURCES)),
    st.tuples(st.just("tombstone"), pictures, hash_types, st.sampled_from((*SOURCES, None))),
    st.tuples(st.just("allow"), pictures),
    st.tuples(st.just("unallow"), pictures),
    st.just(("rescan",)),
    st.just(("rescan",)),
    st.just(("full",)),
)
CHAINS = st.lists(OPS, min_size=2, max_size=12)


def check_chain(ops: list[tuple], root: Path, delta_matcher=plan_module.match_delta_batch) -> ModelWorld:
    world = World(root / "in")
    model = ModelWorld(world, root / "chain", delta_matcher)
    run_chain(world, model, [*ops, ("rescan",)])
    expected = from_scratch(world, root / "scratch")
    assert model.active() == expected, f"chain {ops}"
    return model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHAINS)
def test_incremental_chain_ends_with_the_matches_of_one_full_rescan(ops):
    with tempfile.TemporaryDirectory() as root:
        model = check_chain(ops, Path(root))
    # It was incremental: after the first rescan, every run without --full or a forced pass planned so.
    for plan in model.plans[1:]:
        if plan.mode == "full":
            assert plan.reason == "--full" or "allowlist entries removed" in plan.reason, plan.reason


def test_known_chain(tmp_path):
    model = check_chain(KNOWN_CHAIN, tmp_path)
    assert [p.mode for p in model.plans] == ["full", "incremental", "incremental", "incremental", "full"]
    second = model.plans[1]
    assert (len(second.new_images), len(second.old_images), second.added) == (1, 1, 2)


def _delta_ignoring_sources(real_is_in):
    """A wrong delta: fingerprints compared on their first lane only after dropping the source (simulated
    by treating every fingerprint of a value already applied for any source as applied)."""

    def wrong(values, applied):
        found = real_is_in(values, applied)
        return found | (np.arange(len(found)) % 2 == 1)  # half the delta forgotten

    return wrong


def test_the_property_catches_a_wrong_delta(tmp_path, monkeypatch):
    """The equivalence check can fire: with the delta's old files not matched at all, or half the delta
    forgotten, the known chain ends with fewer active matches than a full rescan."""

    def no_delta(table, index, screen, *args, **kwargs):
        return HistoryBatchResult(rows=table.num_rows)

    failures = 0
    for attempt, patch in enumerate(
        [("match_delta_batch", no_delta), ("is_in", _delta_ignoring_sources(plan_module.is_in))]
    ):
        with monkeypatch.context() as m:
            m.setattr(plan_module, patch[0], patch[1])
            matcher = no_delta if patch[0] == "match_delta_batch" else plan_module.match_delta_batch
            try:
                check_chain(KNOWN_CHAIN[:-1], tmp_path / str(attempt), matcher)
            except AssertionError:
                failures += 1
    assert failures == 2
