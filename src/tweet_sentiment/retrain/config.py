"""The retrain check's settings: the policy, and one threshold per measure (each with its reason)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.model.metrics import HEADLINE_METRICS

POLICIES = ("always", "on_change", "when_needed")


@dataclass(frozen=True)
class RetrainConfig:
    """When a run trains: the policy, the champion's age limit and the drift/decay thresholds.

    The thresholds are checked only under ``when_needed``; a measure at or over its threshold is a
    reason to train. Defaults come from the measurements in BENCHMARKS.md (issue 19): the same
    TweetEval snapshot checked against its own profile stays far below each of them, the 2016
    tweets checked against the 2013-2015 profile cross several.
    """

    retrain_policy: str = field(
        default="always",
        metadata={
            "help": "When the run trains: always (every run, as before); on_change (skip when the "
            "snapshot's fingerprint equals the champion's); when_needed (train when there is no "
            "champion, a drift or decay measure reaches its threshold, or the champion is older "
            "than max_champion_age_days). Checked on a CPU before any GPU starts."
        },
    )
    max_champion_age_days: float = field(
        default=30.0,
        metadata={
            "help": "when_needed: retrain when the champion version was registered at least this many "
            "days ago, whatever the measures say (0: no age limit)."
        },
    )
    decay_metric: str = field(
        default="macro_recall",
        metadata={
            "help": f"when_needed: the champion's figure compared between registration and today's "
            f"evaluation split: one of {', '.join(HEADLINE_METRICS)}."
        },
    )
    max_decay: float = field(
        default=0.02,
        metadata={
            "help": "when_needed: retrain when the champion's decay_metric on today's evaluation split "
            "is this much (a fraction: 0.02 = 2 points) or more below its registration figure."
        },
    )
    max_label_drift: float = field(
        default=0.1,
        metadata={
            "help": "when_needed: Jensen-Shannon distance (natural log, Evidently's `jensenshannon`) "
            "between the profile's and today's train label distributions at which to retrain; 0.1 is "
            "Evidently's default."
        },
    )
    max_length_drift: float = field(
        default=0.1,
        metadata={
            "help": "when_needed: Wasserstein distance between the train splits' text lengths (in the "
            "model's tokens), divided by the reference's standard deviation (Evidently's "
            "`wasserstein`), at which to retrain; 0.1 is Evidently's default."
        },
    )
    max_text_drift_auc: float = field(
        default=0.6,
        metadata={
            "help": "when_needed: ROC AUC of the domain classifier (Evidently's text drift: TF-IDF + "
            "linear model telling the profile's text sample from today's) at which to retrain; 0.5 is "
            "no difference, 1.0 fully separable."
        },
    )
    max_prediction_drift: float = field(
        default=0.1,
        metadata={
            "help": "when_needed: Jensen-Shannon distance between the champion's predicted classes on "
            "its registration evaluation split and on today's, at which to retrain."
        },
    )
    max_unknown_rate_increase: float = field(
        default=0.01,
        metadata={
            "help": "when_needed: rise of the share of the tokenizer's unknown token ([UNK]) among "
            "today's train tokens over the profile's, at which to retrain (0.01 = 1 point)."
        },
    )
    max_new_word_rate_increase: float = field(
        default=0.05,
        metadata={
            "help": "when_needed: rise of the share of train words outside the profile's vocabulary "
            "sketch (its most frequent words) over the profile's own share, at which to retrain "
            "(0.05 = 5 points)."
        },
    )

    def __post_init__(self) -> None:
        problems = []
        if self.retrain_policy not in POLICIES:
            problems.append(
                f"retrain_policy must be one of {', '.join(POLICIES)}, got {self.retrain_policy!r}"
            )
        if self.decay_metric not in HEADLINE_METRICS:
            problems.append(
                f"decay_metric must be one of {', '.join(HEADLINE_METRICS)}, got {self.decay_metric!r}"
            )
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                problems.append(f"{item.name} must be >= 0, got {value}")
        if problems:
            raise ConfigError("invalid retrain configuration: " + "; ".join(problems))
