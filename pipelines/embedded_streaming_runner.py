"""The embedded runner for ``--streaming`` runs: Beam's bundle-based DirectRunner, with one ordering fixed.

In Beam 2.62 the bundle-based DirectRunner cannot run a splittable DoFn (``PeriodicImpulse``, hence
``fileio.MatchContinuously``) in streaming mode: its last override turns the GroupByKey that the SDF expansion
adds into ``_GroupByKeyOnly`` *after* the streaming GroupByKey overrides ran, and the run stops with
``RuntimeError: Transform node ...ProcessKeyedElements/GroupByKey/GroupByKey, _GroupByKeyOnly) was not
replaced as expected``. :class:`EmbeddedStreamingRunner` applies the streaming GroupByKey overrides once
more at the end. Nothing else changes. Name it as ``--runner=pipelines.embedded_streaming_runner.
EmbeddedStreamingRunner`` (``hashwatch crawl --streaming`` picks it when no runner is given).
"""

from __future__ import annotations

import threading

from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.direct import direct_runner

__all__ = ["EMBEDDED_STREAMING_RUNNER", "EmbeddedStreamingRunner"]

EMBEDDED_STREAMING_RUNNER = "pipelines.embedded_streaming_runner.EmbeddedStreamingRunner"

_PATCH_LOCK = threading.Lock()


def _overrides_with_streaming_gbk_last(original):
    def overrides(options):
        found = original(options)
        if options.view_as(StandardOptions).streaming:
            streaming = [o for o in found if type(o).__name__.startswith("StreamingGroup")]
            found = [*found, *[type(o)() for o in streaming]]
        return found

    return overrides


class EmbeddedStreamingRunner(direct_runner.BundleBasedDirectRunner):
    """``BundleBasedDirectRunner`` whose streaming GroupByKey overrides also cover GroupByKeys added by
    splittable DoFn expansion (see the module docstring)."""

    def run_pipeline(self, pipeline, options):
        with _PATCH_LOCK:
            original = direct_runner._get_transform_overrides
            direct_runner._get_transform_overrides = _overrides_with_streaming_gbk_last(original)
            try:
                return super().run_pipeline(pipeline, options)
            finally:
                direct_runner._get_transform_overrides = original
