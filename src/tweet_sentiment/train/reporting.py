"""What a training run reports while it runs: TensorBoard scalars, progress, history (rank 0 only)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.train.blocks import state_digest
from tweet_sentiment.train.config import TENSORBOARD_DIR, TrainConfig
from tweet_sentiment.train.setup import TrainingSetup
from tweet_sentiment.train.state import TrainingState


class Reporter:
    """Progress bar, TensorBoard scalars and printed records. This base class does nothing: it is what
    ranks other than the main one get (:func:`open_reporter`)."""

    def add_loss(self, step: int, loss, scheduler) -> None:
        """One step's detached loss; a mean is taken (one host sync) every ``log_every_steps``."""

    def evaluation(self, tag: str, accuracy: float, macro_recall: float, step: int) -> None:
        """Scores of one evaluation (``tag``: the TensorBoard prefix)."""

    def record(self, record: dict[str, Any]) -> None:
        """A line of the run's log (an evaluation, a resume)."""

    def close(self) -> None:
        """Flush and close what was opened."""


class _MainReporter(Reporter):
    def __init__(self, config: TrainConfig, output_dir: Path, total_steps: int, start_step: int, device):
        import torch
        from tqdm.auto import tqdm

        self.every = config.log_every_steps
        self.progress = tqdm(
            total=total_steps,
            initial=start_step,
            desc="train",
            unit="step",
            disable=not config.progress,
            mininterval=2,
        )
        self.writer = None
        if config.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events past the checkpoint that an interrupted attempt had already logged.
            self.writer = SummaryWriter(str(output_dir / TENSORBOARD_DIR), purge_step=start_step or None)
        self.running_loss = torch.zeros((), device=device)
        self.count = 0

    def add_loss(self, step: int, loss, scheduler) -> None:
        self.running_loss += loss
        self.count += 1
        self.progress.update(1)
        if step % self.every:
            return
        mean_loss = self.running_loss.item() / self.count
        self.running_loss.zero_()
        self.count = 0
        self.progress.set_postfix(loss=f"{mean_loss:.4f}")
        if self.writer is not None:
            self.writer.add_scalar("train/loss", mean_loss, step)
            self.writer.add_scalar("train/learning_rate", scheduler.get_last_lr()[-1], step)

    def evaluation(self, tag: str, accuracy: float, macro_recall: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(f"{tag}accuracy", accuracy, step)
            self.writer.add_scalar(f"{tag}macro_recall", macro_recall, step)

    def record(self, record: dict[str, Any]) -> None:
        print(json.dumps(record), flush=True)

    def close(self) -> None:
        self.progress.close()
        if self.writer is not None:
            self.writer.close()


def open_reporter(setup: TrainingSetup, output_dir: Path, start_step: int) -> Reporter:
    if not setup.dist.is_main:
        return Reporter()
    return _MainReporter(setup.config, output_dir, setup.total_steps, start_step, setup.device)


class StepTrace:
    """Audit (``trace_dir``): the example indices of every batch of this rank and its final weights."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.batches: list[list[int]] = []

    def add(self, index: np.ndarray) -> None:
        if self.directory:
            self.batches.append([int(i) for i in index])

    def write(self, rank: int, model) -> None:
        if not self.directory:
            return
        trace = Path(self.directory)
        trace.mkdir(parents=True, exist_ok=True)
        (trace / f"rank{rank}.json").write_text(
            json.dumps(
                {"rank": rank, "batches": self.batches, "final_digest": state_digest(model.state_dict())}
            ),
            encoding="utf-8",
        )


class Clock:
    """Training time only: evaluations and checkpoints are paused out of ``state.train_seconds``."""

    def __init__(self, state: TrainingState) -> None:
        self.state = state
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        self.state.train_seconds += time.perf_counter() - self.started

    @contextmanager
    def paused(self):
        self.stop()
        try:
            yield
        finally:
            self.start()
