"""Reading seed URLs: text (one URL per line, ``#`` comments), CSV/TSV or Parquet with a URL column.

Paths and globs go through Beam's file systems, so ``gs://``, ``s3://`` and ``hdfs://`` work where the
matching Beam extra is installed. A bad configuration (nothing matches a pattern, a CSV or Parquet file
without the URL column or unreadable) fails at start-up with a message that says what to change, via
:func:`validate_seed_patterns`. Bad input inside a seed file is no reason to stop a crawl of millions of
seeds, and never a reason to lose the rest silently:

* a line or cell that is not UTF-8 becomes a failed ``fetch_log`` row with error kind ``invalid_seed`` whose
  message names the file and line (its URL column keeps the line, bad bytes replaced);
* a file that breaks part-way (corrupt gzip or Parquet page, a read error) keeps the seeds read before the
  break and adds a failed ``unreadable_seed_file`` row (``url`` = the file) saying where it broke.

Each file is read whole by one DoFn call (:func:`iter_seed_file`), streamed line by line in bounded memory,
so line numbers are known; files are spread over workers, and the crawl regroups the seeds by host anyway.

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

import bz2
import contextlib
import csv
import gzip
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import PCollection, TaggedOutput

from hashwatch.crawling.fetcher import one_line
from hashwatch.crawling.frontier import skipped_row
from hashwatch.errors import UserError
from schemas.fetch_log import FetchLogRecord
from schemas.outcomes import OUTCOME_FAILED

__all__ = [
    "INVALID_SEED",
    "UNREADABLE_SEED_FILE",
    "InvalidSeed",
    "ReadSeeds",
    "SeedStream",
    "iter_csv_urls",
    "iter_seed_file",
    "parse_seed_line",
    "seed_text_lines",
    "seed_dead_letter",
    "seed_format",
    "validate_seed_patterns",
]

_NAMESPACE = "ReadSeeds"
_DEAD = "dead_letters"
INVALID_SEED = "invalid_seed"  # a seed line or cell that is not UTF-8 text
UNREADABLE_SEED_FILE = "unreadable_seed_file"  # a seed file that cannot be read (from the start or part-way)
_MAX_SEED_CHARS = 2048  # of an unusable seed line kept in its fetch_log row
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class SeedStream(NamedTuple):
    """What every seed source gives the crawl: batch files (:class:`ReadSeeds`) and streaming sources alike."""

    seeds: PCollection  # [str] one element per seed line (URL or junk)
    fetch_log: PCollection  # [FetchLogRecord] dead letters: input that could not be read as seeds


class InvalidSeed(NamedTuple):
    """Seed input that could not be read: what it was (a line's bytes, or the file's path), where, and
    why. :func:`seed_dead_letter` turns it into its fetch_log row."""

    raw: bytes | str
    where: str  # "file:line", or the file
    error_kind: str  # INVALID_SEED | UNREADABLE_SEED_FILE
    problem: str


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
    stripped = line.strip().removeprefix("\ufeff")  # a byte-order mark, as spreadsheets write
    if not stripped or stripped.startswith("#"):
        return None
    return stripped


def seed_dead_letter(run_id: str, invalid: InvalidSeed) -> FetchLogRecord:
    """The failed fetch_log row (kind page, depth 0) of seed input that could not be read."""
    raw = invalid.raw
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return skipped_row(
        run_id,
        text.strip()[:_MAX_SEED_CHARS],
        0,
        None,
        invalid.error_kind,
        f"{invalid.where}: {invalid.problem}",
        outcome=OUTCOME_FAILED,
    )


def _csv_dialect(path: str) -> str:
    return "\t" if ".tsv" in path.lower() else ","


def _missing_column(path: str, url_column: str, found) -> UserError:
    return UserError(
        f"{path}: no {url_column!r} column (found {found}); "
        f"pass --seed-url-column to name the column that holds URLs"
    )


def iter_csv_urls(text_stream: Iterable[str], path: str, url_column: str) -> Iterator[str | InvalidSeed]:
    """URLs from a CSV/TSV stream with a header. Empty cells are yielded as ``""`` so that they end as an
    ``invalid_url`` outcome row rather than vanishing. Read the stream with ``errors="surrogateescape"``
    (:func:`seed_text_lines`): a cell with bytes that are not UTF-8 is yielded as an :class:`InvalidSeed`
    naming its line, never as a URL with replacement characters that might still be fetched."""
    reader = csv.DictReader(text_stream, delimiter=_csv_dialect(path))
    if reader.fieldnames is None:
        raise _missing_column(path, url_column, None)
    fieldnames = [name.removeprefix("\ufeff") for name in reader.fieldnames]
    if url_column not in fieldnames:
        raise _missing_column(path, url_column, fieldnames)
    reader.fieldnames = fieldnames
    for row in reader:
        cell = (row.get(url_column) or "").strip()
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:  # surrogate escapes: bytes that were not UTF-8
            raw = cell.encode("utf-8", errors="surrogateescape")
            yield InvalidSeed(raw, f"{path}:{reader.line_num}", INVALID_SEED, "URL cell is not UTF-8 text")
            continue
        yield cell


def _binary_lines(binary) -> Iterator[bytes]:
    """Lines of a binary stream, newline kept: plain files and Beam's decompressing reader alike (the latter
    is no ``io.RawIOBase``, so ``io.TextIOWrapper`` cannot wrap it)."""
    while line := binary.readline():
        yield line


def seed_text_lines(binary) -> Iterator[str]:
    """Text lines of a binary stream, keeping bytes that are not UTF-8 as surrogates for
    :func:`iter_csv_urls` to report."""
    for line in _binary_lines(binary):
        yield line.decode("utf-8", errors="surrogateescape")


def _iter_text_seeds(binary, path: str) -> Iterator[str | InvalidSeed]:
    for number, raw in enumerate(_binary_lines(binary), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"seed line is not UTF-8 text (byte {exc.start + 1} of the line)"
            yield InvalidSeed(raw, f"{path}:{number}", INVALID_SEED, problem)
            continue
        url = parse_seed_line(line)
        if url is not None:
            yield url


def _iter_parquet_seeds(binary, path: str, url_column: str) -> Iterator[str]:
    parquet = pq.ParquetFile(binary)
    if url_column not in parquet.schema_arrow.names:
        raise _missing_column(path, url_column, parquet.schema_arrow.names)
    for batch in parquet.iter_batches(columns=[url_column], batch_size=65536):
        for value in batch.column(0).to_pylist():
            yield (value or "").strip()  # a null cell stays, to end as an invalid_url row


@contextlib.contextmanager
def _open_decompressed(path: str) -> Iterator:
    """A seed file's bytes, decompressed by its name's ending. gzip and bzip2 go through Python's own
    readers, which raise ``EOFError`` on a cut-off file; Beam's decompressing reader returns the cut-off
    text as if it were whole (a truncated ``.gz`` of 5,000 seeds read as 2,9xx seeds, the last one cut in
    half, and no error)."""
    lowered = path.lower()
    decompress = {
        ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
        ".bz2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    }.get(lowered[lowered.rfind(".") :])
    if decompress is None:
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as binary:
            yield binary
        return
    with (
        FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw,
        decompress(raw) as binary,
    ):
        yield binary


class _Position:
    """Where a seed file's reader got to, for the message of a file that breaks part-way."""

    def __init__(self) -> None:
        self.seeds = 0


def iter_seed_file(path: str, url_column: str = "url") -> Iterator[str | InvalidSeed]:
    """Every seed of one file (text, CSV/TSV or Parquet, compressed or not, any Beam file system), in
    order: a URL string (or ``""`` for an empty cell), or an :class:`InvalidSeed` for a line that is not
    UTF-8. A file that cannot be read, from the start or part-way, ends with one ``unreadable_seed_file``
    :class:`InvalidSeed` saying how many seeds were read before the break; it never raises for bad input."""
    fmt = seed_format(path)
    position = _Position()
    try:
        if fmt == "parquet":
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as binary:
                seeds = _iter_parquet_seeds(binary, path, url_column)
                for seed in seeds:
                    position.seeds += 1
                    yield seed
            return
        with _open_decompressed(path) as binary:
            if fmt == "csv":
                seeds = iter_csv_urls(seed_text_lines(binary), path, url_column)
            else:
                seeds = _iter_text_seeds(binary, path)
            for seed in seeds:
                position.seeds += 1
                yield seed
    except UserError as exc:
        yield InvalidSeed(path, path, UNREADABLE_SEED_FILE, str(exc).removeprefix(f"{path}: "))
    except (OSError, EOFError, ValueError, csv.Error, pa.ArrowException) as exc:
        after = f" after {position.seeds} seed(s)" if position.seeds else ""
        problem = f"seed file could not be read{after} ({type(exc).__name__})"
        yield InvalidSeed(path, path, UNREADABLE_SEED_FILE, one_line(problem))


def validate_seed_patterns(patterns: Sequence[str], url_column: str = "url") -> list[str]:
    """Check every pattern matches at least one file and that each file opens, with the URL column for
    tabular files. Returns the matched paths. Raises :class:`UserError` with a message that says what to
    change. (A file that breaks further on is a dead-letter row at run time, not a start-up error.)
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
            _check_seed_file(metadata.path, url_column)
            matched.append(metadata.path)
    return matched


def _check_seed_file(path: str, url_column: str) -> None:
    if "://" not in path and os.path.isdir(path):
        raise UserError(f"--seeds {path} is a folder: give files or a glob such as {path}/*.txt")
    fmt = seed_format(path)
    try:
        if fmt == "parquet":
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                names = pq.ParquetFile(handle).schema_arrow.names
            if url_column not in names:
                raise _missing_column(path, url_column, names)
            return
        with _open_decompressed(path) as binary:
            first = binary.readline()
        if fmt == "csv":
            # The generator raises on a missing column before yielding anything.
            next(iter_csv_urls([first.decode("utf-8", errors="surrogateescape")], path, url_column), None)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, csv.Error, pa.ArrowException) as exc:
        kind = {"parquet": "a Parquet file", "csv": "a CSV/TSV file"}.get(fmt, "a text file")
        raise UserError(f"{path}: cannot be read as {kind} ({type(exc).__name__})") from None


class _ReadSeedFileFn(beam.DoFn):
    """A matched seed file -> its seed strings, and dead-letter fetch_log rows for what could not be read."""

    def __init__(self, run_id: str, url_column: str):
        self._run_id = run_id
        self._url_column = url_column

    def setup(self):
        self._files = Metrics.counter(_NAMESPACE, "seed_files")
        self._seeds = Metrics.counter(_NAMESPACE, "seeds")
        self._invalid = Metrics.counter(_NAMESPACE, "invalid_seed_lines")
        self._unreadable = Metrics.counter(_NAMESPACE, "unreadable_seed_files")

    def process(self, metadata) -> Iterator[str]:
        self._files.inc()
        for seed in iter_seed_file(metadata.path, self._url_column):
            if isinstance(seed, InvalidSeed):
                counter = self._invalid if seed.error_kind == INVALID_SEED else self._unreadable
                counter.inc()
                yield TaggedOutput(_DEAD, seed_dead_letter(self._run_id, seed))
                continue
            self._seeds.inc()
            yield seed


class ReadSeeds(beam.PTransform):
    """Seed URLs from files: ``PBegin -> SeedStream`` (the seed strings, and dead-letter fetch_log rows).

    Text files hold one URL per line (blank lines and ``#`` comments skipped; ``.gz``/``.bz2`` read
    transparently); ``.csv``/``.tsv`` and ``.parquet`` files hold a URL column (LAION-style lists). Empty
    cells become ``""`` so the crawler records them as ``invalid_url`` instead of dropping them. Lines that
    are not UTF-8 and files that break part-way become failed fetch_log rows (module docstring).

    Example::

        stream = pipeline | "ReadSeeds" >> ReadSeeds(["seeds/*.txt", "laion-part-0001.parquet"], run_id=rid)
        stream.seeds | ...; stream.fetch_log | ...
    """

    def __init__(self, patterns: Sequence[str], url_column: str = "url", run_id: str = ""):
        super().__init__()
        self._patterns = list(patterns)
        self._url_column = url_column
        self._run_id = run_id

    # No return hint: Beam warns about any output hint but a PCollection's, and this returns a NamedTuple.
    def expand(self, pbegin: beam.pvalue.PBegin):
        read = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "MatchFiles" >> fileio.MatchAll()
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadSeedFile"
            >> beam.ParDo(_ReadSeedFileFn(self._run_id, self._url_column)).with_outputs(_DEAD, main="seeds")
        )
        seeds, dead = read.seeds, read[_DEAD]
        seeds.element_type = str
        dead.element_type = FetchLogRecord
        return SeedStream(seeds=seeds, fetch_log=dead)
