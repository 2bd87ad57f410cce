"""The dev split: carved out of train by a hash of the text, used by training, never by evaluate's split."""

from __future__ import annotations

import json
import math

import pytest

from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.dataset import SplitData, load_split
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.preprocess.dev_split import DEV_SPLIT, carve_dev_split, dev_bucket, selection_split
from tweet_sentiment.preprocess.run import preprocess
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.loop import train


def _split(rows: list[dict]) -> SplitData:
    data = SplitData()
    for i, row in enumerate(rows, start=1):
        data.texts.append(row["text"])
        data.labels.append(row["label"])
        data.origins.append(("train.jsonl", i))
    return data


def _imbalanced(count: int, seed: int) -> list[dict]:
    """Unique texts, classes 50 / 30 / 20 %."""
    return [
        {
            "text": f"tweet {seed}-{i} about thing {i * 7919 % 1000}",
            "label": 0 if i % 10 < 5 else 1 if i % 10 < 8 else 2,
        }
        for i in range(count)
    ]


def test_the_split_is_deterministic_and_stable_across_snapshots():
    march, april = _imbalanced(3000, seed=1), _imbalanced(3000, seed=1)[1013:] + _imbalanced(1500, seed=2)
    kept_a, dev_a = carve_dev_split(_split(march), 0.1)
    again_kept, again_dev = carve_dev_split(_split(march), 0.1)
    assert (again_kept.texts, again_dev.texts) == (kept_a.texts, dev_a.texts)
    _, dev_b = carve_dev_split(_split(april), 0.1)
    shared = {r["text"] for r in march} & {r["text"] for r in april}
    assert len(shared) == 1987
    # A tweet's side depends on its text alone, not on the rest of the snapshot.
    assert shared & set(dev_a.texts) == shared & set(dev_b.texts)
    assert 0 < len(shared & set(dev_a.texts)) < len(shared)


def test_each_class_gives_dev_its_share_within_binomial_tolerance():
    rows = _imbalanced(6000, seed=3)
    fraction = 0.15
    kept, dev = carve_dev_split(_split(rows), fraction)
    assert len(kept.texts) + len(dev.texts) == len(rows)
    for label in range(3):
        total = sum(1 for r in rows if r["label"] == label)
        share = dev.labels.count(label) / total
        tolerance = 4 * math.sqrt(fraction * (1 - fraction) / total)
        assert abs(share - fraction) < tolerance, (label, share)


def test_the_same_text_lands_on_the_same_side_up_to_case_and_spacing():
    assert dev_bucket("Great  game tonight!") == dev_bucket("great game TONIGHT!")
    assert dev_bucket("great game tonight!") != dev_bucket("great game tonight?")
    texts = [f"Same text {i}" for i in range(200)]
    rows = [{"text": t, "label": 0} for t in texts] + [{"text": t.upper() + " ", "label": 0} for t in texts]
    _, dev = carve_dev_split(_split(rows), 0.3)
    in_dev = {t.casefold().strip() for t in dev.texts}
    assert {t.casefold() for t in texts if t.casefold() in in_dev} == in_dev
    assert len(dev.texts) == 2 * len(in_dev) > 0


def test_the_selection_split_is_carved_only_when_the_data_brings_none():
    assert selection_split({"train", "validation", "test"}, "test", 0.1) == "validation"
    assert selection_split({"train", "validation"}, "validation", 0.1) == DEV_SPLIT
    assert selection_split({"train", "test"}, "test", 0.1) == DEV_SPLIT
    assert selection_split({"train", "validation"}, "validation", 0.0) == "validation"  # as before
    assert selection_split({"train"}, "", 0.1) == ""  # the evaluation split unknown: nothing carved
    with pytest.raises(ConfigError, match="dev_fraction"):
        carve_dev_split(_split(_imbalanced(10, 0)), 1.0)


@pytest.fixture(scope="module")
def carved_dataset(tmp_path_factory):
    """TweetEval-like data (train + validation, evaluated on validation): dev is carved out of train.

    Two train rows repeat a validation tweet (one up to a URL and a mention): leakage, quarantined.
    """
    raw = tmp_path_factory.mktemp("raw-dev")
    train_rows, validation_rows = make_tweets(300, seed=11), make_tweets(30, seed=12)
    train_rows += [
        {"text": validation_rows[0]["text"], "label": validation_rows[0]["label"]},
        {"text": validation_rows[1]["text"] + " https://t.co/abc", "label": validation_rows[1]["label"]},
    ]
    write_jsonl(raw / "train.jsonl", train_rows)
    write_jsonl(raw / "validation.jsonl", validation_rows)
    out = tmp_path_factory.mktemp("dataset-dev")
    config = PreprocessConfig(
        source=str(raw),
        required_splits=("train", "validation"),
        held_out_split="validation",
        dev_fraction=0.2,
    )
    return out, preprocess(config, out)


def test_preprocess_carves_dev_apart_from_the_eval_split_and_says_where_rows_went(carved_dataset):
    out, stats = carved_dataset
    assert stats["selection_split"] == DEV_SPLIT
    train_split, dev, validation = (load_split(out, s) for s in ("train", DEV_SPLIT, "validation"))
    assert not set(dev.texts) & set(validation.texts)
    assert not set(dev.texts) & set(train_split.texts)
    assert not set(train_split.texts) & set(validation.texts)
    assert len(train_split.texts) + len(dev.texts) == 300  # the two leaked rows are quarantined
    assert all(dev_bucket(t) < 0.2 <= dev_bucket(u) for t in dev.texts for u in train_split.texts[:20])
    written = json.loads((out / "stats.json").read_text())
    record = written["dev_split"]
    assert "sha256" in record["rule"] and record["dev_fraction"] == 0.2
    assert record["rows"][DEV_SPLIT] == {
        name: dev.labels.count(i) for i, name in enumerate(("negative", "neutral", "positive"))
    }
    assert written[f"{DEV_SPLIT}_rows"] == len(dev.texts) and written["train_rows"] == len(train_split.texts)
    assert all(abs(share - 0.2) < 0.15 for share in record["dev_share_by_class"].values())


def test_data_with_its_own_validation_split_or_dev_fraction_0_carves_nothing(raw_data_dir, tmp_path):
    stats = preprocess(
        PreprocessConfig(source=str(raw_data_dir), held_out_split="test", dev_fraction=0.2), tmp_path / "a"
    )
    assert stats["selection_split"] == "validation" and "dev_split" not in stats
    stats = preprocess(
        PreprocessConfig(source=str(raw_data_dir), held_out_split="validation", dev_fraction=0.0),
        tmp_path / "b",
    )
    assert stats["selection_split"] == "validation" and stats["train_rows"] == 90
    assert not (tmp_path / "b" / f"{DEV_SPLIT}.jsonl").exists()


def test_training_selects_on_dev_and_never_reads_the_eval_split(carved_dataset, tiny_model_dir, tmp_path):
    out, _ = carved_dataset
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for path in out.iterdir():
        (dataset / path.name).write_bytes(path.read_bytes())
    # The evaluation split is unreadable: training must not open it.
    (dataset / "validation.jsonl").write_text("not json\n")
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        epochs=2,
        learning_rate=6e-3,
        batch_size=16,
        max_length=32,
        seed=0,
        progress=False,
        tensorboard=False,
        min_steps=0,
    )
    assert config.eval_split == "auto"
    summary = train(config, dataset, tmp_path / "model")
    assert summary["config"]["eval_split"] == DEV_SPLIT
    assert [h["step"] for h in summary["history"] if f"{DEV_SPLIT}_macro_recall" in h] == [
        summary["steps"] // 2,
        summary["steps"],
    ]
    assert f"best_{DEV_SPLIT}_macro_recall" in summary
