"""Each drift measure on hand-made data whose figure is known (worked out in the comments)."""

from __future__ import annotations

import math

import pytest

from tests.unit.retrain.retrain_fixtures import OTHER_WORDS, WORDS, make_tokenizer
from tweet_sentiment.registry.profile import ProfileConfig, build_profile, text_features
from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.retrain.drift import Today, evidently_measures, measure_drift, vocabulary_measures


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def _profile(tokenizer, texts, labels, predicted=None, sample=10, vocabulary=2000):
    return build_profile(
        stats={"source": "/data/2026-01-01", "fingerprint": "f" * 64},
        train_texts=texts,
        train_labels=labels,
        tokenizer=tokenizer,
        evaluation={
            "split": "test",
            "predicted_counts": predicted or {"negative": 1, "neutral": 1, "positive": 1},
        },
        config=ProfileConfig(profile_text_sample=sample, profile_vocabulary_size=vocabulary),
    )


def _by_name(measures):
    return {m.name: m for m in measures}


def _numbered(words, count, width=3):
    """``count`` distinct texts of ``width`` words each (distinct so that the hash sample keeps them all)."""
    return [
        " ".join(words[(i + k * 7) % len(words)] for k in range(width))
        + f" {words[i % len(words)]}" * (i // 10)
        for i in range(count)
    ]


def test_label_drift_is_the_jensen_shannon_distance_of_the_label_mix(tokenizer):
    # reference 30/60/10 %, today 60/30/10 %: m = (45, 45, 10) %;
    # KL(p||m) = .3 ln(.3/.45) + .6 ln(.6/.45) = 0.050970 = KL(q||m); JS distance = sqrt(0.050970) = 0.22577
    texts = [f"apple banana {w}" for w in WORDS] * 10
    reference = _profile(tokenizer, texts, [0] * 30 + [1] * 60 + [2] * 10)
    today = Today(texts, [0] * 60 + [1] * 30 + [2] * 10, None)
    measures = _by_name(
        evidently_measures(reference, today, text_features(texts, tokenizer), RetrainConfig())
    )
    assert measures["label_drift"].value == pytest.approx(math.sqrt(0.050970), abs=1e-4)
    assert measures["label_drift"].crossed  # 0.2258 >= 0.1
    assert measures["length_drift"].value == pytest.approx(0.0)
    assert "prediction_drift" not in measures  # no predictions today: not measured


def test_length_drift_is_the_wasserstein_distance_in_tokens_over_the_reference_spread(tokenizer):
    # reference: half 2 tokens, half 4 (mean 3, std 1); today: half 3, half 5 -> W1 = 1, normed 1 / 1 = 1.0
    reference_texts = ["apple banana"] * 50 + ["apple banana cherry grape"] * 50
    today_texts = ["apple banana cherry"] * 50 + ["apple banana cherry grape lemon"] * 50
    reference = _profile(tokenizer, reference_texts, [1] * 100)
    assert reference["train"]["length_counts"] == [0, 0, 50, 0, 50]
    today = Today(today_texts, [1] * 100, None)
    measures = _by_name(
        evidently_measures(reference, today, text_features(today_texts, tokenizer), RetrainConfig())
    )
    assert measures["length_drift"].value == pytest.approx(1.0)
    assert measures["length_drift"].crossed
    assert measures["label_drift"].value == pytest.approx(0.0)


def test_text_drift_auc_separates_disjoint_vocabularies_and_not_the_same_texts(tokenizer):
    reference_texts = _numbered(WORDS, 200)
    reference = _profile(tokenizer, reference_texts, [1] * 200, sample=200)
    same = evidently_measures(
        reference,
        Today(reference_texts, [1] * 200, None),
        text_features(reference_texts, tokenizer),
        RetrainConfig(),
    )
    other_texts = _numbered(OTHER_WORDS, 200)
    other = evidently_measures(
        reference, Today(other_texts, [1] * 200, None), text_features(other_texts, tokenizer), RetrainConfig()
    )
    # no shared word: the domain classifier ranks every held-out text right -> ROC AUC exactly 1
    assert _by_name(other)["text_drift_auc"].value == pytest.approx(1.0)
    assert _by_name(other)["text_drift_auc"].crossed
    # the very same sample on both sides: nothing to learn -> chance level
    assert _by_name(same)["text_drift_auc"].value == pytest.approx(0.5, abs=0.06)
    assert not _by_name(same)["text_drift_auc"].crossed


def test_prediction_drift_is_the_jensen_shannon_distance_of_the_predicted_classes(tokenizer):
    # the champion predicted 30/60/10 % at registration and 60/30/10 % today: 0.22577 as for labels
    texts = [f"apple {w}" for w in WORDS] * 10
    reference = _profile(
        tokenizer, texts, [1] * 100, predicted={"negative": 30, "neutral": 60, "positive": 10}
    )
    today = Today(texts, [1] * 100, {"negative": 60, "neutral": 30, "positive": 10})
    measures = _by_name(
        evidently_measures(reference, today, text_features(texts, tokenizer), RetrainConfig())
    )
    assert measures["prediction_drift"].value == pytest.approx(math.sqrt(0.050970), abs=1e-4)
    assert measures["prediction_drift"].crossed


def test_unknown_rate_increase_counts_unknown_tokens_under_the_tokenizer(tokenizer):
    # reference: every word known (rate 0); today: "apple gizmo" x 10 -> 10 [UNK] of 20 tokens = 0.5
    reference = _profile(tokenizer, ["apple banana"] * 10, [1] * 10)
    assert reference["train"]["unknown_rate"] == 0.0
    features = text_features(["apple gizmo"] * 10, tokenizer)
    measures = _by_name(vocabulary_measures(reference, features, RetrainConfig()))
    assert measures["unknown_rate_increase"].value == pytest.approx(0.5)
    assert measures["unknown_rate_increase"].crossed


def test_new_word_rate_increase_is_measured_against_the_vocabulary_sketch(tokenizer):
    # reference words: apple x10, banana x5, cherry x1 (16); a sketch of 2 keeps apple and banana,
    # leaving 1/16 = 0.0625 outside. Today: "apple grape" x 8 -> 8 of 16 outside = 0.5; rise 0.4375.
    reference_texts = ["apple banana"] * 5 + ["apple"] * 4 + ["apple cherry"]
    reference = _profile(tokenizer, reference_texts, [1] * 10, vocabulary=2)
    assert reference["train"]["vocabulary"]["words"] == {"apple": 10, "banana": 5}
    assert reference["train"]["vocabulary"]["outside_rate"] == pytest.approx(1 / 16)
    features = text_features(["apple grape"] * 8, tokenizer)
    measures = _by_name(vocabulary_measures(reference, features, RetrainConfig()))
    assert measures["new_word_rate_increase"].value == pytest.approx(0.4375)
    assert measures["new_word_rate_increase"].crossed
    assert measures["unknown_rate_increase"].value == pytest.approx(0.0)


def test_measure_drift_on_the_profiled_data_itself_reaches_no_threshold(tokenizer, tmp_path):
    texts = _numbered(WORDS, 120)
    labels = [i % 3 for i in range(120)]
    predicted = {"negative": 40, "neutral": 40, "positive": 40}
    reference = _profile(tokenizer, texts, labels, predicted=predicted, sample=100)
    html = tmp_path / "drift.html"
    measures = measure_drift(reference, Today(texts, labels, predicted), tokenizer, RetrainConfig(), html)
    assert {m.name for m in measures} == {
        "label_drift",
        "length_drift",
        "text_drift_auc",
        "prediction_drift",
        "unknown_rate_increase",
        "new_word_rate_increase",
    }
    assert [m.describe() for m in measures if m.crossed] == []
    report = html.read_text(encoding="utf-8")
    for column in ("label", "length", "text", "prediction"):
        assert f"Drift in column '{column}'" in report
