"""Building blocks of the training loop: seeding, length-grouped batches, optimiser, schedule, weights."""

from __future__ import annotations

import random
import signal
from typing import Any

import numpy as np

from tweet_sentiment.core.dataset import SplitData
from tweet_sentiment.train.config import TrainConfig


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_grouped_batches(
    lengths: list[int],
    batch_size: int,
    generator: np.random.Generator,
    group_by_length: bool = True,
    window: int = 50,
) -> list[np.ndarray]:
    """Shuffled batches; with ``group_by_length`` each window of ``window`` batches is sorted by length
    first, so a batch holds tweets of similar length while the order stays random."""
    order = generator.permutation(len(lengths))
    if group_by_length:
        size = batch_size * window
        lengths_array = np.asarray(lengths)
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        order = np.concatenate([c[np.argsort(-lengths_array[c], kind="stable")] for c in chunks])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if group_by_length:
        generator.shuffle(batches)
    return batches


def epoch_batches(
    lengths: list[int], config: TrainConfig, epoch: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """This rank's batches of ``epoch`` (1-based), a pure function of the seed and the epoch.

    Being a pure function is what makes resuming exact: a restarted run rebuilds the epoch's batch
    list and skips the batches it already trained on. With several ranks, rank r takes every
    world_size-th batch starting at r (disjoint shares); the last few batches that do not fill a round
    are dropped so every rank runs the same number of steps (DDP needs that).
    """
    generator = np.random.default_rng([config.seed, epoch])
    batches = length_grouped_batches(lengths, config.batch_size, generator, config.group_by_length)
    per_rank = len(batches) // world_size if world_size > 1 else len(batches)
    return batches[rank::world_size][:per_rank]


def _layer_depth(name: str, num_layers: int) -> int:
    """Distance from the top: 0 for head and pooler, L - i for layer i of L, L + 1 for embeddings."""
    if ".layer." in name:
        try:
            index = int(name.split(".layer.")[1].split(".")[0])
        except ValueError:
            return 0
        return num_layers - index
    if "embeddings" in name:
        return num_layers + 1
    return 0


def build_optimizer(model, config: TrainConfig):
    import torch

    num_layers = int(getattr(model.config, "num_hidden_layers", 0) or getattr(model.config, "n_layers", 0))
    groups: dict[tuple[int, bool], list] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        no_decay = parameter.ndim < 2 or "norm" in name.lower()
        depth = _layer_depth(name, num_layers) if config.layer_lr_decay < 1 else 0
        groups.setdefault((depth, no_decay), []).append(parameter)
    param_groups = [
        {
            "params": params,
            "weight_decay": 0.0 if no_decay else config.weight_decay,
            "lr": config.learning_rate * config.layer_lr_decay**depth,
        }
        for (depth, no_decay), params in sorted(groups.items())
    ]
    # fused AdamW (one kernel over all tensors) exists for CPU and CUDA in torch >= 2.4.
    try:
        return torch.optim.AdamW(param_groups, lr=config.learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(param_groups, lr=config.learning_rate, foreach=True)


def linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def averaging_steps(total_steps: int, tail: float, snapshots: int) -> list[int]:
    """Steps (1-based, ascending) whose weights checkpoint averaging sums: evenly over the last
    ``tail`` share of ``total_steps``, always ending at the last step."""
    if tail <= 0 or total_steps < 1:
        return []
    span = max(0, round(tail * total_steps) - 1)
    if snapshots == 1 or span == 0:
        return [total_steps]
    return sorted({total_steps - round(j * span / (snapshots - 1)) for j in range(snapshots)})


def class_weights(labels: list[int], num_labels: int, power: float) -> list[float]:
    """(1 / frequency) ** power, scaled so the weighted mean over the training set is 1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    weights *= counts.sum() / max(float((weights * counts).sum()), 1e-12)
    return weights.tolist()


def score(model, tokenizer, split: SplitData, config: TrainConfig) -> dict[str, Any]:
    """Training-time validation: evaluation's scoring with the training's precision."""
    from tweet_sentiment.model.scoring import score_split

    batch_size = max(64, config.batch_size)
    return score_split(
        model,
        tokenizer,
        split,
        batch_size=batch_size,
        max_length=config.max_length,
        precision=config.precision,
    )[0]


def state_digest(state_dict: dict) -> str:
    """A sha256 over a state dict's tensors (names sorted), to compare weights across processes."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


class StopFlag:
    """Set by SIGTERM while installed (``with StopFlag() as stop``); checked between steps so the
    checkpoint is taken at a step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():  # handlers only from the main thread
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
