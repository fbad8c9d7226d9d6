"""Per-window Parquet files for streaming runs: ``fileio.WriteToFiles`` with a small Parquet ``FileSink``.

Beam's streaming ``WriteToParquet`` (``triggering_frequency``) shares one file handle across the windows of a
bundle and lost or corrupted files in trials (DESIGN.md). Here every record goes through ``WriteToFiles``'
sharded path (``max_writers_per_bundle=0``, ``shards=1``): one GroupByKey per (table, window, pane), then one
Parquet file written whole by one DoFn call, in a temporary folder, and renamed into place. A window with no
records writes no file.

Layout, the batch layout plus the window in the file name (so DuckDB/Trino/Spark read both the same way)::

    <output>/<table>/dt=<window start day>/run_id=<run id>/
        window-20261125T161000Z-20261125T161100Z-pane0-00000-of-00001.parquet

``pane0`` is the on-time firing; a late firing of the same window (``--allowed-lateness``) adds ``pane1``...

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import contextlib
import datetime as dt
import posixpath

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.transforms.window import GlobalWindow

from schemas.arrow_util import records_to_table

__all__ = ["ParquetFileSink", "WindowFileNaming", "WriteWindowedParquet", "window_file_name"]

_NAMESPACE = "WriteWindowedParquet"


class ParquetFileSink(fileio.FileSink):
    """Buffers a file's records (typed NamedTuples in schema column order) and writes them as one Parquet
    file on ``flush``. ``WriteToFiles`` calls ``flush`` once, just before it closes the file."""

    def __init__(self, schema: pa.Schema, codec: str = "zstd"):
        self._schema = schema
        self._codec = codec
        self._records: list = []
        self._handle = None

    def open(self, fh) -> None:
        self._handle = fh
        self._records = []

    def write(self, record) -> None:
        self._records.append(record)

    def flush(self) -> None:
        if self._handle is None:
            return
        table = records_to_table(self._records, self._schema)
        pq.write_table(table, self._handle, compression=self._codec)
        Metrics.counter(_NAMESPACE, "rows_written").inc(len(self._records))
        Metrics.counter(_NAMESPACE, "files_written").inc()
        self._records = []
        self._handle = None  # a second flush writes nothing: a Parquet file has one footer


def _utc(timestamp) -> str:
    return f"{timestamp.to_utc_datetime().replace(tzinfo=dt.timezone.utc):%Y%m%dT%H%M%SZ}"


def window_file_name(run_id: str, window, pane, shard_index: int, total_shards: int) -> str:
    """``dt=<day>/run_id=<id>/window-<start>-<end>-pane<N>-<shard>-of-<total>.parquet``, relative to the
    table folder. The day is the window start's (UTC)."""
    if window == GlobalWindow() or not hasattr(window, "start"):
        day = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
        span = "global"
    else:
        day = window.start.to_utc_datetime().strftime("%Y-%m-%d")
        span = f"{_utc(window.start)}-{_utc(window.end)}"
    pane_index = getattr(pane, "index", 0) if pane is not None else 0
    name = f"window-{span}-pane{pane_index}-{shard_index:05d}-of-{total_shards:05d}.parquet"
    return posixpath.join(f"dt={day}", f"run_id={run_id}", name)


class WindowFileNaming:
    """The ``file_naming`` callable of ``WriteToFiles``: :func:`window_file_name`.

    ``WriteToFiles`` renames its temporary files to ``path/<name>`` and creates only ``path`` itself; on a
    local file system a rename into a missing ``dt=.../run_id=...`` folder fails and is only logged at debug
    level (the file would be lost). So the naming call, which runs on the worker just before the rename,
    creates the partition folder too. Object stores have no folders; there ``mkdirs`` is a no-op or fails
    harmlessly.
    """

    def __init__(self, table_dir: str, run_id: str):
        self._table_dir = table_dir
        self._run_id = run_id

    def __call__(self, window, pane, shard_index, total_shards, compression, destination) -> str:
        name = window_file_name(self._run_id, window, pane, shard_index or 0, total_shards or 1)
        folder = FileSystems.join(self._table_dir, posixpath.dirname(name))
        with contextlib.suppress(OSError):  # exists already (BeamIOError is an IOError)
            FileSystems.mkdirs(folder)
        return name


class WriteWindowedParquet(beam.PTransform):
    """``PCollection[NamedTuple]`` (windowed) -> ``PCollection[FileResult]``: one Parquet file per window
    and pane, under ``<output>/<table>/dt=<day>/run_id=<run_id>/``.

    Example::

        matches | "Write matches" >> WriteWindowedParquet(output, "matches", MATCHES_SCHEMA, run_id)
    """

    def __init__(self, output: str, table: str, schema: pa.Schema, run_id: str, codec: str = "zstd"):
        super().__init__()
        join = FileSystems.join if "://" in output else posixpath.join
        self._table_dir = join(output, table)
        self._temp_dir = join(output, "_temp", table)
        self._schema = schema
        self._run_id = run_id
        self._codec = codec

    # Any record type: the input hint is a bare PCollection (typing.NamedTuple is no type to check against).
    def expand(self, records: beam.PCollection) -> beam.PCollection:
        schema, codec = self._schema, self._codec
        return records | "WriteToFiles" >> fileio.WriteToFiles(
            path=self._table_dir,
            file_naming=WindowFileNaming(self._table_dir, self._run_id),
            temp_directory=StaticValueProvider(str, self._temp_dir),
            sink=lambda _destination: ParquetFileSink(schema, codec),
            shards=1,
            max_writers_per_bundle=0,
        )
