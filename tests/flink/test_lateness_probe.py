"""pipelines.lateness_probe on the standalone cluster, checkpoints every second.

- With hashwatch's streaming defaults every on-time element reaches the end of GroupByKey -> slow step ->
  GroupByKey, and the late-drop counter hashwatch reads at the end of a cluster run
  (hashwatch.flink.rest.flink_late_drops) sees real drops: besides its on-time elements the probe sends one
  copy per window an hour in the past, which Flink drops at the first GroupByKey and counts.
- The control: the same job with ``--finish_bundle_before_checkpointing=false`` (Beam's default) loses
  data on Beam 2.62 (here: every window; outputs a checkpoint buffered are never flushed, or flushed behind
  the watermark, see the probe's docstring). This is why hashwatch turns the flag on; if this control ever
  passes, the Beam version no longer needs the workaround, or the probe no longer catches the loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from flink_support import flink_timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streaming"))
from streaming_support import wait_for  # noqa: E402

from hashwatch.flink.rest import flink_job_ids, flink_late_drops
from pipelines.lateness_probe import start_probe, wait_for_windows
from pipelines.streaming_launcher import _cancel

pytestmark = [pytest.mark.flink, pytest.mark.slow]


PROBE_FLAGS = (
    "--checkpointing_interval=1000",
    "--probe-windows=8",
    "--probe-window-s=2",
    "--probe-slow-s=0.3",
)


def _probe(cluster, tmp_path, *flags: str, grace_s: float, read_drops: bool = False):
    """Run the probe on ``cluster`` until its windows are in (or ``grace_s`` after the last one), read the
    late-drop counters if asked (polling: Flink's REST API refreshes metrics every few seconds), cancel.
    Returns (windows wrong, drops read or None, options)."""
    argv = cluster.argv(f"--probe-dir={tmp_path / 'counts'}", *PROBE_FLAGS, *flags, parallelism=2)
    result, plan, options = start_probe(argv)
    job_name = result._job_id.split("_", 1)[0]
    drops = None
    try:
        wrong = wait_for_windows(tmp_path / "counts", plan, grace_s=grace_s)
        if read_drops:
            drops = wait_for(
                lambda: sum(
                    sum(flink_late_drops(cluster.rest_url, jid).values())
                    for jid in flink_job_ids(cluster.rest_url, job_name)
                ),
                40,
                interval=2,
            )
    finally:
        _cancel(result, options)
    return wrong, drops, options


def test_no_on_time_element_lost_and_late_ones_counted(flink_cluster, tmp_path):
    with flink_timed("lateness probe, hashwatch defaults (8 windows of 2 s, checkpoints every 1 s)"):
        wrong, drops, options = _probe(
            flink_cluster, tmp_path, "--probe-late-copies", grace_s=60, read_drops=True
        )
    assert not wrong, f"windows lost or short (start ms -> count): {wrong}\n{flink_cluster.log_tail()}"
    assert drops, "Flink's droppedDueToLateness was not read, though a certainly-late copy went in per window"
    assert options.get_all_options()["finish_bundle_before_checkpointing"] is True  # hashwatch's default


def test_control_beams_default_loses_windows(flink_cluster, tmp_path):
    # The loss depends on where checkpoints fall against bundles: it hit every window in every run here but
    # one (issue 19's CI runs, a quiet machine). Up to two attempts; the control fails if neither loses one.
    for attempt in (1, 2):
        (tmp_path / f"try{attempt}").mkdir()
        with flink_timed(
            f"lateness probe, control: --finish_bundle_before_checkpointing=false (try {attempt})"
        ):
            wrong, _, options = _probe(
                flink_cluster,
                tmp_path / f"try{attempt}",
                "--finish_bundle_before_checkpointing=false",
                grace_s=30,
            )
        assert options.get_all_options()["finish_bundle_before_checkpointing"] is False
        if wrong:
            return
    pytest.fail("no window lost with Beam's default in two runs: is hashwatch's workaround still needed?")
