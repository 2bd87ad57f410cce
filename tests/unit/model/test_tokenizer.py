"""The TweetEval rules inside the saved tokenizer (model/tokenizer.py): on 320 varied raw tweets
(tests/fakes/raw_tweets.py), AutoTokenizer, pipeline(), predict (torch and ONNX int8) agree with
scoring the normalised text, as evaluation does; and each stops agreeing without the rules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.fakes.raw_tweets import make_raw_tweets
from tests.fakes.varied_model import MAX_LENGTH, reference_probabilities
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.text import RULES, normalize_tweet
from tweet_sentiment.model.tokenizer import has_tweet_normalizer, with_tweet_normalizer

TWEETS = make_raw_tweets(320, seed=0)


@pytest.fixture(scope="module")
def model_dir(varied_model_dir):
    return varied_model_dir


@pytest.fixture(scope="module")
def reference(model_dir, base_tokenizer):
    probabilities = reference_probabilities(model_dir, base_tokenizer, TWEETS)
    # The comparisons mean something only if the labels vary.
    assert set(probabilities.argmax(1).tolist()) == {0, 1, 2}
    return probabilities


def _without_rules(model_dir, tmp_path):
    """A copy of the model whose tokenizer.json has lost the rules (the model's own normalizer stays)."""
    copy = tmp_path / "no-rules"
    shutil.copytree(model_dir, copy)
    path = copy / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["normalizer"]["normalizers"] = spec["normalizer"]["normalizers"][len(RULES) :]
    path.write_text(json.dumps(spec), encoding="utf-8")
    return copy


def _pipeline_probabilities(model_dir) -> np.ndarray:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), top_k=None, device="cpu")
    results = classify(TWEETS, truncation=True)
    return np.array(
        [[{r["label"]: r["score"] for r in result}[name] for name in LABELS] for result in results]
    )


def test_the_saved_tokenizer_gives_raw_tweets_the_ids_of_their_normalised_text(model_dir, base_tokenizer):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert has_tweet_normalizer(tokenizer) and not has_tweet_normalizer(base_tokenizer)
    assert tokenizer.model_max_length == MAX_LENGTH
    assert json.loads((model_dir / "tokenizer_config.json").read_text())["tokenizer_class"] == (
        "PreTrainedTokenizerFast"
    )
    raw = tokenizer(TWEETS)["input_ids"]
    normalised = base_tokenizer([normalize_tweet(t) for t in TWEETS])["input_ids"]
    assert raw == normalised
    # Text that is already normalised (preprocess's output) gets the same ids again.
    assert tokenizer([normalize_tweet(t) for t in TWEETS])["input_ids"] == normalised


def test_adding_the_rules_twice_keeps_one_copy(model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    again = with_tweet_normalizer(tokenizer, max_length=MAX_LENGTH)
    steps = json.loads(again.backend_tokenizer.to_str())["normalizer"]["normalizers"]
    assert len(steps) == len(RULES) + 1  # the rules, then BERT's own normalizer


@pytest.mark.slow
def test_pipeline_on_raw_tweets_agrees_with_the_scored_normalised_text(model_dir, reference, tmp_path):
    got = _pipeline_probabilities(model_dir)
    assert (got.argmax(1) == reference.argmax(1)).all()
    np.testing.assert_allclose(got, reference, atol=1e-5)

    # Without the rules in tokenizer.json, pipeline() answers otherwise.
    stripped = _pipeline_probabilities(_without_rules(model_dir, tmp_path))
    assert np.abs(stripped - reference).max() > 1e-2


def _predict(model_dir, tmp_path, **options) -> np.ndarray:
    """``predict`` on a JSONL file of the raw tweets: its probabilities, in input order."""
    from tweet_sentiment.predict.cli import run_predict
    from tweet_sentiment.predict.config import PredictConfig

    source = tmp_path / "raw.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TWEETS), encoding="utf-8")
    output = tmp_path / "scored.jsonl"
    config = PredictConfig(
        model=str(model_dir), input=str(source), output=str(output), progress=False, **options
    )
    run_predict(config)
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row.get("error") for row in rows] == [None] * len(TWEETS)
    return np.array([[row["probabilities"][name] for name in LABELS] for row in rows])


@pytest.mark.slow
def test_predict_on_raw_tweets_agrees_with_the_scored_normalised_text(model_dir, reference, tmp_path):
    got = _predict(model_dir, tmp_path, precision="fp32")
    assert (got.argmax(1) == reference.argmax(1)).all()
    np.testing.assert_allclose(got, reference, atol=1e-5)


@pytest.mark.slow
def test_predict_with_onnx_int8_on_raw_tweets_agrees_with_the_int8_model_on_normalised_text(
    model_dir, base_tokenizer, reference, tmp_path
):
    from tweet_sentiment.model.inference import OnnxClassifier
    from tweet_sentiment.register.onnx_build import quantize_int8
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_fp32

    with_onnx = tmp_path / "model"
    shutil.copytree(model_dir, with_onnx)
    (with_onnx / "onnx").mkdir()
    fp32 = export_fp32(with_onnx, tmp_path / "work", OnnxExportConfig())
    int8 = quantize_int8(fp32, with_onnx / "onnx" / "model.int8.onnx")
    expected = OnnxClassifier(int8, base_tokenizer).predict_probabilities(
        [normalize_tweet(t) for t in TWEETS], max_length=MAX_LENGTH
    )
    got = _predict(with_onnx, tmp_path, backend="onnx")
    assert (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # int8 against torch is the registration's accuracy budget, not this test's: this random model's
    # near-ties flip some labels under quantisation (94 % agree).


def test_predict_refuses_a_model_whose_tokenizer_lost_the_rules(model_dir, tmp_path):
    from tweet_sentiment.core.errors import ModelSourceError

    with pytest.raises(ModelSourceError, match="its tokenizer.json does not hold the rules"):
        _predict(_without_rules(model_dir, tmp_path), tmp_path)


@pytest.mark.slow
def test_predict_normalises_for_a_model_saved_before_tokenizers_did(
    model_dir, base_tokenizer, reference, tmp_path
):
    from tweet_sentiment.core.text import NORMALIZER_VERSION

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    base_tokenizer.save_pretrained(old)  # no rules in it
    settings = {"format": 1, "max_length": MAX_LENGTH, "labels": list(LABELS)}
    (old / "inference_settings.json").write_text(
        json.dumps({**settings, "normalizer_version": NORMALIZER_VERSION}), encoding="utf-8"
    )
    got = _predict(old, tmp_path, precision="fp32")
    assert (got.argmax(1) == reference.argmax(1)).all()
    np.testing.assert_allclose(got, reference, atol=1e-5)
