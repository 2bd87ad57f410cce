"""The preprocess step's settings (``PreprocessConfig``) and the default sources it knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tweet_sentiment.core.dataset import SPLITS
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.text import MAX_TEXT_CHARS

DEFAULT_HUB_DATASET = "cardiffnlp/tweet_eval"


DEFAULT_HUB_CONFIG = "sentiment"


SAMPLE_DATA_DIR = Path(__file__).parents[1] / "sample_data"


EMBEDDED_SAMPLE = "sample"


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
        default=MAX_TEXT_CHARS,
        metadata={"help": "Texts longer than this (before normalisation) are bad rows."},
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
