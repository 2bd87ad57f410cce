"""The model card inside the model folder, with the Hub's front matter; ``models export`` writes a folder
that huggingface_hub's upload_folder would publish as is (nothing is sent: no network in tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import main
from tests.fakes.raw_tweets import make_raw_tweets
from tests.fakes.varied_model import reference_probabilities
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.model.loading import OFFLINE_MODEL
from tweet_sentiment.registry import open_registry, register_model

METRICS = {
    "split": "test",
    "examples": 90,
    "accuracy": 0.6123,
    "macro_recall": 0.5987,
    "macro_precision": 0.6011,
    "macro_f1": 0.5912,
    "per_class": {},
}


def _register(uri: str, model_dir: Path, *, model: str = OFFLINE_MODEL, data: str = "cardiffnlp/tweet_eval"):
    return register_model(
        uri,
        model_dir,
        metrics=METRICS,
        parameters={"param_model_name": model},
        dataset_fingerprint="ab" * 32,
        run_id="run-card",
        gate={"passed": True, "reasons": []},
        promote=True,
        extra={"dataset": {"source": data}},
    )


def test_the_card_is_in_the_model_folder_with_the_hubs_front_matter(varied_model_dir, tmp_path):
    from huggingface_hub import ModelCard

    uri = str(tmp_path / "registry")
    _register(uri, varied_model_dir)
    registry = open_registry(uri)
    path = registry.model_dir(1) / "README.md"
    card = ModelCard.load(path, ignore_metadata_errors=False)
    assert registry.model_card(1) == path.read_text(encoding="utf-8")

    data = card.data
    assert data.license == "apache-2.0" and data.pipeline_tag == "text-classification"
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.datasets == ["cardiffnlp/tweet_eval"] and data.library_name == "transformers"
    stored = registry.metadata(1)["metrics"]
    figures = {(r.metric_type, r.metric_name): r.metric_value for r in data.eval_results}
    assert figures == {
        ("accuracy", "Accuracy"): stored["accuracy"],
        ("recall", "Macro recall"): stored["macro_recall"],
        ("precision", "Macro precision"): stored["macro_precision"],
        ("f1", "Macro F1"): stored["macro_f1"],
    }
    assert {(r.dataset_type, r.dataset_split, r.task_type) for r in data.eval_results} == {
        ("cardiffnlp/tweet_eval", "test", "text-classification")
    }


def test_paths_and_buckets_are_not_named_as_hub_ids(varied_model_dir, tmp_path):
    from huggingface_hub import ModelCard

    uri = str(tmp_path / "registry")
    _register(uri, varied_model_dir, model=str(varied_model_dir), data="gs://bucket/tweets/latest")
    card = ModelCard.load(open_registry(uri).model_dir(1) / "README.md", ignore_metadata_errors=False)
    assert card.data.base_model is None and card.data.datasets is None
    assert {r.dataset_type for r in card.data.eval_results} == {"tweets"}


@pytest.mark.slow
def test_models_export_writes_a_folder_the_hub_would_publish_as_is(
    varied_model_dir, base_tokenizer, tmp_path, capsys
):
    from huggingface_hub import ModelCard
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects
    from transformers import pipeline

    uri = str(tmp_path / "registry")
    _register(uri, varied_model_dir)
    target = tmp_path / "export"
    assert main(["models", "export", "champion", str(target), "--registry", uri]) == 0
    assert f"version 1 -> {target}" in capsys.readouterr().out

    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    # upload_folder's own filter keeps every file: what is exported is what would be published.
    assert sorted(filter_repo_objects(files, ignore_patterns=DEFAULT_IGNORE_PATTERNS)) == files
    assert ModelCard.load(target / "README.md", ignore_metadata_errors=False).data.eval_results

    tweets = make_raw_tweets(30, seed=3)
    results = pipeline("text-classification", model=str(target), top_k=None)(tweets)
    got = np.array([[{r["label"]: r["score"] for r in result}[n] for n in LABELS] for result in results])
    np.testing.assert_allclose(
        got, reference_probabilities(varied_model_dir, base_tokenizer, tweets), atol=1e-5
    )

    # Not into a folder that holds something.
    assert main(["models", "export", "1", str(target), "--registry", uri]) == 1
    assert "is not an empty directory" in capsys.readouterr().err
