"""predict's input and output: rows in (any format of ``readers.FORMATS``, or stdin), rows out (JSONL, CSV).

Every input row becomes one :class:`InputRow`: its text, or the problem with it; the writer
gives every input row one output row, in order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from tweet_sentiment.core.errors import DataSourceError
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.readers import FORMATS, format_of, iter_rows
from tweet_sentiment.core.text import MAX_TEXT_CHARS, check_text

STDIO = "-"
INPUT_FORMATS = ("auto", *dict.fromkeys(FORMATS.values()))
OUTPUT_FORMATS = ("auto", "jsonl", "csv")


@dataclass
class InputRow:
    """One input row: its 1-based number (a line number for JSONL/CSV), the text or the problem with it."""

    row: int
    text: str | None = None
    error: str | None = None
    row_id: Any = None


def input_format(path: str, requested: str) -> str:
    """The format to read ``path`` as; stdin without an explicit format is JSONL."""
    return "jsonl" if path == STDIO and requested == "auto" else format_of(path, requested, INPUT_FORMATS[1:])


def output_format(path: str, requested: str) -> str:
    return (
        "jsonl" if path == STDIO and requested == "auto" else format_of(path, requested, OUTPUT_FORMATS[1:])
    )


def read_rows(
    stream: BinaryIO,
    fmt: str,
    location: str,
    *,
    text_column: str = "text",
    id_column: str = "id",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Iterator[InputRow]:
    """Yield one :class:`InputRow` per input row (binary stream in); never raises on a bad row.

    The rows come from the same readers as preprocess's (``readers.py``), so a malformed line or
    bad UTF-8 is described the same way in both places.
    """

    def check_header(header: list[str]) -> None:
        if text_column not in header:
            raise DataSourceError(
                f"{location}: the header has no {text_column!r} column "
                f"(columns: {', '.join(header)}); pass --text-column"
            )

    rows = iter_rows(
        stream, fmt, location, text_column=text_column, check_header=check_header, blank_lines_are_rows=True
    )
    for raw in rows:
        if raw.problem is not None:
            yield InputRow(raw.row, error=raw.problem)
            continue
        record = raw.record or {}
        row_id = record.get(id_column)
        if text_column not in record:
            yield InputRow(raw.row, error=f"no {text_column!r} field", row_id=row_id)
            continue
        text, error = check_text(record[text_column], max_text_chars)
        yield InputRow(raw.row, text=text, error=error, row_id=row_id)


def chunks(rows: Iterable[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class RowWriter:
    """One output row per input row: JSONL records or CSV lines with a header."""

    def __init__(self, handle: TextIO, fmt: str):
        self.handle = handle
        self.csv = None
        if fmt == "csv":
            self.csv = csv.writer(handle)
            self.csv.writerow(["row", "id", "label", *(f"p_{name}" for name in LABELS), "error"])

    def write(self, row: InputRow, probabilities) -> None:
        label = LABELS[int(probabilities.argmax())] if probabilities is not None else None
        if self.csv is not None:
            figures = [f"{p:.6f}" for p in probabilities] if probabilities is not None else [""] * len(LABELS)
            self.csv.writerow(
                [row.row, "" if row.row_id is None else row.row_id, label or "", *figures, row.error or ""]
            )
            return
        record: dict[str, Any] = {"row": row.row}
        if row.row_id is not None:
            record["id"] = row.row_id
        record["label"] = label
        record["probabilities"] = (
            {name: round(float(p), 6) for name, p in zip(LABELS, probabilities, strict=True)}
            if probabilities is not None
            else None
        )
        record["error"] = row.error
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def count_lines(path: str) -> int | None:
    """Lines in ``path`` (for the progress bar); None for stdin."""
    if path == STDIO:
        return None
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
