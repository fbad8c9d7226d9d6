"""The crawl-and-match pipeline as an unbounded job (``hashwatch crawl --streaming``): where its parts live.

A streaming run is the batch graph (:class:`transforms.crawl_and_match.CrawlAndMatch`) given a
:class:`~hashwatch.run_config.RunConfig` whose ``streaming`` part is set: its seeds come from
``--seed-source`` (a watched folder; later a queue), fall into fixed windows of ``--window-length``, URLs are
deduplicated across windows for ``--dedupe-ttl``, the index is an
:class:`~transforms.index_refresh.IndexWatch` (re-read every ``--refresh-index-interval``), and each table
gets one Parquet file per window and pane. :func:`pipelines.crawl_match.run` builds it like a batch run.

* flags, their checks and the Flink settings: :mod:`pipelines.streaming_options`;
* the launcher (run, watch a cluster job, stop it with a savepoint): :mod:`pipelines.streaming_launcher`.

It runs on Flink, embedded (``--flink_master=[local]``) or on a cluster, with the Flink flags as for batch
plus ``--checkpointing_interval``; see :func:`configure_streaming_runner` for why not on an embedded Beam
runner. The graph is tested with TestStream on the bundle-based DirectRunner (tests/streaming).

This module only re-exports those names for the callers that import them from here.
"""

from __future__ import annotations

from pipelines.streaming_launcher import (
    STREAMING_RUNNER,
    StreamingOutcome,
    cancel_flink_job,
    flink_job_ids,
    flink_late_drops,
    run_streaming,
)
from pipelines.streaming_options import (
    FlinkStreamingOptions,
    StreamingOptions,
    configure_streaming_runner,
    streaming_config_from,
)

__all__ = [
    "STREAMING_RUNNER",
    "FlinkStreamingOptions",
    "StreamingOptions",
    "StreamingOutcome",
    "cancel_flink_job",
    "configure_streaming_runner",
    "flink_job_ids",
    "flink_late_drops",
    "run_streaming",
    "streaming_config_from",
]
