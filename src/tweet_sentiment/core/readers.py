"""Reading rows from files: one table of formats, shared by preprocess and predict.

``FORMATS`` maps a file suffix to a format and ``READERS`` a format to its reader; a reader
turns a binary stream into :class:`RawRow` s and never raises on a bad row: a malformed line,
bad UTF-8 or a wrong field count becomes a row with its ``problem``, numbered as in the file.
A problem with the whole file (unreadable header, not Parquet) raises ``DataValidationError``
naming the file. To read another format, add its reader and its suffixes here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tweet_sentiment.core.errors import ConfigError, DataValidationError

HeaderCheck = Callable[[list[str]], None]


@dataclass(frozen=True)
class RawRow:
    """One row as read from a file: a record, or the reason it could not be parsed."""

    location: str
    row: int
    record: dict[str, Any] | None = None
    problem: str | None = None


# --------------------------------------------------------------------------- readers


def decode_utf8_line(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})"


def iter_jsonl(stream: BinaryIO, location: str, *, blank_lines_are_rows: bool = False) -> Iterator[RawRow]:
    """JSON Lines from a binary stream; each bad line becomes a row with its problem, never an exception."""
    for number, raw in enumerate(stream, start=1):
        line, problem = decode_utf8_line(raw)
        if problem:
            yield RawRow(location, number, problem=problem)
            continue
        assert line is not None
        if not line.strip():
            if blank_lines_are_rows:
                yield RawRow(location, number, problem="empty line")
            continue  # in a data file, blank lines are not rows
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(location, number, problem=f"malformed JSON line ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield RawRow(location, number, problem=f"expected a JSON object, got {type(record).__name__}")
            continue
        yield RawRow(location, number, record=record)


def read_delimited_header(reader, location: str) -> list[str] | None:
    """The header row of a ``csv.reader`` (None for an empty file)."""
    try:
        header = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise DataValidationError(f"{location}: line 1: unreadable header ({exc})") from None
    return [name.strip().lstrip("\ufeff") for name in header]


def iter_delimited(
    stream: BinaryIO,
    location: str,
    delimiter: str,
    check_header: Callable[[list[str]], None] | None = None,
) -> Iterator[RawRow]:
    """CSV/TSV with a header row, streamed. Row numbers are line numbers (header = line 1).

    ``check_header`` sees the header before any row is read (and may raise)."""
    # surrogateescape keeps undecodable bytes visible per field, so one bad row does not
    # stop the whole file from being read.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    header = read_delimited_header(reader, location)
    if header is None:
        return
    if check_header is not None:
        check_header(header)
    previous_line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(location, reader.line_num, problem=f"malformed CSV row ({exc})")
            previous_line = reader.line_num
            continue
        number = previous_line + 1
        previous_line = reader.line_num
        if not fields:
            continue
        if any(_has_surrogates(value) for value in fields):
            yield RawRow(location, number, problem="invalid UTF-8 in this row")
            continue
        if len(fields) != len(header):
            yield RawRow(
                location,
                number,
                problem=f"malformed CSV row: expected {len(header)} fields "
                f"({', '.join(header)}), got {len(fields)}",
            )
            continue
        yield RawRow(location, number, record=dict(zip(header, fields, strict=True)))


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def iter_parquet(stream: BinaryIO, location: str) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(stream if stream.seekable() else io.BytesIO(stream.read()))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataValidationError(f"{location}: not a readable Parquet file ({exc})") from None
    for number, record in enumerate(table.to_pylist(), start=1):
        yield RawRow(location, number, record=record)


def iter_text(stream: BinaryIO, location: str, *, column: str = "text") -> Iterator[RawRow]:
    """One record ``{column: line}`` per line, line breaks stripped; blank lines are rows too."""
    for number, raw in enumerate(stream, start=1):
        line, problem = decode_utf8_line(raw)
        if problem is not None:
            yield RawRow(location, number, problem=problem)
        else:
            yield RawRow(location, number, record={column: line.rstrip("\r\n")})


# --------------------------------------------------------------------------- the table

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "text",
}
# Formats whose rows have named columns (a label can be among them): what training data may be.
TABLE_FORMATS = ("jsonl", "csv", "tsv", "parquet")


def format_of(path: str | Path, requested: str = "auto", allowed: tuple[str, ...] | None = None) -> str:
    """``requested``, or (``auto``) the format of ``path``'s suffix; a clear error when unknown."""
    kinds = allowed or tuple(dict.fromkeys(FORMATS.values()))
    if requested != "auto":
        if requested not in kinds:
            raise ConfigError(f"{path}: format {requested!r} is not one of {', '.join(kinds)}")
        return requested
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind not in kinds:
        suffixes = ", ".join(s for s, k in FORMATS.items() if k in kinds)
        raise ConfigError(
            f"{path}: cannot tell the format from the suffix {Path(path).suffix!r}; use one of {suffixes} "
            "or pass the format explicitly"
        )
    return kind


def iter_rows(
    stream: BinaryIO,
    fmt: str,
    location: str,
    *,
    text_column: str = "text",
    check_header: HeaderCheck | None = None,
    blank_lines_are_rows: bool = False,
) -> Iterator[RawRow]:
    """The rows of ``stream`` read as ``fmt`` (a value of ``FORMATS``)."""
    if fmt == "jsonl":
        return iter_jsonl(stream, location, blank_lines_are_rows=blank_lines_are_rows)
    if fmt in ("csv", "tsv"):
        return iter_delimited(stream, location, "," if fmt == "csv" else "\t", check_header)
    if fmt == "parquet":
        return iter_parquet(stream, location)
    if fmt == "text":
        return iter_text(stream, location, column=text_column)
    raise ConfigError(f"{location}: unknown format {fmt!r}")


def read_file(path: Path, location: str, allowed: tuple[str, ...] = TABLE_FORMATS) -> Iterator[RawRow]:
    """The rows of the file at ``path`` (format from its suffix), named ``location`` in messages."""
    try:
        fmt = format_of(path, allowed=allowed)
    except ConfigError:
        suffixes = ", ".join(sorted(s for s, k in FORMATS.items() if k in allowed))
        raise DataValidationError(
            f"{location}: unsupported file type {path.suffix!r}; use one of {suffixes}"
        ) from None
    with open(path, "rb") as handle:
        yield from iter_rows(handle, fmt, location)
