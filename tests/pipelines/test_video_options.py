"""The video flags reach the run's configuration, and a bad value is a one-line start-up error naming the flag."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from hashwatch.errors import UserError
from hashwatch.video.video_hashes import VideoLimits
from pipelines.crawl_match import run_config_from


def _config(tmp_path, *extra):
    (tmp_path / "seeds.txt").write_text("http://127.0.0.1/\n")
    argv = [f"--seeds={tmp_path / 'seeds.txt'}", f"--output-dir={tmp_path / 'out'}", "--index=i", *extra]
    return run_config_from(PipelineOptions(argv))


def test_defaults_are_the_libraries(tmp_path):
    config = _config(tmp_path)
    assert config.video == VideoLimits()
    assert config.crawl.max_video_bytes == VideoLimits().max_bytes == 512 * 1024 * 1024
    assert config.crawl.video_fetch_threads == 2


def test_flags_set_the_caps(tmp_path):
    config = _config(
        tmp_path,
        "--max-video-bytes=1000",
        "--video-fetch-threads=1",
        "--max-video-seconds=30",
        "--max-video-frames=900",
        "--video-seconds-per-hash=0.5",
        "--max-video-decode-seconds=20",
    )
    assert config.crawl.max_video_bytes == config.video.max_bytes == 1000
    assert config.crawl.video_fetch_threads == 1
    assert (config.video.max_seconds, config.video.max_frames) == (30, 900)
    assert (config.video.seconds_per_hash, config.video.max_decode_seconds) == (0.5, 20)
    assert _config(tmp_path, "--video-seconds-per-hash=0").video.seconds_per_hash == 0  # every frame


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-video-seconds", "0"),
        ("--max-video-frames", "-1"),
        ("--video-seconds-per-hash", "-0.5"),
        ("--max-video-decode-seconds", "0"),
        ("--max-video-bytes", "0"),
        ("--video-fetch-threads", "0"),
    ],
)
def test_a_bad_value_names_its_flag(tmp_path, flag, value):
    with pytest.raises(UserError, match=flag):
        _config(tmp_path, f"{flag}={value}")
