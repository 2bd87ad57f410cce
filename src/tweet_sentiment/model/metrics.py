"""Classification metrics through Hugging Face ``evaluate``, computed with scikit-learn.

The metric is an ``evaluate.Metric`` module shipped in this package
(``metric/sentiment_classification.py``; its docstring states the rule for a class absent from
the references) and loaded from its file path: nothing comes from the hub. ``evaluate`` copies
a module into ``HF_MODULES_CACHE`` (under ``HF_HOME``) before importing it and makes a data
directory under ``HF_METRICS_CACHE``; where those cannot be written (a non-root user, a
read-only home) a per-user directory under the system temp dir is used instead.
Macro-averaged recall is TweetEval's official sentiment metric.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tweet_sentiment.core.labels import LABELS

# The figures shown first everywhere (logs, KFP metrics, model card, HTML report, registry) and
# the ones a gate may compare with the champion.
HEADLINE_METRICS = ("accuracy", "macro_recall", "macro_precision", "macro_f1")
METRIC_SCRIPT = Path(__file__).with_name("metric") / "sentiment_classification.py"


def _writable(directory: Path) -> bool:
    """Whether ``directory`` exists and takes a new file, or can be created."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def metric_cache_dirs() -> tuple[Path, Path]:
    """(modules directory, metrics data directory) that ``evaluate`` may write to."""
    from evaluate import config

    modules, data = Path(config.HF_MODULES_CACHE), Path(config.HF_METRICS_CACHE)
    if _writable(modules) and _writable(data):
        return modules, data
    fallback = Path(tempfile.gettempdir()) / f"tweet_sentiment-evaluate-{os.getuid()}"
    return fallback / "modules", fallback / "metrics"


@functools.cache
def load_metric():
    """The package's ``evaluate`` metric, loaded offline from its file (once per process)."""
    from evaluate.loading import evaluation_module_factory, import_main_class, init_dynamic_modules

    modules_dir, data_dir = metric_cache_dirs()
    module = evaluation_module_factory(
        str(METRIC_SCRIPT), dynamic_modules_path=init_dynamic_modules(hf_modules_cache=modules_dir)
    )
    metric_class = import_main_class(module.module_path)
    return metric_class(keep_in_memory=True, cache_dir=str(data_dir), hash=module.hash)


def classification_report(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    """Accuracy, macro recall/precision/F1, per-class figures and the confusion matrix."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise ValueError("no examples to score")
    return load_metric().compute(
        predictions=[int(p) for p in y_pred], references=[int(y) for y in y_true], label_names=list(LABELS)
    )


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """The share of ``y_pred`` equal to ``y_true`` (from the same metric)."""
    return classification_report(y_true, y_pred)["accuracy"]
