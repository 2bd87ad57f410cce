"""Scoring a trained model on a held-out split and deciding whether it may be registered."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tweet_sentiment.data import load_split
from tweet_sentiment.errors import ConfigError
from tweet_sentiment.inference import choose_device, predict_probabilities
from tweet_sentiment.metrics import classification_report
from tweet_sentiment.modeling import load_classifier, load_tokenizer

HEADLINE_METRICS = ("accuracy", "macro_recall", "macro_f1", "macro_precision")


class MetricsSink(Protocol):
    """What a KFP ``Metrics`` artifact offers; any object with this method works."""

    def log_metric(self, metric: str, value: float) -> None: ...


class ConfusionMatrixSink(Protocol):
    """What a KFP ``ClassificationMetrics`` artifact offers."""

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None: ...


@dataclass
class EvaluateConfig:
    """Which split to score and the thresholds of the gate."""

    split: str = field(
        default="test", metadata={"help": "Dataset split to score (train, validation or test)."}
    )
    min_accuracy: float = field(default=0.0, metadata={"help": "Gate: lowest accepted accuracy, in [0, 1]."})
    min_macro_recall: float = field(
        default=0.0, metadata={"help": "Gate: lowest accepted macro-averaged recall, in [0, 1]."}
    )
    batch_size: int = field(default=64, metadata={"help": "Examples per forward pass."})
    max_length: int = field(default=128, metadata={"help": "Tokens kept per tweet."})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})

    def __post_init__(self) -> None:
        for name in ("min_accuracy", "min_macro_recall"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{name} must be between 0 and 1 (a fraction, not a percentage), got {value}"
                )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]

    def message(self) -> str:
        if self.passed:
            return "gate passed"
        return "gate failed:\n" + "\n".join(f"  - {reason}" for reason in self.reasons)


def apply_gate(report: dict[str, Any], config: EvaluateConfig) -> GateDecision:
    """Check every threshold and collect every failure, so one run tells the whole story."""
    reasons = []
    for metric, floor in (("accuracy", config.min_accuracy), ("macro_recall", config.min_macro_recall)):
        if report[metric] < floor:
            reasons.append(f"{metric} {report[metric]:.4f} is below the minimum {floor:.4f}")
    return GateDecision(passed=not reasons, reasons=reasons)


def evaluate(
    config: EvaluateConfig,
    model_dir: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    *,
    metrics_sink: MetricsSink | None = None,
    confusion_sink: ConfusionMatrixSink | None = None,
) -> dict[str, Any]:
    """Score ``model_dir`` on ``config.split`` of the dataset and apply the gate.

    Returns the classification report plus ``gate_passed`` and ``gate_reasons``; writes
    ``evaluation.json`` next to the model. Headline figures go to ``metrics_sink`` and the
    confusion matrix to ``confusion_sink`` (the KFP artifacts, in the component).
    """
    split = load_split(dataset_dir, config.split)
    device = choose_device(config.device)
    tokenizer = load_tokenizer(str(model_dir))
    model = load_classifier(str(model_dir), fresh_head=False).to(device)
    probabilities = predict_probabilities(
        model, tokenizer, split.texts, batch_size=config.batch_size, max_length=config.max_length
    )
    report = classification_report(split.labels, probabilities.argmax(axis=1).tolist())
    decision = apply_gate(report, config)
    result = {
        **report,
        "split": config.split,
        "gate_passed": decision.passed,
        "gate_reasons": decision.reasons,
        "thresholds": asdict(config),
    }
    if metrics_sink is not None:
        for name in HEADLINE_METRICS:
            metrics_sink.log_metric(name, round(report[name], 6))
        metrics_sink.log_metric("examples", report["examples"])
    if confusion_sink is not None:
        confusion_sink.log_confusion_matrix(report["labels"], report["confusion_matrix"])
    print(
        json.dumps({k: result[k] for k in (*HEADLINE_METRICS, "split", "gate_passed", "gate_reasons")}),
        flush=True,
    )
    print(decision.message(), flush=True)
    return result


def write_json(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    Path(path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
