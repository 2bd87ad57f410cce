"""The train step on the tiny model: planning, tracking artifacts, resume, validation of settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.train.blocks import class_weights, epoch_batches
from tweet_sentiment.train.checkpointing import COMPLETE_MARKER, CheckpointStore
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.loop import train


def tiny_config(model_dir, **overrides) -> TrainConfig:
    settings = dict(
        model_name=str(model_dir),
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        max_length=32,
        eval_split="test",
        progress=False,
        log_every_steps=2,
        num_threads=1,  # see test_training_resilience: a tiny model on a shared machine runs best on one
        min_steps=0,  # these tests count steps per epoch; the floor has tests of its own
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_epoch_batches_cover_every_example_once_and_shard_disjointly():
    lengths = list(np.random.default_rng(0).integers(3, 40, size=103))
    config = TrainConfig(batch_size=8, seed=7)
    single = np.concatenate(epoch_batches(lengths, config, epoch=1))
    assert sorted(single.tolist()) == list(range(103))
    assert epoch_batches(lengths, config, 1)[3].tolist() == epoch_batches(lengths, config, 1)[3].tolist()
    assert single.tolist() != np.concatenate(epoch_batches(lengths, config, 2)).tolist()
    rank0 = np.concatenate(epoch_batches(lengths, config, 1, rank=0, world_size=2))
    rank1 = np.concatenate(epoch_batches(lengths, config, 1, rank=1, world_size=2))
    assert not set(rank0.tolist()) & set(rank1.tolist())
    assert len(epoch_batches(lengths, config, 1, 0, 2)) == len(epoch_batches(lengths, config, 1, 1, 2))


def test_length_grouping_cuts_padding():
    lengths = list(np.random.default_rng(1).integers(5, 60, size=2000))
    grouped = epoch_batches(lengths, TrainConfig(batch_size=32), 1)
    plain = epoch_batches(lengths, TrainConfig(batch_size=32, group_by_length=False), 1)

    def padded(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    assert padded(grouped) < 0.6 * padded(plain)


def test_class_weights_lift_the_minority_class():
    weights = class_weights([0] * 10 + [1] * 40 + [2] * 50, 3, 0.5)
    assert weights[0] > weights[1] > weights[2]
    assert class_weights([0, 1, 2], 3, 0.0) == pytest.approx([1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learning_rate": 0}, "learning_rate"),
        ({"checkpoint_every_steps": 0}, "checkpoint_every_steps"),
        ({"layer_lr_decay": 1.5}, "layer_lr_decay"),
        ({"precision": "int8"}, "precision"),
        ({"average_tail": 1.5}, "average_tail"),
        ({"average_snapshots": 0}, "average_snapshots"),
    ],
)
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_train_writes_model_summary_and_tensorboard(tiny_model_dir, dataset_dir, tmp_path):
    from tweet_sentiment.model.loading import load_classifier

    summary = train(
        tiny_config(tiny_model_dir, eval_every_steps=5, average_tail=0.3), dataset_dir, tmp_path / "model"
    )
    assert summary["steps"] == summary["planned_steps"] == 2 * 12
    evaluated = [h for h in summary["history"] if "test_macro_recall" in h]
    # Every 5 steps, each epoch's end, then the checkpoint average of the last 30 % of the steps.
    assert [h["step"] for h in evaluated] == [5, 10, 12, 15, 20, 24, 24]
    assert evaluated[-1]["averaged_snapshots"] == 6 and "averaged_snapshots" not in evaluated[-2]
    assert summary["best_step"] in {h["step"] for h in evaluated}
    assert load_classifier(str(tmp_path / "model"), fresh_head=False).config.num_labels == 3
    events = list((tmp_path / "model" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "test/accuracy", "test/macro_recall"} <= tags
    saved = json.loads((tmp_path / "model" / "training_summary.json").read_text())
    assert saved["saved_model_digest"] == summary["saved_model_digest"]


@pytest.mark.parametrize(
    "epochs, min_steps, max_steps, world_size, expected",
    [
        (2, 0, 0, 1, 24),  # the floor off: epochs x 12 steps per epoch
        (2, 30, 0, 1, 36),  # 24 < 30: whole epochs added (3), not 30 steps cut mid-epoch
        (3, 30, 0, 1, 36),  # already above the floor: unchanged
        (0.5, 20, 0, 1, 24),  # half an epoch (6 steps) under the floor: 2 whole epochs
        (2, 30, 30, 1, 30),  # max_steps still caps (smoke runs)
        (2, 30, 0, 2, 30),  # two ranks: 6 steps per epoch each, 5 epochs
    ],
)
def test_min_steps_raises_small_data_to_whole_epochs(epochs, min_steps, max_steps, world_size, expected):
    from tweet_sentiment.train.distributed import Distributed
    from tweet_sentiment.train.setup import _plan_steps

    config = TrainConfig(epochs=epochs, batch_size=8, min_steps=min_steps, max_steps=max_steps)
    lengths = [10] * 90  # 90 tweets in batches of 8: 12 steps per epoch on one process
    assert _plan_steps(lengths, config, Distributed(rank=0, world_size=world_size))[1] == expected


def test_a_run_raised_by_min_steps_says_so_and_evaluates_every_epoch(
    tiny_model_dir, dataset_dir, tmp_path, capsys
):
    summary = train(tiny_config(tiny_model_dir, min_steps=30), dataset_dir, tmp_path / "model")
    assert summary["steps"] == summary["planned_steps"] == 36 and summary["epochs_run"] == 3
    assert [h["step"] for h in summary["history"] if "test_macro_recall" in h] == [12, 24, 36]
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"min_steps"' in line]
    assert records == [
        {"min_steps": 30, "epochs": 2, "raised_to_epochs": 3, "steps": 36, "steps_per_epoch": 12}
    ]


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tiny_model_dir, dataset_dir, tmp_path):
    """Resuming restores optimizer, scheduler, RNG and data position: the weights come out bit-identical.

    The run learns the task, and its best evaluation comes after the resume point, so the compared
    weights (the final ones, and the saved best) are all trained after the resume.
    """
    import shutil
    from dataclasses import replace

    import torch
    from safetensors.torch import load_file

    checkpoints, trace = tmp_path / "ckpt", tmp_path / "trace"
    config = tiny_config(
        tiny_model_dir,
        epochs=6,  # 6 steps of 16 tweets per epoch, at a learning rate the tiny model learns the task with
        batch_size=16,
        learning_rate=6e-3,
        seed=0,
        checkpoint_dir=str(checkpoints),
        checkpoint_every_steps=10,
        keep_checkpoints=10,
        trace_dir=str(trace),
    )
    reference = train(
        replace(config, delete_checkpoints_on_success=False), dataset_dir, tmp_path / "reference"
    )
    reference_final = json.loads((trace / "rank0.json").read_text())["final_digest"]
    assert [ref.step for ref in CheckpointStore(str(checkpoints)).list_complete()] == [10, 20, 30]
    assert all((checkpoints / f"ckpt-{s:09d}" / COMPLETE_MARKER).exists() for s in (10, 20, 30))
    assert reference["best_test_accuracy"] >= 0.7  # learnt (chance: 1/3)
    # As if the run had died at step 27: the checkpoint at 30 never happened.
    shutil.rmtree(checkpoints / "ckpt-000000030")

    resumed = train(config, dataset_dir, tmp_path / "resumed")
    assert resumed["resumed_from_step"] == 20 < reference["best_step"]
    assert resumed["steps"] == reference["steps"] == 36
    assert json.loads((trace / "rank0.json").read_text())["final_digest"] == reference_final
    assert resumed["saved_model_digest"] == reference["saved_model_digest"]
    saved, expected = (load_file(tmp_path / run / "model.safetensors") for run in ("resumed", "reference"))
    assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in expected)
    assert resumed["history"] == reference["history"]
    assert not checkpoints.exists()  # removed after success


def test_checkpoint_of_another_run_is_refused(tiny_model_dir, dataset_dir, tmp_path):
    from dataclasses import replace

    config = tiny_config(
        tiny_model_dir,
        checkpoint_dir=str(tmp_path / "ckpt"),
        checkpoint_every_steps=5,
        delete_checkpoints_on_success=False,
        epochs=1,
    )
    train(config, dataset_dir, tmp_path / "a")
    with pytest.raises(ConfigError, match="different run"):
        train(replace(config, batch_size=4), dataset_dir, tmp_path / "b")


def test_pruning_never_leaves_a_checkpoint_without_its_marker_in_sight(tmp_path, monkeypatch):
    """A process killed while pruning (here: the removal never happens) leaves only complete ckpt-* dirs."""
    import tweet_sentiment.train.checkpointing as checkpointing

    store = CheckpointStore(str(tmp_path), keep=1)
    store.save(1, {"step": 1})
    seen_during_removal = []

    def removal_that_dies_before_doing_anything(path, ignore_errors=False):
        seen_during_removal.append(sorted(p.name for p in tmp_path.glob("ckpt-*")))

    monkeypatch.setattr(checkpointing.shutil, "rmtree", removal_that_dies_before_doing_anything)
    store.save(2, {"step": 2})  # prunes step 1
    monkeypatch.undo()

    assert seen_during_removal == [["ckpt-000000002"]]  # step 1 was already out of sight
    for path in tmp_path.glob("ckpt-*"):
        assert (path / COMPLETE_MARKER).is_file()
    assert [ref.step for ref in store.list_complete()] == [2]
    assert list(tmp_path.glob(".tmp-ckpt-*")), "the interrupted removal left its hidden directory"
    store.save(3, {"step": 3})  # the next save clears what the interrupted one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000003"]


def test_averaging_steps_are_spread_over_the_tail_and_end_at_the_last_step():
    from tweet_sentiment.train.blocks import averaging_steps

    assert averaging_steps(4449, 0.3, 6) == [3115, 3382, 3649, 3915, 4182, 4449]
    assert averaging_steps(24, 0.5, 3) == [13, 18, 24]
    assert averaging_steps(10, 0.3, 1) == [10]
    assert averaging_steps(10, 0.0, 6) == []
    assert averaging_steps(3, 1.0, 10) == [1, 2, 3]  # never more snapshots than steps


def test_checkpoint_average_is_the_mean_of_the_snapshot_weights(tiny_model_dir, dataset_dir, tmp_path):
    """The averaged record scores exactly the mean of the weights saved at the snapshot steps."""
    import torch

    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer
    from tweet_sentiment.train.blocks import score

    checkpoints = tmp_path / "ckpt"
    config = tiny_config(
        tiny_model_dir,
        average_tail=0.5,
        average_snapshots=3,
        checkpoint_dir=str(checkpoints),
        checkpoint_every_steps=1,
        keep_checkpoints=100,
        delete_checkpoints_on_success=False,
    )
    summary = train(config, dataset_dir, tmp_path / "model")
    assert summary["steps"] == 24
    averaged = [h for h in summary["history"] if "averaged_snapshots" in h]
    assert len(averaged) == 1 and averaged[0]["averaged_snapshots"] == 3

    store = CheckpointStore(str(checkpoints))
    states = {ref.step: store.load(ref)["model"] for ref in store.list_complete() if ref.step in (13, 18, 24)}
    assert sorted(states) == [13, 18, 24]
    mean = {
        name: sum(states[s][name].float() for s in states) / 3 if tensor.is_floating_point() else tensor
        for name, tensor in states[24].items()
    }
    model = load_classifier(str(tiny_model_dir), fresh_head=True)
    model.load_state_dict(mean)
    report = score(model, load_tokenizer(str(tiny_model_dir)), load_split(dataset_dir, "test"), config)
    assert report["accuracy"] == averaged[0]["test_accuracy"]
    assert report["macro_recall"] == averaged[0]["test_macro_recall"]
    # The output model is the average exactly when the average won on macro-recall.
    saved = load_classifier(str(tmp_path / "model"), fresh_head=False).state_dict()
    is_average = all(torch.allclose(saved[k].float(), mean[k].float()) for k in mean)
    assert is_average == summary["best_is_checkpoint_average"]
