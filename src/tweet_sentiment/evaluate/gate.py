"""The gate: floors and the champion/challenger comparison as data, every failed threshold listed."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.evaluate.config import FLOOR_OF, EvaluateConfig
from tweet_sentiment.registry.evaluation import ChampionScore, GateDecision


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
