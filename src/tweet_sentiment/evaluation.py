"""Scoring a trained model on a held-out split and deciding whether it may be registered."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tweet_sentiment.data import SplitData, load_split
from tweet_sentiment.errors import ConfigError
from tweet_sentiment.inference import choose_device, predict_probabilities
from tweet_sentiment.inference_settings import inference_max_length
from tweet_sentiment.labels import LABELS
from tweet_sentiment.metrics import HEADLINE_METRICS, classification_report
from tweet_sentiment.modeling import load_classifier, load_tokenizer


class MetricsSink(Protocol):
    """What a KFP ``Metrics`` artifact offers; any object with this method works."""

    def log_metric(self, metric: str, value: float) -> None: ...


class ConfusionMatrixSink(Protocol):
    """What a KFP ``ClassificationMetrics`` artifact offers."""

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None: ...


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
    batch_size: int = field(default=64, metadata={"help": "Examples per forward pass."})
    max_length: int = field(
        default=0, metadata={"help": "Tokens kept per tweet; 0: the model's own (saved with it by training)."}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})

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


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        notes = "".join(f"\n  note: {note}" for note in self.notes)
        if self.passed:
            return "gate passed" + notes
        return "gate failed:\n" + "\n".join(f"  - {reason}" for reason in self.reasons) + notes


@dataclass
class ChampionScore:
    """The champion's figures on the same data, or why it could not be scored."""

    version: int | None
    report: dict[str, Any] | None = None
    error: str = ""


@dataclass
class EvaluationResult:
    """What evaluate hands to register: the candidate's report, the gate's verdict and the champion's.

    Stored as the evaluate step's ``report`` artifact (flat JSON: the report's figures at the top
    level, beside ``split``, ``gate_passed``, ``gate_reasons``, ...), written by :meth:`write` and
    read back by :meth:`read`.
    """

    report: dict[str, Any]
    split: str
    gate: GateDecision
    thresholds: dict[str, Any]
    registry_uri: str = ""
    champion: ChampionScore | None = None
    misclassified: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.gate.passed

    @property
    def parent_champion(self) -> int | None:
        """The champion version the candidate was compared with (None: no champion, or no registry)."""
        return None if self.champion is None else self.champion.version

    def headline(self) -> dict[str, float]:
        return {name: self.report[name] for name in HEADLINE_METRICS}

    def registry_metrics(self) -> dict[str, Any]:
        """The figures a registry version records."""
        per_class = self.report["per_class"]
        return {
            **self.headline(),
            "examples": self.report["examples"],
            "per_class": per_class,
            "confusion_matrix": self.report["confusion_matrix"],  # rows: true classes, in `labels` order
            "labels": self.report["labels"],
            "split": self.split,
        }

    def gate_record(self) -> dict[str, Any]:
        """The gate's verdict as a registry version records it."""
        return {
            "passed": self.gate.passed,
            "reasons": self.gate.reasons,
            "notes": self.gate.notes,
            "thresholds": self.thresholds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report,
            "split": self.split,
            "gate_passed": self.gate.passed,
            "gate_reasons": self.gate.reasons,
            "gate_notes": self.gate.notes,
            "thresholds": self.thresholds,
            "registry_uri": self.registry_uri,
            "champion": None if self.champion is None else asdict(self.champion),
            "misclassified": self.misclassified,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> EvaluationResult:
        outer = {"split", "gate_passed", "gate_reasons", "gate_notes", "thresholds", "registry_uri"}
        outer |= {"champion", "misclassified"}
        champion = record.get("champion")
        return cls(
            report={k: v for k, v in record.items() if k not in outer},
            split=record["split"],
            gate=GateDecision(
                record["gate_passed"], list(record["gate_reasons"]), list(record["gate_notes"])
            ),
            thresholds=dict(record["thresholds"]),
            registry_uri=record.get("registry_uri", ""),
            champion=None if champion is None else ChampionScore(**champion),
            misclassified=list(record.get("misclassified", [])),
        )

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvaluationResult:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not an evaluation report ({type(exc).__name__}: {exc})") from None


def gate_floors(config: EvaluateConfig) -> dict[str, float]:
    """``{figure: lowest accepted value}`` from the config fields marked with ``FLOOR_OF``."""
    return {f.metadata[FLOOR_OF]: getattr(config, f.name) for f in fields(config) if FLOOR_OF in f.metadata}


def majority_rate(report: dict[str, Any]) -> tuple[str, float]:
    """The most frequent true class and its share: the accuracy of always predicting it."""
    supports = {name: figures["support"] for name, figures in report["per_class"].items()}
    name = max(supports, key=supports.get)
    return name, supports[name] / report["examples"]


def prediction_shares(report: dict[str, Any]) -> dict[str, float]:
    matrix = report["confusion_matrix"]
    predicted = [sum(row[j] for row in matrix) for j in range(len(report["labels"]))]
    return {name: count / report["examples"] for name, count in zip(report["labels"], predicted, strict=True)}


def apply_gate(
    report: dict[str, Any], config: EvaluateConfig, champion: ChampionScore | None = None
) -> GateDecision:
    """Check every rule and collect every failure, so one run tells the whole story.

    ``champion`` is None when there is no registry to compare with; ``ChampionScore(None)`` when
    the registry has no champion yet (the first model passes the comparison by definition).
    """
    reasons: list[str] = []
    notes: list[str] = []
    for metric, floor in gate_floors(config).items():
        if metric not in report:
            raise ConfigError(f"the gate has a floor for {metric!r}, a figure the metric does not compute")
        if report[metric] < floor:
            reasons.append(f"{metric} {report[metric]:.4f} is below the minimum {floor:.4f}")

    shares = prediction_shares(report)
    top_class = max(shares, key=shares.get)
    if shares[top_class] > config.max_prediction_share:
        reasons.append(
            f"degenerate model: {shares[top_class]:.1%} of predictions are {top_class!r} "
            f"(at most {config.max_prediction_share:.1%} allowed on one class)"
        )
    majority_class, majority = majority_rate(report)
    if report["accuracy"] < majority + config.min_gain_over_majority:
        reasons.append(
            f"degenerate model: accuracy {report['accuracy']:.4f} does not beat always predicting "
            f"{majority_class!r} ({majority:.4f}) by the required {config.min_gain_over_majority:.4f}"
        )

    metric = config.champion_metric
    if champion is None:
        notes.append("champion/challenger: no registry given, comparison skipped")
    elif champion.version is None:
        notes.append(
            "champion/challenger: the registry has no champion yet; the first model passes by definition"
        )
    elif champion.report is None:
        reasons.append(
            f"champion/challenger: the champion (version {champion.version}) could not be scored, so the "
            f"candidate cannot be compared: {champion.error}"
        )
    else:
        candidate_value, champion_value = report[metric], champion.report[metric]
        delta = candidate_value - champion_value
        comparison = (
            f"candidate {metric} {candidate_value:.4f} vs champion (version {champion.version}) "
            f"{champion_value:.4f}: {delta:+.4f}"
        )
        if delta < -config.max_regression - 1e-12:
            reasons.append(
                f"champion/challenger: {comparison}, worse than the allowed regression of "
                f"{config.max_regression:.4f}"
            )
        else:
            notes.append(
                f"champion/challenger: {comparison} (allowed regression {config.max_regression:.4f})"
            )
    return GateDecision(passed=not reasons, reasons=reasons, notes=notes)


def score_split(
    model,
    tokenizer,
    split: SplitData,
    *,
    batch_size: int = 64,
    max_length: int = 128,
    precision: str = "auto",
) -> tuple[dict[str, Any], np.ndarray]:
    """The one scoring function (evaluate, the champion, training-time validation, the benches):
    the classification report of ``model`` on ``split`` and its class probabilities."""
    probabilities = predict_probabilities(
        model, tokenizer, split.texts, batch_size=batch_size, max_length=max_length, precision=precision
    )
    return classification_report(split.labels, probabilities.argmax(axis=1).tolist()), probabilities


def score_model(
    model_dir: str | os.PathLike[str], split: SplitData, config: EvaluateConfig
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`score_split` for the saved model in ``model_dir``, on ``config.device``."""
    model = load_classifier(str(model_dir), fresh_head=False).to(choose_device(config.device))
    return score_split(
        model,
        load_tokenizer(str(model_dir)),
        split,
        batch_size=config.batch_size,
        max_length=inference_max_length(model_dir, config.max_length),
    )


def score_champion(registry_uri: str, split: SplitData, config: EvaluateConfig) -> ChampionScore:
    from tweet_sentiment.registry import CHAMPION, open_registry

    registry = open_registry(registry_uri)
    version = registry.get_alias(CHAMPION)
    if version is None:
        return ChampionScore(None)
    try:
        report, _probabilities = score_model(registry.model_dir(version), split, config)
    except Exception as exc:  # any failure (missing files, GCS, model) must block the gate readably
        return ChampionScore(version, error=f"{type(exc).__name__}: {exc}")
    return ChampionScore(version, report)


def misclassified(split: SplitData, probabilities: np.ndarray, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most confident mistakes: the ones a reviewer learns most from."""
    predicted = probabilities.argmax(axis=1)
    wrong = [
        i for i, (label, guess) in enumerate(zip(split.labels, predicted, strict=True)) if label != guess
    ]
    wrong.sort(key=lambda i: -float(probabilities[i, predicted[i]]))
    return [
        {
            "text": split.texts[i],
            "label": LABELS[split.labels[i]],
            "predicted": LABELS[int(predicted[i])],
            "confidence": round(float(probabilities[i, predicted[i]]), 4),
        }
        for i in wrong[:limit]
    ]


def evaluate(
    config: EvaluateConfig,
    model_dir: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    *,
    registry_uri: str = "",
    metrics_sink: MetricsSink | None = None,
    confusion_sink: ConfusionMatrixSink | None = None,
    html_path: str | os.PathLike[str] | None = None,
) -> EvaluationResult:
    """Score ``model_dir`` (and the registry's champion, on the same split) and apply the gate.

    Headline figures go to ``metrics_sink``, the confusion matrix to ``confusion_sink`` (the KFP
    artifacts, in the component) and the HTML report to ``html_path``.
    """
    split = load_split(dataset_dir, config.split)
    report, probabilities = score_model(model_dir, split, config)
    champion = score_champion(registry_uri, split, config) if registry_uri else None
    result = EvaluationResult(
        report=report,
        split=config.split,
        gate=apply_gate(report, config, champion),
        thresholds=asdict(config),
        registry_uri=registry_uri,
        champion=champion,
        misclassified=misclassified(split, probabilities, config.misclassified_samples),
    )
    if metrics_sink is not None:
        log_evaluation_metrics(result, metrics_sink)
    if confusion_sink is not None:
        confusion_sink.log_confusion_matrix(report["labels"], report["confusion_matrix"])
    if html_path is not None:
        from tweet_sentiment.report import render_html_report

        Path(html_path).write_text(render_html_report(result.to_dict()), encoding="utf-8")
    print(json.dumps({**result.headline(), "split": result.split, "gate_passed": result.passed}), flush=True)
    print(result.gate.message(), flush=True)
    return result


def log_evaluation_metrics(result: EvaluationResult, sink: MetricsSink) -> None:
    """Headline and per-class figures, the verdict and the champion's figures, as KFP scalar metrics."""
    gated = [f.metadata[FLOOR_OF] for f in fields(EvaluateConfig) if FLOOR_OF in f.metadata]
    for name in dict.fromkeys((*HEADLINE_METRICS, *gated)):
        sink.log_metric(name, round(result.report[name], 6))
    sink.log_metric("examples", result.report["examples"])
    for name, figures in result.report["per_class"].items():
        for figure in ("precision", "recall", "f1"):
            sink.log_metric(f"{figure}_{name}", round(figures[figure], 6))
    sink.log_metric("gate_passed", int(result.passed))
    champion = result.champion
    if champion is not None and champion.report is not None:
        sink.log_metric("champion_version", champion.version)
        for name in HEADLINE_METRICS:
            sink.log_metric(f"champion_{name}", round(champion.report[name], 6))
