"""The one scoring function: a model's classification report and probabilities on a split."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tweet_sentiment.core.dataset import SplitData
from tweet_sentiment.model.inference import choose_device, predict_probabilities
from tweet_sentiment.model.inference_settings import DEFAULT_MAX_LENGTH, inference_max_length
from tweet_sentiment.model.loading import load_classifier, load_tokenizer
from tweet_sentiment.model.metrics import classification_report

# Examples per forward pass when scoring (EvaluateConfig.batch_size defaults to it).
BATCH_SIZE = 64


def score_split(
    model,
    tokenizer,
    split: SplitData,
    *,
    batch_size: int = BATCH_SIZE,
    max_length: int = DEFAULT_MAX_LENGTH,
    precision: str = "auto",
) -> tuple[dict[str, Any], np.ndarray]:
    """The one scoring function (evaluate, the champion, training-time validation, the benches):
    the classification report of ``model`` on ``split`` and its class probabilities."""
    probabilities = predict_probabilities(
        model, tokenizer, split.texts, batch_size=batch_size, max_length=max_length, precision=precision
    )
    return classification_report(split.labels, probabilities.argmax(axis=1).tolist()), probabilities


def score_model(
    model_dir: str | os.PathLike[str],
    split: SplitData,
    *,
    batch_size: int = BATCH_SIZE,
    max_length: int = 0,
    device: str = "auto",
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`score_split` for the saved model in ``model_dir`` on ``device``; ``max_length`` 0: the
    model's own (its inference settings)."""
    model = load_classifier(str(model_dir), fresh_head=False).to(choose_device(device))
    return score_split(
        model,
        load_tokenizer(str(model_dir)),
        split,
        batch_size=batch_size,
        max_length=inference_max_length(model_dir, max_length),
    )
