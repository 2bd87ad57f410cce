"""Evaluate a trained model on the evaluation split, compare it with the champion, apply the gate."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.core.dataset import SplitData, load_split
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.sinks import ConfusionMatrixSink, MetricsSink
from tweet_sentiment.evaluate.config import FLOOR_OF, EvaluateConfig
from tweet_sentiment.evaluate.gate import apply_gate
from tweet_sentiment.model.metrics import HEADLINE_METRICS
from tweet_sentiment.model.scoring import score_model
from tweet_sentiment.registry.evaluation import ChampionScore, EvaluationResult


def score_champion(registry_uri: str, split: SplitData, config: EvaluateConfig) -> ChampionScore:
    from tweet_sentiment.registry import CHAMPION, open_registry

    registry = open_registry(registry_uri)
    version = registry.get_alias(CHAMPION)
    if version is None:
        return ChampionScore(None)
    try:
        report, _probabilities = score_model(registry.model_dir(version), split, **config.scoring())
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
    report, probabilities = score_model(model_dir, split, **config.scoring())
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
        from tweet_sentiment.evaluate.report import render_html_report

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
