"""A registered version's reference profile: what a later retrain check compares today's data with.

Kilobytes, kept in the version's folder (``profile.json``), so a check never needs the old data:

* ``snapshot``: the resolved data source and its fingerprint (preprocess's ``stats.json``);
* ``train``: rows, label counts, a histogram of text lengths in the model's tokens (one bin per
  length, exact, so the length drift computed from it equals the one on the rows), the share of the
  tokenizer's unknown token, and a vocabulary sketch (the ``vocabulary_size`` most frequent words
  with their counts, and the share of word occurrences outside them);
* ``text_sample``: ``text_sample`` train texts, the ones with the smallest SHA-256 of their text.
  Evidently's text drift is a domain classifier trained on reference *texts*, which counts cannot
  replace; a fixed-size sample keeps the profile small (500 tweets: about 50 kB) while the
  classifier still sees a few hundred texts per side. Taking them by hash makes the choice the same
  in every snapshot: an unchanged snapshot yields the very same sample;
* ``evaluation``: the eval split, its label counts and the champion's predicted-class counts there
  (from evaluate's confusion matrix: no re-scoring at registration) with its headline figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.labels import LABELS

PROFILE_FILE = "profile.json"
PROFILE_FORMAT = 1
LENGTH_CAP = 512  # longer texts count in the last bin; tweets stay far below
_WORD = re.compile(r"\w+")
_TOKENIZE_BATCH = 2000


@dataclass(frozen=True)
class ProfileConfig:
    """What a version's reference profile keeps (see the module docstring)."""

    profile_text_sample: int = field(
        default=500,
        metadata={
            "help": "Train texts kept in a registered version's reference profile for the domain "
            "classifier of the retrain check (those with the smallest SHA-256: the same in every "
            "snapshot); today's sample is taken the same way. About 100 bytes each."
        },
    )
    profile_vocabulary_size: int = field(
        default=2000,
        metadata={"help": "Most frequent train words kept in the profile's vocabulary sketch."},
    )

    def __post_init__(self) -> None:
        if self.profile_text_sample < 10:
            raise ConfigError(f"profile_text_sample must be >= 10, got {self.profile_text_sample}")
        if self.profile_vocabulary_size < 1:
            raise ConfigError(f"profile_vocabulary_size must be >= 1, got {self.profile_vocabulary_size}")


@dataclass
class TextFeatures:
    """What the profile and the check measure on a split's texts, under one tokenizer."""

    rows: int
    length_counts: list[int]  # index: length in tokens (no special tokens), capped at LENGTH_CAP
    tokens: int
    unknown_tokens: int
    words: Counter

    @property
    def unknown_rate(self) -> float:
        return self.unknown_tokens / self.tokens if self.tokens else 0.0


def words_of(text: str) -> list[str]:
    """The words of the vocabulary sketch: runs of letters/digits/underscore, case-folded.

    A regex rather than the tokenizer's pre-tokenizer: sub-word tokenizers have no common API for
    words, and the unknown-token rate already measures the tokenizer itself.
    """
    return _WORD.findall(text.casefold())


def text_features(texts: Sequence[str], tokenizer) -> TextFeatures:
    """Token lengths, unknown tokens and word counts of ``texts`` (a fast HF tokenizer)."""
    lengths = np.zeros(LENGTH_CAP + 1, dtype=np.int64)
    tokens = unknown = 0
    unknown_id = tokenizer.unk_token_id
    words: Counter = Counter()
    for start in range(0, len(texts), _TOKENIZE_BATCH):
        batch = list(texts[start : start + _TOKENIZE_BATCH])
        for ids in tokenizer(batch, add_special_tokens=False, truncation=False)["input_ids"]:
            lengths[min(len(ids), LENGTH_CAP)] += 1
            tokens += len(ids)
            if unknown_id is not None:
                unknown += ids.count(unknown_id)
        for text in batch:
            words.update(words_of(text))
    counts = lengths.tolist()
    while len(counts) > 1 and counts[-1] == 0:
        counts.pop()
    return TextFeatures(len(texts), counts, tokens, unknown, words)


def hash_sample(texts: Sequence[str], size: int) -> list[str]:
    """The ``size`` distinct texts with the smallest SHA-256: the same choice in every snapshot."""
    keyed = {hashlib.sha256(text.encode("utf-8")).hexdigest(): text for text in texts}
    return [keyed[key] for key in sorted(keyed)[:size]]


def label_counts(labels: Sequence[int]) -> dict[str, int]:
    counts = Counter(labels)
    return {name: counts.get(i, 0) for i, name in enumerate(LABELS)}


def predicted_counts(confusion_matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> dict[str, int]:
    """Predicted-class counts from a confusion matrix whose rows are true classes, columns predicted."""
    return {name: int(sum(row[j] for row in confusion_matrix)) for j, name in enumerate(labels)}


def vocabulary_sketch(words: Counter, size: int) -> dict[str, Any]:
    total = sum(words.values())
    top = dict(words.most_common(size))
    kept = sum(top.values())
    return {
        "size": size,
        "words": top,
        "total_words": total,
        "outside_rate": (total - kept) / total if total else 0.0,
    }


def build_profile(
    *,
    stats: dict[str, Any],
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    tokenizer,
    evaluation: dict[str, Any],
    config: ProfileConfig,
) -> dict[str, Any]:
    """The profile of a version trained on a Dataset with ``stats`` (its ``stats.json``).

    ``evaluation``: ``{"split", "label_counts", "predicted_counts", "metrics"}`` of the eval split.
    """
    features = text_features(train_texts, tokenizer)
    return {
        "format": PROFILE_FORMAT,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "snapshot": {"source": stats.get("source", ""), "fingerprint": stats.get("fingerprint", "")},
        "tokenizer": {"unknown_token": tokenizer.unk_token or ""},
        "train": {
            "rows": features.rows,
            "label_counts": label_counts(train_labels),
            "length_counts": features.length_counts,
            "tokens": features.tokens,
            "unknown_rate": features.unknown_rate,
            "vocabulary": vocabulary_sketch(features.words, config.profile_vocabulary_size),
        },
        "text_sample": hash_sample(train_texts, config.profile_text_sample),
        "evaluation": evaluation,
    }


def profile_json(profile: dict[str, Any]) -> str:
    """The profile as stored in a version's folder (compact JSON)."""
    return json.dumps(profile, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_profile(text: str, where: str) -> dict[str, Any]:
    """Parse a profile; a clear one-line error naming ``where`` when it is not one."""
    try:
        profile = json.loads(text)
        if profile.get("format") != PROFILE_FORMAT:
            raise ValueError(f"format {profile.get('format')!r}, expected {PROFILE_FORMAT}")
        for key in ("snapshot", "train", "text_sample", "evaluation"):
            profile[key]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{where}: not a reference profile ({type(exc).__name__}: {exc})") from None
    return profile


def profile_dataset(
    dataset_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    *,
    evaluation_report: dict[str, Any] | None,
    eval_split: str,
    config: ProfileConfig,
) -> dict[str, Any]:
    """The profile of the model in ``model_dir`` (its tokenizer) trained on the Dataset ``dataset_dir``.

    ``evaluation_report``: evaluate's figures on ``eval_split`` (``confusion_matrix``, ``labels`` and
    the headline figures); None when the version was registered without an evaluation.
    """
    from tweet_sentiment.core.dataset import load_split, read_stats
    from tweet_sentiment.model.loading import load_tokenizer
    from tweet_sentiment.model.metrics import HEADLINE_METRICS

    train = load_split(dataset_dir, "train")
    evaluation: dict[str, Any] = {"split": eval_split}
    if evaluation_report is not None:
        matrix, labels = evaluation_report["confusion_matrix"], evaluation_report["labels"]
        evaluation["label_counts"] = {name: int(sum(row)) for name, row in zip(labels, matrix, strict=True)}
        evaluation["predicted_counts"] = predicted_counts(matrix, labels)
        evaluation["metrics"] = {name: evaluation_report[name] for name in HEADLINE_METRICS}
    return build_profile(
        stats=read_stats(dataset_dir),
        train_texts=train.texts,
        train_labels=train.labels,
        tokenizer=load_tokenizer(str(model_dir)),
        evaluation=evaluation,
        config=config,
    )
