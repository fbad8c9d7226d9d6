"""Defaults the pipelines set on portable runners (Flink), and only there, and never over the user's."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from pipelines.options import PORTABLE_ENVIRONMENT_CACHE_MILLIS, apply_portable_runner_defaults


def _cache_millis(options: PipelineOptions) -> int:
    return int(options.view_as(PortableOptions).environment_cache_millis)


@pytest.mark.parametrize(
    "runner", ["FlinkRunner", "PortableRunner", "apache_beam.runners.portability.flink_runner.FlinkRunner"]
)
def test_portable_runners_keep_sdk_workers_between_stages(runner):
    argv = [f"--runner={runner}", "--flink_master=[local]"]
    options = PipelineOptions(argv)
    assert apply_portable_runner_defaults(options, argv) == {
        "environment_cache_millis": PORTABLE_ENVIRONMENT_CACHE_MILLIS
    }
    assert _cache_millis(options) == PORTABLE_ENVIRONMENT_CACHE_MILLIS
    # What the job server receives: the options as serialised for a portable runner.
    assert options.get_all_options()["environment_cache_millis"] == PORTABLE_ENVIRONMENT_CACHE_MILLIS


def test_the_users_value_wins_even_beams_default():
    argv = ["--runner=FlinkRunner", "--environment_cache_millis=0"]
    options = PipelineOptions(argv)
    assert apply_portable_runner_defaults(options, argv) == {}
    assert _cache_millis(options) == 0


@pytest.mark.parametrize(
    "runner", [None, "apache_beam.runners.portability.fn_api_runner.FnApiRunner", "DirectRunner"]
)
def test_the_embedded_runner_is_left_alone(runner):
    argv = [f"--runner={runner}"] if runner else []
    options = PipelineOptions(argv)
    assert apply_portable_runner_defaults(options, argv) == {}
    assert _cache_millis(options) == 0


def test_streaming_starts_new_sdk_workers_at_a_restart():
    """Streaming keeps its environments open for the whole job; a cached one would outlive a restart, dead SDK
    workers included (a killed worker pool: every restart failed on them until the restart limit)."""
    from pipelines.options import STREAMING_ENVIRONMENT_CACHE_MILLIS

    argv = ["--runner=FlinkRunner", "--flink_master=[local]", "--streaming"]
    options = PipelineOptions(argv)
    assert apply_portable_runner_defaults(options, argv)["environment_cache_millis"] == 0
    assert STREAMING_ENVIRONMENT_CACHE_MILLIS == 0
    assert options.get_all_options()["environment_cache_millis"] == 0
