"""Fine-tuning an encoder into a negative / neutral / positive classifier.

A plain PyTorch loop rather than HF ``Trainer``: it pads each batch only to its own longest
tweet, groups batches by length, picks mixed precision per device, and has nothing between the
loop and the profile (``bench/train_speed.py`` measures it against the Trainer recipe).

The loop is resumable: every ``checkpoint_every_steps`` steps and on SIGTERM it writes an atomic
checkpoint (model, optimizer, scheduler, grad scaler, RNG, data position, best model so far);
a restart with the same ``checkpoint_dir`` continues from the newest complete one, so a
preempted run ends at the same step count. Under ``torchrun`` (``WORLD_SIZE`` > 1) it runs as
DistributedDataParallel: every rank trains on its own disjoint share of each epoch's batches,
and rank 0 alone evaluates, checkpoints and saves.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.checkpointing import CheckpointStore
from tweet_sentiment.data import SplitData, load_split
from tweet_sentiment.errors import ConfigError, TweetSentimentError
from tweet_sentiment.inference import autocast_dtype, choose_device, pad_batch, predict_probabilities
from tweet_sentiment.metrics import classification_report
from tweet_sentiment.modeling import DEFAULT_MODEL, load_classifier, load_tokenizer

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TENSORBOARD_DIR = "tensorboard"
SUMMARY_FILE = "training_summary.json"


class TrainingInterrupted(TweetSentimentError):
    """SIGTERM arrived; a checkpoint was written and a restart will resume from it."""


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
        default=128, metadata={"help": "Tokens kept per tweet (longer ones are truncated)."}
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
        default=0.5,
        metadata={
            "help": "Loss weight of each class = (1 / class frequency) ** power, normalised. 0: plain loss; "
            "0.5 lifts the minority class, which macro-recall rewards."
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
        default="validation",
        metadata={
            "help": "Split scored after each epoch (and every eval_every_steps) to keep the best model by "
            "macro-recall; '' or an absent split: the last step's model is kept."
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
        if self.learning_rate <= 0:
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
            raise ConfigError("invalid training configuration: " + "; ".join(problems))


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
    probabilities = predict_probabilities(
        model,
        tokenizer,
        split.texts,
        batch_size=max(64, config.batch_size),
        max_length=config.max_length,
        precision=config.precision,
    )
    return classification_report(split.labels, probabilities.argmax(axis=1).tolist())


def state_digest(state_dict: dict) -> str:
    """A sha256 over a state dict's tensors (names sorted), to compare weights across processes."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class _Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _distributed_from_env() -> _Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return _Distributed(
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        world_size=world_size,
    )


class _StopFlag:
    """Set by SIGTERM; checked between steps so the checkpoint is taken at a step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def install(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


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
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    dist = _distributed_from_env()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if dist.enabled:
        import torch.distributed as torch_dist

        backend = "nccl" if torch.cuda.is_available() and config.device != "cpu" else "gloo"
        if not torch_dist.is_initialized():
            torch_dist.init_process_group(backend=backend)
        device = torch.device(f"cuda:{dist.local_rank}") if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        device = choose_device(config.device)

    seed_everything(config.seed)
    train_split = load_split(dataset_dir, "train")
    eval_split = None
    if config.eval_split and (Path(dataset_dir) / f"{config.eval_split}.jsonl").exists():
        eval_split = load_split(dataset_dir, config.eval_split)

    tokenizer = load_tokenizer(config.model_name)
    model = load_classifier(config.model_name, fresh_head=True).to(device)
    dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    encoded = tokenizer(train_split.texts, truncation=True, max_length=config.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    labels = torch.as_tensor(train_split.labels, dtype=torch.long)
    num_labels = model.config.num_labels
    loss_weights = None
    if config.class_weight_power > 0:
        loss_weights = torch.tensor(
            class_weights(train_split.labels, num_labels, config.class_weight_power), device=device
        )
    steps_per_epoch = len(epoch_batches(lengths, config, 1, dist.rank, dist.world_size))
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{len(encoded)} training examples make no full batch of {config.batch_size} per each of "
            f"{dist.world_size} processes; lower batch_size or the process count"
        )
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup_steps = int(config.warmup_ratio * total_steps)
    optimizer = _optimizer(model, config)
    scheduler = _linear_schedule(optimizer, warmup_steps, total_steps)
    pad_id = tokenizer.pad_token_id or 0
    # Rounding lengths up to a multiple of 8 feeds GPU tensor cores; on a CPU it is only wasted work.
    pad_multiple = 8 if device.type == "cuda" else 1

    train_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    # ---- state that a checkpoint carries
    history: list[dict[str, Any]] = []
    best_state: dict | None = None
    best_key: tuple[float, float] | None = None
    average_at = set(averaging_steps(total_steps, config.average_tail, config.average_snapshots))
    average_sum: dict | None = None  # running sum of the snapshots' floating-point weights
    average_count = 0
    step, samples, real_tokens, train_seconds = 0, 0, 0, 0.0
    epoch, batch_in_epoch = 1, 0  # the next batch to train on
    resumed_from = 0

    store = CheckpointStore(config.checkpoint_dir, config.keep_checkpoints) if config.checkpoint_dir else None
    latest = store.latest() if store else None
    if latest is not None:
        state = store.load(latest)
        _check_compatible(state, config, total_steps, dist.world_size)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        samples, real_tokens, train_seconds = state["samples"], state["real_tokens"], state["train_seconds"]
        history, best_key, best_state = state["history"], state["best_key"], state["best_state"]
        average_sum, average_count = state.get("average_sum"), state.get("average_count", 0)
        if average_sum is not None:
            average_sum = {name: tensor.to(device) for name, tensor in average_sum.items()}
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"][dist.rank])
        if device.type == "cuda" and state["rng"].get("cuda"):
            torch.cuda.set_rng_state(state["rng"]["cuda"][dist.rank], device)
        resumed_from = step
        if dist.is_main:
            print(json.dumps({"resumed_from_checkpoint": latest.location, "step": step}), flush=True)

    writer = None
    if config.tensorboard and dist.is_main:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events past the checkpoint that an interrupted attempt had already logged.
        writer = SummaryWriter(
            str(Path(output_dir) / TENSORBOARD_DIR), purge_step=step if resumed_from else None
        )

    def collect_rng() -> dict[str, Any]:
        torch_state = torch.get_rng_state()
        cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        if dist.enabled:
            import torch.distributed as torch_dist

            torch_states: list = [None] * dist.world_size
            cuda_states: list = [None] * dist.world_size
            torch_dist.all_gather_object(torch_states, torch_state)
            torch_dist.all_gather_object(cuda_states, cuda_state)
        else:
            torch_states, cuda_states = [torch_state], [cuda_state]
        return {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch_states,
            "cuda": cuda_states if device.type == "cuda" else None,
        }

    def save_checkpoint() -> None:
        rng = collect_rng()  # a collective: every rank takes part
        if store is not None and dist.is_main:
            store.save(
                step,
                {
                    "format": 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "batch_in_epoch": batch_in_epoch,
                    "samples": samples,
                    "real_tokens": real_tokens,
                    "train_seconds": train_seconds,
                    "epoch_loss": (float(epoch_loss.item()), epoch_count),
                    "history": history,
                    "best_key": best_key,
                    "best_state": best_state,
                    "average_sum": average_sum,
                    "average_count": average_count,
                    "rng": rng,
                    "total_steps": total_steps,
                    "world_size": dist.world_size,
                    "batch_size": config.batch_size,
                    "seed": config.seed,
                },
            )
        _barrier(dist)

    def evaluate_now(train_loss: float | None, *, record_epoch: int | None = None, averaged: int = 0) -> None:
        """Score the model as it is now; ``averaged``: it holds the mean of that many snapshots."""
        nonlocal best_key, best_state
        record: dict[str, Any] = {"epoch": epoch if record_epoch is None else record_epoch, "step": step}
        if train_loss is not None:
            record["train_loss"] = round(train_loss, 5)
        if averaged:
            record |= {"averaged_snapshots": averaged, "averaged_from_step": min(average_at)}
        if eval_split is not None and dist.is_main:
            report = score(model, tokenizer, eval_split, config)
            accuracy, macro_recall = report["accuracy"], report["macro_recall"]
            record[f"{config.eval_split}_accuracy"] = accuracy
            record[f"{config.eval_split}_macro_recall"] = macro_recall
            if writer is not None:
                tag = f"{config.eval_split}/{'averaged_' if averaged else ''}"
                writer.add_scalar(f"{tag}accuracy", accuracy, step)
                writer.add_scalar(f"{tag}macro_recall", macro_recall, step)
            key = (macro_recall, accuracy)
            if best_key is None or key > best_key:
                best_key = key
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                record["best"] = True
            model.train()
        history.append(record)
        if dist.is_main:
            print(json.dumps(record), flush=True)
        _barrier(dist)

    trace_batches: list[list[int]] = []
    stop = _StopFlag()
    stop.install()
    started = time.perf_counter()
    progress = tqdm(
        total=total_steps,
        initial=step,
        desc="train",
        unit="step",
        disable=not (config.progress and dist.is_main),
        mininterval=2,
    )
    running_loss = torch.zeros((), device=device)  # summed on device: no host sync per step
    loss_count = 0
    epoch_loss = torch.zeros((), device=device)
    epoch_count = 0
    if latest is not None:
        epoch_loss.fill_(state["epoch_loss"][0])
        epoch_count = state["epoch_loss"][1]
        del state
    model.train()
    try:
        while step < total_steps:
            batches = epoch_batches(lengths, config, epoch, dist.rank, dist.world_size)
            segment_started = time.perf_counter()
            while batch_in_epoch < len(batches) and step < total_steps:
                index = batches[batch_in_epoch]
                input_ids, attention_mask = pad_batch([encoded[i] for i in index], pad_id, pad_multiple)
                batch_labels = labels[index].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    logits = train_model(
                        input_ids=input_ids.to(device, non_blocking=True),
                        attention_mask=attention_mask.to(device, non_blocking=True),
                    ).logits
                loss = F.cross_entropy(
                    logits.float(), batch_labels, weight=loss_weights, label_smoothing=config.label_smoothing
                )
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                batch_in_epoch += 1
                samples += len(index) * dist.world_size
                real_tokens += int(sum(lengths[i] for i in index)) * dist.world_size
                running_loss += loss.detach()
                epoch_loss += loss.detach()
                loss_count += 1
                epoch_count += 1
                if step in average_at:
                    with torch.no_grad():
                        weights = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
                        if average_sum is None:
                            average_sum = {k: v.detach().float().clone() for k, v in weights.items()}
                        else:
                            for name, total in average_sum.items():
                                total += weights[name].float()
                    average_count += 1
                if config.trace_dir:
                    trace_batches.append([int(i) for i in index])
                progress.update(1)
                if step % config.log_every_steps == 0:
                    mean_loss = running_loss.item() / loss_count  # one host sync per log interval
                    running_loss.zero_()
                    loss_count = 0
                    progress.set_postfix(loss=f"{mean_loss:.4f}")
                    if writer is not None:
                        writer.add_scalar("train/loss", mean_loss, step)
                        writer.add_scalar("train/learning_rate", scheduler.get_last_lr()[-1], step)
                # A SIGTERM on the last step needs no checkpoint: the run is about to finish anyway.
                # Under DDP the ranks agree on stopping through an all-reduce, which syncs with the host;
                # every 10 steps is often enough within a preemption's grace period.
                stop_now = step < total_steps and (
                    _any_rank(stop.requested, dist, device) if not dist.enabled or step % 10 == 0 else False
                )
                at_epoch_end = batch_in_epoch >= len(batches) or step >= total_steps  # evaluated below anyway
                if config.eval_every_steps and step % config.eval_every_steps == 0 and not at_epoch_end:
                    train_seconds += time.perf_counter() - segment_started
                    evaluate_now(None)
                    segment_started = time.perf_counter()
                if stop_now or (store is not None and step % config.checkpoint_every_steps == 0):
                    train_seconds += time.perf_counter() - segment_started
                    save_checkpoint()
                    segment_started = time.perf_counter()
                    if stop_now:
                        raise TrainingInterrupted(
                            f"SIGTERM at step {step}/{total_steps}; checkpoint written to "
                            f"{config.checkpoint_dir or '(nowhere: checkpoint_dir is empty)'}"
                        )
            train_seconds += time.perf_counter() - segment_started
            if batch_in_epoch >= len(batches):
                mean = epoch_loss.item() / epoch_count if epoch_count else None
                evaluate_now(mean)
                epoch_loss.zero_()
                epoch_count = 0
                epoch += 1
                batch_in_epoch = 0
            elif step >= total_steps:  # stopped mid-epoch (fractional epochs or max_steps)
                mean = epoch_loss.item() / epoch_count if epoch_count else None
                evaluate_now(mean)
    finally:
        stop.uninstall()
        progress.close()
        if writer is not None:
            writer.flush()

    final_digest = state_digest(model.state_dict())
    if average_count > 1 and eval_split is not None:
        final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            averaged = {k: (v / average_count).to(final_state[k].dtype) for k, v in average_sum.items()}
            model.load_state_dict(averaged, strict=False)
        # The loop has already moved `epoch` on when it ended at an epoch boundary.
        evaluate_now(None, record_epoch=epoch - 1 if batch_in_epoch == 0 else epoch, averaged=average_count)
        model.load_state_dict(final_state)

    output = Path(output_dir)
    if config.trace_dir:
        trace = Path(config.trace_dir)
        trace.mkdir(parents=True, exist_ok=True)
        (trace / f"rank{dist.rank}.json").write_text(
            json.dumps({"rank": dist.rank, "batches": trace_batches, "final_digest": final_digest}),
            encoding="utf-8",
        )
    summary: dict[str, Any] = {}
    if dist.is_main:
        if best_state is not None:
            model.load_state_dict(best_state)
        output.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(output, safe_serialization=True)
        tokenizer.save_pretrained(output)
        evaluated = [h for h in history if f"{config.eval_split}_macro_recall" in h]
        best = max(
            evaluated,
            key=lambda h: (h[f"{config.eval_split}_macro_recall"], h[f"{config.eval_split}_accuracy"]),
            default=None,
        )
        summary = {
            "config": asdict(config),
            "device": str(device),
            "world_size": dist.world_size,
            "precision": str(dtype).replace("torch.", "") if dtype is not None else "fp32",
            "steps": step,
            "planned_steps": total_steps,
            "resumed_from_step": resumed_from,
            "epochs_run": round(step / steps_per_epoch, 3),
            "train_examples": len(encoded),
            "train_seconds": round(train_seconds, 2),
            "wall_seconds": round(time.perf_counter() - started, 2),
            "samples_per_second": round(samples / train_seconds, 2) if train_seconds else None,
            "real_tokens_per_second": round(real_tokens / train_seconds, 1) if train_seconds else None,
            "saved_model_digest": state_digest(model.state_dict()),
            "history": history,
        }
        if best is not None:
            summary["best_step"] = best["step"]
            summary["best_epoch"] = best["epoch"]
            summary["best_is_checkpoint_average"] = "averaged_snapshots" in best
            summary[f"best_{config.eval_split}_accuracy"] = best[f"{config.eval_split}_accuracy"]
            summary[f"best_{config.eval_split}_macro_recall"] = best[f"{config.eval_split}_macro_recall"]
        if writer is not None:
            writer.close()
        (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if store is not None and config.delete_checkpoints_on_success:
            store.delete_all()
    _barrier(dist)
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.destroy_process_group()
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


def _check_compatible(state: dict, config: TrainConfig, total_steps: int, world_size: int) -> None:
    """A checkpoint only resumes the run that wrote it: same plan, batch size, seed and process count."""
    mismatches = [
        f"{name} {state.get(name)} != {value}"
        for name, value in (
            ("total_steps", total_steps),
            ("batch_size", config.batch_size),
            ("seed", config.seed),
            ("world_size", world_size),
        )
        if state.get(name) != value
    ]
    if mismatches:
        raise ConfigError(
            f"checkpoint in {config.checkpoint_dir} belongs to a different run ({'; '.join(mismatches)}); "
            "use a new checkpoint_dir or the original settings"
        )


def _barrier(dist: _Distributed) -> None:
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.barrier()


def _any_rank(flag: bool, dist: _Distributed, device) -> bool:
    """Whether any rank got SIGTERM, so that all stop at the same step (one tiny all-reduce under DDP)."""
    if not dist.enabled:
        return flag
    import torch
    import torch.distributed as torch_dist

    value = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
    return bool(value.item())
