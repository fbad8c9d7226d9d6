"""The ``hashwatch`` command line.

Each sub-command lives in the module that owns its idea; this file only wires them. A module listed in
``_SUBCOMMAND_MODULES`` exposes ``register(subparsers)``, which adds its parsers and sets ``func`` on them.
``func(args) -> int`` returns the exit status. A :class:`hashwatch.errors.UserError` raised anywhere below is
printed as one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys

from hashwatch import __version__
from hashwatch.errors import UserError

# Modules that add sub-commands. Imported lazily so `hashwatch --help` stays fast.
_SUBCOMMAND_MODULES: list[str] = [
    "hashwatch.hashing.cli",
    "hashwatch.audit",
    "hashwatch.pipeline_commands",
    "hashwatch.evaluation.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashwatch",
        description="Crawl the web, hash every image, match against known-hash lists.",
    )
    parser.add_argument("--version", action="version", version=f"hashwatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Pipeline commands pass every flag through to Beam's option parsing; others must know all of theirs.
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "pass_through", False):
        args.pipeline_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"hashwatch {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def exit_process(status: int) -> None:
    """End a command-line process with ``status`` once its work is done and written.

    Runs the ``atexit`` handlers (Beam's stop the job servers and worker processes it started), flushes the
    standard streams and the logs, then leaves with ``os._exit``, skipping the interpreter's teardown of
    native libraries. That teardown is where Arrow's C++ thread pools can abort the process ("terminate
    called without an active exception", SIGABRT, apache/arrow#34314) after the run has finished: seen here
    once in about fifty rescans on a loaded machine. A scheduler would read that as a failed run."""
    try:
        atexit._run_exitfuncs()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe must not change the status
                stream.flush()
        os._exit(status)


def console_main() -> None:  # pragma: no cover - the installed ``hashwatch`` script
    exit_process(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
