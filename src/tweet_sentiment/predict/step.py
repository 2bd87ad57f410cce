"""The batch-predict task's one function (``components/batch_predict.py`` calls it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tweet_sentiment.predict.cli import run_predict
from tweet_sentiment.predict.config import PredictConfig


def run_batch_predict(
    source: str,
    output_dir: str | os.PathLike[str],
    *,
    registry_uri: str,
    model: str,
    backend: str = "auto",
    text_column: str = "text",
    max_length: int = PredictConfig.max_length,
) -> dict[str, Any]:
    """Score ``source`` (a local or gs:// JSONL/CSV/TSV/text file) into ``output_dir/predictions.jsonl``.

    The pipeline's batch_predict step. Returns flat figures for the output artifact's metadata.
    """
    import tempfile

    from tweet_sentiment.core.storage import fetch_file

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="batch-predict-") as workdir:
        config = PredictConfig(
            model=model,
            registry=registry_uri,
            input=str(fetch_file(source, workdir)),
            output=str(output / "predictions.jsonl"),
            backend=backend,
            text_column=text_column,
            max_length=max_length,
            progress=False,
        )
        summary = run_predict(config)
    summary.update({"source": source, "model": model})
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
