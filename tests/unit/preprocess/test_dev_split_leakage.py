"""The carved dev split never overlaps the evaluated split, even for a leaked row whose hash says "dev".

A train row whose normalised text is also in the evaluated split (leakage) must be quarantined before
dev is carved: otherwise, when its hash puts it on the dev side, the split that model choices are made
on would share tweets with the split evaluate reports on. The leaked rows here are chosen with the
real hash function so that each of them would land in dev.
"""

from __future__ import annotations

import json

import pytest

from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.dataset import load_split
from tweet_sentiment.core.text import normalize_tweet
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.preprocess.dev_split import DEV_SPLIT, dev_bucket
from tweet_sentiment.preprocess.run import preprocess

FRACTION = 0.2


@pytest.mark.parametrize("eval_split", ["validation", "test"])
def test_a_leaked_row_that_hashes_to_dev_is_quarantined_and_dev_never_meets_the_eval_split(
    eval_split, tmp_path
):
    train_rows, eval_rows = make_tweets(120, seed=21), make_tweets(30, seed=22)
    # The evaluated tweets whose text, were it a train row, the hash would send to dev.
    dev_side = [r for r in eval_rows if dev_bucket(normalize_tweet(r["text"])) < FRACTION]
    assert len(dev_side) >= 2, "the seeds give no evaluated tweet on the dev side"
    # One evaluated tweet verbatim, one up to a URL and extra spacing (the same text once normalised).
    leaked = [
        dict(dev_side[0]),
        {"text": "  " + dev_side[1]["text"] + "   https://t.co/leak ", "label": dev_side[1]["label"]},
    ]
    write_jsonl(tmp_path / "raw" / "train.jsonl", train_rows + leaked)
    write_jsonl(tmp_path / "raw" / f"{eval_split}.jsonl", eval_rows)
    out = tmp_path / "dataset"
    config = PreprocessConfig(
        source=str(tmp_path / "raw"),
        required_splits=("train", eval_split),
        held_out_split=eval_split,
        dev_fraction=FRACTION,
        max_bad_fraction=0.05,
    )

    stats = preprocess(config, out)

    assert stats["selection_split"] == DEV_SPLIT
    train, dev, evaluated = (load_split(out, s) for s in ("train", DEV_SPLIT, eval_split))
    assert all(dev_bucket(normalize_tweet(r["text"])) < FRACTION for r in leaked)  # dev side, both
    assert not set(dev.texts) & set(evaluated.texts)
    assert not set(train.texts) & set(evaluated.texts)
    assert len(train.texts) + len(dev.texts) == len(train_rows)  # exactly the leaked rows are gone
    quarantined = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted((q["split"], q["row"]) for q in quarantined) == [
        ("train", len(train_rows) + i) for i in (1, 2)
    ]
    assert all(f"also occurs in the {eval_split} split (leakage)" in q["problem"] for q in quarantined)
    assert stats["bad_rows_by_problem"] == {f"text also occurs in the {eval_split} split": 2}
