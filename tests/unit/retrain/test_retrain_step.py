"""The check-retrain task end to end on small data: a real local registry, a tiny model, real Datasets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.registry.profile import PROFILE_FILE, ProfileConfig, profile_dataset, profile_json
from tweet_sentiment.retrain.step import run_check_retrain, score_champion_today


def _dataset(root: Path, train: list[dict], test: list[dict]) -> Path:
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess

    write_jsonl(root / "raw" / "train.jsonl", train)
    write_jsonl(root / "raw" / "test.jsonl", test)
    preprocess(
        PreprocessConfig(source=str(root / "raw"), required_splits=("train", "test")), root / "dataset"
    )
    return root / "dataset"


@pytest.fixture(scope="module")
def snapshot_a(tmp_path_factory) -> Path:
    return _dataset(tmp_path_factory.mktemp("a"), make_tweets(150, seed=11), make_tweets(60, seed=12))


def _register_champion(
    registry_dir: Path, model_dir: Path, dataset: Path, claimed: dict | None = None
) -> int:
    """Register ``model_dir`` as champion with its real figures on the test split (or ``claimed`` ones)."""
    from tweet_sentiment.core.dataset import load_split, read_stats
    from tweet_sentiment.registry import CHAMPION, open_registry

    test = load_split(dataset, "test")
    report = score_champion_today(model_dir, test)
    metrics = {
        **{k: report[k] for k in ("accuracy", "macro_recall", "macro_precision", "macro_f1")},
        **(claimed or {}),
    }
    registry = open_registry(str(registry_dir))
    profile = profile_dataset(
        dataset, model_dir, evaluation_report=report, eval_split="test", config=ProfileConfig()
    )
    profile_path = registry_dir.parent / "profile-to-register.json"
    profile_path.write_text(profile_json(profile), encoding="utf-8")
    version = registry.register(
        model_dir,
        {"metrics": metrics, "dataset_fingerprint": read_stats(dataset)["fingerprint"]},
        files={PROFILE_FILE: profile_path},
    ).version
    registry.set_alias(CHAMPION, version)
    return version


def _check(dataset: Path, registry: Path, out: Path, **settings) -> dict:
    class Sink:
        logged: dict = {}

        def log_metric(self, name, value):
            self.logged[name] = value

    sink = Sink()
    record = run_check_retrain(
        dataset,
        registry_uri=str(registry),
        eval_split="test",
        decision_path=out / "decision.md",
        report_path=out / "drift.html",
        metrics=sink,
        **settings,
    )
    record["logged"] = dict(sink.logged)
    return record


def test_no_champion_trains_and_says_so(snapshot_a, tmp_path):
    record = _check(snapshot_a, tmp_path / "registry", tmp_path, retrain_policy="when_needed")
    assert record["decision"] == "train"
    assert record["summary"] == "trained: the registry has no champion"
    assert "trained: the registry has no champion" in (tmp_path / "decision.md").read_text()
    assert "No drift report: the registry has no champion" in (tmp_path / "drift.html").read_text()
    assert record["logged"] == {"train": 1.0}


def test_the_champions_own_snapshot_is_skipped_under_both_policies(snapshot_a, tiny_model_dir, tmp_path):
    version = _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a)
    for policy in ("on_change", "when_needed"):
        record = _check(snapshot_a, tmp_path / "registry", tmp_path / policy, retrain_policy=policy)
        assert record["decision"] == "skip", record["summary"]
        assert record["champion"] == version
        # the champion's figures on today's data are its registration figures: same model, same split
        assert record["champion_today"] == pytest.approx(record["champion_at_registration"])
        assert record["logged"]["train"] == 0.0
        assert record["logged"]["champion_today_accuracy"] == pytest.approx(
            record["champion_today"]["accuracy"]
        )
        markdown = (tmp_path / policy / "decision.md").read_text()
        assert markdown.startswith("# Retrain check: skip\n\n**skipped: ")
        assert "| text_drift_auc |" in markdown
    assert "Drift in column 'text'" in (tmp_path / "when_needed" / "drift.html").read_text()


def test_a_shifted_label_mix_trains_on_label_drift(snapshot_a, tiny_model_dir, tmp_path):
    _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a)
    # the champion's own train tweets, most negatives and positives left out: 1/3 neutral -> about 5/6
    rows = make_tweets(150, seed=11)
    mostly_neutral = [r for i, r in enumerate(rows) if r["label"] == 1 or i % 10 == 0]
    shifted = _dataset(tmp_path / "b", mostly_neutral, make_tweets(60, seed=12))
    record = _check(shifted, tmp_path / "registry", tmp_path, retrain_policy="when_needed")
    assert record["decision"] == "train"
    crossed = {m["name"]: m["value"] for m in record["measures"] if m["crossed"]}
    assert "label_drift" in crossed
    assert "new_word_rate_increase" not in crossed  # the same words as the profile's


def test_new_vocabulary_trains_on_the_vocabulary_measures(snapshot_a, tiny_model_dir, tmp_path):
    _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a)
    rows = [
        {"text": f"{word} quokka {i} zorbing {word}bert felicitations", "label": i % 3}
        for i, word in enumerate(["snorkel", "kazoo", "tamarind", "gondola", "yodel"] * 30)
    ]
    shifted = _dataset(tmp_path / "b", rows, make_tweets(60, seed=12))
    record = _check(shifted, tmp_path / "registry", tmp_path, retrain_policy="when_needed")
    assert record["decision"] == "train"
    crossed = {m["name"] for m in record["measures"] if m["crossed"]}
    assert {"new_word_rate_increase", "text_drift_auc"} <= crossed


def test_a_decayed_champion_trains_on_decay(snapshot_a, tiny_model_dir, tmp_path):
    # registered with figures it no longer reaches: today it scores what the tiny random model scores
    _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a, claimed={"macro_recall": 0.95})
    record = _check(snapshot_a, tmp_path / "registry", tmp_path, retrain_policy="when_needed")
    assert record["decision"] == "train"
    assert [r.split(" ")[0] for r in record["reasons"]] == ["decay"]


def test_an_old_champion_trains_on_age(snapshot_a, tiny_model_dir, tmp_path):
    _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=45)
    record = _check(snapshot_a, tmp_path / "registry", tmp_path, retrain_policy="when_needed", now=later)
    assert record["decision"] == "train"
    assert record["reasons"][0].endswith("days old (>= 30)")


def test_always_trains_without_reading_the_registry(snapshot_a, tmp_path):
    record = _check(snapshot_a, tmp_path / "no-registry", tmp_path, retrain_policy="always")
    assert record["summary"] == "trained: retrain_policy is always"
    assert not (tmp_path / "no-registry").exists()


def test_the_profile_is_kilobytes(snapshot_a, tiny_model_dir, tmp_path):
    _register_champion(tmp_path / "registry", tiny_model_dir, snapshot_a)
    path = tmp_path / "registry" / "versions" / "000001" / PROFILE_FILE
    profile = json.loads(path.read_text())
    assert (
        profile["snapshot"]["fingerprint"]
        == json.loads((snapshot_a / "stats.json").read_text())["fingerprint"]
    )
    assert sum(profile["train"]["label_counts"].values()) == profile["train"]["rows"]
    assert path.stat().st_size < 64_000
    # the history of checks: each check against this champion is remembered, newest last
    from tweet_sentiment.registry import open_registry

    _check(snapshot_a, tmp_path / "registry", tmp_path, retrain_policy="on_change")
    _check(snapshot_a, tmp_path / "registry", tmp_path, retrain_policy="when_needed", max_decay=0.0)
    history = open_registry(str(tmp_path / "registry")).checks(1)
    assert [(h["policy"], h["decision"]) for h in history] == [
        ("on_change", "skip"),
        ("when_needed", "train"),
    ]
    assert history[0]["fingerprint"] == profile["snapshot"]["fingerprint"]
    assert set(history[1]["figures"]) >= {"label_drift", "text_drift_auc", "decay"}
