"""Drift between a version's reference profile and today's snapshot, one figure per measure.

Four measures run through Evidently (0.7, ``ValueDrift``), which also renders them as the run's
HTML drift report: the train label distribution and the champion's predicted classes
(``jensenshannon``), the text length in tokens (``wasserstein``, normed by the reference's standard
deviation) and the texts themselves (``abs_text_content_drift``: Evidently's text drift, a TF-IDF +
SGD domain classifier trained on half of reference-vs-current texts, its ROC AUC on the other half).
The reference columns are rebuilt from the profile's counts: a label or length column with the
recorded count of each value gives exactly the distances the rows would (the length histogram has
one bin per token count), so the profile stays kilobytes.

Two vocabulary measures are computed here, not by Evidently: the rise of the tokenizer's
unknown-token share, and the rise of the share of words outside the profile's vocabulary sketch.
Evidently's nearest ones (``OOVWordsPercentage`` descriptors) check words against NLTK's English
word list, which needs a corpus download and says nothing about the model's own tokenizer.

Evidently's usage telemetry is sent only by its UI/collector services, never by a Report; the
step still sets ``DO_NOT_TRACK`` (the variable 0.7.23 reads, ``evidently.telemetry.DO_NOT_TRACK_ENV``)
before importing it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.registry.profile import TextFeatures, hash_sample, label_counts, text_features
from tweet_sentiment.retrain.config import RetrainConfig

# Evidently column -> (measure name, Evidently method, RetrainConfig threshold field)
EVIDENTLY_MEASURES = {
    "label": ("label_drift", "jensenshannon", "max_label_drift"),
    "length": ("length_drift", "wasserstein", "max_length_drift"),
    "text": ("text_drift_auc", "abs_text_content_drift", "max_text_drift_auc"),
    "prediction": ("prediction_drift", "jensenshannon", "max_prediction_drift"),
}


@dataclass(frozen=True)
class Measure:
    """One figure, its threshold and how it was computed; ``crossed`` when it reaches the threshold."""

    name: str
    value: float
    threshold: float
    method: str

    @property
    def crossed(self) -> bool:
        return self.value >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "crossed": self.crossed}

    def describe(self) -> str:
        relation = ">=" if self.crossed else "<"
        return f"{self.name} {self.value:.4f} {relation} {self.threshold:.4f} ({self.method})"


@dataclass
class Today:
    """What the check measures on today's snapshot."""

    train_texts: Sequence[str]
    train_labels: Sequence[int]
    predicted_counts: dict[str, int] | None  # the champion's predictions on today's eval split


def _rows_from_counts(counts: dict[Any, int] | Sequence[int]) -> list[Any]:
    items = counts.items() if isinstance(counts, dict) else enumerate(counts)
    return [value for value, count in items for _ in range(int(count))]


def _frames(profile: dict[str, Any], today: Today, features: TextFeatures, sample_size: int):
    import pandas as pd

    reference = {
        "label": _rows_from_counts(profile["train"]["label_counts"]),
        "length": [float(x) for x in _rows_from_counts(profile["train"]["length_counts"])],
        "text": list(profile["text_sample"]),
    }
    current = {
        "label": _rows_from_counts(label_counts(today.train_labels)),
        "length": [float(x) for x in _rows_from_counts(features.length_counts)],
        "text": hash_sample(today.train_texts, sample_size),
    }
    reference_predictions = profile["evaluation"].get("predicted_counts")
    if today.predicted_counts is not None and reference_predictions:
        reference["prediction"] = _rows_from_counts(reference_predictions)
        current["prediction"] = _rows_from_counts(today.predicted_counts)
    # Columns differ in length; pandas pads the shorter with NaN, which Evidently drops per column.
    return (
        pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in reference.items()}),
        pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in current.items()}),
    )


def evidently_measures(
    profile: dict[str, Any],
    today: Today,
    features: TextFeatures,
    config: RetrainConfig,
    html_path: str | os.PathLike[str] | None = None,
) -> list[Measure]:
    """Label, length, text and prediction drift through one Evidently report (saved as HTML)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    reference, current = _frames(profile, today, features, len(profile["text_sample"]))
    columns = [c for c in EVIDENTLY_MEASURES if c in reference.columns]
    reference["length"] = reference["length"].astype(float)
    current["length"] = current["length"].astype(float)
    definition = DataDefinition(
        text_columns=["text"],
        numerical_columns=["length"],
        categorical_columns=[c for c in ("label", "prediction") if c in columns],
    )
    metrics = [
        ValueDrift(
            column=c, method=EVIDENTLY_MEASURES[c][1], threshold=getattr(config, EVIDENTLY_MEASURES[c][2])
        )
        for c in columns
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    values = {item["config"]["column"]: float(item["value"]) for item in snapshot.dict()["metrics"]}
    return [
        Measure(name, values[column], getattr(config, threshold), f"evidently {method}")
        for column, (name, method, threshold) in EVIDENTLY_MEASURES.items()
        if column in values
    ]


def vocabulary_measures(
    profile: dict[str, Any], features: TextFeatures, config: RetrainConfig
) -> list[Measure]:
    """Rise of the unknown-token share and of the share of words outside the profile's sketch."""
    train = profile["train"]
    sketch = train["vocabulary"]
    known = set(sketch["words"])
    total = sum(features.words.values())
    outside = sum(count for word, count in features.words.items() if word not in known)
    outside_rate = outside / total if total else 0.0
    return [
        Measure(
            "unknown_rate_increase",
            features.unknown_rate - float(train["unknown_rate"]),
            config.max_unknown_rate_increase,
            f"share of {profile['tokenizer']['unknown_token'] or 'unknown'} tokens: "
            f"{features.unknown_rate:.4f} today vs {float(train['unknown_rate']):.4f} in the profile",
        ),
        Measure(
            "new_word_rate_increase",
            outside_rate - float(sketch["outside_rate"]),
            config.max_new_word_rate_increase,
            f"share of words outside the profile's {len(known)} most frequent: {outside_rate:.4f} today "
            f"vs {float(sketch['outside_rate']):.4f} in the profile",
        ),
    ]


def measure_drift(
    profile: dict[str, Any],
    today: Today,
    tokenizer,
    config: RetrainConfig,
    html_path: str | os.PathLike[str] | None = None,
) -> list[Measure]:
    """Every drift measure between ``profile`` and ``today`` (see the module docstring)."""
    features = text_features(today.train_texts, tokenizer)
    return evidently_measures(profile, today, features, config, html_path) + vocabulary_measures(
        profile, features, config
    )
