"""Fine-tuning an encoder into a negative / neutral / positive classifier.

A plain PyTorch loop rather than HF ``Trainer``: it pads each batch only to its own longest
tweet, groups batches by length, picks mixed precision per device, and has nothing between the
loop and the profile (``bench/train_speed.py`` measures it against the Trainer recipe).

The pieces, in the order :func:`train` uses them:

* :func:`set_up` builds a :class:`TrainingSetup` (data, model, optimizer, schedule, step plan);
* :class:`TrainingState` is where the run is, and its ``state_dict()`` / ``load_state_dict()``
  are the one description of what a checkpoint holds;
* :class:`~tweet_sentiment.checkpointing.Checkpointer` resumes from the newest complete checkpoint
  and writes atomic ones every ``checkpoint_every_steps`` steps and on SIGTERM, so a preempted run
  ends at the same step count with bit-identical weights;
* :func:`run_epochs` is the loop, :func:`train_step` one optimizer step, :func:`evaluate` scores
  and keeps the best model by macro-recall, :func:`score_checkpoint_average` scores the snapshot
  mean, :func:`save_model` writes the model and the summary;
* a :class:`Reporter` (progress bar, TensorBoard, printed records) does nothing on ranks other
  than the main one; :class:`~tweet_sentiment.distributed.Distributed` holds the collectives.

Under ``torchrun`` (``WORLD_SIZE`` > 1) it runs as DistributedDataParallel: every rank trains on
its own disjoint share of each epoch's batches, and rank 0 alone evaluates, checkpoints and saves.

The shape follows ``accelerate`` (a state object with ``state_dict`` / ``load_state_dict``, a
process-state object whose collectives are no-ops on one process, main-process-only reporting),
but not the library: ``Accelerator.save_state`` writes a directory of files in place (no atomic
rename, no ``gs://``, no completeness marker), and its prepared data loader would replace the
per-rank length-grouped batches that make resuming a pure function of (seed, epoch, position).
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.checkpointing import Checkpointer
from tweet_sentiment.data import SplitData, load_split
from tweet_sentiment.dev_split import resolve_selection_split
from tweet_sentiment.distributed import Distributed
from tweet_sentiment.errors import ConfigError, TweetSentimentError
from tweet_sentiment.inference import autocast_dtype, pad_batch
from tweet_sentiment.inference_settings import InferenceSettings, write_inference_settings
from tweet_sentiment.modeling import DEFAULT_MODEL, load_classifier, load_tokenizer

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TENSORBOARD_DIR = "tensorboard"
SUMMARY_FILE = "training_summary.json"


class TrainingInterrupted(TweetSentimentError):
    """SIGTERM arrived; a checkpoint was written and a restart will resume from it."""


class InvalidTrainConfig(ConfigError):
    """Training settings out of range; ``problems`` names each (the sweep reports them per trial)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid training configuration: " + "; ".join(problems))


@dataclass
class TrainConfig:
    """Hyper-parameters and runtime options of the train step."""

    model_name: str = field(
        default=DEFAULT_MODEL,
        metadata={
            "help": "Encoder to fine-tune: hub id, local save_pretrained directory, gs:// prefix or "
            "pkg:<module> (a package shipping weights)."
        },
    )
    epochs: float = field(
        default=3.0, metadata={"help": "Passes over the training split (fractions allowed)."}
    )
    learning_rate: float = field(
        default=8e-5, metadata={"help": "Peak AdamW learning rate (of the top layer with layer_lr_decay)."}
    )
    batch_size: int = field(
        default=32, metadata={"help": "Examples per optimizer step and per process (DDP: per rank)."}
    )
    max_length: int = field(
        default=128,
        metadata={
            "help": "Tokens kept per tweet (longer ones are truncated). Saved with the model "
            "(inference_settings.json): evaluate, the ONNX check and predict score with it."
        },
    )
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps with linear warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    layer_lr_decay: float = field(
        default=0.9,
        metadata={
            "help": "Layer-wise learning-rate decay: layer i from the top trains at lr * decay**i, "
            "embeddings lowest. 1.0 turns it off."
        },
    )
    label_smoothing: float = field(default=0.0, metadata={"help": "Cross-entropy label smoothing."})
    class_weight_power: float = field(
        default=0.0,
        metadata={
            "help": "Loss weight of each class = (1 / class frequency) ** power, normalised. 0 (the default: "
            "on the dev split 0.5 gained 0.6 macro-recall, inside the noise, and lost 0.8 accuracy): plain "
            "loss; 0.5 lifts the minority class."
        },
    )
    average_tail: float = field(
        default=0.0,
        metadata={
            "help": "Checkpoint averaging: take average_snapshots weight snapshots evenly over this last "
            "share of the steps (e.g. 0.3) and score their uniform average on eval_split; it becomes the "
            "output model when it beats every single evaluation by macro-recall. 0 (the default: on the "
            "full TweetEval run it gained 0.02 macro-recall and lost 0.25 accuracy) turns it off."
        },
    )
    average_snapshots: int = field(
        default=6, metadata={"help": "Snapshots averaged by average_tail (the last step is always one)."}
    )
    seed: int = field(default=42, metadata={"help": "Seed for initialisation, shuffling and dropout."})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16, or fp16 without bf16, on GPU; fp32 on CPU), fp32, bf16 or fp16. "
            "bf16 on a CPU only pays off with AVX-512 BF16 / AMX."
        },
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch tweets of similar length together to cut padding."}
    )
    eval_split: str = field(
        default="auto",
        metadata={
            "help": "Split scored after each epoch (and every eval_every_steps) to keep the best model by "
            "macro-recall. auto: the split preprocess chose for model choices (dev, carved out of train, "
            "when the data has no validation split besides the evaluated one); '' or an absent split: "
            "the last step's model is kept."
        },
    )
    eval_every_steps: int = field(
        default=0, metadata={"help": "Also score eval_split every this many steps (0: once per epoch)."}
    )
    max_steps: int = field(
        default=0, metadata={"help": "Stop after this many steps (0: no cap). For smoke runs."}
    )
    checkpoint_dir: str = field(
        default="",
        metadata={
            "help": "Local directory or gs:// prefix for resumable checkpoints; '' turns checkpointing off. "
            "A run restarted with the same value resumes from the newest complete checkpoint."
        },
    )
    checkpoint_every_steps: int = field(
        default=500, metadata={"help": "Steps between periodic checkpoints (one is also written at SIGTERM)."}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "Complete checkpoints kept (newest first)."})
    delete_checkpoints_on_success: bool = field(
        default=True, metadata={"help": "Remove the checkpoints once the model is saved."}
    )
    log_every_steps: int = field(
        default=50, metadata={"help": "Steps between loss / learning-rate points in TensorBoard."}
    )
    tensorboard: bool = field(
        default=True, metadata={"help": f"Write TensorBoard event files to <output>/{TENSORBOARD_DIR}."}
    )
    num_threads: int = field(
        default=0, metadata={"help": "CPU threads for torch (0: torch's default, one per physical core)."}
    )
    device: str = field(
        default="auto", metadata={"help": "auto, cpu, cuda or cuda:N (DDP: cuda:LOCAL_RANK)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})
    trace_dir: str = field(
        default="",
        metadata={
            "help": "Audit: each rank writes the example indices it trained on and a digest of its final "
            "weights here ('' = off)."
        },
    )

    def __post_init__(self) -> None:
        problems = []
        if self.epochs <= 0:
            problems.append(f"epochs must be > 0, got {self.epochs}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not 8 <= self.max_length <= 4096:
            problems.append(f"max_length must be between 8 and 4096, got {self.max_length}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.layer_lr_decay <= 1:
            problems.append(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.average_tail <= 1:
            problems.append(f"average_tail must be in [0, 1], got {self.average_tail}")
        if not 0 <= self.class_weight_power <= 1:
            problems.append(f"class_weight_power must be in [0, 1], got {self.class_weight_power}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("max_steps", "eval_every_steps", "num_threads"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("checkpoint_every_steps", "keep_checkpoints", "log_every_steps", "average_snapshots"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise InvalidTrainConfig(problems)


# ----------------------------------------------------------------------------- building blocks


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


def _optimizer(model, config: TrainConfig):
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


def _linear_schedule(optimizer, warmup_steps: int, total_steps: int):
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
    from tweet_sentiment.evaluation import score_split

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


class _StopFlag:
    """Set by SIGTERM while installed (``with _StopFlag() as stop``); checked between steps so the
    checkpoint is taken at a step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _StopFlag:
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


# ----------------------------------------------------------------------------- set-up


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
    optimizer = _optimizer(model, config)
    return TrainingSetup(
        config=config,
        dist=dist,
        device=device,
        dtype=dtype,
        tokenizer=tokenizer,
        model=model,
        train_model=dist.wrap(model, device),
        optimizer=optimizer,
        scheduler=_linear_schedule(optimizer, int(config.warmup_ratio * total_steps), total_steps),
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
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    return steps_per_epoch, total_steps


# ----------------------------------------------------------------------------- the training state

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


# ----------------------------------------------------------------------------- reporting


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


class _Trace:
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


class _Clock:
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


# ----------------------------------------------------------------------------- the loop


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
    if resumed is not None:
        reporter.record({"resumed_from_checkpoint": resumed.location, "step": resumed_from})
    trace = _Trace(config.trace_dir)
    started = time.perf_counter()
    try:
        with _StopFlag() as stop:
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
    stop: _StopFlag,
    trace: _Trace,
) -> None:
    """Train from where ``state`` is to the planned step: evaluate every N steps and at each epoch's end,
    checkpoint every N steps, and on SIGTERM checkpoint and raise :class:`TrainingInterrupted`."""
    config, total_steps, clock = setup.config, setup.total_steps, _Clock(state)
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


def _stop_requested(setup: TrainingSetup, state: TrainingState, stop: _StopFlag) -> bool:
    """Whether to checkpoint and stop now, the same answer on every rank.

    A SIGTERM on the last step needs no checkpoint: the run is about to finish anyway. Under DDP the
    ranks agree through an all-reduce, which syncs with the host; every 10 steps is often enough
    within a preemption's grace period.
    """
    if state.step >= setup.total_steps or (setup.dist.enabled and state.step % 10):
        return False
    return setup.dist.any_rank(stop.requested, setup.device)


# ----------------------------------------------------------------------------- evaluation


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


# ----------------------------------------------------------------------------- the output


def save_model(
    setup: TrainingSetup, state: TrainingState, output: Path, resumed_from: int, wall_seconds: float
) -> dict[str, Any]:
    """Save the best model (or the last one) with its tokenizer and the run's summary; return the summary."""
    model = setup.model
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    setup.tokenizer.save_pretrained(output)
    write_inference_settings(output, InferenceSettings(max_length=setup.config.max_length))
    summary = run_summary(setup, state, resumed_from, wall_seconds)
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def run_summary(setup: TrainingSetup, state: TrainingState, resumed_from: int, wall_seconds: float) -> dict:
    config, seconds = setup.config, state.train_seconds
    summary: dict[str, Any] = {
        "config": asdict(config),
        "device": str(setup.device),
        "world_size": setup.dist.world_size,
        "precision": str(setup.dtype).replace("torch.", "") if setup.dtype is not None else "fp32",
        "steps": state.step,
        "planned_steps": setup.total_steps,
        "resumed_from_step": resumed_from,
        "epochs_run": round(state.step / setup.steps_per_epoch, 3),
        "train_examples": len(setup.encoded),
        "train_seconds": round(seconds, 2),
        "wall_seconds": round(wall_seconds, 2),
        "samples_per_second": round(state.samples / seconds, 2) if seconds else None,
        "real_tokens_per_second": round(state.real_tokens / seconds, 1) if seconds else None,
        "saved_model_digest": state_digest(setup.model.state_dict()),
        "history": state.history,
    }
    accuracy, macro_recall = f"{config.eval_split}_accuracy", f"{config.eval_split}_macro_recall"
    evaluated = [h for h in state.history if macro_recall in h]
    best = max(evaluated, key=lambda h: (h[macro_recall], h[accuracy]), default=None)
    if best is not None:
        summary["best_step"] = best["step"]
        summary["best_epoch"] = best["epoch"]
        summary["best_is_checkpoint_average"] = "averaged_snapshots" in best
        summary[f"best_{accuracy}"] = best[accuracy]
        summary[f"best_{macro_recall}"] = best[macro_recall]
    return summary


def log_training_metrics(summary: dict[str, Any], sink) -> None:
    """The run's headline figures for a KFP ``Metrics`` artifact (any object with ``log_metric``)."""
    names = [name for name in summary if name.startswith("best_")]
    for name in (
        *names,
        "steps",
        "samples_per_second",
        "train_seconds",
        "resumed_from_step",
        "world_size",
    ):
        value = summary.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            sink.log_metric(name, round(float(value), 6))
