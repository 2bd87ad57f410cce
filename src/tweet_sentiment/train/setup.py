"""Set-up of a training run: model, tokenizer, data, optimiser and the planned steps (``TrainingSetup``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.core.dataset import SplitData, load_split
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.model.inference import autocast_dtype
from tweet_sentiment.model.loading import load_classifier, load_tokenizer
from tweet_sentiment.train.blocks import (
    averaging_steps,
    build_optimizer,
    class_weights,
    epoch_batches,
    linear_schedule,
    seed_everything,
)
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.distributed import Distributed


@dataclass
class TrainingSetup:
    """What stays fixed during a run: data, model, optimizer, schedule and the step plan."""

    config: TrainConfig
    dist: Distributed
    device: Any
    dtype: Any  # the autocast dtype; None: plain fp32
    tokenizer: Any
    model: Any
    train_model: Any  # the model, or DistributedDataParallel around it
    optimizer: Any
    scheduler: Any
    scaler: Any
    encoded: list[list[int]]
    lengths: list[int]
    labels: Any
    loss_weights: Any
    eval_split: SplitData | None
    steps_per_epoch: int
    total_steps: int
    average_at: frozenset[int]
    pad_id: int
    pad_multiple: int

    def batches(self, epoch: int) -> list[np.ndarray]:
        return epoch_batches(self.lengths, self.config, epoch, self.dist.rank, self.dist.world_size)


def set_up(
    config: TrainConfig, dataset_dir: str | os.PathLike[str], dist: Distributed, device
) -> TrainingSetup:
    """Seed, read the splits, load tokenizer and model, tokenise, plan the steps, build the optimizer."""
    import torch

    seed_everything(config.seed)
    train_split = load_split(dataset_dir, "train")
    eval_split = None
    if config.eval_split and (Path(dataset_dir) / f"{config.eval_split}.jsonl").exists():
        eval_split = load_split(dataset_dir, config.eval_split)
    tokenizer = load_tokenizer(config.model_name)
    model = load_classifier(config.model_name, fresh_head=True).to(device)
    dtype = autocast_dtype(config.precision, device)
    encoded = tokenizer(train_split.texts, truncation=True, max_length=config.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    loss_weights = None
    if config.class_weight_power > 0:
        weights = class_weights(train_split.labels, model.config.num_labels, config.class_weight_power)
        loss_weights = torch.tensor(weights, device=device)
    steps_per_epoch, total_steps = _plan_steps(lengths, config, dist)
    optimizer = build_optimizer(model, config)
    return TrainingSetup(
        config=config,
        dist=dist,
        device=device,
        dtype=dtype,
        tokenizer=tokenizer,
        model=model,
        train_model=dist.wrap(model, device),
        optimizer=optimizer,
        scheduler=linear_schedule(optimizer, int(config.warmup_ratio * total_steps), total_steps),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        encoded=encoded,
        lengths=lengths,
        labels=torch.as_tensor(train_split.labels, dtype=torch.long),
        loss_weights=loss_weights,
        eval_split=eval_split,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        average_at=frozenset(averaging_steps(total_steps, config.average_tail, config.average_snapshots)),
        pad_id=tokenizer.pad_token_id or 0,
        # Lengths rounded up to a multiple of 8 feed GPU tensor cores; on a CPU that is only wasted work.
        pad_multiple=8 if device.type == "cuda" else 1,
    )


def _plan_steps(lengths: list[int], config: TrainConfig, dist: Distributed) -> tuple[int, int]:
    """(steps per epoch, total steps) of this run."""
    steps_per_epoch = len(epoch_batches(lengths, config, 1, dist.rank, dist.world_size))
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{len(lengths)} training examples make no full batch of {config.batch_size} per each of "
            f"{dist.world_size} processes; lower batch_size or the process count"
        )
    total_steps = _steps_of_epochs(config, steps_per_epoch)
    if total_steps < config.min_steps:  # small data: whole epochs added (each ends with an evaluation)
        total_steps = math.ceil(config.min_steps / steps_per_epoch) * steps_per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    return steps_per_epoch, total_steps


def _steps_of_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """The steps that ``config.epochs`` asks for, before ``min_steps`` and ``max_steps``."""
    return math.ceil(config.epochs * steps_per_epoch)


def min_steps_record(setup: TrainingSetup) -> dict[str, Any] | None:
    """The log record saying that ``min_steps`` raised the epochs (small data), or None."""
    config = setup.config
    if setup.total_steps <= _steps_of_epochs(config, setup.steps_per_epoch):
        return None
    return {
        "min_steps": config.min_steps,
        "epochs": config.epochs,
        "raised_to_epochs": setup.total_steps // setup.steps_per_epoch,
        "steps": setup.total_steps,
        "steps_per_epoch": setup.steps_per_epoch,
    }
