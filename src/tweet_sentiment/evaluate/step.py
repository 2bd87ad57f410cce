"""The evaluate task's one function (``components/evaluate.py`` calls it)."""

from __future__ import annotations

from typing import Any

from tweet_sentiment.core.sinks import ConfusionMatrixSink, MetricsSink
from tweet_sentiment.evaluate.config import EvaluateConfig
from tweet_sentiment.evaluate.run import evaluate


def run_evaluate(
    model_dir: str,
    dataset_dir: str,
    *,
    metrics_sink: MetricsSink | None = None,
    confusion_sink: ConfusionMatrixSink | None = None,
    report_path: str | None = None,
    registry_uri: str = "",
    html_path: str | None = None,
    **settings: Any,
) -> bool:
    """Score the model (and the registry's champion) and apply the gate.

    ``settings`` are ``EvaluateConfig`` fields (split, min_accuracy, ...). Returns whether
    the gate passed; the reasons are printed and reported.
    """
    result = evaluate(
        EvaluateConfig(**settings),
        model_dir,
        dataset_dir,
        registry_uri=registry_uri,
        metrics_sink=metrics_sink,
        confusion_sink=confusion_sink,
        html_path=html_path,
    )
    if report_path:
        result.write(report_path)
    return result.passed
