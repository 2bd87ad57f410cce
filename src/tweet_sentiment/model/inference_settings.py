"""The settings a trained model carries for inference: ``max_length``, label order, normaliser version,
and whether its tokenizer applies the text normalisation itself (``tokenizer_normalizes``).

Training writes them beside the weights as ``inference_settings.json``; evaluation, the ONNX
export/check and predict read them with :func:`read_inference_settings` (or
:func:`inference_max_length`), so that serving cannot drift from training. A model directory
saved before models carried them falls back to today's defaults, with a log line saying so.

A file of our own rather than extra keys in the Hugging Face ``config.json``: that file belongs to
``transformers`` (``save_pretrained`` rewrites it, and whether unknown attributes survive a load and
save depends on its version), while this one is versioned by us (``format``), read without loading
a model or ``transformers``, and travels with the directory wherever the registry copies it.
``config.json`` keeps its own ``id2label``; the label order here is checked against this package's.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from tweet_sentiment.core.errors import ModelSourceError
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.text import NORMALIZER_VERSION

SETTINGS_FILE = "inference_settings.json"
# 2: ``tokenizer_normalizes`` (models saved since the TweetEval rules live in their tokenizer.json).
SETTINGS_FORMAT = 2
# What a model without the file was trained with (every version before the file existed).
DEFAULT_MAX_LENGTH = 128

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceSettings:
    """How to turn text into the model's input and its output into labels."""

    max_length: int = DEFAULT_MAX_LENGTH
    labels: tuple[str, ...] = LABELS
    normalizer_version: int = NORMALIZER_VERSION
    # True: raw text goes to the tokenizer (its tokenizer.json applies core.text's rules); False (models
    # saved before, format 1): the caller normalises with core.text.normalize_tweet first.
    tokenizer_normalizes: bool = True
    saved: bool = field(default=True, compare=False)  # False: defaults for a model without the file

    def to_json(self) -> dict:
        return {
            "format": SETTINGS_FORMAT,
            "max_length": self.max_length,
            "labels": list(self.labels),
            "normalizer_version": self.normalizer_version,
            "tokenizer_normalizes": self.tokenizer_normalizes,
        }


def write_inference_settings(model_dir: str | os.PathLike[str], settings: InferenceSettings) -> Path:
    path = Path(model_dir) / SETTINGS_FILE
    path.write_text(json.dumps(settings.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_inference_settings(model_dir: str | os.PathLike[str]) -> InferenceSettings:
    """The settings saved with the model in ``model_dir``; today's defaults (logged) when it has none.

    Raises :class:`ModelSourceError` for an unreadable file or a label order this package does not
    use (its predictions would be mislabelled); warns when the model was trained with other text
    normalisation rules than this package applies.
    """
    path = Path(model_dir) / SETTINGS_FILE
    if not path.is_file():
        logger.warning(
            "%s: no %s (a model saved before models carried their inference settings); using the "
            "defaults max_length=%d, labels %s, text normaliser version %d",
            model_dir,
            SETTINGS_FILE,
            DEFAULT_MAX_LENGTH,
            "/".join(LABELS),
            NORMALIZER_VERSION,
        )
        return InferenceSettings(tokenizer_normalizes=False, saved=False)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        settings = InferenceSettings(
            max_length=int(raw["max_length"]),
            labels=tuple(str(name) for name in raw["labels"]),
            normalizer_version=int(raw["normalizer_version"]),
            tokenizer_normalizes=bool(raw.get("tokenizer_normalizes", False)),  # absent in format 1
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelSourceError(
            f"{path}: unreadable inference settings ({type(exc).__name__}: {exc})"
        ) from None
    if settings.labels != LABELS:
        raise ModelSourceError(
            f"{path}: the model's labels are {'/'.join(settings.labels)}, this package's are "
            f"{'/'.join(LABELS)}; its predictions would be mislabelled"
        )
    if settings.normalizer_version != NORMALIZER_VERSION:
        logger.warning(
            "%s: the model was trained on text normaliser version %d, this package applies version %d; "
            "its inputs may differ from what it saw in training",
            path,
            settings.normalizer_version,
            NORMALIZER_VERSION,
        )
    return settings


def inference_max_length(
    model_dir: str | os.PathLike[str], override: int = 0, settings: InferenceSettings | None = None
) -> int:
    """Tokens kept per text when scoring ``model_dir``: ``override`` when > 0, else the model's own.

    ``settings``: the model's, when the caller has read them already.
    """
    settings = settings or read_inference_settings(model_dir)
    if override and override != settings.max_length and settings.saved:
        logger.warning(
            "%s: scoring with max_length=%d, not the model's own %d", model_dir, override, settings.max_length
        )
    return override or settings.max_length
