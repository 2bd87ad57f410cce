"""Row and file checks of preprocess: every problem is recorded with its file and row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tweet_sentiment.core.dataset import SplitData
from tweet_sentiment.core.errors import DataValidationError
from tweet_sentiment.core.labels import LABEL2ID, LABELS
from tweet_sentiment.core.readers import RawRow
from tweet_sentiment.core.text import UnencodableText, normalize_tweet
from tweet_sentiment.preprocess.config import PreprocessConfig

MAX_LISTED_PROBLEMS = 5  # bad rows named in the error; quarantine.jsonl holds them all


@dataclass(frozen=True)
class Problem:
    split: str
    location: str
    row: int
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: row {self.row}: {self.problem}"


def parse_label(value: Any) -> tuple[int | None, str | None]:
    """Return ``(label_id, None)`` or ``(None, problem)`` for a raw label value."""
    expected = f"expected one of {', '.join(LABELS)} or 0, 1, 2"
    if value is None:
        return None, f"label is missing (null); {expected}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None, f"label has the wrong type {type(value).__name__} ({value!r}); {expected}"
    if isinstance(value, int):
        if 0 <= value < len(LABELS):
            return value, None
        return None, f"unknown label {value!r}; {expected}"
    name = value.strip().lower()
    if name in LABEL2ID:
        return LABEL2ID[name], None
    if name.isdigit() and int(name) < len(LABELS):
        return int(name), None
    return None, f"unknown label {value!r}; {expected}"


def validate_split(
    split: str, rows: Iterable[RawRow], config: PreprocessConfig, problems: list[Problem]
) -> tuple[SplitData, int]:
    """Validate and normalise one split. Bad rows are appended to ``problems``. Returns (data, rows seen)."""
    data = SplitData()
    seen: dict[str, tuple[str, int, int]] = {}
    checked_columns: set[str] = set()
    total = 0
    for raw in rows:
        total += 1
        if raw.problem is not None:
            problems.append(Problem(split, raw.location, raw.row, raw.problem))
            continue
        record = raw.record or {}
        if raw.location not in checked_columns:
            _check_columns(raw.location, record, config)
            checked_columns.add(raw.location)
        text, label, problem = _check_record(record, config)
        if problem is None:
            assert text is not None and label is not None
            first = seen.get(text)
            if first is not None:
                where = f"{first[0]} row {first[1]}"
                problem = (
                    f"duplicate of {where}"
                    if first[2] == label
                    else f"duplicate of {where} with a different label"
                )
        if problem is not None:
            problems.append(Problem(split, raw.location, raw.row, problem))
            continue
        assert text is not None and label is not None
        seen[text] = (raw.location, raw.row, label)
        data.texts.append(text)
        data.labels.append(label)
        data.origins.append((raw.location, raw.row))
    return data, total


def _check_columns(location: str, record: dict[str, Any], config: PreprocessConfig) -> None:
    missing = [c for c in (config.text_column, config.label_column) if c not in record]
    if missing:
        found = ", ".join(map(str, record)) or "none"
        raise DataValidationError(
            f"{location}: missing column(s) {', '.join(repr(c) for c in missing)} (columns found: {found})"
        )


def _check_record(
    record: dict[str, Any], config: PreprocessConfig
) -> tuple[str | None, int | None, str | None]:
    if config.text_column not in record:
        return None, None, f"missing field {config.text_column!r}"
    if config.label_column not in record:
        return None, None, f"missing field {config.label_column!r}"
    raw_text = record[config.text_column]
    if not isinstance(raw_text, str):
        return (
            None,
            None,
            f"text has the wrong type {type(raw_text).__name__} ({raw_text!r}); expected a string",
        )
    if not raw_text.strip():
        return None, None, "empty text"
    if len(raw_text) > config.max_text_chars:
        return (
            None,
            None,
            (
                f"text is {len(raw_text)} characters long, over the limit of "
                f"{config.max_text_chars} (max_text_chars)"
            ),
        )
    label, problem = parse_label(record[config.label_column])
    if problem:
        return None, None, problem
    try:
        text = normalize_tweet(raw_text)
    except UnencodableText as exc:
        return None, None, str(exc)
    if not text:
        return None, None, "text is empty after normalisation (it held only URLs or spaces)"
    return text, label, None


def quarantine_leaks(splits: dict[str, SplitData], problems: list[Problem]) -> None:
    """Train rows whose text is also in an evaluation split would inflate every metric."""
    if "train" not in splits:
        return
    held_out = {
        text: name for name in ("validation", "test") if name in splits for text in splits[name].texts
    }
    if not held_out:
        return
    train = splits["train"]
    kept = SplitData()
    for text, label, (location, row) in zip(train.texts, train.labels, train.origins, strict=True):
        if text in held_out:
            problems.append(
                Problem("train", location, row, f"text also occurs in the {held_out[text]} split (leakage)")
            )
        else:
            kept.texts.append(text)
            kept.labels.append(label)
            kept.origins.append((location, row))
    splits["train"] = kept


def problem_kind(problem: str) -> str:
    return problem.split(" (")[0].split(";")[0].split(":")[0]
