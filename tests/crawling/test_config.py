import argparse
import pickle

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from hashwatch.crawling.config import DEFAULT_DENY_PATTERNS, CrawlConfig, add_crawl_arguments
from hashwatch.errors import UserError
from pipelines.options import CrawlOptions


def test_defaults_are_polite_and_safe():
    cfg = CrawlConfig()
    assert cfg.per_host_delay == 1.0
    assert cfg.host_concurrency == 1
    assert not cfg.ignore_robots and not cfg.allow_private_networks
    assert "+http" in cfg.user_agent  # a contact URL
    assert cfg.scope == "host"
    assert cfg.deny_patterns == DEFAULT_DENY_PATTERNS


def test_concurrency_is_several_without_delay_unless_set():
    assert CrawlConfig(per_host_delay=0).host_concurrency == 8
    assert CrawlConfig(per_host_delay=0, per_host_concurrency=3).host_concurrency == 3
    assert CrawlConfig(per_host_delay=2, per_host_concurrency=2).host_concurrency == 2


def test_pickles_with_compiled_patterns():
    cfg = CrawlConfig(deny_patterns=(r"/x",), allowed_networks=("10.0.0.0/8",))
    clone = pickle.loads(pickle.dumps(cfg))
    assert clone == cfg
    assert clone.deny_regexes[0].search("http://a/X")  # case-insensitive, compiled on the other side too


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"per_host_delay": -1}, "--per-host-delay must be >= 0"),
        ({"total_deadline": 0}, "--total-deadline must be > 0"),
        ({"max_page_bytes": 0}, "--max-page-bytes must be >= 1"),
        ({"scope": "planet"}, "--scope must be one of"),
        ({"scope": "allow-list"}, "needs at least one --allow-host"),
        ({"deny_patterns": ("(",)}, "is not a valid regular expression"),
        ({"allowed_networks": ("10.0.0.0/33",)}, "is not an IP network"),
        ({"user_agent": "a\nb"}, "one non-empty line"),
        ({"robots_agent": "has space"}, "product token"),
    ],
)
def test_bad_values_fail_with_a_message_that_names_the_flag(changes, message):
    with pytest.raises(UserError, match=message):
        CrawlConfig(**changes)


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_crawl_arguments(parser)
    return parser.parse_args(argv)


def test_flags_round_trip_through_argparse():
    args = _parse(
        [
            "--max-depth",
            "3",
            "--ignore-robots",
            "--allow-private-networks",
            "--per-host-delay",
            "0",
            "--scope",
            "allow-list",
            "--allow-host",
            "a.test",
            "--allow-host",
            "B.test",
            "--deny-pattern",
            "/nope",
            "--max-image-bytes",
            "1000",
            "--allow-network",
            "10.1.0.0/16",
        ]
    )
    cfg = CrawlConfig.from_options(args)
    assert cfg.max_depth == 3 and cfg.ignore_robots and cfg.allow_private_networks
    assert cfg.per_host_delay == 0 and cfg.max_image_bytes == 1000
    assert cfg.allowed_hosts == ("a.test", "b.test")
    assert cfg.deny_patterns == (*DEFAULT_DENY_PATTERNS, "/nope")
    assert cfg.allowed_networks == ("10.1.0.0/16",)


def test_unset_flags_keep_dataclass_defaults_and_defaults_can_be_dropped():
    assert CrawlConfig.from_options(_parse([])) == CrawlConfig()
    cfg = CrawlConfig.from_options(_parse(["--no-default-deny-patterns", "--deny-pattern", "/only"]))
    assert cfg.deny_patterns == ("/only",)
    assert CrawlConfig.from_options({"max_depth": 0, "unrelated": 1}).max_depth == 0


def test_bad_flag_value_is_a_user_error():
    with pytest.raises(UserError, match="--max-retries"):
        CrawlConfig.from_options(_parse(["--max-retries", "-1"]))


def test_flags_work_inside_beam_pipeline_options():
    options = PipelineOptions(
        [
            "--runner=FnApiRunner",
            "--max-depth=2",
            "--ignore-robots",
            "--allow-host=x.test",
            "--allow-host=y.test",
            "--scope=allow-list",
        ]
    )
    cfg = CrawlConfig.from_options(options.view_as(CrawlOptions).get_all_options())
    assert cfg.max_depth == 2 and cfg.ignore_robots and cfg.allowed_hosts == ("x.test", "y.test")
    assert CrawlConfig.from_options(PipelineOptions([]).get_all_options()) == CrawlConfig()
    # The options object itself holds none of the values in vars(): refused, not read as all defaults.
    with pytest.raises(TypeError, match="a dict or a namespace"):
        CrawlConfig.from_options(options)
