"""The preprocess task's one function (``components/preprocess.py`` calls it)."""

from __future__ import annotations

from typing import Any

from tweet_sentiment.core.snapshots import resolve_data_source
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.preprocess.run import preprocess


def run_preprocess(
    source: str, output_dir: str, *, eval_split: str = "test", **settings: Any
) -> dict[str, Any]:
    """Validate and normalise ``source``; the train split and ``eval_split`` must exist.

    ``<prefix>/latest`` reads the newest dated snapshot under ``<prefix>`` (see snapshots.py).
    ``settings`` are ``PreprocessConfig`` fields (hub_config, max_text_chars, max_bad_fraction, ...).
    """
    source = resolve_data_source(source)
    required = tuple(dict.fromkeys(("train", eval_split)))
    config = PreprocessConfig(source=source, required_splits=required, held_out_split=eval_split, **settings)
    return preprocess(config, output_dir)
