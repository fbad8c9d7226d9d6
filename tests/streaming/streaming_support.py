"""Helpers of the streaming tests: a pipeline on the bundle-based DirectRunner, a fixed start time."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.streaming import STREAMING_RUNNER

T0 = 1_764_000_000  # 2025-11-24T16:00:00Z, a window boundary for 60 s windows


def streaming_pipeline(*flags: str) -> beam.Pipeline:
    """A streaming pipeline on the bundle-based DirectRunner (the one that runs TestStream; named
    explicitly, since the default DirectRunner first tries to download Prism)."""
    options = PipelineOptions([f"--runner={STREAMING_RUNNER}", *flags])
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(options=options)


def drop_seed_file(folder, name: str, lines: list[str]) -> float:
    """Write a seed file the way a producer should (elsewhere, then rename in); returns the time it landed."""
    import os
    import time

    part = os.path.join(folder, f".{name}.part")
    with open(part, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(part, os.path.join(folder, name))
    return time.time()


def wait_for(predicate, timeout: float, interval: float = 0.5):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass (None)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def flink_jobs(rest_url: str) -> list[dict]:
    """Jobs of a Flink cluster (id, name, state) from its REST API."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=5) as response:  # noqa: S310 - loopback
        return json.load(response)["jobs"]
