"""Command-line options shared by hashwatch's pipelines, strict flag checking, and runner defaults.

Beam builds one argument parser from every direct ``PipelineOptions`` subclass, so a flag may be registered
by one class only. The flags every pipeline that writes tables shares (:class:`OutputOptions`) and the flags
of matching against known hashes (:class:`KnownHashOptions`) live here; a pipeline's options class inherits
them and adds its own (``class CrawlMatchOptions(OutputOptions, KnownHashOptions, PipelineOptions)``). Such
a class is still a direct subclass of ``PipelineOptions`` (listed last among its bases), its own
``_add_argparse_args`` adds only its own flags, and ``options.view_as(CrawlMatchOptions)`` sees all of them.

Beam discards flags it does not know with only a warning, so a typo such as ``--max-dept 3`` would silently
crawl with the default. :func:`reject_unknown_flags` turns that into a start-up error.
:func:`apply_portable_runner_defaults` sets what the pipelines need on Flink unless the user set it.
"""

from __future__ import annotations

import logging
import os

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    _BeamArgumentParser,
)

from hashwatch.crawling.config import add_crawl_arguments
from hashwatch.errors import UserError
from hashwatch.hashing.match_policy import MatchOptions, parse_corroboration
from hashwatch.run_config import OutputConfig, SeedConfig

_LOGGER = logging.getLogger(__name__)

# How long a portable runner keeps an idle SDK worker environment within a job (--environment_cache_millis).
# Beam's default, 0, releases it as soon as a stage ends, so every fused stage of a job starts its own Python
# processes (imports, the index loaded again, robots.txt and the politeness table forgotten). Measured on the
# bundled cluster at parallelism 2, the demo crawl's Flink job ran 58 s with 0 and 20 s with 30 s (whole
# runs 99.5 s and 34.2 s). Environments are released when the job ends either way.
# It must stay under the cluster's first restart delays (1, 2, 4, 8 s: deploy/flink/cluster-conf.sh): with
# Beam's runner loaded by Flink's parent class loader (the bundled cluster, embedded Flink) a job restarted
# within the cache time gets its cached environments back, dead ones included. Measured (issue 24): with
# 60 s, a streaming crawl whose worker pool was killed restarted 10 times on the dead SDK workers ("Failed
# to start remote bundle: CANCELLED") and failed. 5 s: a batch job's stages still share their workers (the
# gap between two stage groups is well under a second), and a restart whose delay exceeds it (the 4th, 8 s)
# starts new ones. Streaming keeps its environments open for the whole job anyway, so there it is 0: a
# restart always starts new SDK workers.
PORTABLE_ENVIRONMENT_CACHE_MILLIS = 5_000
STREAMING_ENVIRONMENT_CACHE_MILLIS = 0
_PORTABLE_RUNNERS = ("FlinkRunner", "PortableRunner")

__all__ = [
    "EMBEDDED_RUNNER",
    "PORTABLE_ENVIRONMENT_CACHE_MILLIS",
    "STREAMING_ENVIRONMENT_CACHE_MILLIS",
    "absolute_path",
    "apply_portable_runner_defaults",
    "candidate_families",
    "CrawlOptions",
    "KnownHashOptions",
    "OutputOptions",
    "add_candidate_arguments",
    "add_known_hash_arguments",
    "add_match_arguments",
    "add_output_arguments",
    "add_seed_arguments",
    "configure_runner",
    "match_options_from",
    "reject_unknown_flags",
]

EMBEDDED_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def configure_runner(options: PipelineOptions, argv: list[str]) -> None:
    """With no ``--runner`` (or a plain DirectRunner/FnApiRunner), run on the embedded runner by full name;
    on a portable runner apply :func:`apply_portable_runner_defaults` (logged)."""
    standard = options.view_as(StandardOptions)
    if not standard.runner or standard.runner in ("FnApiRunner", "DirectRunner"):
        # The plain DirectRunner may try to download Prism first; the embedded runner is named explicitly.
        standard.runner = EMBEDDED_RUNNER
    for name, value in apply_portable_runner_defaults(options, argv).items():
        _LOGGER.info("%s: --%s=%s (hashwatch's default on this runner)", standard.runner, name, value)


def absolute_path(path: str) -> str:
    """A local path made absolute (``~`` expanded); a URL (``gs://...``) as it is. On Flink the SDK workers
    open paths in their own processes, whose working folder is the worker pool's, not the launcher's."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def add_seed_arguments(parser) -> None:
    """Where the seeds come from (:class:`~hashwatch.run_config.SeedConfig`)."""
    parser.add_argument(
        "--seeds",
        action="append",
        default=[],
        help="seed file(s): text (one URL a line), CSV/TSV or Parquet with a URL column; globs and any "
        "Beam file system; repeat the flag for several",
    )
    parser.add_argument(
        "--seed-url-column",
        dest="seed_url_column",
        default=SeedConfig().url_column,
        help="the URL column of CSV/TSV and Parquet seed files (default: url)",
    )


def add_output_arguments(parser) -> None:
    """Where a pipeline writes its tables and manifest, and how (:class:`~hashwatch.run_config.OutputConfig`)."""
    d = OutputConfig()
    parser.add_argument(
        "--output-dir",
        dest="output_dir",
        help="output folder (local, or a Beam file system URL); not --output, which argparse would read as "
        "a prefix of Beam's --output_executable_path",
    )
    parser.add_argument("--run-id", dest="run_id", help="default: UTC time + random suffix")
    parser.add_argument(
        "--parquet-codec",
        dest="parquet_codec",
        default=d.parquet_codec,
        choices=["zstd", "snappy", "gzip", "none"],
    )
    parser.add_argument(
        "--allow-empty",
        dest="allow_empty",
        action="store_true",
        help="let a run that could detect nothing (no seed URL, no usable list entry, nothing fetched, no "
        "history row) exit 0; its reasons are still printed and recorded in the manifest",
    )
    parser.add_argument(
        "--progress-interval",
        dest="progress_interval",
        type=float,
        default=d.progress_interval,
        help="seconds between progress lines from each worker (0 turns them off)",
    )


def add_known_hash_arguments(parser) -> None:
    """What to match against: lists or a prebuilt index, the allowlist."""
    parser.add_argument(
        "--hash-list",
        dest="hash_list",
        action="append",
        default=[],
        help="known-hash list file(s) (CSV/TSV, Parquet, or pytx '<type> <hash>' lines): compiled to an "
        "index under OUTPUT/_indexes/ before the run; repeat for several",
    )
    parser.add_argument("--index", help="a prebuilt index (hashwatch index build), instead of --hash-list")
    parser.add_argument(
        "--skip-invalid",
        dest="skip_invalid",
        action="store_true",
        help="count and skip malformed list rows instead of failing",
    )
    parser.add_argument(
        "--allowlist",
        help="CSV of hashes never to report (known collisions, known-innocent images): columns "
        "hash_type, hash_value, reason, and optionally scope (list | image | both), added_at, added_by",
    )


def add_match_arguments(parser) -> None:
    """How to match: thresholds, variants, types, corroboration."""
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        help="TYPE=N: report perceptual matches of TYPE within N bits (default: the type's own, "
        "e.g. pdq=31, phash=4); repeat for several types",
    )
    parser.add_argument(
        "--no-dihedral",
        dest="no_dihedral",
        action="store_true",
        help="do not match the 7 rotated/flipped PDQ variants of each image",
    )
    parser.add_argument(
        "--match-types",
        dest="match_types",
        help="comma-separated hash types to match (default: every type the index holds)",
    )
    parser.add_argument(
        "--corroborate",
        action="append",
        default=[],
        help="TYPE=OTHER:N: a near-match of TYPE counts only where the copy's OTHER hash is within N bits "
        "of the same list picture's (rows sharing source and item_id); default phash=dhash:10, 'none' "
        "switches corroboration off; repeat for several types",
    )
    parser.add_argument(
        "--uncorroborated",
        default="keep",
        choices=["keep", "drop"],
        help="a match on a list entry that cannot be corroborated (no item_id, or its picture has no "
        "hash of the other type): keep it (the plain rule, default) or drop it",
    )


def add_candidate_arguments(parser) -> None:
    """Query-side candidates: which families are computed (hashing) and for which types they are matched."""
    parser.add_argument(
        "--candidates",
        dest="candidates",
        default="default",
        help="query-side candidate families to compute and match (comma-separated: trimmed, uncaptioned, "
        "dihedral_real, deskew, extended, unbanded, regions, rescaled), 'default' for all but rescaled (chosen "
        "on the evaluation's tuning half), 'none' to switch them off (docs/evaluation.md, docs/hashing.md)",
    )
    parser.add_argument(
        "--candidate-hash-types",
        dest="candidate_hash_types",
        default="pdq",
        help="comma-separated hash types whose candidates are matched (default pdq; phash candidates are "
        "computed and kept in images/ but add false matches, docs/evaluation.md)",
    )


class OutputOptions(PipelineOptions):
    """Where a pipeline writes its tables and manifest, and how."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_output_arguments(parser)


class KnownHashOptions(PipelineOptions):
    """What to match against (lists or a prebuilt index, the allowlist) and how (thresholds, variants)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_known_hash_arguments(parser)
        add_match_arguments(parser)
        add_candidate_arguments(parser)


def add_video_arguments(parser) -> None:
    """The caps on hashing one video (:class:`~hashwatch.video.video_hashes.VideoLimits`; the byte cap,
    ``--max-video-bytes``, is a fetch limit of the crawl)."""
    from hashwatch.video.video_hashes import VideoLimits

    d = VideoLimits()
    for flag, type_, help_, default in (
        (
            "--max-video-seconds",
            float,
            "longest video duration hashed; a longer one is hashed up to it (video_too_long)",
            d.max_seconds,
        ),
        ("--max-video-frames", int, "most frames decoded per video (video_too_many_frames)", d.max_frames),
        (
            "--video-seconds-per-hash",
            float,
            "vPDQ samples one frame per this many seconds (0: every frame)",
            d.seconds_per_hash,
        ),
        (
            "--max-video-decode-seconds",
            float,
            "wall time of decoding one video (video_decode_timeout)",
            d.max_decode_seconds,
        ),
    ):
        parser.add_argument(flag, type=type_, default=None, help=f"{help_} (default: {default:g})")
    for flag, help_ in (
        (
            "--vpdq-query-percent",
            "vPDQ: share of a video's distinct good frames that must match a listed video's",
        ),
        (
            "--vpdq-compared-percent",
            "vPDQ: share of the listed video's distinct good frames that must be matched",
        ),
    ):
        parser.add_argument(flag, type=float, default=None, metavar="P", help=f"{help_} (default: pytx's)")


def video_limits_from(values):
    """The video caps (a ``VideoLimits``) from the parsed flags (a dict); a bad value is a :class:`UserError`
    naming the flag."""
    import dataclasses

    from hashwatch.video.video_hashes import VideoLimits

    d = VideoLimits()
    fields = {
        "max_seconds": ("max_video_seconds", d.max_seconds),
        "max_frames": ("max_video_frames", d.max_frames),
        "seconds_per_hash": ("video_seconds_per_hash", d.seconds_per_hash),
        "max_decode_seconds": ("max_video_decode_seconds", d.max_decode_seconds),
    }
    chosen = {}
    for field_name, (dest, default) in fields.items():
        value = values.get(dest)
        value = default if value is None else value
        if value < 0 or (value == 0 and field_name != "seconds_per_hash"):
            flag = "--" + dest.replace("_", "-")
            raise UserError(
                f"{flag} must be {'>= 0' if field_name == 'seconds_per_hash' else '> 0'} (got {value})"
            )
        chosen[field_name] = value
    return dataclasses.replace(d, **chosen)


class CrawlOptions(PipelineOptions):
    """The crawl flags (``--max-depth``, ``--per-host-delay``, ``--ignore-robots``, ...):
    ``CrawlConfig.from_options(options.get_all_options())``, and the video caps (``--max-video-seconds``,
    ...): :func:`video_limits_from`. The one place they are registered with Beam."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_crawl_arguments(parser)
        add_video_arguments(parser)


def match_options_from(known: KnownHashOptions) -> MatchOptions:
    """The matching library's options from the flags; a bad value is a :class:`UserError`."""
    from hashwatch.hashing.hash_types import get_hash_type

    thresholds: dict[str, int] = {}
    for text in known.threshold or []:
        name, sep, value = text.partition("=")
        name = name.strip().lower()
        if not sep or not value.strip().isdigit():
            raise UserError(f"--threshold {text!r}: expected TYPE=N, e.g. --threshold pdq=24")
        try:
            get_hash_type(name)
        except (KeyError, ValueError):
            raise UserError(f"--threshold {text!r}: unknown hash type {name!r}") from None
        thresholds[name] = int(value)
    hash_types = None
    if known.match_types:
        hash_types = tuple(t.strip().lower() for t in known.match_types.split(",") if t.strip())
        for name in hash_types:
            try:
                get_hash_type(name)
            except (KeyError, ValueError):
                raise UserError(f"--match-types: unknown hash type {name!r}") from None
    return MatchOptions(
        thresholds=thresholds,
        dihedral=not known.no_dihedral,
        hash_types=hash_types,
        candidates=candidate_families(known.candidates),
        candidate_hash_types=_candidate_hash_types(known.candidate_hash_types),
        corroborate=parse_corroboration(getattr(known, "corroborate", None) or []),
        uncorroborated=getattr(known, "uncorroborated", None) or "keep",
    )


def _candidate_hash_types(value: str | None) -> tuple[str, ...]:
    from hashwatch.hashing.candidates import candidate_hash_types

    names = tuple(t.strip().lower() for t in (value or "pdq").split(",") if t.strip())
    try:
        candidate_hash_types(names)  # the registry's types with query-side candidates: pdq, phash
    except (KeyError, ValueError) as exc:
        raise UserError(f"--candidate-hash-types: {exc.args[0]}") from None
    return names


def hash_config_from(known: KnownHashOptions):
    """The hashing library's config from the flags: which query-side candidate families ``--candidates``
    asks to compute (and keep in images/). Batch and streaming crawls both hash with it."""
    from hashwatch.hashing.image_hashes import HashConfig

    return HashConfig(candidates=candidate_families(known.candidates))


def candidate_families(value: str | None) -> tuple[str, ...]:
    """``--candidates``: 'default', 'none' or a comma-separated list of families (UserError if unknown)."""
    from hashwatch.hashing.candidates import DEFAULT_CANDIDATE_FAMILIES, check_families

    text = (value or "default").strip()
    if text == "default":
        return DEFAULT_CANDIDATE_FAMILIES
    if text in ("none", ""):
        return ()
    try:
        return check_families(f.strip() for f in text.split(",") if f.strip())
    except ValueError as exc:
        raise UserError(f"--candidates: {exc}") from None


def _all_option_classes(base=PipelineOptions):
    for cls in base.__subclasses__():
        yield cls
        yield from _all_option_classes(cls)


class _OneLineErrorParser(_BeamArgumentParser):
    """argparse prints its whole usage (900 lines with Beam's flags) before a bad value's message: raise
    the message as a :class:`UserError` instead, one line."""

    def error(self, message: str):
        raise UserError(message)


def reject_unknown_flags(argv: list[str]) -> None:
    """Raise :class:`UserError` naming any flag no registered ``PipelineOptions`` subclass defines, or the
    first flag whose value does not parse (``--per-host-delay abc``), in one line."""
    parser = _OneLineErrorParser(allow_abbrev=False)
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
    :data:`PORTABLE_ENVIRONMENT_CACHE_MILLIS` unless ``argv`` gives it, and (FlinkRunner) submit to the
    bundled cluster's running job server when no ``--job_endpoint`` is given
    (:mod:`hashwatch.flink.warm_job_server`). Returns the options it set."""
    runner = str(options.view_as(StandardOptions).runner or "")
    if not runner.endswith(_PORTABLE_RUNNERS):
        return {}
    given = {arg.split("=", 1)[0] for arg in argv}
    applied: dict[str, object] = {}
    if "--environment_cache_millis" not in given:
        millis = (
            STREAMING_ENVIRONMENT_CACHE_MILLIS
            if options.view_as(StandardOptions).streaming
            else PORTABLE_ENVIRONMENT_CACHE_MILLIS
        )
        options.view_as(PortableOptions).environment_cache_millis = millis
        applied["environment_cache_millis"] = millis
    if runner.endswith("FlinkRunner") and "--job_endpoint" not in given:
        from apache_beam.options.pipeline_options import FlinkRunnerOptions

        from hashwatch.flink.warm_job_server import warm_job_endpoint

        endpoint = warm_job_endpoint(str(options.view_as(FlinkRunnerOptions).flink_master or ""))
        if endpoint:
            options.view_as(PortableOptions).job_endpoint = endpoint
            applied["job_endpoint"] = endpoint
    return applied
