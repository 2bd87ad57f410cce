"""Fine-tuning an encoder with a plain PyTorch loop: epochs, steps, evaluation on the selection split.

Under ``torchrun`` (``WORLD_SIZE`` > 1) it runs as DistributedDataParallel: every rank trains on
its own disjoint share of each epoch's batches, and rank 0 alone evaluates, checkpoints and saves.

The shape follows ``accelerate`` (a state object with ``state_dict`` / ``load_state_dict``, a
process-state object whose collectives are no-ops on one process, main-process-only reporting),
but not the library: ``Accelerator.save_state`` writes a directory of files in place (no atomic
rename, no ``gs://``, no completeness marker), and its prepared data loader would replace the
per-rank length-grouped batches that make resuming a pure function of (seed, epoch, position).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.core.dataset import resolve_selection_split
from tweet_sentiment.model.inference import pad_batch
from tweet_sentiment.train.blocks import StopFlag, score
from tweet_sentiment.train.checkpointing import Checkpointer
from tweet_sentiment.train.config import TrainConfig, TrainingInterrupted
from tweet_sentiment.train.distributed import Distributed
from tweet_sentiment.train.output import save_model
from tweet_sentiment.train.reporting import Clock, Reporter, StepTrace, open_reporter
from tweet_sentiment.train.setup import TrainingSetup, min_steps_record, set_up
from tweet_sentiment.train.state import TrainingState


def train(
    config: TrainConfig, dataset_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> dict:
    """Fine-tune ``config.model_name`` on the dataset's train split; save the best model to ``output_dir``.

    Returns a summary (steps, samples/s, per-evaluation validation figures) that is also written to
    ``output_dir/training_summary.json``. Raises :class:`TrainingInterrupted` after SIGTERM, once a
    checkpoint is written.
    """
    import torch

    config = replace(config, eval_split=resolve_selection_split(config.eval_split, dataset_dir))
    dist = Distributed.from_env()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    setup = set_up(config, dataset_dir, dist, dist.start(config.device))
    state = TrainingState(setup)
    checkpointer = Checkpointer(
        config.checkpoint_dir,
        every_steps=config.checkpoint_every_steps,
        keep=config.keep_checkpoints,
        is_main=dist.is_main,
        barrier=dist.barrier,
    )
    resumed = checkpointer.resume(state)
    resumed_from = state.step
    reporter = open_reporter(setup, Path(output_dir), resumed_from)
    if (raised := min_steps_record(setup)) is not None:
        reporter.record(raised)
    if resumed is not None:
        reporter.record({"resumed_from_checkpoint": resumed.location, "step": resumed_from})
    trace = StepTrace(config.trace_dir)
    started = time.perf_counter()
    try:
        with StopFlag() as stop:
            run_epochs(setup, state, checkpointer, reporter, stop, trace)
        trace.write(dist.rank, setup.model)
        score_checkpoint_average(setup, state, reporter)
    finally:
        reporter.close()
    summary: dict[str, Any] = {}
    if dist.is_main:
        summary = save_model(setup, state, Path(output_dir), resumed_from, time.perf_counter() - started)
        if config.delete_checkpoints_on_success:
            checkpointer.discard()
    dist.barrier()
    dist.stop()
    return summary


def run_epochs(
    setup: TrainingSetup,
    state: TrainingState,
    checkpointer: Checkpointer,
    reporter: Reporter,
    stop: StopFlag,
    trace: StepTrace,
) -> None:
    """Train from where ``state`` is to the planned step: evaluate every N steps and at each epoch's end,
    checkpoint every N steps, and on SIGTERM checkpoint and raise :class:`TrainingInterrupted`."""
    config, total_steps, clock = setup.config, setup.total_steps, Clock(state)
    setup.model.train()  # dropout on (from_pretrained returns the model in eval mode)
    while state.step < total_steps:
        batches = setup.batches(state.epoch)
        clock.start()
        while state.batch_in_epoch < len(batches) and state.step < total_steps:
            index = batches[state.batch_in_epoch]
            loss = train_step(setup, index)
            state.advance(index, loss)
            reporter.add_loss(state.step, loss, setup.scheduler)
            trace.add(index)
            stop_now = _stop_requested(setup, state, stop)
            at_epoch_end = state.batch_in_epoch >= len(batches) or state.step >= total_steps
            if config.eval_every_steps and state.step % config.eval_every_steps == 0 and not at_epoch_end:
                with clock.paused():
                    evaluate(setup, state, reporter, None)
            if stop_now or checkpointer.due(state.step):
                with clock.paused():
                    checkpointer.save(state)
                if stop_now:
                    raise TrainingInterrupted(
                        f"SIGTERM at step {state.step}/{total_steps}; checkpoint written to "
                        f"{config.checkpoint_dir or '(nowhere: checkpoint_dir is empty)'}"
                    )
        clock.stop()
        if state.batch_in_epoch >= len(batches):  # the epoch's end
            evaluate(setup, state, reporter, state.mean_epoch_loss())
            state.next_epoch()
        elif state.step >= total_steps:  # stopped mid-epoch (fractional epochs or max_steps)
            evaluate(setup, state, reporter, state.mean_epoch_loss())


def train_step(setup: TrainingSetup, index: np.ndarray):
    """One optimizer step on the examples ``index``; returns the detached loss (still on the device)."""
    import torch
    import torch.nn.functional as F

    input_ids, attention_mask = pad_batch([setup.encoded[i] for i in index], setup.pad_id, setup.pad_multiple)
    labels = setup.labels[index].to(setup.device, non_blocking=True)
    with torch.autocast(setup.device.type, dtype=setup.dtype, enabled=setup.dtype is not None):
        logits = setup.train_model(
            input_ids=input_ids.to(setup.device, non_blocking=True),
            attention_mask=attention_mask.to(setup.device, non_blocking=True),
        ).logits
    loss = F.cross_entropy(
        logits.float(), labels, weight=setup.loss_weights, label_smoothing=setup.config.label_smoothing
    )
    setup.scaler.scale(loss).backward()
    setup.scaler.unscale_(setup.optimizer)
    torch.nn.utils.clip_grad_norm_(setup.model.parameters(), 1.0, foreach=True)
    setup.scaler.step(setup.optimizer)
    setup.scaler.update()
    setup.optimizer.zero_grad(set_to_none=True)
    setup.scheduler.step()
    return loss.detach()


def _stop_requested(setup: TrainingSetup, state: TrainingState, stop: StopFlag) -> bool:
    """Whether to checkpoint and stop now, the same answer on every rank.

    A SIGTERM on the last step needs no checkpoint: the run is about to finish anyway. Under DDP the
    ranks agree through an all-reduce, which syncs with the host; every 10 steps is often enough
    within a preemption's grace period.
    """
    if state.step >= setup.total_steps or (setup.dist.enabled and state.step % 10):
        return False
    return setup.dist.any_rank(stop.requested, setup.device)


def evaluate(
    setup: TrainingSetup,
    state: TrainingState,
    reporter: Reporter,
    train_loss: float | None,
    *,
    record_epoch: int | None = None,
    averaged: int = 0,
) -> None:
    """Score the model as it is now (main rank), keep it if it is the best so far, add a history record.

    ``averaged``: the model holds the mean of that many snapshots.
    """
    split_name = setup.config.eval_split
    record: dict[str, Any] = {
        "epoch": state.epoch if record_epoch is None else record_epoch,
        "step": state.step,
    }
    if train_loss is not None:
        record["train_loss"] = round(train_loss, 5)
    if averaged:
        record |= {"averaged_snapshots": averaged, "averaged_from_step": min(setup.average_at)}
    if setup.eval_split is not None and setup.dist.is_main:
        report = score(setup.model, setup.tokenizer, setup.eval_split, setup.config)
        accuracy, macro_recall = report["accuracy"], report["macro_recall"]
        record[f"{split_name}_accuracy"] = accuracy
        record[f"{split_name}_macro_recall"] = macro_recall
        reporter.evaluation(
            f"{split_name}/{'averaged_' if averaged else ''}", accuracy, macro_recall, state.step
        )
        if state.consider_best(macro_recall, accuracy):
            record["best"] = True
        setup.model.train()
    state.history.append(record)
    reporter.record(record)
    setup.dist.barrier()


def score_checkpoint_average(setup: TrainingSetup, state: TrainingState, reporter: Reporter) -> None:
    """Score the mean of the snapshot weights (a candidate for the best model); the weights are put back."""
    if state.average_count <= 1 or setup.eval_split is None:
        return
    import torch

    model = setup.model
    final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.load_state_dict(state.averaged_weights(), strict=False)
    # The loop has already moved `epoch` on when it ended at an epoch boundary.
    epoch = state.epoch - 1 if state.batch_in_epoch == 0 else state.epoch
    evaluate(setup, state, reporter, None, record_epoch=epoch, averaged=state.average_count)
    model.load_state_dict(final_state)
