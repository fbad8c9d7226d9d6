"""``--help`` of the pipeline commands: hashwatch's own flags first, in groups; Beam's behind ``--help-beam``.

Beam builds one argument parser from every ``PipelineOptions`` class it knows, so its own ``--help`` printed
875 lines with hashwatch's flags from line ~700. Here each command's help is an ``argparse`` parser of its
own, made of argument groups, each filled by the same functions that register the flags with Beam
(:func:`pipelines.options.add_output_arguments`, :func:`hashwatch.crawling.config.add_scope_arguments`, ...),
so a flag is declared once and shown where it belongs. The runner group lists the few Beam flags a hashwatch
run needs, in our words (tests check each exists in Beam); ``--help-beam`` prints every Beam flag::

    hashwatch crawl --help         # hashwatch's flags by group, --seeds in the first lines
    hashwatch crawl --help-beam    # Beam's own flags (runners, workers, Flink, Dataflow, ...)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["BEAM_RUNNER_FLAGS", "HELP_BEAM", "beam_help", "command_help", "help_requested"]

HELP_BEAM = "--help-beam"
_HELP = ("-h", "--help")

# Beam's flags a hashwatch run needs, shown in the runner group: (flag, metavar, what). Parsed by Beam.
BEAM_RUNNER_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--runner", "RUNNER", "FlinkRunner to run on Flink (default: the embedded FnApiRunner)"),
    ("--flink_master", "HOST:PORT", "a Flink cluster's JobManager, or [local] for Flink embedded in the job"),
    ("--flink_job_server_jar", "JAR", "Beam's Flink job server (deploy/flink/fetch-job-server.sh prints it)"),
    ("--parallelism", "N", "Flink: parallel subtasks of each step"),
    (
        "--environment_type",
        "TYPE",
        "where the Python workers run: EXTERNAL (a cluster's worker pool), LOOPBACK",
    ),
    ("--environment_config", "HOST:PORT", "with EXTERNAL: the worker pool (docs/flink.md)"),
    (
        "--direct_running_mode",
        "MODE",
        "embedded runner: in_memory (default), multi_threading, multi_processing",
    ),
    ("--direct_num_workers", "N", "embedded runner: worker threads or processes"),
)
_BEAM_STREAMING_FLAG = (
    "--streaming",
    "run unbounded: watch --seeds for new files and crawl them as they land",
)

Adder = Callable[[argparse._ArgumentGroup], None]


def _beam_flags(flags: Sequence[tuple[str, str, str]]) -> Adder:
    def add(group) -> None:
        for flag, metavar, what in flags:
            group.add_argument(flag, metavar=metavar, help=what)

    return add


def _streaming_switch(group) -> None:
    flag, what = _BEAM_STREAMING_FLAG
    group.add_argument(flag, action="store_true", help=what)


def _own_flags(options_class) -> Adder:
    """The flags ``options_class`` itself registers (not those of the classes it inherits from)."""
    return lambda group: options_class.__dict__["_add_argparse_args"].__func__(options_class, group)


def _groups(command: str) -> tuple[str, list[tuple[str, list[Adder]]]]:
    """The command's description and its groups, in the order ``--help`` shows them."""
    from hashwatch.crawling.config import (
        add_fetch_limit_arguments,
        add_politeness_arguments,
        add_scope_arguments,
    )
    from pipelines.options import (
        add_candidate_arguments,
        add_known_hash_arguments,
        add_match_arguments,
        add_output_arguments,
        add_seed_arguments,
        add_video_arguments,
    )
    from pipelines.streaming_options import add_flink_arguments, add_streaming_arguments

    runner = ("Flink and runner (Beam's flags; all of them: --help-beam)", [_beam_flags(BEAM_RUNNER_FLAGS)])
    if command == "crawl":
        return (
            "Crawl seed URLs, hash every image, match the hashes against known-hash lists, write Parquet.",
            [
                ("seeds and crawl scope", [add_seed_arguments, add_scope_arguments]),
                ("politeness", [add_politeness_arguments]),
                ("fetch limits", [add_fetch_limit_arguments]),
                ("hashing", [add_candidate_arguments, add_video_arguments]),
                ("known hashes and matching", [add_known_hash_arguments, add_match_arguments]),
                ("output", [add_output_arguments]),
                ("streaming (with --streaming)", [_streaming_switch, add_streaming_arguments]),
                (runner[0], [*runner[1], add_flink_arguments]),
            ],
        )
    if command == "rescan":
        from pipelines.rescan import RescanOptions

        return (
            "Match the images/ history against today's lists; write new matches and retractions, fetch "
            "nothing.",
            [
                ("history", [_own_flags(RescanOptions)]),
                (
                    "known hashes and matching",
                    [add_known_hash_arguments, add_match_arguments, add_candidate_arguments],
                ),
                ("output", [add_output_arguments]),
                runner,
            ],
        )
    raise ValueError(f"no help for {command!r}")


class _Formatter(argparse.HelpFormatter):
    """110 columns; a value's placeholder says its type (``N``, ``X``) instead of repeating the flag."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=110)

    def _get_default_metavar_for_optional(self, action) -> str:
        if action.type is int:
            return "N"
        if action.type is float:
            return "X"
        return "VALUE" if len(action.dest) > 10 else action.dest.upper()


def command_help(command: str) -> str:
    """The text of ``hashwatch <command> --help``."""
    description, groups = _groups(command)
    parser = argparse.ArgumentParser(
        prog=f"hashwatch {command}",
        description=description,
        add_help=False,
        usage=f"hashwatch {command} [FLAGS] [BEAM FLAGS]",
        epilog=f"Beam's own flags (runners, workers, Flink, Dataflow, ...) are not listed here: "
        f"`hashwatch {command} {HELP_BEAM}` prints them all. Every Beam flag passes through.",
        formatter_class=_Formatter,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help")
    parser.add_argument(HELP_BEAM, action="store_true", help="show Beam's own flags")
    for title, adders in groups:
        group = parser.add_argument_group(title)
        for add in adders:
            add(group)
    return parser.format_help()


def beam_help(command: str) -> str:
    """Every flag Beam knows (``--help-beam``), without hashwatch's own."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(
        prog=f"hashwatch {command}",
        usage=f"hashwatch {command} [FLAGS] [BEAM FLAGS]",
        description=f"Beam's own flags; hashwatch's are in `hashwatch {command} --help`.",
        add_help=False,
    )
    seen: set[str] = set()
    for cls in _option_classes(PipelineOptions):
        name = f"{cls.__module__}.{cls.__qualname__}"
        if not cls.__module__.startswith("apache_beam.") or name in seen:
            continue
        seen.add(name)
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:  # a flag two of Beam's classes both declare: shown once
            continue
    return parser.format_help()


def _option_classes(base):
    for cls in base.__subclasses__():
        yield cls
        yield from _option_classes(cls)


def help_requested(command: str, argv: Sequence[str]) -> bool:
    """Print the help ``argv`` asks for (``-h``/``--help``, or ``--help-beam``) and return True; else False."""
    if HELP_BEAM in argv:
        print(beam_help(command), end="")
        return True
    if any(arg in _HELP for arg in argv):
        print(command_help(command), end="")
        return True
    return False
