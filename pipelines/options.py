"""Command-line options shared by hashwatch's pipelines, and strict flag checking.

Beam discards flags it does not know with only a warning, so a typo such as ``--max-dept 3`` would silently
crawl with the default. :func:`reject_unknown_flags` turns that into a start-up error.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from hashwatch.errors import UserError

__all__ = ["reject_unknown_flags"]


def _all_option_classes(base=PipelineOptions):
    for cls in base.__subclasses__():
        yield cls
        yield from _all_option_classes(cls)


def reject_unknown_flags(argv: list[str]) -> None:
    """Raise :class:`UserError` naming any flag no registered ``PipelineOptions`` subclass defines."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen: dict[str, type] = {}
    for cls in _all_option_classes():
        seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    for cls in seen.values():
        try:
            cls._add_argparse_args(parser)
        except Exception:  # noqa: S112 - the same class twice (re-imported); its flags are there already
            continue
    _, unknown = parser.parse_known_args(argv)
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if flags:
        raise UserError(f"unknown option(s): {', '.join(flags)} (see --help)")
