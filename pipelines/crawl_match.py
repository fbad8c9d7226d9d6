"""The crawl-and-match pipeline: seed URLs in, Parquet out.

::

    seeds -> CrawlRounds (pages, depth 0..N) -> ImageTasksFromRefs -> FetchImages (fetch + hash in one DoFn)
          -> MergeImageRecords -> MatchKnownHashes (side input: the compiled index)
          -> matches/, images/, fetch_log/ (Parquet, dt=/run_id= partitions) + a JSON run manifest

Run it with ``hashwatch crawl`` or ``python -m pipelines.crawl_match``; every Beam flag passes through
(``--runner=FlinkRunner --flink_master=...``). With no ``--runner`` it runs on the embedded ``FnApiRunner``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from hashwatch.crawling.config import CrawlConfig
from hashwatch.errors import UserError
from hashwatch.hashing.image_hashes import HashConfig
from hashwatch.hashing.known_hash_index import MatchOptions
from pipelines.index_setup import prepare_index
from pipelines.options import reject_unknown_flags
from pipelines.run_report import RunReport, summarize_run, write_run_files
from schemas import FETCH_LOG_SCHEMA, IMAGES_SCHEMA, MATCHES_SCHEMA
from schemas.known_hashes import IndexRef
from transforms.crawl import CrawlOptions, CrawlRounds, FetchImages, ImageTasksFromRefs
from transforms.hash_images import HashImageBody
from transforms.match import MatchKnownHashes
from transforms.merge_images import MergeImageRecords
from transforms.parquet_output import WriteParquetTable
from transforms.progress import CountProgress
from transforms.seeds import ReadSeeds, validate_seed_patterns

__all__ = ["CrawlMatchOptions", "build_pipeline", "run"]

_LOGGER = logging.getLogger("hashwatch.crawl_match")
EMBEDDED_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


class CrawlMatchOptions(PipelineOptions):
    """hashwatch's own flags. The crawl flags are :class:`transforms.crawl.CrawlOptions`; Beam's flags (runner,
    parallelism, Flink) are parsed by Beam's classes."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--seeds",
            action="append",
            default=[],
            help="seed file(s): text (one URL a line), CSV/TSV or Parquet with a URL column; globs and any "
            "Beam file system; repeat the flag for several",
        )
        parser.add_argument("--seed-url-column", dest="seed_url_column", default="url")
        parser.add_argument(
            "--output-dir",
            dest="output_dir",
            help="output folder (local, or a Beam file system URL); not --output, which argparse would read as "
            "a prefix of Beam's --output_executable_path",
        )
        parser.add_argument(
            "--hash-list",
            dest="hash_list",
            action="append",
            default=[],
            help="known-hash list file(s) (CSV/TSV, Parquet, or pytx '<type> <hash>' lines): compiled to an "
            "index under OUTPUT/_indexes/ before the run; repeat for several",
        )
        parser.add_argument(
            "--index", help="a prebuilt index (hashwatch index build), instead of --hash-list"
        )
        parser.add_argument(
            "--skip-invalid",
            dest="skip_invalid",
            action="store_true",
            help="count and skip malformed list rows instead of failing",
        )
        parser.add_argument("--run-id", dest="run_id", help="default: UTC time + random suffix")
        parser.add_argument(
            "--parquet-codec",
            dest="parquet_codec",
            default="zstd",
            choices=["zstd", "snappy", "gzip", "none"],
        )
        parser.add_argument(
            "--candidates",
            dest="candidates",
            default="default",
            help="query-side candidate families to compute and match (comma-separated: trimmed, uncaptioned, "
            "dihedral_real, deskew, extended), 'default' for those the evaluation found safe, 'none' to "
            "switch them off (docs/evaluation.md)",
        )
        parser.add_argument(
            "--progress-interval",
            dest="progress_interval",
            type=float,
            default=10.0,
            help="seconds between progress lines from each worker (0 turns them off)",
        )


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


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


def build_pipeline(pipeline: beam.Pipeline, app: CrawlMatchOptions, run_id: str, day: str, ref: IndexRef):
    """Add the crawl-and-match graph to ``pipeline``. Returns the written-files PCollections by table."""
    crawl_config = CrawlConfig.from_options(app.view_as(CrawlOptions))
    families = candidate_families(app.candidates)
    hasher = HashImageBody(run_id, hash_config=HashConfig(candidates=families))
    index_ref = pipeline | "IndexRef" >> beam.Create([ref])

    seeds = pipeline | "ReadSeeds" >> ReadSeeds(app.seeds, app.seed_url_column)
    crawl = seeds | "CrawlRounds" >> CrawlRounds(crawl_config, run_id, hasher)
    tasks = crawl.image_refs | "ImageTasksFromRefs" >> ImageTasksFromRefs()
    fetched = tasks | "FetchImages" >> FetchImages(crawl_config, run_id, hasher)
    images = (
        (fetched.images, crawl.inline_images)
        | "AllImages" >> beam.Flatten()
        | "MergeImageRecords" >> MergeImageRecords()
    )
    matches = images | "MatchKnownHashes" >> MatchKnownHashes(
        index_ref, run_id, match_options=MatchOptions(candidates=families)
    )
    fetch_log = (crawl.fetch_log, fetched.fetch_log) | "AllFetches" >> beam.Flatten()

    written = {}
    for table, records, schema in (
        ("fetch_log", fetch_log, FETCH_LOG_SCHEMA),
        ("images", images, IMAGES_SCHEMA),
        ("matches", matches, MATCHES_SCHEMA),
    ):
        written[table] = (
            records
            | f"Progress {table}" >> CountProgress(table, app.progress_interval)
            | f"Write {table}"
            >> WriteParquetTable(app.output_dir, table, schema, run_id, day, codec=app.parquet_codec)
        )
    return written


def _configure_runner(options: PipelineOptions) -> None:
    standard = options.view_as(StandardOptions)
    if not standard.runner or standard.runner in ("FnApiRunner", "DirectRunner"):
        # The plain DirectRunner may try to download Prism first; the embedded runner is named explicitly.
        standard.runner = EMBEDDED_RUNNER


def _validate(app: CrawlMatchOptions) -> None:
    if not app.output_dir:
        raise UserError("--output-dir is required: the folder the Parquet tables and the run manifest go to")
    if not app.hash_list and not app.index:
        raise UserError("give the known hashes: --hash-list FILE (compiled on the fly) or --index FILE")
    if app.hash_list and app.index:
        raise UserError("--hash-list and --index exclude each other: give one")
    validate_seed_patterns(app.seeds, app.seed_url_column)
    candidate_families(app.candidates)


class _LogCapture(logging.Handler):
    """Keeps the run's log lines (hashwatch's, and Beam's warnings) for OUTPUT/_runs/.../run.log."""

    def __init__(self, limit: int = 20_000):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._limit = limit
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        relevant = record.name.startswith("hashwatch") or record.levelno >= logging.WARNING
        if relevant and len(self.lines) < self._limit:
            self.lines.append(self.format(record))


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RunReport:
    """Run one crawl-and-match job and return its report (also written as the run manifest).

    ``test_pipeline``: a pipeline to build on instead of a new one (tests pass a TestPipeline).
    """
    capture = _LogCapture()
    logging.getLogger().addHandler(capture)
    try:
        return _run(argv, test_pipeline, capture)
    finally:
        logging.getLogger().removeHandler(capture)


def _run(argv: list[str] | None, test_pipeline: beam.Pipeline | None, capture: _LogCapture) -> RunReport:
    argv = list(sys.argv[1:] if argv is None else argv)
    reject_unknown_flags(argv)
    options = PipelineOptions(argv)
    app = options.view_as(CrawlMatchOptions)
    _validate(app)
    _configure_runner(options)

    started = dt.datetime.now(dt.timezone.utc)
    run_id = app.run_id or new_run_id(started)
    day = f"{started:%Y-%m-%d}"
    ref, index_info = prepare_index(app.output_dir, app.hash_list, app.index, app.skip_invalid)
    _LOGGER.info("run %s: index %s (checksum %s)", run_id, ref.path, ref.checksum[:16])

    clock = time.monotonic()
    pipeline = test_pipeline if test_pipeline is not None else beam.Pipeline(options=options)
    build_pipeline(pipeline, app, run_id, day, ref)
    result = pipeline.run()
    state = result.wait_until_finish()
    elapsed = time.monotonic() - clock

    report = summarize_run(
        output=app.output_dir,
        run_id=run_id,
        day=day,
        started=started,
        elapsed_s=elapsed,
        state=str(state),
        options=options,
        index_info=index_info,
        metrics_result=result,
    )
    _LOGGER.info("run %s finished: %s", run_id, report.state)
    write_run_files(app.output_dir, report, capture.lines)
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        report = run(argv)
    except UserError as exc:
        print(f"hashwatch crawl: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary_text())
    return 0 if report.state == "DONE" else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
