"""Preemption and multi-process training, each in real subprocesses on the tiny model.

* SIGTERM mid-epoch: the worker checkpoints at the next step boundary and exits 143; a restart
  resumes there and ends with the weights of a run that was never interrupted.
* SIGKILL mid-epoch (no chance to clean up, possibly in the middle of a save): a restart resumes
  from the newest complete checkpoint, with the same outcome; no incomplete checkpoint is ever visible.

The uninterrupted run they are compared with learns the task (test accuracy from 1/3 to about 1.0),
and its best evaluation comes long after both resume points, so the compared weights, final and
saved, are all trained after the resume.
* DDP with 2 CPU processes (gloo) under torchrun: the ranks train on disjoint examples and the
  saved model is rank 0's (the ranks' weights agree, as DDP promises).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from tweet_sentiment.train.checkpointing import COMPLETE_MARKER, STATE_FILE
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.output import SUMMARY_FILE

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _config(model_dir, checkpoints: Path, **overrides) -> TrainConfig:
    settings = dict(
        model_name=str(model_dir),
        epochs=8,
        batch_size=2,  # 45 steps per epoch on the 90 training tweets: room to be killed mid-epoch
        learning_rate=1e-3,
        max_length=32,
        eval_split="test",
        progress=False,
        tensorboard=False,
        checkpoint_dir=str(checkpoints),
        checkpoint_every_steps=40,
        keep_checkpoints=2,
        # One thread: on a shared 2-core machine, OpenMP threads of a tiny model wait on each other
        # far longer than they compute (measured 50x slower with 2 threads under load).
        num_threads=1,
        min_steps=0,  # step counts here are epochs x batches; the floor has tests of its own
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def _start(config: TrainConfig, dataset_dir, output: Path, tmp_path: Path) -> subprocess.Popen:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(asdict(config)))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tweet_sentiment.train.launcher",  # the DDP worker entry; without torchrun it is one process
            "--config",
            str(config_path),
            "--dataset-dir",
            str(dataset_dir),
            "--output-dir",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def _assert_no_partial_checkpoint_visible(checkpoints: Path, *, live: bool = False) -> list[int]:
    """Every ckpt-* directory carries its marker and a loadable state; returns their steps.

    ``live``: the trainer is still running, so a directory listed a moment ago may have been
    pruned (renamed away whole) before we look inside; a vanished one is not a partial one.
    """
    import torch

    steps = []
    for path in sorted(checkpoints.glob("ckpt-*")):
        try:
            assert (path / COMPLETE_MARKER).is_file() or (live and not path.exists()), (
                f"{path.name} is visible without its marker"
            )
            if not path.exists():
                continue
            state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            if live and not path.exists():
                continue
            raise
        assert state["step"] == int(path.name.split("-")[1])
        steps.append(state["step"])
    return steps


def _finish(config, dataset_dir, output, tmp_path) -> dict:
    process = _start(config, dataset_dir, output, tmp_path)
    log, _ = process.communicate(timeout=120)
    assert process.returncode == 0, log
    return json.loads((output / SUMMARY_FILE).read_text())


def _assert_model_loads(output: Path) -> None:
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer

    model = load_classifier(str(output), fresh_head=False)
    tokenizer = load_tokenizer(str(output))
    logits = model(**tokenizer(["what a day"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir, dataset_dir, tmp_path_factory) -> dict:
    """The run the interrupted ones must reproduce: its summary and its final weights' digest."""
    root = tmp_path_factory.mktemp("uninterrupted")
    config = _config(tiny_model_dir, root / "ckpt", trace_dir=str(root / "trace"))
    summary = _finish(config, dataset_dir, root / "model", root)
    assert summary["best_test_accuracy"] >= 0.8, summary["history"]  # learnt (chance: 1/3)
    summary["final_digest"] = json.loads((root / "trace" / "rank0.json").read_text())["final_digest"]
    return summary


def _assert_reproduces(summary: dict, trace: Path, reference: dict) -> None:
    """The restarted run ends with the uninterrupted run's final weights, saved model and history."""
    assert summary["resumed_from_step"] < reference["best_step"]
    assert json.loads((trace / "rank0.json").read_text())["final_digest"] == reference["final_digest"]
    assert summary["saved_model_digest"] == reference["saved_model_digest"]
    assert summary["history"] == reference["history"]


def test_sigterm_mid_epoch_checkpoints_and_the_restart_finishes_the_plan(
    tiny_model_dir, dataset_dir, tmp_path, uninterrupted
):
    checkpoints, output = tmp_path / "ckpt", tmp_path / "model"
    config = _config(tiny_model_dir, checkpoints, trace_dir=str(tmp_path / "trace"))
    process = _start(config, dataset_dir, output, tmp_path)
    lines = []
    for line in process.stdout:  # wait until the second epoch is under way
        lines.append(line)
        if '"epoch": 1' in line:
            break
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    log, _ = process.communicate(timeout=60)
    assert process.returncode == 143, "".join(lines) + log
    assert "SIGTERM at step" in log
    interrupted_at = int(log.split("SIGTERM at step ")[1].split("/")[0])
    planned = int(log.split("SIGTERM at step ")[1].split("/")[1].split(";")[0])
    assert 45 < interrupted_at < planned  # mid-run, past the first epoch
    steps = _assert_no_partial_checkpoint_visible(checkpoints)
    assert steps[-1] == interrupted_at  # the SIGTERM checkpoint, not only the periodic ones
    assert not (output / SUMMARY_FILE).exists()

    summary = _finish(config, dataset_dir, output, tmp_path)
    assert summary["resumed_from_step"] == interrupted_at
    assert summary["steps"] == summary["planned_steps"] == planned
    _assert_reproduces(summary, tmp_path / "trace", uninterrupted)
    _assert_model_loads(output)
    assert not checkpoints.exists()


def test_sigkill_mid_epoch_resumes_from_the_newest_complete_checkpoint(
    tiny_model_dir, dataset_dir, tmp_path, uninterrupted
):
    checkpoints, output = tmp_path / "ckpt", tmp_path / "model"
    # Checkpoint often, so that the kill has a fair chance of landing inside a save.
    config = _config(tiny_model_dir, checkpoints, checkpoint_every_steps=7, trace_dir=str(tmp_path / "trace"))
    process = _start(config, dataset_dir, output, tmp_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        _assert_no_partial_checkpoint_visible(checkpoints, live=True)
        if len(list(checkpoints.glob("ckpt-*"))) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.17)
    assert process.poll() is None, "training ended before it could be killed"
    process.kill()
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    survivors = _assert_no_partial_checkpoint_visible(checkpoints)
    assert survivors, "no complete checkpoint survived"

    summary = _finish(config, dataset_dir, output, tmp_path)
    assert summary["resumed_from_step"] == survivors[-1]
    assert summary["steps"] == summary["planned_steps"] == 8 * 45
    _assert_reproduces(summary, tmp_path / "trace", uninterrupted)
    _assert_model_loads(output)
    assert not checkpoints.exists()  # complete checkpoints and any half-written temporary removed


def test_ddp_two_cpu_processes_train_on_disjoint_data_and_save_rank0s_model(
    tiny_model_dir, dataset_dir, tmp_path
):
    from tweet_sentiment.train.blocks import state_digest
    from tweet_sentiment.train.launcher import launch_training

    trace, output = tmp_path / "trace", tmp_path / "model"
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        epochs=2,
        batch_size=4,
        learning_rate=1e-3,
        max_length=32,
        eval_split="",  # no best-epoch swap: the saved model must be rank 0's final weights
        progress=False,
        tensorboard=False,
        device="cpu",
        num_threads=1,
        trace_dir=str(trace),
        min_steps=0,
    )
    summary = launch_training(config, dataset_dir, output, nproc=2)
    assert summary["world_size"] == 2
    ranks = [json.loads((trace / f"rank{r}.json").read_text()) for r in (0, 1)]
    steps_per_epoch = 23 // 2  # 23 batches of 4 (the last one short) per epoch: 11 rounds of 2 ranks
    assert summary["steps"] == 2 * steps_per_epoch
    assert len(ranks[0]["batches"]) == len(ranks[1]["batches"]) == 2 * steps_per_epoch
    for epoch in range(2):
        window = slice(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch)
        seen = [[i for batch in r["batches"][window] for i in batch] for r in ranks]
        assert len(set(seen[0])) == len(seen[0]) and len(set(seen[1])) == len(seen[1])
        assert not set(seen[0]) & set(seen[1]), "the ranks trained on the same examples"
        assert len(seen[0]) + len(seen[1]) >= 90 - 4  # at most the one batch that fills no round is left out
    # DDP keeps the replicas identical, and the file on disk is what rank 0 saved.
    assert ranks[0]["final_digest"] == ranks[1]["final_digest"]
    from tweet_sentiment.model.loading import load_classifier

    saved = state_digest(load_classifier(str(output), fresh_head=False).state_dict())
    assert saved == summary["saved_model_digest"] == ranks[0]["final_digest"]
    _assert_model_loads(output)


def test_ddp_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tiny_model_dir, dataset_dir, tmp_path):
    """Two DDP ranks resume from one checkpoint (data position, optimizer, each rank's RNG) exactly.

    No eval split, so the saved model is the final weights, all trained after the resume point; the
    run learns the task (test accuracy about 2/3, chance 1/3).
    """
    import shutil
    from dataclasses import replace

    from tweet_sentiment.train.launcher import launch_training
    from tweet_sentiment.train.sweep import score_on_split

    checkpoints = tmp_path / "ckpt"
    config = _config(
        tiny_model_dir,
        checkpoints,
        epochs=8,  # 6 rounds of 2 ranks x 8 tweets per epoch
        batch_size=8,
        learning_rate=8e-3,
        seed=0,
        eval_split="",
        device="cpu",
        checkpoint_every_steps=10,
        keep_checkpoints=10,
        trace_dir=str(tmp_path / "trace"),
    )
    reference = launch_training(
        replace(config, delete_checkpoints_on_success=False), dataset_dir, tmp_path / "reference", nproc=2
    )
    assert reference["world_size"] == 2 and reference["steps"] == 48
    reference_finals = [json.loads((tmp_path / "trace" / f"rank{r}.json").read_text()) for r in (0, 1)]
    steps = _assert_no_partial_checkpoint_visible(checkpoints)
    assert steps == [10, 20, 30, 40]
    _, accuracy = score_on_split(tmp_path / "reference", dataset_dir, "test")
    assert accuracy >= 0.6  # learnt (chance: 1/3)
    # As if the pod had died at step 38, in the seventh epoch: the checkpoint at 40 never happened.
    shutil.rmtree(checkpoints / "ckpt-000000040")

    resumed = launch_training(config, dataset_dir, tmp_path / "resumed", nproc=2)
    assert resumed["resumed_from_step"] == 30
    assert resumed["steps"] == 48
    for rank in (0, 1):
        final = json.loads((tmp_path / "trace" / f"rank{rank}.json").read_text())["final_digest"]
        assert final == reference_finals[rank]["final_digest"], rank
    assert resumed["saved_model_digest"] == reference["saved_model_digest"]
    assert not checkpoints.exists()
