"""The Dataset artifact as every step reads it: ``<split>.jsonl`` files and ``stats.json``.

preprocess writes it (see ``tweet_sentiment.preprocess``); train, evaluate, register, select-model and the
benches read it through :func:`load_split` and :func:`read_stats`. Which split model choices are made on
is recorded in ``stats.json`` and read back by :func:`resolve_selection_split`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import DataValidationError

SPLITS: tuple[str, ...] = ("train", "validation", "test")


SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "dev": "validation",
    "valid": "validation",
    "test": "test",
}


@dataclass
class SplitData:
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    # Where each example came from (file, row), so later checks can still name it.
    origins: list[tuple[str, int]] = field(default_factory=list)


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


# The split the source may bring for choices (discover_files maps dev/val/valid file names to it).
SOURCE_SELECTION_SPLIT = "validation"
# TrainConfig.eval_split's value meaning "the split preprocess chose for model choices".
AUTO = "auto"


def resolve_selection_split(requested: str, dataset_dir: str | os.PathLike[str]) -> str:
    """The split training selects on: ``requested``, or with ``auto`` the one preprocess recorded in
    the dataset's ``stats.json``.

    A dataset written before the dev split existed has no record; ``auto`` then means ``validation``
    (the old default).
    """
    if requested != AUTO:
        return requested
    stats_path = Path(dataset_dir) / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    return stats.get("selection_split", SOURCE_SELECTION_SPLIT)
