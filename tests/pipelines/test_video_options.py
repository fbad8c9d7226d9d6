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


def test_the_vpdq_rule_flags_reach_the_video_matching(tmp_path):
    from hashwatch.video.video_match import VideoMatchOptions

    assert _config(tmp_path).video_matching == VideoMatchOptions()
    config = _config(
        tmp_path,
        "--vpdq-query-percent=60",
        "--vpdq-compared-percent=10",
        "--threshold=vpdq=20",
        "--threshold=pdq=24",
    )
    got = config.video_matching
    assert (got.query_match_percent, got.compared_match_percent) == (60, 10)
    assert (got.frame_distance, got.image_distance) == (20, 24)
    only_md5 = _config(tmp_path, "--match-types=video_md5").video_matching
    assert (only_md5.md5, only_md5.vpdq, only_md5.frame_to_image) == (True, False, False)


@pytest.mark.parametrize("flag", ["--vpdq-query-percent", "--vpdq-compared-percent"])
def test_a_percentage_outside_0_100_names_its_flag(tmp_path, flag):
    with pytest.raises(UserError, match=flag):
        _config(tmp_path, f"{flag}=120")
