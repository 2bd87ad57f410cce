"""The evaluate step's settings (``EvaluateConfig``) and the sinks it reports to."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.model.metrics import HEADLINE_METRICS
from tweet_sentiment.model.scoring import BATCH_SIZE

# In an EvaluateConfig field's metadata: the field is the gate's lowest accepted value of that
# report figure (apply_gate checks every such field; see README "Where to change what").
FLOOR_OF = "floor_of"


@dataclass
class EvaluateConfig:
    """Which split to score and the thresholds of the gate."""

    split: str = field(
        default="test", metadata={"help": "Dataset split to score (train, validation or test)."}
    )
    min_accuracy: float = field(
        default=0.60,
        metadata={
            "help": "Gate: lowest accepted accuracy, in [0, 1]. 0.60 refuses a broken model (always-neutral "
            "scores 0.43 on TweetEval validation) and passes every measured run (0.72-0.79); regressions "
            "are the champion comparison's job (max_regression).",
            FLOOR_OF: "accuracy",
        },
    )
    min_macro_recall: float = field(
        default=0.0,
        metadata={
            "help": "Gate: lowest accepted macro-averaged recall, in [0, 1].",
            FLOOR_OF: "macro_recall",
        },
    )
    max_prediction_share: float = field(
        default=0.9,
        metadata={
            "help": "Gate (degenerate model): highest share of predictions that may fall on one class; "
            "1.0 disables the check."
        },
    )
    min_gain_over_majority: float = field(
        default=0.02,
        metadata={
            "help": "Gate (degenerate model): accuracy must beat always predicting the most frequent "
            "class by at least this much."
        },
    )
    max_regression: float = field(
        default=0.0,
        metadata={
            "help": "Gate (champion/challenger): how far below the champion the candidate's "
            "`champion_metric` may be; 0 means not worse."
        },
    )
    champion_metric: str = field(
        default="macro_recall",
        metadata={"help": f"Metric compared with the champion: one of {', '.join(HEADLINE_METRICS)}."},
    )
    misclassified_samples: int = field(
        default=25, metadata={"help": "Misclassified tweets shown in the report (most confident first)."}
    )
    batch_size: int = field(default=BATCH_SIZE, metadata={"help": "Examples per forward pass."})
    max_length: int = field(
        default=0, metadata={"help": "Tokens kept per tweet; 0: the model's own (saved with it by training)."}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})

    def scoring(self) -> dict[str, Any]:
        """The keyword arguments of ``model.scoring.score_model`` that this config sets."""
        return {"batch_size": self.batch_size, "max_length": self.max_length, "device": self.device}

    def __post_init__(self) -> None:
        problems = []
        floors = [f.name for f in fields(self) if FLOOR_OF in f.metadata]
        for name in (*floors, "max_prediction_share", "max_regression"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be between 0 and 1 (a fraction, not a percentage), got {value}")
        if not -1.0 <= self.min_gain_over_majority <= 1.0:
            problems.append(
                f"min_gain_over_majority must be between -1 and 1, got {self.min_gain_over_majority}"
            )
        if self.champion_metric not in HEADLINE_METRICS:
            problems.append(
                f"champion_metric must be one of {', '.join(HEADLINE_METRICS)}, got {self.champion_metric!r}"
            )
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.misclassified_samples < 0:
            problems.append(f"misclassified_samples must be >= 0, got {self.misclassified_samples}")
        if problems:
            raise ConfigError("invalid evaluation configuration: " + "; ".join(problems))
