"""Reading, validating and normalising tweet data into the pipeline's Dataset artifact.

A source is one of:

* a Hugging Face Hub id (``cardiffnlp/tweet_eval`` with config ``sentiment``),
* a local directory whose files are named by split (``train.jsonl``, ``validation.csv``,
  ``test-00000-of-00001.parquet``, ...) or a single such file,
* a ``gs://`` prefix laid out like a local directory.

Every row is checked. A problem with a whole file (missing column, empty file, missing
split, unreadable format) stops the run with an error naming the file. A problem with
one row (bad label, empty or over-long text, malformed line, bad UTF-8, duplicate) is
recorded with its file and row number in ``quarantine.jsonl``; the run stops only when
the bad rows exceed the configured budget. No row is ever dropped without a record.

The artifact written is a directory with one ``<split>.jsonl`` per split
(``{"text": str, "label": int}``), ``quarantine.jsonl`` and ``stats.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tweet_sentiment.dev_split import apply_dev_split
from tweet_sentiment.errors import ConfigError, DataSourceError, DataValidationError
from tweet_sentiment.labels import LABEL2ID, LABELS
from tweet_sentiment.readers import FORMATS, TABLE_FORMATS, RawRow, read_file
from tweet_sentiment.storage import locate
from tweet_sentiment.text import normalize_tweet

DEFAULT_HUB_DATASET = "cardiffnlp/tweet_eval"
DEFAULT_HUB_CONFIG = "sentiment"
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "dev": "validation",
    "valid": "validation",
    "test": "test",
}
SAMPLE_DATA_DIR = Path(__file__).parent / "sample_data"
EMBEDDED_SAMPLE = "sample"
MAX_LISTED_PROBLEMS = 20


@dataclass
class PreprocessConfig:
    """How to read and validate a tweet dataset."""

    source: str = field(
        default=DEFAULT_HUB_DATASET,
        metadata={
            "help": "Hub dataset id, local directory or file, gs:// prefix, or 'sample' for the "
            "small dataset shipped with this package."
        },
    )
    hub_config: str = field(default=DEFAULT_HUB_CONFIG, metadata={"help": "Hub dataset config name."})
    required_splits: tuple[str, ...] = field(
        default=("train",), metadata={"help": "Splits that must be present; a missing one is an error."}
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the tweet text."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label."})
    max_text_chars: int = field(
        default=1000, metadata={"help": "Texts longer than this (before normalisation) are bad rows."}
    )
    max_bad_fraction: float = field(
        default=0.01,
        metadata={"help": "Share of rows (over all splits) that may be quarantined before the run fails."},
    )
    dev_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of the train split carved out as the 'dev' split for model choices (best "
            "checkpoint, sweep trial) when the data has no split for them besides eval_split; rows go by "
            "a hash of their normalised text (stable across snapshots). 0: no dev split (choices are "
            "made on validation, as before). Data that brings a validation split other than eval_split "
            "uses it and carves nothing."
        },
    )
    held_out_split: str = field(
        default="",
        metadata={
            "help": "The split evaluate reports on (the pipeline passes eval_split); '' (unknown): no dev "
            "split is carved."
        },
    )

    def __post_init__(self) -> None:
        self.required_splits = tuple(self.required_splits)
        unknown = [s for s in self.required_splits if s not in SPLITS]
        if unknown:
            raise ConfigError(f"unknown split(s) {unknown}; splits are {', '.join(SPLITS)}")
        if not self.source:
            raise ConfigError("source must not be empty")
        if self.max_text_chars < 1:
            raise ConfigError(f"max_text_chars must be >= 1, got {self.max_text_chars}")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(f"max_bad_fraction must be between 0 and 1, got {self.max_bad_fraction}")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")


@dataclass(frozen=True)
class Problem:
    split: str
    location: str
    row: int
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: row {self.row}: {self.problem}"


@dataclass
class SplitData:
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    # Where each example came from (file, row), so later checks can still name it.
    origins: list[tuple[str, int]] = field(default_factory=list)


# --------------------------------------------------------------------------- labels


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


def split_of(path: Path) -> str | None:
    """The split a file belongs to, from its name: ``train.jsonl``, ``val.csv``, ``test-0000.parquet``."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for separator in ("-", "_", "."):
        stem = stem.split(separator)[0]
    return SPLIT_ALIASES.get(stem.lower())


def discover_files(root: Path, display_root: str) -> dict[str, list[tuple[Path, str]]]:
    """Map each split to its files (sorted), with the name to show in messages."""
    if root.is_file():
        candidates = [root]
        base = root.parent
    else:
        candidates = sorted(
            p for p in root.rglob("*") if p.is_file() and FORMATS.get(p.suffix.lower()) in TABLE_FORMATS
        )
        base = root
    files: dict[str, list[tuple[Path, str]]] = {}
    for path in candidates:
        split = split_of(path)
        display = (
            _join_display(display_root, path.relative_to(base).as_posix()) if root.is_dir() else display_root
        )
        if split is None:
            if root.is_file():
                raise DataValidationError(
                    f"{display}: cannot tell which split this file is; name it train, validation or test "
                    f"(e.g. train.jsonl)"
                )
            continue  # unrelated files in a directory (README, stats) are not data
        files.setdefault(split, []).append((path, display))
    return files


def _join_display(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def iter_hub_rows(source: str, config: PreprocessConfig) -> dict[str, Iterable[RawRow]]:
    """Rows of a Hugging Face Hub dataset, one iterable per split."""
    try:
        import datasets

        loaded = datasets.load_dataset(source, config.hub_config or None)
    except Exception as exc:  # network, auth and hub errors come in many types
        raise DataSourceError(
            f"cannot load dataset {source!r} (config {config.hub_config!r}) from the Hugging Face Hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            f"Offline? Pass a local directory, a file or a gs:// prefix instead."
        ) from None
    splits: dict[str, Iterable[RawRow]] = {}
    for name, dataset in loaded.items():
        split = SPLIT_ALIASES.get(name)
        if split is None:
            continue
        location = f"{source}[{name}]"
        splits[split] = (RawRow(location, i, record=row) for i, row in enumerate(dataset, start=1))
    return splits


# --------------------------------------------------------------------------- validation


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
    text = normalize_tweet(raw_text)
    if not text:
        return None, None, "text is empty after normalisation (it held only URLs or spaces)"
    return text, label, None


def _quarantine_leaks(splits: dict[str, SplitData], problems: list[Problem]) -> None:
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


# --------------------------------------------------------------------------- the step


def _resolve_source(config: PreprocessConfig, workdir: Path) -> dict[str, Iterable[RawRow]]:
    source = config.source
    if source == EMBEDDED_SAMPLE:
        source = str(SAMPLE_DATA_DIR)
    local = locate(source, lambda: workdir / "download")
    if local is None:
        return iter_hub_rows(source, config)
    return _rows_from_files(discover_files(local, source))


def _rows_from_files(files: dict[str, list[tuple[Path, str]]]) -> dict[str, Iterable[RawRow]]:
    rows: dict[str, Iterable[RawRow]] = {}
    for split, paths in files.items():
        for path, display in paths:
            if path.stat().st_size == 0:
                raise DataValidationError(f"{display}: the file is empty")
        rows[split] = _chain(read_file(path, display) for path, display in paths)
    return rows


def _chain(iterables: Iterable[Iterable[RawRow]]) -> Iterator[RawRow]:
    for iterable in iterables:
        yield from iterable


def preprocess(config: PreprocessConfig, output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, validate and normalise ``config.source`` into ``output_dir``. Returns the artifact metadata."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        split_rows = _resolve_source(config, Path(workdir))
        missing = [s for s in config.required_splits if s not in split_rows]
        if missing:
            found = ", ".join(sorted(split_rows)) or "none"
            raise DataValidationError(
                f"{config.source}: missing split(s) {', '.join(missing)} (splits found: {found}); "
                f"name files train/validation/test, e.g. validation.jsonl"
            )
        problems: list[Problem] = []
        splits: dict[str, SplitData] = {}
        rows_read: dict[str, int] = {}
        for split in SPLITS:
            if split in split_rows:
                splits[split], rows_read[split] = validate_split(split, split_rows[split], config, problems)
    for split, read in rows_read.items():
        if read == 0:
            raise DataValidationError(f"{config.source}: split {split!r} has no rows")
    _quarantine_leaks(splits, problems)
    selection = apply_dev_split(splits, config.held_out_split, config.dev_fraction)

    total_rows = sum(rows_read.values())
    budget = int(config.max_bad_fraction * total_rows)
    if len(problems) > budget:
        listed = "\n  ".join(str(p) for p in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        raise DataValidationError(
            f"{config.source}: {len(problems)} bad row(s) of {total_rows}, over the budget of {budget} "
            f"(max_bad_fraction={config.max_bad_fraction}):\n  {listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    digest = hashlib.sha256()
    for split, data in splits.items():
        path = output / f"{split}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for text, label in zip(data.texts, data.labels, strict=True):
                line = json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
                handle.write(line)
                digest.update(f"{split}\t{line}".encode())
    with open(output / "quarantine.jsonl", "w", encoding="utf-8") as handle:
        for problem in problems:
            handle.write(json.dumps(asdict(problem), ensure_ascii=False) + "\n")

    stats: dict[str, Any] = {
        "source": config.source,
        "fingerprint": digest.hexdigest(),
        "splits": sorted(splits),
        "bad_rows": len(problems),
        "bad_rows_by_problem": dict(Counter(_problem_kind(p.problem) for p in problems)),
        **selection,
    }
    for split, data in splits.items():
        counts = Counter(data.labels)
        stats[f"{split}_rows"] = len(data.labels)
        stats[f"{split}_label_counts"] = {name: counts.get(i, 0) for i, name in enumerate(LABELS)}
    (output / "stats.json").write_text(
        json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stats


def _problem_kind(problem: str) -> str:
    return problem.split(" (")[0].split(";")[0].split(":")[0]


# --------------------------------------------------------------------------- artifact reading


def load_split(dataset_dir: str | os.PathLike[str], split: str) -> SplitData:
    """Read one split of a Dataset artifact written by :func:`preprocess`."""
    path = Path(dataset_dir) / f"{split}.jsonl"
    if not path.exists():
        available = sorted(p.stem for p in Path(dataset_dir).glob("*.jsonl") if p.stem in SPLITS)
        raise DataValidationError(
            f"split {split!r} is not in the dataset at {dataset_dir} (splits present: "
            f"{', '.join(available) or 'none'}); choose another split or add a {split} file to the source"
        )
    data = SplitData()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            data.texts.append(record["text"])
            data.labels.append(int(record["label"]))
    return data


def read_stats(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(dataset_dir) / "stats.json").read_text(encoding="utf-8"))
