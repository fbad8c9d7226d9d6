"""Does this Flink set-up drop elements as late at checkpoints? A small streaming job that counts, per window,
what reaches the end of a GroupByKey -> slow step -> GroupByKey chain.

Why it exists: with Flink checkpointing and ``--finish_bundle_before_checkpointing`` off (Beam's default),
Beam 2.62's Flink runner can lose whole windows without an error. When a checkpoint barrier reaches a
portable stage while a bundle is open, ``DoFnOperator.snapshotState`` finishes the bundle and buffers its
outputs; finishing it runs ``ExecutableStageDoFnOperator.finishBundleCallback``, which emits the stage's
output watermark at once, before the buffered outputs, which are only sent later. Downstream, a windowed
GroupByKey then sees those outputs behind its watermark and drops them as late (Flink metric
``droppedDueToLateness``, nothing else). A stage right after a GroupByKey is the exposed one: its input
watermark is already past the window it is working on. hashwatch's streaming crawl has that shape (each
crawl round, the image fetch and the writers group by window), so it turns the flag on
(:func:`pipelines.streaming.configure_streaming_runner`); this probe shows the difference on a real
cluster (``tests/flink/test_lateness_probe.py``).

The job: ``PeriodicImpulse`` emits ``--probe-per-window`` elements in each of ``--probe-windows`` fixed
windows of ``--probe-window-s`` seconds -> GroupByKey ``Collect`` -> a step that sleeps ``--probe-slow-s``
per group and re-emits its elements -> GroupByKey ``Count`` -> one file per window, ``window-<start ms>.txt``,
holding the count. Every window should end as one file with ``--probe-per-window`` in it;
:func:`check_counts` says which did not.

    python -m pipelines.lateness_probe --probe-dir=/tmp/probe $(deploy/flink/cluster.sh options) \\
        --checkpointing_interval=1000 [--finish_bundle_before_checkpointing=false]

The job runs until cancelled (its sources stay up, as in a real streaming job); ``main`` waits for every
window, prints what is missing and what Flink counted as dropped, and cancels it.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from hashwatch.errors import UserError

if __name__ == "__main__":  # pragma: no cover - see pipelines.flink_smoke: run the package's copy
    from pipelines.lateness_probe import main

    sys.exit(main())

__all__ = ["LatenessProbeOptions", "ProbePlan", "build", "check_counts", "main", "start_probe"]


class LatenessProbeOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--probe-dir",
            dest="probe_dir",
            default=None,
            help="where the per-window count files go (required)",
        )
        parser.add_argument(
            "--probe-windows", dest="windows", type=int, default=24, help="windows to emit (default 24)"
        )
        parser.add_argument(
            "--probe-window-s", dest="window_s", type=float, default=1.0, help="window length"
        )
        parser.add_argument(
            "--probe-per-window",
            dest="per_window",
            type=int,
            default=4,
            help="elements per window (default 4)",
        )
        parser.add_argument(
            "--probe-slow-s",
            dest="slow_s",
            type=float,
            default=0.4,
            help="sleep per group between the two GBKs",
        )
        parser.add_argument(
            "--probe-late-copies",
            dest="late_copies",
            action="store_true",
            help="also send a copy of every window's first element an hour in the past: certainly late, "
            "dropped by Collect and counted by Flink (checks that the drop counter is read)",
        )
        parser.add_argument(
            "--probe-lead-s",
            dest="lead_s",
            type=float,
            default=10.0,
            help="seconds from submission to the first window; keep it below the job's start-up time: "
            "a PeriodicImpulse whose start lies ahead when the job starts emitted nothing on Flink here",
        )


class ProbePlan(NamedTuple):
    """What the job emits: ``per_window`` elements in each window ``[start + i * window_s, ...)``."""

    start_s: float  # first window's start, seconds since the epoch: a multiple of window_s (FixedWindows)
    windows: int
    window_s: float
    per_window: int

    @property
    def interval_s(self) -> float:
        return self.window_s / self.per_window

    def window_starts_ms(self) -> list[int]:
        return [round((self.start_s + i * self.window_s) * 1000) for i in range(self.windows)]


class _SlowReemit(beam.DoFn):
    def __init__(self, slow_s: float):
        self._slow_s = slow_s

    def process(self, element):
        _, values = element
        time.sleep(self._slow_s)
        for value in values:
            yield ("all", value)


class _WriteWindowCount(beam.DoFn):
    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element, win=beam.DoFn.WindowParam):
        _, values = element
        start_ms = win.start.micros // 1000
        path = Path(self._output_dir) / f"window-{start_ms}.txt"
        part = path.with_suffix(".part")
        part.write_text(str(len(list(values))))
        part.replace(path)
        yield start_ms


def _with_late_copy(ts, interval_s: float, per_window: int):
    """The element itself, and for the first element of a window also a copy an hour in the past."""
    yield ts
    if round(float(ts) / interval_s) % per_window == 0:
        yield window.TimestampedValue(ts, float(ts) - 3600)


def build(
    pipeline: beam.Pipeline, plan: ProbePlan, output_dir: str, slow_s: float, late_copies: bool = False
) -> None:
    # Elements go on after the checked windows until the job is cancelled: the last windows of a finite
    # PeriodicImpulse never fire on Flink with checkpointing (its sources never shut down, so the watermark
    # stops short of the last elements).
    ticks = pipeline | "Impulse" >> PeriodicImpulse(
        start_timestamp=Timestamp.of(plan.start_s),
        stop_timestamp=MAX_TIMESTAMP,
        fire_interval=plan.interval_s,
    )
    if late_copies:
        ticks = ticks | "LateCopies" >> beam.FlatMap(_with_late_copy, plan.interval_s, plan.per_window)
    _ = (
        ticks
        | "Window" >> beam.WindowInto(window.FixedWindows(plan.window_s))
        | "Key" >> beam.Map(lambda ts: ("all", ts))
        | "Collect" >> beam.GroupByKey()
        | "Slow" >> beam.ParDo(_SlowReemit(slow_s))
        | "Count" >> beam.GroupByKey()
        | "WriteCount" >> beam.ParDo(_WriteWindowCount(output_dir))
    )


def start_probe(argv: list[str]) -> tuple[object, ProbePlan, PipelineOptions]:
    """Submit the probe (streaming, with hashwatch's Flink defaults); returns (result, plan, options)."""
    from pipelines.streaming import configure_streaming_runner

    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True
    configure_streaming_runner(options)
    probe = options.view_as(LatenessProbeOptions)
    if not probe.probe_dir:
        raise UserError("--probe-dir is required: a folder the workers and this machine share")
    Path(probe.probe_dir).mkdir(parents=True, exist_ok=True)
    first = math.ceil((time.time() + probe.lead_s) / probe.window_s) * probe.window_s
    plan = ProbePlan(first, probe.windows, probe.window_s, probe.per_window)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, plan, probe.probe_dir, probe.slow_s, probe.late_copies)
    return pipeline.run(), plan, options


def check_counts(output_dir: str | Path, plan: ProbePlan) -> dict[int, int | None]:
    """Windows whose count is not ``plan.per_window``: window start (ms) -> count written (None: no file)."""
    wrong: dict[int, int | None] = {}
    for start_ms in plan.window_starts_ms():
        path = Path(output_dir) / f"window-{start_ms}.txt"
        count = int(path.read_text()) if path.exists() else None
        if count != plan.per_window:
            wrong[start_ms] = count
    return wrong


def wait_for_windows(output_dir: str | Path, plan: ProbePlan, grace_s: float = 60.0) -> dict[int, int | None]:
    """Wait until every window's file is there or ``grace_s`` after the last window's end; returns
    :func:`check_counts`."""
    deadline = plan.start_s + plan.windows * plan.window_s + grace_s
    while time.time() < deadline:
        wrong = check_counts(output_dir, plan)
        if not wrong:
            return wrong
        time.sleep(1.0)
    return check_counts(output_dir, plan)


def main(argv: list[str] | None = None) -> int:
    from pipelines.streaming_launcher import _cancel

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result, plan, options = start_probe(argv)
    except UserError as exc:
        print(f"lateness_probe: error: {exc}", file=sys.stderr)
        return 2
    wrong = wait_for_windows(options.view_as(LatenessProbeOptions).probe_dir, plan)
    drops: list[int | None] = [None]
    _cancel(result, options, drops)  # reads Flink's late-drop counters first (cluster runs)
    late = "not read (embedded Flink)" if drops[0] is None else drops[0]
    print(f"{plan.windows - len(wrong)} of {plan.windows} windows complete; dropped as late: {late}")
    for start_ms, count in sorted(wrong.items()):
        print(f"  window {start_ms}: {'no file' if count is None else count} (expected {plan.per_window})")
    return 1 if wrong else 0
