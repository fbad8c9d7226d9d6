"""``hashwatch crawl --help`` and ``hashwatch rescan --help``: hashwatch's own flags first, in groups, every one
of them listed; Beam's behind ``--help-beam``."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

CRAWL_GROUPS = [
    "seeds and crawl scope:",
    "politeness:",
    "fetch limits:",
    "hashing:",
    "known hashes and matching:",
    "output:",
    "streaming (with --streaming):",
    "Flink and runner (Beam's flags; all of them: --help-beam):",
]


def _help(*argv: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.splitlines()


@pytest.fixture(scope="module")
def crawl_help() -> list[str]:
    return _help("crawl", "--help")


def _flags_of(*options_classes) -> set[str]:
    parser = argparse.ArgumentParser(add_help=False)
    for cls in options_classes:
        cls.__dict__["_add_argparse_args"].__func__(cls, parser)
    return {flag for action in parser._actions for flag in action.option_strings}


def _listed(lines: list[str]) -> list[str]:
    """The flags a help text lists, in order (the first word of each option line)."""
    return [line.split()[0].rstrip(",") for line in lines if line.startswith("  -")]


def test_crawl_help_shows_the_seeds_first_and_the_groups_in_order(crawl_help):
    assert any(line.lstrip().startswith("--seeds") for line in crawl_help[:80])
    positions = [crawl_help.index(title) for title in CRAWL_GROUPS]
    assert positions == sorted(positions)
    assert len(crawl_help) < 250  # Beam's own help was 875 lines, ours from line ~700
    assert "--help-beam" in " ".join(crawl_help[-3:])  # the end says where Beam's flags are


def test_crawl_help_lists_every_hashwatch_flag_once_and_no_other_beam_flag(crawl_help):
    from pipelines.command_help import BEAM_RUNNER_FLAGS
    from pipelines.crawl_match import CrawlMatchOptions
    from pipelines.options import CrawlOptions, KnownHashOptions, OutputOptions
    from pipelines.streaming_options import FlinkStreamingOptions, StreamingOptions

    ours = _flags_of(
        CrawlMatchOptions,
        OutputOptions,
        KnownHashOptions,
        CrawlOptions,
        StreamingOptions,
        FlinkStreamingOptions,
    )
    listed = _listed(crawl_help)
    assert len(listed) == len(set(listed))
    beam_shown = {flag for flag, _, _ in BEAM_RUNNER_FLAGS} | {"--streaming"}
    assert set(listed) == ours | beam_shown | {"-h", "--help-beam"}
    assert "--temp_location" not in " ".join(crawl_help)


def test_the_beam_flags_the_help_names_are_beams():
    from pipelines.command_help import BEAM_RUNNER_FLAGS, beam_help

    beams = {word.rstrip(",") for line in beam_help("crawl").splitlines() for word in line.split()[:1]}
    assert {flag for flag, _, _ in BEAM_RUNNER_FLAGS} | {"--streaming"} <= beams


def test_help_beam_lists_beams_flags_and_not_ours():
    lines = _help("crawl", "--help-beam")
    text = " ".join(lines)
    assert "--temp_location" in text and "--flink_master" in text and "--runner" in text
    assert "--seeds" not in text and "--max-depth" not in text
    assert "hashwatch crawl --help" in text


def test_rescan_help_shows_its_own_flags_first():
    from pipelines.options import KnownHashOptions, OutputOptions
    from pipelines.rescan import RescanOptions

    lines = _help("rescan", "--help")
    assert lines.index("history:") < lines.index("known hashes and matching:") < lines.index("output:")
    assert any(line.lstrip().startswith("--history-dir") for line in lines[:40])
    assert _flags_of(RescanOptions, OutputOptions, KnownHashOptions) <= set(_listed(lines))
    assert "--help-beam" in " ".join(lines[-3:])
