"""The sweep's plan and select steps as plain functions, on trials trained for real with the tiny model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.train.step import run_train
from tweet_sentiment.train.sweep import (
    SELECTION_FILE,
    describe_selection,
    plan_trials,
    score_on_split,
    select_model,
    selection_metrics,
    uniform_soup,
)

DEFAULTS = dict(learning_rate=8e-5, class_weight_power=0.5, seed=42)
TINY = dict(batch_size=16, max_length=32, progress=False, tensorboard=False)


def test_an_empty_sweep_is_one_trial_with_the_pipeline_settings():
    for empty in ("", "  ", "[]"):
        assert plan_trials(empty, run_id="job-1", **DEFAULTS) == [{"trial": 0, "run_id": "job-1", **DEFAULTS}]


def test_trials_override_some_settings_and_get_their_own_checkpoint_run_ids():
    sweep = '[{"learning_rate": 5e-5}, {"class_weight_power": 0, "seed": 7}]'
    trials = plan_trials(sweep, run_id="job-1", **DEFAULTS)
    assert trials == [
        {"trial": 0, "run_id": "job-1-trial-0", "learning_rate": 5e-5, "class_weight_power": 0.5, "seed": 42},
        {"trial": 1, "run_id": "job-1-trial-1", "learning_rate": 8e-5, "class_weight_power": 0.0, "seed": 7},
    ]
    assert isinstance(trials[1]["class_weight_power"], float) and isinstance(trials[1]["seed"], int)


@pytest.mark.parametrize(
    "sweep, message",
    [
        ("{", "sweep: not JSON"),
        ('{"learning_rate": 1}', "expected a JSON list of trials, got dict"),
        ("[3]", "trial 0: expected an object, got 3"),
        ('[{}, {"lr": 1e-4}]', "trial 1: unknown setting.s. lr; a trial may set learning_rate"),
        ('[{"seed": 1.5}]', "trial 0: seed must be int, got 1.5"),
        ('[{"learning_rate": "fast"}]', 'learning_rate must be float, got "fast"'),
        ('[{"learning_rate": -1}]', "trial 0: learning_rate must be > 0"),
        ('[{"class_weight_power": 2}]', r"class_weight_power must be in \[0, 1\]"),
        (json.dumps([{}] * 33), "33 trials, more than the limit of 32"),
    ],
)
def test_bad_sweeps_are_refused_with_the_trial_and_the_problem(sweep, message):
    with pytest.raises(ConfigError, match=message):
        plan_trials(sweep, **DEFAULTS)


@pytest.fixture(scope="module")
def trials(dataset_dir, tiny_model_dir, tmp_path_factory):
    """Trials of the tiny model (selection on the data's validation split): one that learns nothing
    (tiny learning rate, one epoch), then two that learn the task (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("trials")
    settings = [
        dict(learning_rate=1e-5, epochs=1, seed=0),
        dict(learning_rate=6e-3, epochs=10, seed=0),
        dict(learning_rate=6e-3, epochs=10, seed=1),
    ]
    dirs = []
    for index, trial in enumerate(settings):
        out = root / f"trial-{index}"
        run_train(str(dataset_dir), str(out), model_name=str(tiny_model_dir), **TINY, **trial)
        dirs.append(out)
    return dirs


def _figures(model_dir):
    summary = json.loads((model_dir / "training_summary.json").read_text())
    return summary["best_validation_macro_recall"], summary["best_validation_accuracy"]


def _fabricated_trial(source, out, dataset_dir, change):
    """A copy of the trial in ``source`` whose weights are ``change(weights)``, with its summary's
    figures re-measured on the validation split (as its train task would have written them)."""
    shutil.copytree(source, out)
    weights = load_file(out / "model.safetensors")
    save_file(change(weights), str(out / "model.safetensors"), metadata={"format": "pt"})
    summary = json.loads((out / "training_summary.json").read_text())
    recall, accuracy = score_on_split(out, dataset_dir, "validation")
    summary.update(best_validation_macro_recall=recall, best_validation_accuracy=accuracy)
    (out / "training_summary.json").write_text(json.dumps(summary))
    return out


def test_select_keeps_the_best_trial_on_the_selection_split(trials, dataset_dir, tmp_path):
    decision = select_model([str(d) for d in trials], dataset_dir, tmp_path / "chosen")
    assert _figures(trials[0])[1] < 0.5 <= _figures(trials[1])[1]  # the trials differ
    best = max(range(3), key=lambda i: (_figures(trials[i]), -i))
    assert best != 0 and decision["best_trial"] == best and decision["kept"] == f"trial-{best}"
    assert decision["selection_split"] == "validation" and "soup" not in decision
    assert [t["learning_rate"] for t in decision["trials"]] == [1e-5, 6e-3, 6e-3]
    chosen = load_file(tmp_path / "chosen" / "model.safetensors")
    expected = load_file(trials[best] / "model.safetensors")
    assert all(torch.equal(chosen[k], expected[k]) for k in expected)
    assert json.loads((tmp_path / "chosen" / SELECTION_FILE).read_text()) == decision
    metrics = selection_metrics(decision)
    assert (
        metrics["trials"] == 3.0
        and metrics["best_trial_validation_macro_recall"] == _figures(trials[best])[0]
    )


def test_uniform_soup_is_the_mean_of_the_weights(trials):
    soup = uniform_soup(trials)
    states = [load_file(d / "model.safetensors") for d in trials]
    name = next(k for k in soup if soup[k].is_floating_point() and soup[k].ndim == 2)
    assert torch.allclose(soup[name], (states[0][name] + states[1][name] + states[2][name]) / 3)
    assert not torch.equal(soup[name], states[0][name])


HEAD = "classifier.weight"


def test_a_soup_that_scores_better_is_kept(trials, dataset_dir, tmp_path):
    """Two trials whose heads are the good trial's plus and minus a large noise: each is worse than
    the good trial, their uniform soup is the good trial itself."""
    good = trials[1]
    noise = 4 * torch.randn(
        load_file(good / "model.safetensors")[HEAD].shape, generator=torch.Generator().manual_seed(0)
    )
    plus = _fabricated_trial(good, tmp_path / "plus", dataset_dir, lambda w: {**w, HEAD: w[HEAD] + noise})
    minus = _fabricated_trial(good, tmp_path / "minus", dataset_dir, lambda w: {**w, HEAD: w[HEAD] - noise})
    assert max(_figures(plus), _figures(minus)) < _figures(good)
    decision = select_model([str(plus), str(minus)], dataset_dir, tmp_path / "chosen", soup_top_k=2)
    soup = decision["soup"]
    assert soup["members"] == [decision["best_trial"], 1 - decision["best_trial"]]
    assert soup["kept"] and decision["kept"] == "soup-of-2"
    assert (soup["validation_macro_recall"], soup["validation_accuracy"]) > max(
        _figures(plus), _figures(minus)
    )
    written = load_file(tmp_path / "chosen" / "model.safetensors")
    assert torch.allclose(written[HEAD], load_file(good / "model.safetensors")[HEAD], atol=1e-5)
    assert score_on_split(tmp_path / "chosen", dataset_dir, "validation") == (
        soup["validation_macro_recall"],
        soup["validation_accuracy"],
    )
    assert selection_metrics(decision)["soup_kept"] == 1.0
    assert "soup-of-2 of 2 trial(s)" in describe_selection(decision) and "(kept)" in describe_selection(
        decision
    )


def test_a_soup_that_scores_no_better_is_dropped(trials, dataset_dir, tmp_path):
    """The soup of a trial and its identical copy is the trial: no better, so the trial is kept."""
    good = trials[1]
    copy = _fabricated_trial(good, tmp_path / "copy", dataset_dir, lambda w: w)
    decision = select_model([str(good), str(copy)], dataset_dir, tmp_path / "chosen", soup_top_k=2)
    assert decision["soup"]["members"] == [0, 1] and decision["soup"]["kept"] is False
    assert decision["kept"] == "trial-0"
    written, expected = (
        load_file(tmp_path / "chosen" / "model.safetensors"),
        load_file(good / "model.safetensors"),
    )
    assert all(torch.equal(written[k], expected[k]) for k in expected)
    # Only trials of the best one's architecture (here: encoder) go into a soup.
    other = tmp_path / "other"
    shutil.copytree(copy, other)
    summary = json.loads((other / "training_summary.json").read_text())
    summary["config"]["model_name"] = "another-encoder"
    (other / "training_summary.json").write_text(json.dumps(summary))
    decision = select_model([str(good), str(other), str(copy)], dataset_dir, tmp_path / "c2", soup_top_k=3)
    assert decision["soup"]["members"] == [0, 2]


def test_a_single_trial_passes_through_and_no_trials_is_an_error(trials, dataset_dir, tmp_path):
    decision = select_model([str(trials[1])], dataset_dir, tmp_path / "one", soup_top_k=3)
    assert decision["kept"] == "trial-0" and "soup" not in decision
    assert describe_selection(decision).startswith("selected on validation: trial-0 of 1 trial(s)")
    assert (tmp_path / "one" / "tokenizer.json").exists()
    with pytest.raises(ConfigError, match="no trials"):
        select_model([], dataset_dir, tmp_path / "none")
