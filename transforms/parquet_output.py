"""Writing typed records to Hive-partitioned Parquet: ``<output>/<table>/dt=YYYY-MM-DD/run_id=<id>/``.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``expand``'s and the mapped
function's.
"""

import posixpath
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas.arrow_util import record_to_dict

__all__ = ["WriteParquetTable", "partition_dir"]


def partition_dir(output: str, table: str, dt: str, run_id: str) -> str:
    """The folder one run's files of one table go to. Works for local paths and Beam URLs (gs://...)."""
    join = FileSystems.join if "://" in output else posixpath.join
    return join(output, table, f"dt={dt}", f"run_id={run_id}")


def _to_dict(record: Any) -> dict:
    """A typed record -> the dict ``WriteToParquet`` writes (:func:`schemas.arrow_util.record_to_dict`)."""
    return record_to_dict(record)


class WriteParquetTable(beam.PTransform):
    """Write a PCollection of typed records (NamedTuples whose fields are the schema's columns) as Parquet.

    ``PCollection[NamedTuple] -> PCollection[str]`` (the files written). Files land in
    ``<output>/<table>/dt=<dt>/run_id=<run_id>/part-SSSSS-of-NNNNN.parquet``; Beam's file sink writes to a
    temporary folder and renames on success, so a crashed run leaves no partial part files behind. A run
    with no records still writes one empty file carrying the schema, so readers see the table.

    Example::

        matches | "WriteMatches" >> WriteParquetTable(output, "matches", MATCHES_SCHEMA, run_id, dt)
    """

    def __init__(
        self,
        output: str,
        table: str,
        schema: pa.Schema,
        run_id: str,
        dt: str,
        codec: str = "zstd",
        num_shards: int = 0,
    ):
        super().__init__()
        self._prefix = FileSystems.join(partition_dir(output, table, dt, run_id), "part")
        self._schema = schema
        self._codec = codec
        self._num_shards = num_shards

    # Any record type: the input hint is a bare PCollection (typing.NamedTuple is no type to check against).
    def expand(self, records: beam.PCollection) -> beam.PCollection[str]:
        return (
            records
            | "ToDict" >> beam.Map(_to_dict)
            | "WriteToParquet"
            >> beam.io.WriteToParquet(
                self._prefix,
                self._schema,
                codec=self._codec,
                file_name_suffix=".parquet",
                num_shards=self._num_shards,
            )
        )
