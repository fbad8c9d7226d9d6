"""Command-line options shared by hashwatch's pipelines, strict flag checking, and runner defaults.

Beam discards flags it does not know with only a warning, so a typo such as ``--max-dept 3`` would silently
crawl with the default. :func:`reject_unknown_flags` turns that into a start-up error.
:func:`apply_portable_runner_defaults` sets what the pipelines need on Flink unless the user set it.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    _BeamArgumentParser,
)

from hashwatch.errors import UserError

__all__ = ["PORTABLE_ENVIRONMENT_CACHE_MILLIS", "apply_portable_runner_defaults", "reject_unknown_flags"]

# How long a portable runner keeps an idle SDK worker environment within a job (--environment_cache_millis).
# Beam's default, 0, releases it as soon as a stage ends, so every fused stage of a job starts its own Python
# processes (imports, the index loaded again, robots.txt and the politeness table forgotten). Measured on the
# bundled cluster at parallelism 2, the demo crawl's Flink job ran 58 s with 0 and 20 s with 30 s (whole
# runs 99.5 s and 34.2 s). Environments are released when the job ends either way.
PORTABLE_ENVIRONMENT_CACHE_MILLIS = 60_000
_PORTABLE_RUNNERS = ("FlinkRunner", "PortableRunner")


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


def apply_portable_runner_defaults(options: PipelineOptions, argv: list[str]) -> dict[str, object]:
    """On a portable runner (FlinkRunner, PortableRunner), default ``--environment_cache_millis`` to
    :data:`PORTABLE_ENVIRONMENT_CACHE_MILLIS` unless ``argv`` gives it. Returns the options it set."""
    runner = str(options.view_as(StandardOptions).runner or "")
    if not runner.endswith(_PORTABLE_RUNNERS):
        return {}
    if any(arg.split("=", 1)[0] == "--environment_cache_millis" for arg in argv):
        return {}
    options.view_as(PortableOptions).environment_cache_millis = PORTABLE_ENVIRONMENT_CACHE_MILLIS
    return {"environment_cache_millis": PORTABLE_ENVIRONMENT_CACHE_MILLIS}
