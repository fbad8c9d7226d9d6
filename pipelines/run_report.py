"""The end-of-run summary and the JSON run manifest.

Counts come from the Parquet the run wrote (exact on every runner), plus Beam's per-stage metrics where the
runner reports them. The manifest lands in ``OUTPUT/_runs/dt=<day>/run_id=<id>/manifest.json`` beside a
``run.log``; Spark and Hive skip folders whose names start with ``_`` when reading the tables.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_output import partition_dir

__all__ = [
    "LogCapture",
    "OneLineFormatter",
    "configure_console_logging",
    "RescanReport",
    "RunReport",
    "new_run_id",
    "read_run_table",
    "remove_run_tables",
    "run_files_dir",
    "summarize_rescan",
    "summarize_run",
    "write_run_files",
]


def new_run_id(now: dt.datetime) -> str:
    """``20261125T021500Z-a1b2c3``: UTC start time and a random suffix."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class LogCapture(logging.Handler):
    """Keeps the run's log lines (hashwatch's, and Beam's warnings) for OUTPUT/_runs/.../run.log.

    ``with LogCapture() as capture:`` attaches it to the root logger for the block."""

    def __init__(self, limit: int = 20_000):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._limit = limit
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        relevant = record.name.startswith("hashwatch") or record.levelno >= logging.WARNING
        if relevant and len(self.lines) < self._limit:
            self.lines.append(self.format(record))

    def __enter__(self) -> LogCapture:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc_info) -> None:
        logging.getLogger().removeHandler(self)


class OneLineFormatter(logging.Formatter):
    """Console log lines of one line each: a record's traceback (Beam logs one with every failed bundle) and
    the lines after a message's first are left to ``run.log``, which :class:`LogCapture` writes whole."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        first, _, rest = message.partition("\n")
        if rest or record.exc_info or record.stack_info:
            first += " (full text in the run's run.log)"
        plain = logging.makeLogRecord({**record.__dict__, "msg": first, "args": None, "exc_info": None})
        plain.exc_text = None
        plain.stack_info = None
        return super().format(plain)


def configure_console_logging() -> None:
    """INFO and above to stderr, one line per record (:class:`OneLineFormatter`), for the pipelines' CLIs."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


_BEAM_SYSTEM_NAMESPACE = "beam"  # portable runners' system metrics: beam:metric:<name>:v1


def run_files_dir(output: str, day: str, run_id: str) -> str:
    return partition_dir(output, "_runs", day, run_id)


def read_run_table(
    output: str, table: str, day: str, run_id: str, columns: list[str] | None = None
) -> pa.Table:
    """One run's rows of one table, read through Beam's file systems."""
    pattern = FileSystems.join(partition_dir(output, table, day, run_id), "*.parquet")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            tables.append(pq.read_table(pa.BufferReader(handle.read()), columns=columns))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables)


def _count(table: pa.Table, *columns: str) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    keys = zip(*(table.column(c).to_pylist() for c in columns), strict=True)
    return dict(sorted(Counter("/".join(str(v) for v in key) for key in keys).items()))


def _user_metrics(metrics_result, kind: str) -> list:
    """The pipeline's own metrics of ``kind`` (``counters``, ``distributions``); [] where none are reported.

    Portable runners (Flink) also report Beam's system metrics in namespace ``beam``
    (``beam:metric:element_count:v1``, ``...execution_time...msecs``); summed over every step they mean
    nothing, so they are left out. The embedded runner reports only user metrics here.
    """
    try:
        results = metrics_result.metrics().query(beam.metrics.MetricsFilter())[kind]
    except Exception:  # some runners report no metrics; the Parquet counts stand alone
        return []
    return [r for r in results if r.key.metric.namespace != _BEAM_SYSTEM_NAMESPACE]


def _value(result):
    return result.committed if result.committed is not None else result.attempted


def _beam_counters(metrics_result) -> dict[str, int]:
    """The pipeline's own counters, summed over steps: ``namespace.name -> value``."""
    totals: Counter[str] = Counter()
    for counter in _user_metrics(metrics_result, "counters"):
        totals[f"{counter.key.metric.namespace}.{counter.key.metric.name}"] += _value(counter) or 0
    return dict(sorted(totals.items()))


def _beam_distributions(metrics_result) -> dict[str, dict[str, float]]:
    """The pipeline's own distributions (times in ms, sizes in bytes), merged over steps:
    ``namespace.name -> {count, sum, min, max, mean}``."""
    merged: dict[str, dict[str, float]] = {}
    for distribution in _user_metrics(metrics_result, "distributions"):
        data = _value(distribution)
        if data is None or not data.count:
            continue
        key = f"{distribution.key.metric.namespace}.{distribution.key.metric.name}"
        seen = merged.get(key)
        if seen is None:
            merged[key] = {"count": data.count, "sum": data.sum, "min": data.min, "max": data.max}
        else:
            seen["count"] += data.count
            seen["sum"] += data.sum
            seen["min"] = min(seen["min"], data.min)
            seen["max"] = max(seen["max"], data.max)
    for values in merged.values():
        values["mean"] = round(values["sum"] / values["count"], 3)
    return dict(sorted(merged.items()))


@dataclass
class RunReport:
    run_id: str
    state: str
    started: str
    finished: str
    elapsed_s: float
    output: str
    tables: dict[str, str]
    fetches: dict[str, int] = field(default_factory=dict)  # kind/outcome -> rows
    errors: dict[str, int] = field(default_factory=dict)  # kind/error_kind -> rows
    pages_fetched: int = 0
    images_hashed: int = 0
    videos_hashed: int = 0
    bytes_fetched: int = 0
    decode_status: dict[str, int] = field(default_factory=dict)
    video_decode_status: dict[str, int] = field(default_factory=dict)
    matches: int = 0
    images_matched: int = 0
    videos_matched: int = 0
    matches_by_category: dict[str, int] = field(default_factory=dict)
    matches_by_hash_type: dict[str, int] = field(default_factory=dict)  # hash_type/match_kind
    index: dict[str, Any] = field(default_factory=dict)
    allowlist: dict[str, Any] = field(default_factory=dict)
    allowlisted_matches: int = 0  # match rows the allowlist kept out (Beam counter; 0 where none reported)
    options: dict[str, Any] = field(default_factory=dict)
    beam_counters: dict[str, int] = field(default_factory=dict)
    # Beam's distributions (page_fetch_ms, hash_ms, image_bytes, ...): name -> count, sum, min, max, mean
    beam_distributions: dict[str, dict[str, float]] = field(default_factory=dict)
    # Streaming on a Flink cluster: elements Flink dropped as late (their rows are missing); None: not read.
    late_drops: int | None = None
    # Streaming on a Flink cluster: the job's restarts, outages, savepoint, failure (FlinkJobWatch.summary).
    flink_job: dict[str, Any] | None = None
    # The seeds' fetch_log rows (depth 0, kind page) by outcome: "ok" or the error kind.
    seed_outcomes: dict[str, int] = field(default_factory=dict)
    # Why the run could detect nothing (pipelines/run_verdict.py): one line each; empty when it could.
    problems: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    error: str | None = None  # what failed, for state FAILED (exception type and step, never its text)

    @classmethod
    def not_started(
        cls,
        *,
        output: str,
        run_id: str,
        day: str,
        started: dt.datetime,
        options,
        index_info: dict[str, Any],
        allowlist_info: dict[str, Any] | None = None,
        problems: list[str],
        state: str = "NOT_STARTED",
        elapsed_s: float = 0.0,
    ) -> RunReport:
        """The report of a run that wrote no tables: refused before the pipeline (``NOT_STARTED``, with its
        problems) or failed while running (``FAILED``; its partial tables removed)."""
        return cls(
            run_id=run_id,
            state=state,
            started=started.isoformat(),
            finished=dt.datetime.now(dt.timezone.utc).isoformat(),
            elapsed_s=round(elapsed_s, 3),
            output=output,
            tables={"manifest": FileSystems.join(run_files_dir(output, day, run_id), "manifest.json")},
            index=index_info,
            allowlist=allowlist_info or {},
            options={k: v for k, v in options.get_all_options(drop_default=True).items() if v is not None},
            problems=list(problems),
        )

    @property
    def images_per_s(self) -> float:
        return self.images_hashed / self.elapsed_s if self.elapsed_s else 0.0

    def summary_text(self) -> str:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

        lines = [
            f"run {self.run_id}: {self.state} in {self.elapsed_s:.1f} s",
            f"  pages fetched   {self.pages_fetched}",
            f"  images hashed   {self.images_hashed} ({self.images_per_s:.1f}/s), "
            f"{self.bytes_fetched / 1e6:.1f} MB fetched",
            f"  videos hashed   {self.videos_hashed} ({fmt(self.video_decode_status)})",
            f"  fetch outcomes  {fmt(self.fetches)}",
            f"  errors by kind  {fmt(self.errors)}",
            f"  matches         {self.matches} rows, {self.images_matched} distinct images, "
            f"{self.videos_matched} distinct videos"
            + (f" ({self.allowlisted_matches} allowlisted rows left out)" if self.allowlist else ""),
            f"    by category   {fmt(self.matches_by_category)}",
            f"    by hash type  {fmt(self.matches_by_hash_type)}",
            f"  index           {self.index.get('checksum', '?')[:16]} "
            f"(list versions: {fmt(self.index.get('list_versions', {}))})",
        ]
        if self.late_drops:
            lines.append(
                f"  LOST            {self.late_drops} element(s) dropped as late by Flink: their rows are missing "
                "(README, Streaming, Limits)"
            )
        if self.flink_job:
            job = self.flink_job
            lines.append(
                f"  flink job       {job.get('state')}, {job.get('restarts', 0)} restart(s), "
                f"{job.get('outages', 0)} outage(s) ({job.get('outage_seconds', 0)} s)"
                + (f"; savepoint {job['savepoint']}" if job.get("savepoint") else "")
            )
            if job.get("failure"):
                lines.append(f"  FAILED          {job['failure']}")
        lines += [f"  {table:<15} {path}" for table, path in self.tables.items()]
        lines += [f"  hint: {hint}" for hint in self.hints]
        lines += [f"  PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines)


def summarize_run(
    *,
    output: str,
    run_id: str,
    day: str,
    started: dt.datetime,
    elapsed_s: float,
    state: str,
    options,
    index_info: dict[str, Any],
    metrics_result=None,
    allowlist_info: dict[str, Any] | None = None,
) -> RunReport:
    tables = {t: partition_dir(output, t, day, run_id) for t in ("matches", "images", "fetch_log", "videos")}
    tables["manifest"] = FileSystems.join(run_files_dir(output, day, run_id), "manifest.json")
    report = RunReport(
        run_id=run_id,
        state=state.rsplit(".", maxsplit=1)[-1],
        started=started.isoformat(),
        finished=dt.datetime.now(dt.timezone.utc).isoformat(),
        elapsed_s=round(elapsed_s, 3),
        output=output,
        tables=tables,
        index=index_info,
        allowlist=allowlist_info or {},
        options={k: v for k, v in options.get_all_options(drop_default=True).items() if v is not None},
        beam_counters=_beam_counters(metrics_result) if metrics_result is not None else {},
        beam_distributions=_beam_distributions(metrics_result) if metrics_result is not None else {},
    )
    report.allowlisted_matches = report.beam_counters.get("MatchKnownHashes.allowlisted_matches", 0)
    fetch_log = read_run_table(
        output, "fetch_log", day, run_id, ["kind", "outcome", "error_kind", "bytes_length", "depth"]
    )
    if fetch_log.num_rows:
        # A seed is logged as a page, or as a video when its bytes were one (the video stage writes its row).
        seeds = fetch_log.filter(
            pa.compute.and_(
                pa.compute.is_in(fetch_log["kind"], pa.array(["page", "video"])),
                pa.compute.equal(fetch_log["depth"], 0),
            )
        )
        outcome = pa.compute.if_else(
            pa.compute.equal(seeds["outcome"], "ok"), "ok", pa.compute.fill_null(seeds["error_kind"], "?")
        )
        report.seed_outcomes = _count(pa.table({"outcome": outcome}), "outcome")
        report.fetches = _count(fetch_log, "kind", "outcome")
        failed = fetch_log.filter(pa.compute.not_equal(fetch_log["outcome"], "ok"))
        report.errors = _count(failed, "kind", "error_kind")
        pages_ok = fetch_log.filter(
            pa.compute.and_(
                pa.compute.equal(fetch_log["kind"], "page"), pa.compute.equal(fetch_log["outcome"], "ok")
            )
        )
        report.pages_fetched = pages_ok.num_rows
        report.bytes_fetched = int(pa.compute.sum(fetch_log["bytes_length"]).as_py() or 0)
    images = read_run_table(output, "images", day, run_id, ["decode_status"])
    report.images_hashed = images.num_rows
    report.decode_status = _count(images, "decode_status")
    videos = read_run_table(output, "videos", day, run_id, ["decode_status"])
    report.videos_hashed = videos.num_rows
    report.video_decode_status = _count(videos, "decode_status") if videos.num_rows else {}
    matches = read_run_table(
        output, "matches", day, run_id, ["image_url", "category", "hash_type", "match_kind", "media_kind"]
    )
    report.matches = matches.num_rows
    if matches.num_rows:
        is_video = pa.compute.equal(pa.compute.fill_null(matches["media_kind"], "image"), "video")
        report.videos_matched = len(set(matches.filter(is_video)["image_url"].to_pylist()))
        report.images_matched = len(set(matches.filter(pa.compute.invert(is_video))["image_url"].to_pylist()))
        report.matches_by_category = _count(matches, "category")
        report.matches_by_hash_type = _count(matches, "hash_type", "match_kind")
    return report


@dataclass
class RescanReport:
    """A rescan's manifest: what it read, what it wrote, and the counts by reason."""

    run_id: str
    state: str
    started: str
    finished: str
    elapsed_s: float
    output: str
    tables: dict[str, str]
    kind: str = "rescan"
    history: dict[str, Any] = field(
        default_factory=dict
    )  # history_dir, since, until, files, partitions, rows
    earlier_files: dict[str, int] = field(default_factory=dict)  # matches/retractions files read
    new_matches: int = 0  # match rows written by this run
    new_matches_by_hash_type: dict[str, int] = field(default_factory=dict)  # hash_type/match_kind
    new_matches_by_category: dict[str, int] = field(default_factory=dict)
    retractions: int = 0
    retractions_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    rejected_by_error: dict[str, int] = field(default_factory=dict)  # column/error_kind
    allowlisted_matches: int = 0  # candidate rows the allowlist kept out (Beam counter)
    decisions: dict[str, int] = field(default_factory=dict)  # ReconcileMatches counters
    index: dict[str, Any] = field(default_factory=dict)
    allowlist: dict[str, Any] = field(default_factory=dict)
    match_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    beam_counters: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # what failed, for state FAILED (exception type and step, never its text)
    # mode (incremental | full), reason, files new/old, list delta, the state it started from (docs/rescan.md)
    incremental: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.history.get("rows", 0) / self.elapsed_s if self.elapsed_s else 0.0

    def summary_text(self) -> str:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

        h = self.history
        span = (
            f" dt {h.get('since') or '...'}..{h.get('until') or '...'}"
            if h.get("since") or h.get("until")
            else ""
        )
        lines = [
            f"rescan {self.run_id}: {self.state} in {self.elapsed_s:.1f} s",
            f"  history         {h.get('rows', 0)} rows in {h.get('files', 0)} files{span} in the folder "
            f"({self.rows_per_s:,.0f} rows/s over the run)",
        ]
        mode = self.incremental
        if mode.get("mode") == "full":
            lines.append(
                f"  mode            full ({mode.get('reason')}): {h.get('files_read', 0)} files read against the "
                f"whole list ({mode.get('list_delta', {}).get('entries_added', 0)} entries)"
            )
        elif mode:
            delta = mode.get("list_delta", {})
            lines.append(
                f"  mode            {mode.get('mode')} ({mode.get('reason')}): {h.get('files_read', 0)} files "
                f"read, {h.get('files_screened_against_delta', 0)} screened against the list delta "
                f"(+{delta.get('entries_added', 0)} / -{delta.get('entries_removed', 0)} entries), "
                f"{h.get('files_skipped', 0)} skipped"
            )
        lines += [
            f"  earlier         {fmt(self.earlier_files)} files",
            f"  new matches     {self.new_matches} ({fmt(self.new_matches_by_hash_type)})",
            f"  retractions     {self.retractions} ({fmt(self.retractions_by_reason)})",
            f"  allowlisted     {self.allowlisted_matches} candidate rows left out",
            f"  rejected rows   {self.rejected_rows} ({fmt(self.rejected_by_error)})",
            f"  decisions       {fmt(self.decisions)}",
            f"  index           {self.index.get('checksum', '?')[:16]} "
            f"(list versions: {fmt(self.index.get('list_versions', {}))}; tombstones: "
            f"{self.index.get('tombstones', '?')})",
        ]
        lines += [f"  {table:<15} {path}" for table, path in self.tables.items()]
        return "\n".join(lines)


def summarize_rescan(
    *,
    output: str,
    run_id: str,
    day: str,
    started: dt.datetime,
    elapsed_s: float,
    state: str,
    options,
    index_info: dict[str, Any],
    allowlist_info: dict[str, Any],
    history: dict[str, Any],
    earlier_files: dict[str, int],
    match_options: dict[str, Any],
    metrics_result=None,
    rescan: dict[str, Any] | None = None,
) -> RescanReport:
    """Counts of what the rescan wrote come from its Parquet (exact on every runner); the decisions and the
    allowlisted count from Beam's counters where the runner reports them."""
    tables = {t: partition_dir(output, t, day, run_id) for t in ("matches", "retractions", "rejected_rows")}
    tables["manifest"] = FileSystems.join(run_files_dir(output, day, run_id), "manifest.json")
    counters = _beam_counters(metrics_result) if metrics_result is not None else {}
    report = RescanReport(
        run_id=run_id,
        state=state.rsplit(".", maxsplit=1)[-1],
        started=started.isoformat(),
        finished=dt.datetime.now(dt.timezone.utc).isoformat(),
        elapsed_s=round(elapsed_s, 3),
        output=output,
        tables=tables,
        history=history,
        earlier_files=earlier_files,
        index=index_info,
        allowlist=allowlist_info,
        match_options=match_options,
        incremental=rescan or {},
        options={k: v for k, v in options.get_all_options(drop_default=True).items() if v is not None},
        beam_counters=counters,
        allowlisted_matches=counters.get("MatchHistory.allowlisted_matches", 0),
        decisions={
            k.split(".", 1)[1]: v
            for k, v in counters.items()
            if k.startswith("ReconcileMatches.") and not k.startswith("ReconcileMatches.index_loads")
        },
    )
    matches = read_run_table(output, "matches", day, run_id, ["category", "hash_type", "match_kind"])
    report.new_matches = matches.num_rows
    report.new_matches_by_hash_type = _count(matches, "hash_type", "match_kind")
    report.new_matches_by_category = _count(matches, "category")
    retractions = read_run_table(output, "retractions", day, run_id, ["reason"])
    report.retractions = retractions.num_rows
    report.retractions_by_reason = _count(retractions, "reason")
    rejected = read_run_table(output, "rejected_rows", day, run_id, ["column", "error_kind"])
    report.rejected_rows = rejected.num_rows
    report.rejected_by_error = _count(rejected, "column", "error_kind")
    return report


def remove_run_tables(output: str, day: str, run_id: str, tables: tuple[str, ...]) -> list[str]:
    """Delete one run's partition of each table (a failed run's partial output); returns the tables that
    had one. Other runs' partitions are never touched: the folder is this run's own."""
    removed = []
    for table in tables:
        folder = partition_dir(output, table, day, run_id)
        if FileSystems.exists(folder):
            FileSystems.delete([folder])
            removed.append(table)
    return removed


def write_run_files(output: str, report: Any, log_lines: list[str] | None = None) -> None:
    """Write the manifest (and the run's log lines, if captured) next to the run's partitions.

    ``report`` is a dataclass with ``run_id`` and ``started`` (ISO text): a crawl's or a rescan's report."""
    folder = run_files_dir(output, report.started[:10], report.run_id)
    manifest = json.dumps(asdict(report), indent=2, sort_keys=True, default=str).encode()
    with FileSystems.create(FileSystems.join(folder, "manifest.json")) as handle:
        handle.write(manifest)
    if log_lines is not None:
        with FileSystems.create(FileSystems.join(folder, "run.log")) as handle:
            handle.write(("\n".join(log_lines) + "\n").encode())
