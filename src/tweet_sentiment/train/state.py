"""The training state: ``TrainingState.state_dict()`` / ``load_state_dict()``, the one description of
a checkpoint."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.train.distributed import Distributed
from tweet_sentiment.train.setup import TrainingSetup

CHECKPOINT_FORMAT = 1


# Progress counters a checkpoint carries as they are.
_COUNTERS = ("step", "epoch", "batch_in_epoch", "samples", "real_tokens", "train_seconds")


@dataclass
class TrainingState:
    """Where a run is; :meth:`state_dict` / :meth:`load_state_dict` are the one description of what a
    checkpoint holds.

    It holds the set-up's model, optimizer, scheduler and grad scaler (restored in place), the
    position (``epoch`` and ``batch_in_epoch`` name the next batch to train on), the counters, the
    epoch's loss so far (summed on the device: no host sync per step), the evaluation history with
    the best weights so far, the running sum of the checkpoint-average snapshots, and the RNG states
    of every rank. The plan (total steps, batch size, seed, process count) is saved too, so that a
    checkpoint only resumes the run that wrote it.
    """

    setup: TrainingSetup
    step: int = 0
    epoch: int = 1
    batch_in_epoch: int = 0
    samples: int = 0
    real_tokens: int = 0
    train_seconds: float = 0.0
    epoch_loss: Any = None
    epoch_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_key: tuple[float, float] | None = None
    best_state: dict | None = None
    average_sum: dict | None = None  # running sum of the snapshots' floating-point weights
    average_count: int = 0

    def __post_init__(self) -> None:
        import torch

        if self.epoch_loss is None:
            self.epoch_loss = torch.zeros((), device=self.setup.device)

    def plan(self) -> dict[str, int]:
        setup = self.setup
        return {
            "total_steps": setup.total_steps,
            "batch_size": setup.config.batch_size,
            "seed": setup.config.seed,
            "world_size": setup.dist.world_size,
        }

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint. A collective under DDP (it gathers every rank's RNG state)."""
        setup = self.setup
        return {
            "format": CHECKPOINT_FORMAT,
            "model": setup.model.state_dict(),
            "optimizer": setup.optimizer.state_dict(),
            "scheduler": setup.scheduler.state_dict(),
            "scaler": setup.scaler.state_dict(),
            **{name: getattr(self, name) for name in _COUNTERS},
            "epoch_loss": (float(self.epoch_loss.item()), self.epoch_count),
            "history": self.history,
            "best_key": self.best_key,
            "best_state": self.best_state,
            "average_sum": self.average_sum,
            "average_count": self.average_count,
            "rng": _rng_states(setup.dist, setup.device),
            **self.plan(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; a checkpoint of another plan raises :class:`ConfigError`."""
        mismatches = [f"{k} {state.get(k)} != {v}" for k, v in self.plan().items() if state.get(k) != v]
        if mismatches:
            raise ConfigError(
                f"checkpoint belongs to a different run ({'; '.join(mismatches)}); "
                "use a new checkpoint_dir or the original settings"
            )
        setup = self.setup
        setup.model.load_state_dict(state["model"])
        setup.optimizer.load_state_dict(state["optimizer"])
        setup.scheduler.load_state_dict(state["scheduler"])
        setup.scaler.load_state_dict(state["scaler"])
        for name in _COUNTERS:
            setattr(self, name, state[name])
        epoch_loss, self.epoch_count = state["epoch_loss"]
        self.epoch_loss.fill_(epoch_loss)
        self.history, self.best_key, self.best_state = (
            state["history"],
            state["best_key"],
            state["best_state"],
        )
        self.average_sum, self.average_count = state.get("average_sum"), state.get("average_count", 0)
        if self.average_sum is not None:
            self.average_sum = {name: tensor.to(setup.device) for name, tensor in self.average_sum.items()}
        _restore_rng(state["rng"], setup.dist, setup.device)

    def advance(self, index: np.ndarray, loss) -> None:
        """Count one optimizer step on the examples ``index`` (``loss``: its detached loss tensor)."""
        setup = self.setup
        self.step += 1
        self.batch_in_epoch += 1
        self.samples += len(index) * setup.dist.world_size
        self.real_tokens += int(sum(setup.lengths[i] for i in index)) * setup.dist.world_size
        self.epoch_loss += loss
        self.epoch_count += 1
        if self.step in setup.average_at:
            self._add_snapshot()

    def _add_snapshot(self) -> None:
        import torch

        with torch.no_grad():
            weights = {k: v for k, v in self.setup.model.state_dict().items() if v.is_floating_point()}
            if self.average_sum is None:
                self.average_sum = {k: v.detach().float().clone() for k, v in weights.items()}
            else:
                for name, total in self.average_sum.items():
                    total += weights[name].float()
        self.average_count += 1

    def averaged_weights(self) -> dict:
        """The mean of the snapshots, in each weight's own dtype."""
        model_state = self.setup.model.state_dict()
        return {k: (v / self.average_count).to(model_state[k].dtype) for k, v in self.average_sum.items()}

    def mean_epoch_loss(self) -> float | None:
        return self.epoch_loss.item() / self.epoch_count if self.epoch_count else None

    def next_epoch(self) -> None:
        self.epoch_loss.zero_()
        self.epoch_count = 0
        self.epoch += 1
        self.batch_in_epoch = 0

    def consider_best(self, macro_recall: float, accuracy: float) -> bool:
        """Keep the model's weights if they beat the best so far (macro-recall, then accuracy)."""
        key = (macro_recall, accuracy)
        if self.best_key is not None and key <= self.best_key:
            return False
        self.best_key = key
        self.best_state = copy.deepcopy(
            {k: v.detach().cpu() for k, v in self.setup.model.state_dict().items()}
        )
        return True


def _rng_states(dist: Distributed, device) -> dict[str, Any]:
    import torch

    cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    torch_states = dist.gather(torch.get_rng_state())
    cuda_states = dist.gather(cuda_state)
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch_states,
        "cuda": cuda_states if device.type == "cuda" else None,
    }


def _restore_rng(rng: dict[str, Any], dist: Distributed, device) -> None:
    import torch

    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"][dist.rank])
    if device.type == "cuda" and rng.get("cuda"):
        torch.cuda.set_rng_state(rng["cuda"][dist.rank], device)
