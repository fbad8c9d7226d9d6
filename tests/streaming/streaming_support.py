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
