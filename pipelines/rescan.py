"""The nightly rescan: every image ever crawled against today's lists, without fetching anything.

::

    images/ history (all partitions, or --since/--until)        matches/ + retractions/ (every earlier run)
      -> ReadHistory -> MatchHistory (batched index lookups)      -> ReadMatchEvents
                              \\-- candidates --> ReconcileMatches <-- events --/
      -> matches/ (only matches not currently reported), retractions/ (deleted or allowlisted entries),
         rejected_rows/ (history rows that cannot be matched), and a JSON run manifest

Run it with ``hashwatch rescan`` or ``python -m pipelines.rescan``; every Beam flag passes through
(``--runner=FlinkRunner --flink_master=...``). With no ``--runner`` it runs on the embedded ``FnApiRunner``.
What the outputs mean, and why a crash and rerun leave no duplicates: docs/rescan.md.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads the mapped functions'.
"""

import datetime as dt
import logging
import os
import re
import sys
import time
import traceback
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from hashwatch.errors import UserError

if __name__ == "__main__":  # pragma: no cover
    # `python -m pipelines.rescan`: run the copy of this module imported under its package name. A second
    # RescanOptions defined here in __main__ would clash with it in Beam's option parser.
    from hashwatch.cli import exit_process
    from pipelines.rescan import main

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    exit_process(main())

from hashwatch.hashing.allowlist import Allowlist
from hashwatch.hashing.known_hash_index import KnownHashIndex
from hashwatch.hashing.list_tombstones import read_tombstones
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.rescan.history import CANDIDATE_COLUMNS, FRAME_COLUMNS, HISTORY_COLUMNS
from hashwatch.rescan.rules import EVENT_COLUMNS
from hashwatch.rescan.state import RescanLock
from hashwatch.rescan.video_history import VIDEO_HISTORY_COLUMNS
from pipelines.index_setup import load_allowlist, prepare_index
from pipelines.options import (
    KnownHashOptions,
    OutputOptions,
    absolute_path,
    configure_runner,
    match_options_from,
    reject_unknown_flags,
)
from pipelines.rescan_incremental import absolute, files_read, plan_incremental, save_state
from pipelines.rescan_inputs import check_files, list_table_files
from pipelines.run_report import (
    LogCapture,
    RescanReport,
    configure_console_logging,
    new_run_id,
    run_files_dir,
    summarize_rescan,
    write_run_files,
)
from pipelines.run_verdict import ALLOW_EMPTY_HINT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, one_line_error
from schemas import IMAGES_SCHEMA, MATCHES_SCHEMA, REJECTED_ROWS_SCHEMA, RETRACTIONS_SCHEMA, VIDEOS_SCHEMA
from schemas.known_hashes import IndexRef
from transforms.parquet_output import WriteParquetTable
from transforms.progress import CountProgress
from transforms.rescan import (
    MatchHistory,
    ReadMatchEvents,
    ReadParquetBatches,
    ReconcileMatches,
    TombstonesRef,
)

__all__ = ["RescanOptions", "build_pipeline", "list_table_files", "run"]

_LOGGER = logging.getLogger("hashwatch.rescan")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OUTPUT_TABLES = ("matches", "retractions", "rejected_rows")


class RescanOptions(OutputOptions, KnownHashOptions, PipelineOptions):
    """The rescan's own flags; ``--output-dir``, ``--hash-list``/``--index``, ``--allowlist``, ``--threshold``
    and the rest are the crawl's (:mod:`pipelines.options`)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--history-dir",
            dest="history_dir",
            help="the folder holding the images/ table to rescan (a crawl's --output-dir; local or a Beam "
            "file system URL); also the default --output-dir",
        )
        parser.add_argument(
            "--since", help="first dt partition of images/ to read, YYYY-MM-DD (default: all)"
        )
        parser.add_argument("--until", help="last dt partition of images/ to read, YYYY-MM-DD (default: all)")
        parser.add_argument(
            "--full",
            action="store_true",
            default=False,
            help="match the whole history against the whole list (and start the incremental state afresh); "
            "default: only what changed since the last rescan into this output folder (docs/rescan.md)",
        )


# --------------------------------------------------------------------------------------------- inputs


def _check_run_id_unused(output: str, run_id: str) -> None:
    """A run id names its partitions; Beam's sink deletes files of the same names when it finalises, so an
    earlier run's output under this id would be replaced. Refuse instead."""
    for table in (*OUTPUT_TABLES, "_runs"):
        pattern = FileSystems.join(output, table, "dt=*", f"run_id={run_id}", "*")
        if FileSystems.match([pattern])[0].metadata_list:
            raise UserError(
                f"run id {run_id} already has output under {output}/{table}/: choose another --run-id"
            )


def _validate(app: RescanOptions) -> None:
    if not app.history_dir:
        raise UserError("--history-dir is required: the folder whose images/ table is rescanned")
    if not app.hash_list and not app.index:
        raise UserError("give the known hashes: --hash-list FILE (compiled on the fly) or --index FILE")
    if app.hash_list and app.index:
        raise UserError("--hash-list and --index exclude each other: give one")
    for flag, value in (("--since", app.since), ("--until", app.until)):
        if value is not None:
            if not _DAY.match(value):
                raise UserError(f"{flag} {value!r}: expected a day, YYYY-MM-DD")
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise UserError(f"{flag} {value!r}: not a valid date") from None
    if app.since and app.until and app.since > app.until:
        raise UserError(f"--since {app.since} is after --until {app.until}: nothing to read")


def _prepare_tombstones(output: str, app: RescanOptions) -> tuple[TombstonesRef, dict]:
    """The tombstones in force, written where every worker can read them (beside the compiled index)."""
    if not app.hash_list:
        _LOGGER.warning(
            "--index gives no tombstones: no match is retracted as deleted (pass the lists with --hash-list)"
        )
        return TombstonesRef(None, "none"), {"tombstones": "unknown: a prebuilt --index carries none"}
    tombstones = read_tombstones(app.hash_list, skip_invalid=app.skip_invalid)
    path = FileSystems.join(output, "_indexes", f"tombstones-{tombstones.checksum[:32]}.parquet")
    if not FileSystems.exists(path):
        sink = pa.BufferOutputStream()
        pq.write_table(tombstones.to_table(), sink)
        if "://" not in output:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = path + ".part"
        with FileSystems.create(partial) as handle:
            handle.write(sink.getvalue().to_pybytes())
        FileSystems.rename([partial], [path])
    return TombstonesRef(path, tombstones.checksum), {"tombstones": len(tombstones), "path": path}


def _check_index(ref: IndexRef, tombstones: int, index_info: dict) -> None:
    from transforms.match import load_index

    index: KnownHashIndex = load_index(ref)
    if index.size() == 0 and not tombstones:
        raise UserError(
            f"the known-hash index {ref.path} holds no entries: an empty list would report nothing "
            "(check the --hash-list / --index files)"
        )
    index_info["entries"] = {name: index.size(name) for name in index.hash_types}


# --------------------------------------------------------------------------------------------- the graph


class RescanInputs(NamedTuple):
    ref: IndexRef
    history_files: list[str]  # without candidate_hashes (written before candidates were kept)
    candidate_files: list[str]  # with it
    event_files: list[str]  # matches/ and retractions/
    video_files: list[str] = []  # videos/ history
    frame_files: list[str] = []  # images/ with candidate_hashes and the animation columns (issue 19)
    # An incremental rescan's old images/ files (matched against the list delta only), by generation as above
    old_history_files: list[str] = []
    old_candidate_files: list[str] = []
    old_frame_files: list[str] = []
    screen: IndexRef | None = None  # the list delta's screen (hashwatch.rescan.plan.delta_screen)


def _index_ref(inputs: RescanInputs) -> IndexRef:
    return inputs.ref


def _screen_ref(inputs: RescanInputs) -> IndexRef:
    return inputs.screen


def _files(field_name: str):
    def files(inputs: RescanInputs) -> list[str]:
        return getattr(inputs, field_name)

    files.__name__ = f"_{field_name}"
    return files


def _event_files(inputs: RescanInputs) -> list[str]:
    return inputs.event_files


def _video_files(inputs: RescanInputs) -> list[str]:
    return inputs.video_files


def _generations(
    history_files: list[str], candidate_files: list[str] | None, frame_files: list[str] | None
) -> tuple[list[str], list[str], list[str]]:
    """Three generations of images/ files: plain, with candidate_hashes, and with the animation columns too
    (written since issue 19). Each is read with the columns it has (Parquet readers fail on a missing one)."""
    chosen = set(history_files)
    with_frames = set(frame_files or ()) & set(candidate_files or ()) & chosen
    with_candidates = (set(candidate_files or ()) & chosen) - with_frames
    plain = [path for path in history_files if path not in with_candidates and path not in with_frames]
    return plain, sorted(with_candidates), sorted(with_frames)


def _read_generations(launch, prefix: str, fields: tuple[str, str, str], present: tuple[bool, bool, bool]):
    """Read each generation of images/ files that has files (``present``); the plain read also when none
    has (an empty read keeps the graph's shape). Returns the PCollections of row groups."""
    reads = []
    columns = (
        HISTORY_COLUMNS,
        (*HISTORY_COLUMNS, *CANDIDATE_COLUMNS),
        (*HISTORY_COLUMNS, *CANDIDATE_COLUMNS, *FRAME_COLUMNS),
    )
    names = ("History", "CandidateHistory", "FrameHistory")
    for k, (field_name, name, cols) in enumerate(zip(fields, names, columns, strict=True)):
        if present[k] or (k == 0 and not any(present)):
            reads.append(
                launch
                | f"{prefix}{name}Files" >> beam.FlatMap(_files(field_name)).with_output_types(str)
                | f"Read{prefix}{name}" >> ReadParquetBatches(cols)
            )
    return reads


def build_pipeline(
    pipeline: beam.Pipeline,
    *,
    output: str,
    run_id: str,
    day: str,
    ref: IndexRef,
    tombstones: TombstonesRef,
    history_files: list[str],
    match_files: list[str],
    retraction_files: list[str],
    match_options: MatchOptions,
    allowlist: Allowlist | None,
    codec: str = "zstd",
    progress_interval: float = 10.0,
    candidate_files: list[str] | None = None,
    video_files: list[str] | None = None,
    frame_files: list[str] | None = None,
    old_files: list[str] | None = None,
    screen: IndexRef | None = None,
) -> dict[str, beam.PCollection]:
    """Add the rescan graph to ``pipeline``. Returns the written-files PCollections by table.

    ``history_files`` are matched against the whole index; ``old_files`` (an incremental rescan's images/
    files read before) against the list delta's ``screen`` only (both: any generation; ``candidate_files``
    and ``frame_files`` say which have those columns). Everything the launcher resolved enters through one
    ``Create`` (one source task on Flink, where each source and shuffle needs its own network buffers)."""
    new = _generations(history_files, candidate_files, frame_files)
    old = _generations(list(old_files or ()), candidate_files, frame_files) if screen else ([], [], [])
    launch = pipeline | "Launch" >> beam.Create(
        [
            RescanInputs(
                ref,
                new[0],
                new[1],
                match_files + retraction_files,
                list(video_files or ()),
                new[2],
                old[0],
                old[1],
                old[2],
                screen,
            )
        ]
    )
    index_ref = launch | "IndexRef" >> beam.Map(_index_ref).with_output_types(IndexRef)
    # Files written since query-side candidates were kept are read with their candidate_hashes; older ones
    # without. One read when the history is all of one kind.
    fields = ("history_files", "candidate_files", "frame_files")
    reads = _read_generations(launch, "", fields, tuple(bool(g) for g in new))
    batches = reads[0] if len(reads) == 1 else tuple(reads) | "History" >> beam.Flatten()
    found = batches | "MatchHistory" >> MatchHistory(index_ref, run_id, match_options, allowlist)
    candidates, rejected = found.candidates, found.rejected
    if screen is not None and any(old):  # incremental: the old files against the list delta
        screen_ref = launch | "ScreenRef" >> beam.Map(_screen_ref).with_output_types(IndexRef)
        fields = ("old_history_files", "old_candidate_files", "old_frame_files")
        reads = _read_generations(launch, "Old", fields, tuple(bool(g) for g in old))
        old_batches = reads[0] if len(reads) == 1 else tuple(reads) | "OldHistory" >> beam.Flatten()
        delta = old_batches | "MatchDelta" >> MatchHistory(
            index_ref, run_id, match_options, allowlist, screen_ref=screen_ref
        )
        candidates = (candidates, delta.candidates) | "NewAndDelta" >> beam.Flatten()
    if video_files:  # videos/ history: the crawl's video matching, the same rules below
        videos = (
            launch
            | "VideoHistoryFiles" >> beam.FlatMap(_video_files).with_output_types(str)
            | "ReadVideoHistory" >> ReadParquetBatches(VIDEO_HISTORY_COLUMNS)
            | "MatchVideoHistory" >> MatchHistory(index_ref, run_id, match_options, allowlist, videos=True)
        )
        candidates = (candidates, videos.candidates) | "AllCandidates" >> beam.Flatten()
        rejected = (rejected, videos.rejected) | "AllRejected" >> beam.Flatten()
    events = (
        launch
        | "EventFiles" >> beam.FlatMap(_event_files).with_output_types(str)
        | "ReadMatchEvents" >> ReadMatchEvents(retraction_files)
    )
    decided = (candidates, events) | "ReconcileMatches" >> ReconcileMatches(
        index_ref, run_id, tombstones, allowlist
    )
    written = {}
    for table, records, schema in (
        ("matches", decided.matches, MATCHES_SCHEMA),
        ("retractions", decided.retractions, RETRACTIONS_SCHEMA),
        ("rejected_rows", rejected, REJECTED_ROWS_SCHEMA),
    ):
        written[table] = (
            records
            | f"Progress {table}" >> CountProgress(table, progress_interval, run_id)
            | f"Write {table}" >> WriteParquetTable(output, table, schema, run_id, day, codec=codec)
        )
    return written


# --------------------------------------------------------------------------------------------- running


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> RescanReport:
    """Run one rescan and return its report (also written as the run manifest).

    ``test_pipeline``: a pipeline to build on instead of a new one (tests pass a TestPipeline).
    """
    with LogCapture() as capture:
        return _run(argv, test_pipeline, capture)


def _run(argv: list[str] | None, test_pipeline: beam.Pipeline | None, capture: LogCapture) -> RescanReport:
    argv = list(sys.argv[1:] if argv is None else argv)
    reject_unknown_flags(argv)
    options = PipelineOptions(argv)
    app = options.view_as(RescanOptions)
    _validate(app)
    match_options = match_options_from(app.view_as(KnownHashOptions))
    configure_runner(options, argv)
    app.history_dir = absolute_path(app.history_dir)
    if app.output_dir:
        app.output_dir = absolute_path(app.output_dir)
    if app.index:
        app.index = absolute_path(app.index)
    output = app.output_dir or app.history_dir
    with RescanLock(output):  # one rescan at a time per output folder
        return _run_locked(app, options, match_options, output, test_pipeline, capture)


def _run_locked(
    app: RescanOptions,
    options: PipelineOptions,
    match_options: MatchOptions,
    output: str,
    test_pipeline: beam.Pipeline | None,
    capture: LogCapture,
) -> RescanReport:
    started = dt.datetime.now(dt.timezone.utc)
    run_id = app.run_id or new_run_id(started)
    day = f"{started:%Y-%m-%d}"
    _check_run_id_unused(output, run_id)

    history = list_table_files(app.history_dir, "images", app.since, app.until)
    video_history = list_table_files(app.history_dir, "videos", app.since, app.until)
    if not history and not video_history:
        where = FileSystems.join(app.history_dir, "images", "dt=*", "run_id=*", "*.parquet")
        span = f" with dt in [{app.since or '...'}, {app.until or '...'}]" if app.since or app.until else ""
        raise UserError(f"no images/ history to rescan: no file matches {where}{span}, nor any videos/ file")
    history_files = [path for path, _, _ in history]
    video_files = [path for path, _, _ in video_history]
    candidate_files: list[str] = []  # images/ files written since query-side candidates were kept
    history_rows = check_files(
        history_files, IMAGES_SCHEMA, HISTORY_COLUMNS, "images/", CANDIDATE_COLUMNS, candidate_files
    )
    frame_files: list[str] = []  # images/ files written since animations are hashed frame by frame
    check_files(history_files, IMAGES_SCHEMA, (), "images/", FRAME_COLUMNS, frame_files)
    history_rows += check_files(video_files, VIDEOS_SCHEMA, VIDEO_HISTORY_COLUMNS, "videos/")
    if history_rows == 0 and not app.allow_empty:
        raise UserError(
            f"the images/ history holds no row ({len(history_files)} files under {app.history_dir}): a rescan "
            f"would detect nothing; {ALLOW_EMPTY_HINT}"
        )
    earlier = {table: [p for p, _, _ in list_table_files(output, table)] for table in EVENT_COLUMNS}
    for table, paths in earlier.items():
        schema = MATCHES_SCHEMA if table == "matches" else RETRACTIONS_SCHEMA
        check_files(paths, schema, EVENT_COLUMNS[table], f"{table}/")

    ref, index_info = prepare_index(output, app.hash_list, app.index, app.skip_invalid)
    tombstones, tombstones_info = _prepare_tombstones(output, app)
    count = tombstones_info.get("tombstones")
    _check_index(ref, count if isinstance(count, int) else 0, index_info)
    allowlist = load_allowlist(app.allowlist) if app.allowlist else None
    from transforms.match import load_index

    planned = plan_incremental(
        output,
        app.history_dir,
        history_files,
        video_files,
        load_index(ref),
        match_options,
        allowlist,
        full=app.full,
    )
    plan = planned.plan
    _LOGGER.info(
        "rescan %s: %d history files (%d rows), %d earlier match files, %d retraction files, index %s",
        run_id,
        len(history_files),
        history_rows,
        len(earlier["matches"]),
        len(earlier["retractions"]),
        ref.checksum[:16],
    )

    clock = time.monotonic()
    pipeline = test_pipeline if test_pipeline is not None else beam.Pipeline(options=options)
    build_pipeline(
        pipeline,
        output=output,
        run_id=run_id,
        day=day,
        ref=ref,
        tombstones=tombstones,
        history_files=absolute(app.history_dir, plan.new_images),
        old_files=absolute(app.history_dir, plan.old_images),
        screen=planned.screen,
        candidate_files=candidate_files,
        video_files=absolute(app.history_dir, plan.new_videos + (plan.old_videos if planned.screen else [])),
        frame_files=frame_files,
        match_files=earlier["matches"],
        retraction_files=earlier["retractions"],
        match_options=match_options,
        allowlist=allowlist,
        codec=app.parquet_codec,
        progress_interval=app.progress_interval,
    )
    try:
        result = pipeline.run()
        state = result.wait_until_finish()
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported in one line; the traceback goes to run.log
        # No table is removed: a rescan's finished files are right as they are, and the rerun completes
        # the rest (docs/rescan.md, Crashes and reruns).
        capture.lines += traceback.format_exception(exc)
        report = RescanReport(
            run_id=run_id,
            state="FAILED",
            started=started.isoformat(),
            finished=dt.datetime.now(dt.timezone.utc).isoformat(),
            elapsed_s=round(time.monotonic() - clock, 3),
            output=output,
            tables={"manifest": FileSystems.join(run_files_dir(output, day, run_id), "manifest.json")},
            error=one_line_error(exc),
        )
        write_run_files(output, report, capture.lines)
        raise RescanFailed(report, FileSystems.join(run_files_dir(output, day, run_id), "run.log")) from None
    elapsed = time.monotonic() - clock

    report = summarize_rescan(
        output=output,
        run_id=run_id,
        day=day,
        started=started,
        elapsed_s=elapsed,
        state=str(state),
        options=options,
        index_info={**index_info, **tombstones_info},
        allowlist_info=allowlist.describe() if allowlist is not None else {},
        history={
            "history_dir": app.history_dir,
            "since": app.since,
            "until": app.until,
            "files": len(history_files),
            "video_files": len(video_files),
            "partitions": len({(d, r) for _, d, r in history}),
            "rows": history_rows,
            **files_read(planned),
        },
        rescan=plan.describe(),
        earlier_files={table: len(paths) for table, paths in earlier.items()},
        match_options={
            "thresholds": dict(match_options.thresholds),
            "dihedral": match_options.dihedral,
            "hash_types": list(match_options.hash_types) if match_options.hash_types else None,
            "corroborate": {k: list(v) for k, v in match_options.corroborations().items()},
            "uncorroborated": match_options.uncorroborated,
        },
        metrics_result=result,
    )
    _LOGGER.info("rescan %s finished: %s", run_id, report.state)
    write_run_files(output, report, capture.lines)
    if report.state == "DONE":  # only now: the outputs and the manifest are final (docs/rescan.md)
        try:
            save_state(planned, run_id, report.finished)
        except OSError as exc:  # the outputs are whole; without the new state the next rescan redoes this one
            _LOGGER.warning(
                "the rescan state could not be saved in %s (%s: %s): this run's outputs are complete, and the "
                "next rescan redoes its work from the state before it",
                os.path.join(output, "_rescan_state"),
                type(exc).__name__,
                exc.strerror or exc,
            )
    return report


def _print_help() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="hashwatch rescan",
        description="Match the images/ history against today's lists; write new matches and retractions. "
        "Every Beam flag passes through too (--runner, --flink_master, --direct_num_workers, ...).",
    )
    for cls in (RescanOptions, OutputOptions, KnownHashOptions):
        cls.__dict__["_add_argparse_args"].__func__(cls, parser)
    parser.print_help()


def main(argv: list[str] | None = None) -> int:
    if {"-h", "--help"} & set(sys.argv[1:] if argv is None else argv):
        _print_help()
        return 0
    configure_console_logging()
    try:
        report = run(argv)
    except UserError as exc:
        print(f"hashwatch rescan: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RescanFailed as failure:
        print(
            f"hashwatch rescan: error: the pipeline failed ({failure.report.error}); a rerun completes "
            f"what it did not write (docs/rescan.md); see {failure.log_path}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(report.summary_text())
    return EXIT_OK if report.state == "DONE" else EXIT_FAILED


class RescanFailed(Exception):
    """The rescan's pipeline raised: its manifest says FAILED (what it finished writing stays)."""

    def __init__(self, report: RescanReport, log_path: str):
        super().__init__(report.error)
        self.report = report
        self.log_path = log_path
