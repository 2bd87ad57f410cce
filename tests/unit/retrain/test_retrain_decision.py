"""The decision rules, one by one, on hand-made figures."""

from __future__ import annotations

import datetime as dt

import pytest

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.retrain.decision import SKIP, TRAIN, Champion, decay_measure, decide
from tweet_sentiment.retrain.drift import Measure

NOW = dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.timezone.utc)
FINGERPRINT = "a" * 64


def _champion(days_old: float = 1.0, fingerprint: str = FINGERPRINT, **metrics) -> Champion:
    created = (NOW - dt.timedelta(days=days_old)).isoformat(timespec="seconds")
    return Champion(3, fingerprint, created, metrics or {"macro_recall": 0.70, "accuracy": 0.72})


def _quiet() -> list[Measure]:
    config = RetrainConfig()
    return [
        Measure("label_drift", 0.01, config.max_label_drift, "evidently jensenshannon"),
        Measure("text_drift_auc", 0.52, config.max_text_drift_auc, "evidently abs_text_content_drift"),
        Measure("decay", 0.0, config.max_decay, "macro_recall"),
    ]


def _decide(policy, champion, *, fingerprint=FINGERPRINT, measures=None, **settings):
    config = RetrainConfig(retrain_policy=policy, **settings)
    return decide(config, champion=champion, fingerprint=fingerprint, measures=measures or [], now=NOW)


def test_always_trains_even_on_the_champions_own_snapshot():
    decision = _decide("always", _champion(), measures=_quiet())
    assert decision.decision == TRAIN
    assert decision.summary() == "trained: retrain_policy is always"


@pytest.mark.parametrize("policy", ["on_change", "when_needed"])
def test_no_champion_trains(policy):
    decision = _decide(policy, None)
    assert decision.decision == TRAIN
    assert decision.summary() == "trained: the registry has no champion"


def test_on_change_skips_the_champions_snapshot_and_trains_on_another():
    same = _decide("on_change", _champion())
    assert same.decision == SKIP
    assert same.summary().startswith(
        "skipped: snapshot aaaaaaaaaaaa is the one champion version 3 was trained on"
    )
    changed = _decide("on_change", _champion(), fingerprint="b" * 64)
    assert changed.decision == TRAIN
    assert "snapshot changed: bbbbbbbbbbbb" in changed.summary()


def test_when_needed_skips_when_no_measure_reaches_its_threshold():
    decision = _decide("when_needed", _champion(), fingerprint="b" * 64, measures=_quiet())
    assert decision.decision == SKIP
    assert "new snapshot bbbbbbbbbbbb; no measure reached its threshold (label_drift 0.0100 < 0.1000" in (
        decision.summary()
    )


@pytest.mark.parametrize(
    ("name", "value", "threshold_field"),
    [
        ("label_drift", 0.25, "max_label_drift"),
        ("length_drift", 0.3, "max_length_drift"),
        ("text_drift_auc", 0.8, "max_text_drift_auc"),
        ("prediction_drift", 0.12, "max_prediction_drift"),
        ("unknown_rate_increase", 0.02, "max_unknown_rate_increase"),
        ("new_word_rate_increase", 0.06, "max_new_word_rate_increase"),
        ("decay", 0.05, "max_decay"),
    ],
)
def test_when_needed_trains_on_the_measure_that_reaches_its_threshold(name, value, threshold_field):
    threshold = getattr(RetrainConfig(), threshold_field)
    crossing = Measure(name, value, threshold, "method")
    decision = _decide("when_needed", _champion(), measures=[*_quiet(), crossing])
    assert decision.decision == TRAIN
    assert decision.reasons == [f"{name} {value:.4f} >= {threshold:.4f} (method)"]


def test_a_measure_exactly_at_its_threshold_counts_as_reached():
    decision = _decide("when_needed", _champion(), measures=[Measure("label_drift", 0.1, 0.1, "m")])
    assert decision.decision == TRAIN


def test_when_needed_trains_an_old_champion_and_zero_disables_the_age_limit():
    old = _decide("when_needed", _champion(days_old=31), measures=_quiet(), max_champion_age_days=30)
    assert old.decision == TRAIN
    assert old.reasons == ["champion version 3 is 31.0 days old (>= 30)"]
    unlimited = _decide("when_needed", _champion(days_old=400), measures=_quiet(), max_champion_age_days=0)
    assert unlimited.decision == SKIP


def test_decay_is_the_drop_of_the_decay_metric_since_registration():
    measure = decay_measure(_champion(macro_recall=0.70), {"macro_recall": 0.64}, RetrainConfig())
    assert measure.value == pytest.approx(0.06)
    assert measure.crossed
    better = decay_measure(_champion(macro_recall=0.70), {"macro_recall": 0.75}, RetrainConfig())
    assert better.value == pytest.approx(-0.05)
    assert not better.crossed
    assert decay_measure(_champion(accuracy=0.7), {"macro_recall": 0.6}, RetrainConfig()) is None


def test_bad_settings_are_one_clear_error():
    with pytest.raises(
        ConfigError, match="retrain_policy must be one of always, on_change, when_needed, got 'sometimes'"
    ):
        RetrainConfig(retrain_policy="sometimes")
    with pytest.raises(ConfigError, match="max_decay must be >= 0, got -0.1"):
        RetrainConfig(max_decay=-0.1)
