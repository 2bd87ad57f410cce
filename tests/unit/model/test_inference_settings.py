"""The model carries its inference settings: training saves them, evaluate / ONNX check / predict use them."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tweet_sentiment.core.errors import ModelSourceError
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.text import NORMALIZER_VERSION
from tweet_sentiment.model.inference_settings import (
    SETTINGS_FILE,
    InferenceSettings,
    read_inference_settings,
    write_inference_settings,
)

SHORT_MAX_LENGTH = 8  # far below the default 128, so truncation changes what the model sees
# Tweets much longer than SHORT_MAX_LENGTH tokens, whose sentiment word comes late.
LONG_TEXTS = [
    f"so today {topic} started and then it went on and on for a while until finally it was {word} #{i}"
    for i, (topic, word) in enumerate(
        [("the train", "awful"), ("my phone", "great"), ("the game", "scheduled"), ("lunch", "amazing")] * 3
    )
]


@pytest.fixture(scope="module")
def short_model_dir(tiny_model_dir, dataset_dir, tmp_path_factory):
    """A model trained (briefly) with max_length 8."""
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.loop import train

    output = tmp_path_factory.mktemp("short-model")
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        epochs=1,
        max_steps=3,
        batch_size=8,
        learning_rate=1e-3,
        max_length=SHORT_MAX_LENGTH,
        eval_split="",
        progress=False,
        tensorboard=False,
        num_threads=1,
    )
    train(config, dataset_dir, output)
    return output


def test_a_trained_model_carries_its_inference_settings(short_model_dir):
    saved = json.loads((short_model_dir / SETTINGS_FILE).read_text())
    assert saved == {
        "format": 2,
        "max_length": SHORT_MAX_LENGTH,
        "labels": list(LABELS),
        "normalizer_version": NORMALIZER_VERSION,
        "tokenizer_normalizes": True,
    }
    settings = read_inference_settings(short_model_dir)
    assert settings == InferenceSettings(max_length=SHORT_MAX_LENGTH) and settings.saved


def test_a_trained_model_saves_its_tokenizer_with_the_tweet_rules(short_model_dir):
    from transformers import AutoTokenizer

    from tweet_sentiment.model.tokenizer import has_tweet_normalizer

    tokenizer = AutoTokenizer.from_pretrained(short_model_dir)
    assert has_tweet_normalizer(tokenizer) and tokenizer.model_max_length == SHORT_MAX_LENGTH
    assert tokenizer.tokenize("@Delta hi https://t.co/x") == ["@", "user", "hi"]


def test_a_format_1_file_means_the_tokenizer_does_not_normalise(tmp_path):
    old = {"format": 1, "max_length": 64, "labels": list(LABELS), "normalizer_version": NORMALIZER_VERSION}
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(old))
    assert read_inference_settings(tmp_path) == InferenceSettings(max_length=64, tokenizer_normalizes=False)


def test_evaluate_scores_with_the_models_max_length(short_model_dir):
    from tweet_sentiment.core.dataset import SplitData
    from tweet_sentiment.evaluate.config import EvaluateConfig
    from tweet_sentiment.model.inference import predict_probabilities
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer
    from tweet_sentiment.model.scoring import score_model

    config = EvaluateConfig(device="cpu")
    split = SplitData(texts=LONG_TEXTS, labels=[0, 2, 1, 2] * 3)
    _, probabilities = score_model(short_model_dir, split, **config.scoring())

    model = load_classifier(str(short_model_dir), fresh_head=False)
    tokenizer = load_tokenizer(str(short_model_dir))

    def at(max_length):
        return predict_probabilities(
            model, tokenizer, LONG_TEXTS, batch_size=config.batch_size, max_length=max_length
        )

    # The briefly trained tiny model is close to uniform: its outputs differ by ~1e-5 between the two
    # truncations, and are identical (same computation) at the same truncation.
    assert np.abs(at(SHORT_MAX_LENGTH) - at(128)).max() > 5e-6, "the texts are not long enough"
    np.testing.assert_allclose(probabilities, at(SHORT_MAX_LENGTH), rtol=0, atol=1e-7)


def test_predict_uses_the_models_max_length_unless_a_flag_overrides_it(short_model_dir, tmp_path):
    from tweet_sentiment.predict.cli import run_predict
    from tweet_sentiment.predict.config import PredictConfig

    source = tmp_path / "long.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in LONG_TEXTS))

    def scored(**overrides):
        output = tmp_path / f"out-{overrides.get('max_length', 'default')}.jsonl"
        run_predict(
            PredictConfig(
                model=str(short_model_dir), input=str(source), output=str(output), progress=False, **overrides
            )
        )
        return [json.loads(line)["probabilities"] for line in output.read_text().splitlines()]

    by_default = scored()
    assert by_default == scored(max_length=SHORT_MAX_LENGTH)
    assert by_default != scored(max_length=128)


def test_the_onnx_check_scores_with_the_models_max_length(short_model_dir, tmp_path):
    import shutil

    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_for_registration

    model_dir = tmp_path / "model"
    shutil.copytree(short_model_dir, model_dir)
    report = export_for_registration(
        model_dir, LONG_TEXTS, [0, 2, 1, 2] * 3, OnnxExportConfig(max_accuracy_drop_points=100.0)
    )
    assert report["max_length"] == SHORT_MAX_LENGTH
    assert json.loads((model_dir / "onnx" / "export.json").read_text())["max_length"] == SHORT_MAX_LENGTH


def test_a_model_saved_without_settings_falls_back_to_the_defaults_with_a_log_line(tiny_model_dir, caplog):
    assert not (tiny_model_dir / SETTINGS_FILE).exists()
    with caplog.at_level(logging.WARNING, logger="tweet_sentiment.model.inference_settings"):
        settings = read_inference_settings(tiny_model_dir)
    assert settings == InferenceSettings(max_length=128, tokenizer_normalizes=False) and not settings.saved
    assert f"no {SETTINGS_FILE}" in caplog.text and "max_length=128" in caplog.text


def test_another_label_order_is_refused_and_another_normaliser_is_reported(tmp_path, caplog):
    write_inference_settings(tmp_path, InferenceSettings(labels=tuple(reversed(LABELS))))
    with pytest.raises(ModelSourceError, match="mislabelled"):
        read_inference_settings(tmp_path)
    write_inference_settings(tmp_path, InferenceSettings(normalizer_version=NORMALIZER_VERSION + 1))
    with caplog.at_level(logging.WARNING, logger="tweet_sentiment.model.inference_settings"):
        read_inference_settings(tmp_path)
    assert "normaliser version" in caplog.text
    (tmp_path / SETTINGS_FILE).write_text("{not json")
    with pytest.raises(ModelSourceError, match=SETTINGS_FILE):
        read_inference_settings(tmp_path)
