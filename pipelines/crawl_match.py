"""The crawl-and-match pipeline: seed URLs in, Parquet out, batch or (``--streaming``) unbounded.

::

    command line -> run_config_from -> RunConfig (parsed and checked once, here)
    seeds -> CrawlAndMatch (transforms/crawl_and_match.py: crawl, fetch, hash, merge, match)
          -> matches/, images/, fetch_log/ (Parquet, dt=/run_id= partitions) + a JSON run manifest

Run it with ``hashwatch crawl`` or ``python -m pipelines.crawl_match``; every Beam flag passes through
(``--runner=FlinkRunner --flink_master=...``). With no ``--runner`` it runs on the embedded ``FnApiRunner``.
``--help`` lists hashwatch's own flags by group; ``--help-beam`` Beam's (:mod:`pipelines.command_help`).
A streaming run is launched and watched by :mod:`pipelines.streaming_launcher`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
import time
import traceback

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

if __name__ == "__main__":  # pragma: no cover
    # `python -m pipelines.crawl_match`: run the copy of this module imported under its package name, before
    # this __main__ copy defines anything. What __main__ defines is pickled by value, and the names it uses do
    # not exist on a remote SDK worker (NameError there); a second CrawlMatchOptions would clash in argparse.
    from hashwatch.cli import exit_process
    from pipelines.crawl_match import main

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    exit_process(main())

from hashwatch.crawling.config import CrawlConfig
from hashwatch.errors import UserError
from hashwatch.hashing.allowlist import Allowlist
from hashwatch.run_config import KnownHashConfig, OutputConfig, RunConfig, SeedConfig
from hashwatch.video.video_match import video_match_options
from pipelines.command_help import help_requested
from pipelines.index_setup import load_allowlist, prepare_index
from pipelines.options import (
    EMBEDDED_RUNNER,
    KnownHashOptions,
    OutputOptions,
    absolute_path,
    add_seed_arguments,
    configure_runner,
    hash_config_from,
    match_options_from,
    reject_unknown_flags,
    video_limits_from,
)
from pipelines.run_report import (
    LogCapture,
    RunReport,
    configure_console_logging,
    new_run_id,
    remove_run_tables,
    run_files_dir,
    summarize_run,
    write_run_files,
)
from pipelines.run_verdict import (
    ALLOW_EMPTY_HINT,
    EXIT_DETECTED_NOTHING,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    blocked_seed_hint,
    check_output_dir,
    crawl_problems,
    index_problems,
    one_line_error,
)
from pipelines.streaming_launcher import run_streaming
from pipelines.streaming_options import configure_streaming_runner, streaming_config_from
from schemas.known_hashes import IndexRef
from transforms.crawl_and_match import TABLE_SCHEMAS, build_crawl_and_match
from transforms.progress import ProgressConfig, ProgressMonitor, progress_folder
from transforms.seeds import validate_seed_patterns

__all__ = ["EMBEDDED_RUNNER", "CrawlMatchOptions", "build_pipeline", "run", "run_config_from"]

_LOGGER = logging.getLogger("hashwatch.crawl_match")


class CrawlMatchOptions(OutputOptions, KnownHashOptions, PipelineOptions):
    """hashwatch's own flags: the crawl's seeds here; the output and known-hash flags (``--output-dir``,
    ``--hash-list``, ``--allowlist``, ...) from :mod:`pipelines.options`, shared with the rescan; the crawl
    flags are :class:`pipelines.options.CrawlOptions`, the streaming ones
    :class:`pipelines.streaming_options.StreamingOptions`; Beam's flags (runner, parallelism, Flink) are parsed
    by Beam's classes."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_seed_arguments(parser)


def run_config_from(options: PipelineOptions) -> RunConfig:
    """The run's configuration from the parsed command line, every value checked: a :class:`UserError` says
    what to change. Local paths are made absolute, in the options too (the manifest records them)."""
    app = options.view_as(CrawlMatchOptions)
    streaming = _validate(app, options)
    matching = match_options_from(app.view_as(KnownHashOptions))  # a bad --threshold fails here
    values = options.get_all_options(drop_default=False, retain_unknown_options=False)
    crawl = CrawlConfig.from_options(values)  # so does a bad crawl option or --deny-hosts-file
    video = video_limits_from(values)
    _absolute_paths(app)
    return RunConfig(
        seeds=SeedConfig(tuple(app.seeds), app.seed_url_column),
        crawl=crawl,
        # The candidates --candidates names are computed (and kept in images/) and matched.
        hashing=hash_config_from(app.view_as(KnownHashOptions)),
        matching=matching,
        known=KnownHashConfig(tuple(app.hash_list), app.index, app.skip_invalid, app.allowlist),
        output=OutputConfig(
            app.output_dir, app.run_id, app.parquet_codec, app.allow_empty, app.progress_interval
        ),
        streaming=streaming,
        video=dataclasses.replace(video, max_bytes=crawl.max_video_bytes),
        video_matching=video_match_options(
            matching.thresholds,
            matching.hash_types,
            values.get("vpdq_query_percent"),
            values.get("vpdq_compared_percent"),
        ),
    )


def progress_config(config: RunConfig, day: str) -> ProgressConfig:
    """Live progress every ``--progress-interval`` s; worker processes leave their counts in the run's
    ``_runs`` folder for the launcher (:mod:`transforms.progress`)."""
    folder = progress_folder(run_files_dir(config.output.output_dir, day, config.run_id))
    return ProgressConfig(config.run_id, config.output.progress_interval, folder)


def build_pipeline(
    pipeline: beam.Pipeline,
    config: RunConfig,
    day: str,
    ref: IndexRef,
    allowlist: Allowlist | None = None,
    progress: ProgressConfig | None = None,
):
    """Add the crawl-and-match job (batch or streaming, as ``config`` says) to ``pipeline``: the run's seed
    source, :class:`transforms.crawl_and_match.CrawlAndMatch`, its table sink. ``config`` has its run id.
    Returns the written-files PCollections by table."""
    return build_crawl_and_match(pipeline, config, ref, day, allowlist, progress)


def _absolute_paths(app: CrawlMatchOptions) -> None:
    """Make the local paths that workers open absolute. On Flink the SDK workers read the seeds, open the
    index and write the tables in their own processes, whose working folder is the worker pool's, not the
    launcher's: ``--output-dir out/`` would scatter the tables there and the run report (read by the
    launcher) would find none. The embedded runner reads and writes the same files either way."""
    app.output_dir = absolute_path(app.output_dir)
    app.seeds = [absolute_path(pattern) for pattern in app.seeds]
    if app.index:
        app.index = absolute_path(app.index)


def _validate(app: CrawlMatchOptions, options: PipelineOptions):
    """The checks that need no parsing beyond Beam's; returns the streaming config (None: batch)."""
    if not app.output_dir:
        raise UserError("--output-dir is required: the folder the Parquet tables and the run manifest go to")
    check_output_dir(app.output_dir)
    if not app.hash_list and not app.index:
        raise UserError("give the known hashes: --hash-list FILE (compiled on the fly) or --index FILE")
    if app.hash_list and app.index:
        raise UserError("--hash-list and --index exclude each other: give one")
    if app.view_as(StandardOptions).streaming:
        return streaming_config_from(options, tuple(app.seeds))  # the watched folder may be empty at start
    validate_seed_patterns(app.seeds, app.seed_url_column)
    return None


class RunFailed(Exception):
    """The pipeline raised: the run's manifest says FAILED and its partial tables are gone."""

    def __init__(self, report: RunReport, log_path: str):
        super().__init__(report.error)
        self.report = report
        self.log_path = log_path


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunReport:
    """Run one crawl-and-match job and return its report (also written as the run manifest).

    ``test_pipeline``: a pipeline to build on instead of a new one (tests pass a TestPipeline). Raises
    :class:`UserError` for bad input found before any work and :class:`RunFailed` when the pipeline raised.
    """
    with LogCapture() as capture:
        return _run(argv, test_pipeline, capture)


def _run(argv: list[str] | None, test_pipeline: beam.Pipeline | None, capture: LogCapture) -> RunReport:
    argv = list(sys.argv[1:] if argv is None else argv)
    reject_unknown_flags(argv)
    options = PipelineOptions(argv)
    config = run_config_from(options)  # the only place the flags are read
    streaming = config.streaming is not None
    if streaming:
        configure_streaming_runner(options)  # Flink only: says how, before any work
    configure_runner(options, argv)

    started = dt.datetime.now(dt.timezone.utc)
    run_id = config.output.run_id or new_run_id(started)
    config = config.with_run_id(run_id)
    options.view_as(CrawlMatchOptions).run_id = run_id  # recorded in the manifest's options
    day = f"{started:%Y-%m-%d}"
    output, known = config.output.output_dir, config.known
    ref, index_info = prepare_index(output, list(known.hash_lists), known.index, known.skip_invalid)
    _LOGGER.info("run %s: index %s (checksum %s)", run_id, ref.path, ref.checksum[:16])
    allowlist = load_allowlist(known.allowlist) if known.allowlist else None
    summary = {
        "output": output,
        "run_id": run_id,
        "day": day,
        "started": started,
        "options": options,
        "index_info": index_info,
        "allowlist_info": allowlist.describe() if allowlist is not None else {},
    }

    problems = index_problems(index_info, config.matching.hash_types)
    if problems and streaming and known.index:
        # A watched --index may get a usable version while the job runs: say so, do not refuse.
        for problem in problems:
            _LOGGER.warning("%s (the job watches %s for a new version)", problem, known.index)
        problems = []
    if problems and not config.output.allow_empty:
        report = RunReport.not_started(**summary, problems=problems)
        report.hints.append(ALLOW_EMPTY_HINT)
        write_run_files(output, report, capture.lines)
        return report

    pipeline = test_pipeline if test_pipeline is not None else beam.Pipeline(options=options)
    progress = progress_config(config, day)
    clock = time.monotonic()
    late_drops = flink_job = None
    try:
        with ProgressMonitor(progress):  # the run-wide progress line, every --progress-interval s
            build_pipeline(pipeline, config, day, ref, allowlist, progress)
            if streaming:
                stream = config.streaming
                result, state, elapsed, late_drops, flink_job = run_streaming(
                    pipeline,
                    options,
                    stream.run_for,
                    max_outage=stream.max_outage,
                    run_id=run_id,
                    progress_interval=config.output.progress_interval,
                )
            else:
                result = pipeline.run()
                state = result.wait_until_finish()
                elapsed = time.monotonic() - clock
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported in one line; the traceback goes to run.log
        raise _failed(summary, exc, time.monotonic() - clock, capture) from None

    report = summarize_run(**summary, elapsed_s=elapsed, state=str(state), metrics_result=result)
    report.late_drops = late_drops
    report.flink_job = flink_job
    if not streaming:
        report.problems = index_problems(index_info, config.matching.hash_types) + crawl_problems(report)
        if report.problems and not config.output.allow_empty:
            report.hints.append(ALLOW_EMPTY_HINT)
    hint = blocked_seed_hint(report)
    if hint:
        report.hints.insert(0, hint)
    _LOGGER.info("run %s finished: %s", run_id, report.state)
    write_run_files(output, report, capture.lines)
    return report


def _failed(summary: dict, exc: Exception, elapsed: float, capture: LogCapture) -> RunFailed:
    """Record a run whose pipeline raised: traceback in run.log (not on the console), this run's partial
    tables removed (a dashboard must not read half a run as a whole one), a FAILED manifest."""
    output, day, run_id = summary["output"], summary["day"], summary["run_id"]
    capture.lines += traceback.format_exception(exc)
    removed = remove_run_tables(output, day, run_id, tuple(TABLE_SCHEMAS))
    report = RunReport.not_started(**summary, problems=[], state="FAILED", elapsed_s=elapsed)
    report.error = one_line_error(exc)
    report.hints.append(
        f"this run's partial tables were removed ({', '.join(removed) or 'none had been written'}); "
        "the traceback is in run.log"
    )
    write_run_files(output, report, capture.lines)
    return RunFailed(report, FileSystems.join(run_files_dir(output, day, run_id), "run.log"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if help_requested("crawl", argv):  # printed --help or --help-beam
        return EXIT_OK
    configure_console_logging()
    try:
        report = run(argv)
    except UserError as exc:
        print(f"hashwatch crawl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as failure:
        print(failure.report.summary_text())
        print(
            f"hashwatch crawl: error: the pipeline failed ({failure.report.error}); see {failure.log_path}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(report.summary_text())
    if report.flink_job and report.flink_job.get("failure"):
        print(f"hashwatch crawl: error: the Flink job failed: {report.flink_job['failure']}", file=sys.stderr)
    return exit_status(report)


def exit_status(report: RunReport) -> int:
    """0 done, 1 failed or lost rows, 3 could detect nothing (``--allow-empty`` makes that 0): run_verdict."""
    if report.flink_job and report.flink_job.get("failure"):
        return EXIT_FAILED
    # A streaming run stopped by --run-for ends CANCELLED (no savepoint possible) or DONE, as asked.
    stopped_as_asked = report.state == "CANCELLED" and report.options.get("run_for")
    if report.late_drops:  # rows are missing: a run that lost data does not pass
        return EXIT_FAILED
    if report.state not in ("DONE", "NOT_STARTED") and not stopped_as_asked:
        return EXIT_FAILED
    if report.problems and not report.options.get("allow_empty"):
        return EXIT_DETECTED_NOTHING
    return EXIT_OK
