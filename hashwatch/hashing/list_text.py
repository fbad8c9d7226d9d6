"""Reading a known-hash list file as text: its lines and CSV records, with every failure a one-line UserError.

A list may be gzipped, may not be UTF-8, may hold a field over the csv module's limit, or may be a damaged
gzip stream: each is reported with the file (and the line, where there is one), never as a traceback::

    for start, fields in csv_records("list.csv", ","):      # UserError "list.csv:402: not UTF-8 text"
        ...
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import sys
import zlib
from collections.abc import Iterator

from hashwatch.errors import UserError

__all__ = ["csv_records", "quiet_undecodable_rows", "text_lines"]


def _open_text(path: str) -> io.TextIOBase:
    if path.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - returned to the caller's with-block


def text_lines(path: str) -> Iterator[str]:
    """The file's text lines, line ends kept (as csv wants); bad UTF-8 or gzip is a UserError naming the line."""
    try:
        with _open_text(path) as fh:
            yield from fh
    except UnicodeDecodeError:
        where = f"{path}:{_first_bad_utf8_line(path)}"
        raise UserError(f"{where}: not UTF-8 text (and not a .parquet file)") from None
    except (OSError, EOFError, zlib.error) as exc:  # a damaged .gz: BadGzipFile, a truncated stream
        hint = " (not a complete gzip file?)" if path.lower().endswith(".gz") else ""
        raise UserError(f"cannot read {path}: {type(exc).__name__}{hint}") from None


def _first_bad_utf8_line(path: str) -> int:
    decoder = codecs.getincrementaldecoder("utf-8")()
    opener = gzip.open if path.lower().endswith(".gz") else open
    lineno = 0
    with opener(path, "rb") as fh:
        try:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007 - the last line is the answer at EOF
                decoder.decode(line)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return max(lineno, 1)
    return max(lineno, 1)


def csv_records(path: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on; one the csv module cannot split is a UserError."""
    reader = csv.reader(text_lines(path), delimiter=delimiter)
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:  # e.g. a field over csv's 128 KiB limit (the text never quotes the data)
        raise UserError(f"{path}:{start}: cannot split the line into fields ({exc})") from None


@contextlib.contextmanager
def quiet_undecodable_rows() -> Iterator[None]:
    """pyarrow hands a row with the wrong column count to the invalid-row handler as text; when the row is not
    UTF-8 it prints the UnicodeDecodeError as a traceback on stderr (sys.unraisablehook) and fails the read,
    which known_hash_list then reports in one line naming the row's line. Keep stderr to that one line."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if not issubclass(unraisable.exc_type, UnicodeDecodeError):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
