"""The per-encoder learning-rate rule (issue 22): ``learning_rate=0`` is resolved by the encoder's width."""

from __future__ import annotations

import pytest

from tweet_sentiment.model.inference import choose_device
from tweet_sentiment.train.config import (
    REFERENCE_LEARNING_RATE,
    TrainConfig,
    learning_rate_for,
    with_learning_rate_for,
)
from tweet_sentiment.train.distributed import Distributed
from tweet_sentiment.train.loop import train
from tweet_sentiment.train.setup import set_up


def test_the_rule_scales_the_rate_down_with_width_and_never_up():
    assert learning_rate_for(384) == pytest.approx(8e-5)  # MiniLM-L6: the width the rate was tuned on
    assert learning_rate_for(768) == pytest.approx(4e-5)  # DistilBERT, all-mpnet-base-v2, BERT-base
    assert learning_rate_for(1024) == pytest.approx(3e-5)  # large encoders
    assert learning_rate_for(32) == pytest.approx(REFERENCE_LEARNING_RATE)  # narrower: not raised


def test_only_the_default_is_resolved_an_explicit_rate_is_kept():
    assert TrainConfig().learning_rate == 0.0
    assert with_learning_rate_for(TrainConfig(), 768).learning_rate == pytest.approx(4e-5)
    assert with_learning_rate_for(TrainConfig(learning_rate=2e-5), 768).learning_rate == 2e-5


def wide_encoder(tmp_path, hidden_size: int):
    """A 1-layer BERT of the given width with the offline encoder's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tweet_sentiment.model.loading import OFFLINE_MODEL, resolve_model_source

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_source(OFFLINE_MODEL))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path, safe_serialization=True)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("learning_rate", "trained_at"), [(0.0, 6e-5), (1e-4, 1e-4)])
def test_training_runs_at_the_rate_the_rule_gives_the_encoder(
    dataset_dir, tmp_path, learning_rate, trained_at
):
    encoder = wide_encoder(tmp_path / "encoder", hidden_size=512)
    config = TrainConfig(
        model_name=str(encoder),
        learning_rate=learning_rate,
        max_steps=2,
        batch_size=4,
        max_length=16,
        eval_split="",
        layer_lr_decay=1.0,
        warmup_ratio=0.0,
        progress=False,
        num_threads=1,
    )
    setup = set_up(config, dataset_dir, Distributed(), choose_device("cpu"))
    # The optimizer's peak rate (its schedule starts from initial_lr), every group alike without decay.
    peaks = [group["initial_lr"] for group in setup.optimizer.param_groups]
    assert peaks == pytest.approx([trained_at] * len(peaks))
    summary = train(config, dataset_dir, tmp_path / "model")
    assert summary["config"]["learning_rate"] == pytest.approx(trained_at)  # what the run records
