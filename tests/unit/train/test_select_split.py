"""select-model scores the soup and the best trial on the split choices are made on, never the evaluated one.

The dataset is written here in preprocess's output format, with a dev split (the selection split) and
a test split (the evaluated split) that disagree about which candidate is better. The two trials are
the tiny model with its classifier's weights zeroed and its biases set, so each predicts one class
whatever the tweet: trial A always "negative", trial B always "positive", and their uniform soup (the
mean of the biases) always "neutral". Which of A and the soup is better is then decided by the labels
of the split they are scored on alone.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from tweet_sentiment.train.output import SUMMARY_FILE
from tweet_sentiment.train.sweep import SELECTION_FILE, score_on_split, select_model

# Biases of the 3 classes (negative, neutral, positive). Soup: (-5, 9, -5) -> always neutral.
BIAS_A, BIAS_B = [10.0, 9.0, -20.0], [-20.0, 9.0, 10.0]
# Labels making the soup (always neutral) better than A (always negative): 5 of 10 right vs 3 of 10;
# B (always positive) gets 2 of 10, so A is the best trial.
SOUP_BETTER = [1] * 5 + [0] * 3 + [2] * 2
# The other way round: A 5 of 10, the soup 3 of 10, B 2 of 10.
SOUP_WORSE = [0] * 5 + [1] * 3 + [2] * 2


def _write_dataset(root, dev_labels, test_labels):
    root.mkdir()
    for split, labels in (("dev", dev_labels), ("test", test_labels)):
        rows = [
            {"text": f"{split} tweet number {i} about the game", "label": y} for i, y in enumerate(labels)
        ]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "train.jsonl").write_text(json.dumps({"text": "a train tweet", "label": 0}) + "\n")
    (root / "stats.json").write_text(
        json.dumps({"selection_split": "dev", "splits": ["dev", "test", "train"]})
    )
    return root


def _trial(tiny_model_dir, out, bias, dataset, seed):
    """The tiny model with a constant head, and the summary its train task would have written (its best
    figures measured on dev)."""
    shutil.copytree(tiny_model_dir, out)
    weights = load_file(out / "model.safetensors")
    weights["classifier.weight"] = torch.zeros_like(weights["classifier.weight"])
    weights["classifier.bias"] = torch.tensor(bias)
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    recall, accuracy = score_on_split(out, dataset, "dev")
    config = {"model_name": str(tiny_model_dir), "eval_split": "dev", "learning_rate": 6e-3}
    config.update(class_weight_power=0.5, seed=seed)
    summary = {"config": config, "best_dev_macro_recall": recall, "best_dev_accuracy": accuracy}
    (out / SUMMARY_FILE).write_text(json.dumps(summary))
    return out


@pytest.mark.parametrize(
    "dev_labels, test_labels, soup_kept",
    [(SOUP_BETTER, SOUP_WORSE, True), (SOUP_WORSE, SOUP_BETTER, False)],
    ids=["dev-prefers-the-soup", "dev-prefers-the-best-trial"],
)
def test_the_soup_and_the_best_trial_are_scored_on_dev_not_on_the_evaluated_split(
    tiny_model_dir, tmp_path, dev_labels, test_labels, soup_kept
):
    dataset = _write_dataset(tmp_path / "dataset", dev_labels, test_labels)
    trial_a = _trial(tiny_model_dir, tmp_path / "a", BIAS_A, dataset, seed=0)
    trial_b = _trial(tiny_model_dir, tmp_path / "b", BIAS_B, dataset, seed=1)

    decision = select_model([str(trial_a), str(trial_b)], dataset, tmp_path / "chosen", soup_top_k=2)

    assert decision["selection_split"] == "dev" and decision["best_trial"] == 0
    soup = decision["soup"]
    assert soup["members"] == [0, 1]
    # The figures recorded are the dev figures (A: always negative, the soup: always neutral).
    assert soup["best_trial_dev_accuracy"] == pytest.approx(dev_labels.count(0) / 10)
    assert soup["dev_accuracy"] == pytest.approx(dev_labels.count(1) / 10)
    assert soup["kept"] is soup_kept
    assert decision["kept"] == ("soup-of-2" if soup_kept else "trial-0")
    chosen_bias = load_file(tmp_path / "chosen" / "model.safetensors")["classifier.bias"]
    expected = [-5.0, 9.0, -5.0] if soup_kept else BIAS_A
    assert torch.allclose(chosen_bias, torch.tensor(expected))
    assert json.loads((tmp_path / "chosen" / SELECTION_FILE).read_text()) == decision
    # On the evaluated split the kept model gets 3 of 10 right, the one left out 5 of 10.
    assert score_on_split(tmp_path / "chosen", dataset, "test")[1] == pytest.approx(0.3)
