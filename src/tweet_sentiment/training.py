"""Fine-tuning an encoder into a negative / neutral / positive classifier.

A plain PyTorch loop rather than HF ``Trainer``: it lets the step pad each batch only to
its own longest tweet, group batches by length, pick mixed precision per device, and keep
the best epoch by validation macro-recall, with nothing between the loop and the profile.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.data import SplitData, load_split
from tweet_sentiment.errors import ConfigError
from tweet_sentiment.inference import autocast_dtype, choose_device, pad_batch, predict_probabilities
from tweet_sentiment.metrics import classification_report
from tweet_sentiment.modeling import DEFAULT_MODEL, load_classifier, load_tokenizer

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak AdamW learning rate."})
    batch_size: int = field(default=16, metadata={"help": "Examples per optimizer step."})
    max_length: int = field(
        default=128, metadata={"help": "Tokens kept per tweet (longer ones are truncated)."}
    )
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps with linear warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    seed: int = field(default=42, metadata={"help": "Seed for initialisation, shuffling and dropout."})
    precision: str = field(
        default="auto", metadata={"help": "auto (bf16/fp16 on GPU, fp32 on CPU), fp32, bf16 or fp16."}
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch tweets of similar length together to cut padding."}
    )
    eval_split: str = field(
        default="validation",
        metadata={
            "help": "Split scored after each epoch to keep the best epoch; '' or absent split: last epoch."
        },
    )
    max_steps: int = field(
        default=0, metadata={"help": "Stop after this many steps (0: no cap). For smoke runs."}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

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
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.max_steps < 0:
            problems.append(f"max_steps must be >= 0, got {self.max_steps}")
        if problems:
            raise ConfigError("invalid training configuration: " + "; ".join(problems))


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


def _optimizer(model, config: TrainConfig):
    import torch

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(
            parameter
        )
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )


def _linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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


def train(
    config: TrainConfig, dataset_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> dict:
    """Fine-tune ``config.model_name`` on the dataset's train split; save the best epoch to ``output_dir``.

    Returns a summary (steps, samples/s, per-epoch validation figures) that is also written to
    ``output_dir/training_summary.json``.
    """
    import torch
    from tqdm.auto import tqdm

    seed_everything(config.seed)
    train_split = load_split(dataset_dir, "train")
    eval_split = None
    if config.eval_split and (Path(dataset_dir) / f"{config.eval_split}.jsonl").exists():
        eval_split = load_split(dataset_dir, config.eval_split)

    device = choose_device(config.device)
    tokenizer = load_tokenizer(config.model_name)
    model = load_classifier(config.model_name, fresh_head=True).to(device)
    dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    encoded = tokenizer(train_split.texts, truncation=True, max_length=config.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    labels = torch.as_tensor(train_split.labels, dtype=torch.long)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup_steps = int(config.warmup_ratio * total_steps)
    optimizer = _optimizer(model, config)
    scheduler = _linear_schedule(optimizer, warmup_steps, total_steps)
    generator = np.random.default_rng(config.seed)
    pad_id = tokenizer.pad_token_id or 0

    history: list[dict[str, Any]] = []
    best_state, best_key = None, None
    step, samples, real_tokens = 0, 0, 0
    started = time.perf_counter()
    train_seconds = 0.0
    epoch = 0
    progress = tqdm(total=total_steps, desc="train", unit="step", disable=not config.progress, mininterval=2)
    while step < total_steps:
        epoch += 1
        model.train()
        epoch_started = time.perf_counter()
        running_loss, loss_count = 0.0, 0
        for index in length_grouped_batches(lengths, config.batch_size, generator, config.group_by_length):
            if step >= total_steps:
                break
            input_ids, attention_mask = pad_batch([encoded[i] for i in index], pad_id)
            batch_labels = labels[index]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                outputs = model(
                    input_ids=input_ids.to(device),
                    attention_mask=attention_mask.to(device),
                    labels=batch_labels.to(device),
                )
            scaler.scale(outputs.loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            samples += len(index)
            real_tokens += int(sum(lengths[i] for i in index))
            running_loss += outputs.loss.item()
            loss_count += 1
            progress.update(1)
            if step % 50 == 0:
                progress.set_postfix(loss=f"{running_loss / loss_count:.4f}")
        train_seconds += time.perf_counter() - epoch_started
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": step,
            "train_loss": running_loss / max(1, loss_count),
        }
        if eval_split is not None:
            report = score(model, tokenizer, eval_split, config)
            record.update(
                {
                    f"{config.eval_split}_accuracy": report["accuracy"],
                    f"{config.eval_split}_macro_recall": report["macro_recall"],
                }
            )
            key = (report["macro_recall"], report["accuracy"])
            if best_key is None or key > best_key:
                best_key = key
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                record["best"] = True
        history.append(record)
        print(json.dumps(record), flush=True)
    progress.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    best = max((h for h in history if h.get("best")), key=lambda h: h["epoch"], default=history[-1])
    summary = {
        "config": asdict(config),
        "device": str(device),
        "steps": step,
        "epochs_run": epoch,
        "train_examples": len(encoded),
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - started, 2),
        "samples_per_second": round(samples / train_seconds, 2) if train_seconds else None,
        "real_tokens_per_second": round(real_tokens / train_seconds, 1) if train_seconds else None,
        "best_epoch": best["epoch"],
        "history": history,
    }
    if eval_split is not None:
        summary[f"best_{config.eval_split}_accuracy"] = best[f"{config.eval_split}_accuracy"]
        summary[f"best_{config.eval_split}_macro_recall"] = best[f"{config.eval_split}_macro_recall"]
    (output / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
