"""What a step reports figures to: the KFP artifact methods it calls, as protocols.

A KFP ``Metrics`` / ``ClassificationMetrics`` artifact satisfies them; so does any test double.
"""

from __future__ import annotations

from typing import Protocol


class MetricsSink(Protocol):
    """What a KFP ``Metrics`` artifact offers; any object with this method works."""

    def log_metric(self, metric: str, value: float) -> None: ...


class ConfusionMatrixSink(Protocol):
    """What a KFP ``ClassificationMetrics`` artifact offers."""

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None: ...
