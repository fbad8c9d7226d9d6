"""Reading seed URLs: text (one URL per line, ``#`` comments), CSV/TSV or Parquet with a URL column.

Paths and globs go through Beam's file systems, so ``gs://``, ``s3://`` and ``hdfs://`` work where the
matching Beam extra is installed. A bad configuration (nothing matches a pattern, a CSV or Parquet file
without the URL column) fails at start-up with a message that says what to change, via
:func:`validate_seed_patterns`.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from hashwatch.errors import UserError

__all__ = ["ReadSeeds", "parse_seed_line", "seed_format", "validate_seed_patterns"]

_NAMESPACE = "ReadSeeds"
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def seed_format(pattern: str) -> str:
    """``text``, ``csv`` or ``parquet``, judged by the file name's ending."""
    lowered = pattern.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if lowered.endswith(_CSV_SUFFIXES):
        return "csv"
    return "text"


def parse_seed_line(line: str) -> str | None:
    """The URL on one line of a text seed file, or None for blank lines and ``#`` comments."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    return stripped


def _csv_dialect(path: str) -> str:
    return "\t" if ".tsv" in path.lower() else ","


def iter_csv_urls(text_stream: Iterable[str], path: str, url_column: str) -> Iterator[str]:
    """URLs from a CSV/TSV stream with a header. Empty cells are yielded as ``""`` so that they end as an
    ``invalid_url`` outcome row rather than vanishing."""
    reader = csv.DictReader(text_stream, delimiter=_csv_dialect(path))
    if reader.fieldnames is None or url_column not in reader.fieldnames:
        raise UserError(
            f"{path}: no {url_column!r} column in the header (found {reader.fieldnames}); "
            f"pass --seed-url-column to name the column that holds URLs"
        )
    for row in reader:
        yield (row.get(url_column) or "").strip()


def _open_text(path: str) -> io.TextIOBase:
    return io.TextIOWrapper(FileSystems.open(path), encoding="utf-8", errors="replace", newline="")


def validate_seed_patterns(patterns: Sequence[str], url_column: str = "url") -> list[str]:
    """Check every pattern matches at least one file and that tabular files have the URL column.

    Returns the matched paths. Raises :class:`UserError` with a message that says what to change.
    """
    if not patterns:
        raise UserError("no seeds given: pass --seeds FILE (text, CSV or Parquet; globs allowed)")
    matched: list[str] = []
    for pattern in patterns:
        try:
            results = FileSystems.match([pattern])[0].metadata_list
        except Exception as exc:  # Beam raises BeamIOError with per-pattern details
            raise UserError(f"cannot list seed files {pattern!r}: {exc}") from exc
        if not results:
            raise UserError(f"no seed file matches {pattern!r}")
        for metadata in results:
            path = metadata.path
            fmt = seed_format(path)
            if fmt == "csv":
                with _open_text(path) as stream:
                    header_only = [stream.readline()]
                # The generator raises on a missing column before yielding anything.
                next(iter_csv_urls(header_only, path, url_column), None)
            elif fmt == "parquet":
                with FileSystems.open(path) as handle:
                    names = pq.ParquetFile(handle).schema_arrow.names
                if url_column not in names:
                    raise UserError(
                        f"{path}: no {url_column!r} column (columns: {names}); "
                        f"pass --seed-url-column to name the column that holds URLs"
                    )
            matched.append(path)
    return matched


class _ParseTextSeedsFn(beam.DoFn):
    def __init__(self):
        self._seeds = Metrics.counter(_NAMESPACE, "seeds")
        self._skipped = Metrics.counter(_NAMESPACE, "comment_or_blank_lines")

    def process(self, line: str) -> Iterator[str]:
        url = parse_seed_line(line)
        if url is None:
            self._skipped.inc()
            return
        self._seeds.inc()
        yield url


class _ReadCsvSeedsFn(beam.DoFn):
    def __init__(self, url_column: str):
        self._url_column = url_column
        self._seeds = Metrics.counter(_NAMESPACE, "seeds")

    def process(self, readable: fileio.ReadableFile) -> Iterator[str]:
        path = readable.metadata.path
        with io.TextIOWrapper(readable.open(), encoding="utf-8", errors="replace", newline="") as stream:
            for url in iter_csv_urls(stream, path, self._url_column):
                self._seeds.inc()
                yield url


class ReadSeeds(beam.PTransform):
    """Seed URLs from files: ``PBegin -> PCollection[str]``.

    Text files hold one URL per line (blank lines and ``#`` comments skipped; ``.gz``/``.bz2`` read
    transparently); ``.csv``/``.tsv`` and ``.parquet`` files hold a URL column (LAION-style lists). Empty
    cells become ``""`` so the crawler records them as ``invalid_url`` instead of dropping them.

    Example::

        seeds = pipeline | "ReadSeeds" >> ReadSeeds(["seeds/*.txt", "laion-part-0001.parquet"])
    """

    def __init__(self, patterns: Sequence[str], url_column: str = "url"):
        super().__init__()
        self._patterns = list(patterns)
        self._url_column = url_column

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[str]:
        parts = []
        for i, pattern in enumerate(self._patterns):
            fmt = seed_format(pattern)
            label = f"{fmt}[{i}]"
            if fmt == "text":
                part = (
                    pbegin
                    | f"ReadText {label}" >> beam.io.ReadFromText(pattern)
                    | f"ParseLines {label}" >> beam.ParDo(_ParseTextSeedsFn())
                )
            elif fmt == "csv":
                part = (
                    pbegin
                    | f"Match {label}" >> fileio.MatchFiles(pattern)
                    | f"Open {label}" >> fileio.ReadMatches()
                    | f"ReadCsv {label}" >> beam.ParDo(_ReadCsvSeedsFn(self._url_column))
                )
            else:
                column = self._url_column
                part = (
                    pbegin
                    | f"ReadParquet {label}" >> beam.io.ReadFromParquet(pattern, columns=[column])
                    | f"UrlColumn {label}" >> beam.Map(lambda row, c=column: (row.get(c) or "").strip())
                )
            parts.append(part)
        if len(parts) == 1:
            return parts[0]
        return tuple(parts) | "FlattenSeeds" >> beam.Flatten()
