"""An ``evaluate.Metric`` for single-label classification, computed with scikit-learn.

Shipped inside the ``tweet_sentiment`` package and loaded from its file path by
``tweet_sentiment.model.metrics`` (``evaluate.load("accuracy")`` would need the Hugging Face hub).

Rule for a class absent from the references: per-class figures and the confusion matrix always
cover every class of ``label_names`` (scikit-learn's default label set, the classes seen in
references or predictions, would drop or reorder rows), with 0 for a 0/0 ratio
(``zero_division=0``). The macro averages run over the classes present in the references:
an absent class has no recall to measure, and counting it as 0 would punish a model for the
split rather than for its predictions. With every class present (every real split) this is
scikit-learn's plain macro average, TweetEval's official ``recall_score(average="macro")``.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

_DESCRIPTION = "Accuracy, macro precision/recall/F1, per-class figures and the confusion matrix."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    label_names (list of str): the class names, in class-id order.
Returns:
    accuracy, macro_recall, macro_precision, macro_f1 (float), examples (int),
    per_class ({name: {precision, recall, f1, support}}), confusion_matrix (rows: true classes,
    columns: predicted classes), labels (the class names).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SentimentClassification(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, label_names):
        if len(references) == 0:
            raise ValueError("no examples to score")
        every_class = list(range(len(label_names)))
        present = sorted(set(int(r) for r in references))
        unknown = sorted((set(int(p) for p in predictions) | set(present)) - set(every_class))
        if unknown:
            raise ValueError(f"class ids {unknown} are outside 0..{len(label_names) - 1}")
        precision, recall, f1, support = precision_recall_fscore_support(
            references, predictions, labels=every_class, average=None, zero_division=0
        )
        macro_precision, macro_recall, macro_f1, _ = precision_recall_fscore_support(
            references, predictions, labels=present, average="macro", zero_division=0
        )
        return {
            "accuracy": float(accuracy_score(references, predictions)),
            "macro_recall": float(macro_recall),
            "macro_precision": float(macro_precision),
            "macro_f1": float(macro_f1),
            "examples": len(references),
            "per_class": {
                name: {
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(support[i]),
                }
                for i, name in enumerate(label_names)
            },
            "confusion_matrix": np.asarray(
                confusion_matrix(references, predictions, labels=every_class), dtype=np.int64
            ).tolist(),
            "labels": list(label_names),
        }
