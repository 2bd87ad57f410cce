"""Classification metrics computed offline with numpy (``evaluate.load`` needs the hub).

Macro-averaged recall is TweetEval's official sentiment metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tweet_sentiment.labels import LABELS


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], num_labels: int = len(LABELS)
) -> np.ndarray:
    """Rows are true labels, columns predicted labels."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_report(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    """Accuracy, macro recall/precision/F1, per-class figures and the confusion matrix."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise ValueError("no examples to score")
    matrix = confusion_matrix(y_true, y_pred)
    true_positive = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    recall = _safe_divide(true_positive, support)
    precision = _safe_divide(true_positive, predicted)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    present = support > 0  # a class absent from y_true does not drag the macro averages to zero
    report: dict[str, Any] = {
        "accuracy": float(true_positive.sum() / matrix.sum()),
        "macro_recall": float(recall[present].mean()),
        "macro_precision": float(precision[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "examples": int(matrix.sum()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(LABELS)
        },
        "confusion_matrix": matrix.tolist(),
        "labels": list(LABELS),
    }
    return report
