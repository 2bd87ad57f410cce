"""The TweetEval rules inside the saved tokenizer: raw tweets through AutoTokenizer / pipeline() / ONNX
give what scoring the normalised text gives, on 320 varied raw tweets (tests/raw_tweets.py)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest
from raw_tweets import make_raw_tweets
from varied_model import MAX_LENGTH, reference_probabilities, save_varied_model

from tweet_sentiment.labels import LABELS
from tweet_sentiment.tweet_normalizer import (
    DECODED_ESCAPES,
    RULES,
    has_tweet_normalizer,
    normalize_tweet,
    with_tweet_normalizer,
)

TWEETS = make_raw_tweets(320, seed=0)


def test_examples():
    assert normalize_tweet("@DeltaAssist my bag https://t.co/AbC1 thanks @jess_92!") == (
        "@user my bag thanks @user!"
    )
    assert normalize_tweet("  see www.example.com/x   now\n") == "see now"
    assert normalize_tweet("I\\u2019m here\\u002c ok \\u00C9t\\u00e9") == "I\u2019m here, ok \u00c9t\u00e9"
    assert normalize_tweet("mail me at bob@example.org") == "mail me at bob@example.org"
    assert normalize_tweet("https://t.co/xyz") == ""
    assert normalize_tweet("@नमस्ते hi @" + "x" * 60) == "@user hi @user"  # combining marks, any length
    # Left literal: surrogate halves, escapes of letters/digits/backslash, HTML entities.
    assert (
        normalize_tweet("\\ud83d\\ude02 \\u0041 \\u005cu2019 &amp;")
        == "\\ud83d\\ude02 \\u0041 \\u005cu2019 &amp;"
    )


def test_no_decoded_escape_can_complete_another_escape():
    assert not {chr(c) for c in DECODED_ESCAPES} & set("\\u0123456789abcdefABCDEF")


def test_normalising_twice_gives_what_normalising_once_gives():
    tricky = [
        "\\u005cu2019",
        "\\u\\u0032019",
        "@" + "a" * 70,
        "@a@b",
        "http:\\u002f\\u002fx.com y",
        "\\u0040x",
    ]
    for text in TWEETS + tricky:
        once = normalize_tweet(text)
        assert normalize_tweet(once) == once, text


def test_a_lone_surrogate_is_refused_with_a_clear_error():
    from tweet_sentiment.tweet_normalizer import UnencodableText

    with pytest.raises(UnencodableText, match="lone UTF-16 surrogate"):
        normalize_tweet("bad \ud83d text")


@pytest.fixture(scope="module")
def base_tokenizer():
    from tweet_sentiment.modeling import OFFLINE_MODEL, load_tokenizer

    return load_tokenizer(OFFLINE_MODEL)


@pytest.fixture(scope="module")
def model_dir(base_tokenizer, tmp_path_factory):
    return save_varied_model(tmp_path_factory.mktemp("normalising-model"), base_tokenizer)


@pytest.fixture(scope="module")
def reference(model_dir, base_tokenizer):
    probabilities = reference_probabilities(model_dir, base_tokenizer, TWEETS)
    # The comparisons mean something only if the labels vary.
    assert set(Counter(probabilities.argmax(1).tolist())) == {0, 1, 2}
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


@pytest.mark.slow
def test_onnx_int8_on_raw_tweets_agrees_with_the_scored_normalised_text(model_dir, base_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    from tweet_sentiment.inference import OnnxClassifier
    from tweet_sentiment.onnx_build import quantize_int8
    from tweet_sentiment.onnx_export import OnnxExportConfig, export_fp32

    fp32 = export_fp32(model_dir, tmp_path, OnnxExportConfig())
    int8 = quantize_int8(fp32, tmp_path / "model.int8.onnx")
    options = {"max_length": MAX_LENGTH, "batch_size": 37}
    expected = OnnxClassifier(int8, base_tokenizer).predict_probabilities(
        [normalize_tweet(t) for t in TWEETS], **options
    )
    got = OnnxClassifier(int8, AutoTokenizer.from_pretrained(model_dir)).predict_probabilities(
        TWEETS, **options
    )
    assert (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got, expected, atol=1e-5)

    stripped = AutoTokenizer.from_pretrained(_without_rules(model_dir, tmp_path))
    assert (
        np.abs(OnnxClassifier(int8, stripped).predict_probabilities(TWEETS, **options) - expected).max()
        > 1e-2
    )
