"""The rescan on Flink (embedded [local], and the standalone cluster) writes what the embedded runner writes.

Same synthetic history and lists, two rescans in a row (the second with a new entry and a tombstone), with
the crawl's Flink options (tests/flink_support.py): the same new matches and retractions, by identity.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter

import pytest
from flink_support import FNAPI_RUNNER, flink_timed
from rescan_helpers import flip, identity, image, run_rows, write_history, write_list

from pipelines.rescan import run

pytestmark = [pytest.mark.flink, pytest.mark.slow]

# The standalone test cluster (deploy/flink/cluster.sh: one 4 GB TaskManager) has 10,977 network buffers, and
# Flink 1.19 reserves taskmanager.network.sort-shuffle.min-buffers = 512 for every blocking result partition.
# At parallelism 2 the rescan deploys 16 tasks at once (4 sources, 3 sinks' set-up stages; their side
# outputs) and fails with "Insufficient number of network buffers: required 512". With min-buffers 64 in the
# cluster's config it runs at parallelism 2 (checked by hand); until then the cluster runs it at 1.
PARALLELISM = {"flink_local_options": 2, "flink_cluster": 1}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("rescan-flink")
    rnd = random.Random(17)
    images = [
        image(rnd, f"http://cdn.test/{i}.jpg", pages=("http://site.test/a", "http://site.test/b"))
        for i in range(40)
    ]
    write_history(root / "template", images[:20], day="2026-11-01", run_id="crawl-1")
    write_history(root / "template", images[20:], day="2026-11-02", run_id="crawl-2")
    v1 = [("md5", images[i].md5, "A", "iwf", "v1", "false") for i in range(0, 40, 4)]
    v1 += [("pdq", flip(images[i].pdq, 9), "B", "ncmec", "n1", "false") for i in range(1, 40, 4)]
    base = write_list(root / "v1.csv", v1)
    delta = write_list(
        root / "v2.csv",
        [("sha256", images[i].sha256, "C", "iwf", "v2", "false") for i in range(2, 40, 4)]
        + [("md5", images[i].md5, "A", "iwf", "v2", "true") for i in range(0, 20, 4)],
    )
    return root, base, delta


def _two_rescans(world, folder, runner_args: list[str]) -> list[tuple[Counter, Counter]]:
    root, base, delta = world
    shutil.copytree(root / "template", folder)
    steps = []
    for lists in ([base], [base, delta]):
        report = run(
            [
                *runner_args,
                f"--history-dir={folder}",
                "--progress-interval=0",
                *[f"--hash-list={p}" for p in lists],
            ]
        )
        assert report.state == "DONE"
        steps.append(
            (
                Counter(identity(r) for r in run_rows(folder, "matches", report.run_id)),
                Counter((identity(r), r["reason"]) for r in run_rows(folder, "retractions", report.run_id)),
            )
        )
    return steps


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    steps = _two_rescans(world, tmp_path_factory.mktemp("fnapi") / "out", [FNAPI_RUNNER])
    (first_matches, first_retractions), (second_matches, second_retractions) = steps
    assert len(first_matches) == 40 and not first_retractions  # 10 md5 + 10 pdq entries, two pages each
    assert len(second_matches) == 20 and len(second_retractions) == 10
    return steps


@pytest.mark.parametrize("target", ["flink_local_options", "flink_cluster"])
def test_rescan_on_flink_writes_what_the_embedded_runner_writes(target, request, world, reference, tmp_path):
    flink = request.getfixturevalue(target)
    with flink_timed(f"rescan, 40 images, two runs, {target}"):
        steps = _two_rescans(world, tmp_path / "out", flink.argv(parallelism=PARALLELISM[target]))
    assert steps == reference, f"logs:\n{flink.log_tail()}"
