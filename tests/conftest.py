"""Shared fixtures: tiny data the tests write themselves and a tiny randomly initialised BERT.

The tiny model reuses the WordPiece vocabulary of the offline encoder package (no hub),
with 2 layers of width 32, so a training run takes seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.training import TINY_TRAINING
from tests.fakes.tweets import make_tweets, write_jsonl


def pytest_collection_modifyitems(config, items):
    """The container tier (builds images, minutes) runs only when a -m expression names it."""
    if "containers" in (config.option.markexpr or ""):
        return
    skipped = [item for item in items if item.get_closest_marker("containers")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not item.get_closest_marker("containers")]


@pytest.fixture(scope="session")
def raw_data_dir(tmp_path_factory) -> Path:
    """train/validation/test JSONL files of synthetic tweets (90/30/30)."""
    root = tmp_path_factory.mktemp("raw")
    write_jsonl(root / "train.jsonl", make_tweets(90, seed=1))
    write_jsonl(root / "validation.jsonl", make_tweets(30, seed=2))
    write_jsonl(root / "test.jsonl", make_tweets(30, seed=3))
    return root


@pytest.fixture(scope="session")
def dataset_dir(raw_data_dir, tmp_path_factory) -> Path:
    """The Dataset artifact that preprocess makes of ``raw_data_dir``."""
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess

    out = tmp_path_factory.mktemp("dataset")
    preprocess(PreprocessConfig(source=str(raw_data_dir), required_splits=("train", "test")), out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (width 32) with the offline encoder's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tweet_sentiment.core.labels import ID2LABEL, LABEL2ID
    from tweet_sentiment.model.loading import OFFLINE_MODEL, resolve_model_source

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_source(OFFLINE_MODEL))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=3,
        id2label=ID2LABEL,
        label2id=LABEL2ID,
    )
    out = tmp_path_factory.mktemp("tiny-model")
    BertForSequenceClassification(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def trained_model_dir(dataset_dir, tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny BERT trained on ``dataset_dir`` until it has learnt the task (tests/fakes/training.py).

    Shared, read-only: a test that changes a model copies it first.
    """
    from tweet_sentiment.train.step import run_train

    out = tmp_path_factory.mktemp("trained")
    run_train(
        str(dataset_dir),
        str(out),
        model_name=str(tiny_model_dir),
        progress=False,
        tensorboard=False,
        **TINY_TRAINING,
    )
    return out


@pytest.fixture(scope="session")
def compiled_packages(tmp_path_factory) -> dict[str, Path]:
    """pipeline.py's pipeline compiled now, for each target: the spec tests read these, not the
    checked-in YAMLs (tests/pipeline/test_compile_targets.py checks that those are up to date)."""
    import pipeline

    out = tmp_path_factory.mktemp("compiled")
    return {
        target: pipeline.compile_pipeline(out / f"{target}.yaml", pipeline.PipelineOptions(target=target))
        for target in pipeline.TARGETS
    }


@pytest.fixture(scope="session")
def base_tokenizer():
    """The offline encoder's tokenizer as it comes (no TweetEval rules in it)."""
    from tweet_sentiment.model.loading import OFFLINE_MODEL, load_tokenizer

    return load_tokenizer(OFFLINE_MODEL)


@pytest.fixture(scope="session")
def varied_model_dir(base_tokenizer, tmp_path_factory) -> Path:
    """A tiny BERT whose labels vary over tweets, saved as training saves one (fakes/varied_model.py)."""
    from tests.fakes.varied_model import save_varied_model

    return save_varied_model(tmp_path_factory.mktemp("varied-model"), base_tokenizer)
