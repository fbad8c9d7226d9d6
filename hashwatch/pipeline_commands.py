"""``hashwatch crawl ...``, ``hashwatch rescan ...``: the pipelines as sub-commands. Beam is imported only
when one runs. ``--help`` shows hashwatch's own flags by group, ``--help-beam`` Beam's
(:mod:`pipelines.command_help`)."""

from __future__ import annotations

import argparse


def _crawl(args: argparse.Namespace) -> int:
    from pipelines.crawl_match import main

    return main(args.pipeline_args)


def _rescan(args: argparse.Namespace) -> int:
    from pipelines.command_help import help_requested

    if help_requested("rescan", args.pipeline_args):
        return 0
    from pipelines.rescan import main

    return main(args.pipeline_args)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "crawl",
        help="crawl seed URLs, hash every image, match against known hashes, write Parquet",
        description="Runs pipelines/crawl_match.py; every flag (Beam's included) passes through. "
        "`hashwatch crawl --help` lists hashwatch's flags, `--help-beam` Beam's.",
        add_help=False,
    )
    parser.set_defaults(func=_crawl, pass_through=True)
    parser = subparsers.add_parser(
        "rescan",
        help="match the images/ history against today's lists: new matches and retractions, no fetching",
        description="Runs pipelines/rescan.py; every flag (Beam's included) passes through. "
        "`hashwatch rescan --help` lists hashwatch's flags, `--help-beam` Beam's.",
        add_help=False,
    )
    parser.set_defaults(func=_rescan, pass_through=True)
