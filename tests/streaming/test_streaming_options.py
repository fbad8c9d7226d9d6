"""Start-up checks of ``--streaming`` runs: what to change is said before any work."""

from __future__ import annotations

import pytest

from hashwatch.errors import UserError
from pipelines.crawl_match import run


def _argv(tmp_path, *extra):
    index = tmp_path / "known.hwidx"
    index.write_bytes(b"")
    return [
        "--streaming",
        f"--seeds={tmp_path}/in/*.txt",
        f"--output-dir={tmp_path}/out",
        f"--index={index}",
        *extra,
    ]


def test_streaming_needs_flink_and_says_how(tmp_path):
    with pytest.raises(UserError, match=r"--runner=FlinkRunner --flink_master=\[local\]"):
        run(_argv(tmp_path))


def test_one_watched_glob(tmp_path):
    with pytest.raises(UserError, match="watches one glob"):
        run(_argv(tmp_path, f"--seeds={tmp_path}/other/*.txt"))


@pytest.mark.parametrize(
    "flag", ["--window-length=0", "--seed-poll-interval=-1", "--dedupe-ttl=0", "--refresh-index-interval=0"]
)
def test_positive_intervals(tmp_path, flag):
    with pytest.raises(UserError, match="must be a positive number of seconds"):
        run(_argv(tmp_path, flag))


def test_flink_checkpointing_flag_is_known(tmp_path):
    # Not rejected as an unknown flag: the run gets as far as the runner check.
    with pytest.raises(UserError, match="runs on Flink"):
        run(_argv(tmp_path, "--checkpointing_interval=5000"))


def test_flink_streaming_finishes_bundles_before_checkpoints_by_default():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.streaming import FlinkStreamingOptions, configure_streaming_runner

    options = PipelineOptions(["--runner=FlinkRunner", "--flink_master=127.0.0.1:1", "--streaming"])
    configure_streaming_runner(options)
    assert options.view_as(FlinkStreamingOptions).finish_bundle_before_checkpointing is True
    assert options.get_all_options()["finish_bundle_before_checkpointing"] is True


@pytest.mark.parametrize(
    ("flag", "families"), [("--candidates=none", ()), ("--candidates=trimmed", ("trimmed",))]
)
def test_streaming_hashes_the_candidate_families_asked_for(tmp_path, monkeypatch, flag, families):
    """--candidates reaches the streaming job's hashing, as it does the batch crawl's (the graph is built,
    not run): one RunConfig, one graph for both."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.crawl_match import build_pipeline, run_config_from
    from schemas.known_hashes import IndexRef
    from transforms import crawl_and_match

    seen = []
    real = crawl_and_match.HashImageBody

    def hasher(run_id, hash_config=None):
        seen.append(hash_config)
        return real(run_id, hash_config=hash_config)

    monkeypatch.setattr(crawl_and_match, "HashImageBody", hasher)
    (tmp_path / "in").mkdir()
    config = run_config_from(PipelineOptions(_argv(tmp_path, flag))).with_run_id("run-1")
    assert config.streaming is not None and config.hashing.candidates == families
    ref = IndexRef(str(tmp_path / "known.hwidx"), "0" * 64)
    build_pipeline(beam.Pipeline(), config, "2026-01-01", ref)
    assert [c.candidates for c in seen] == [families]
