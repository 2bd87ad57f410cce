"""What training leaves behind: the saved model, ``training_summary.json`` and the step's metrics."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tweet_sentiment.model.inference_settings import InferenceSettings, write_inference_settings
from tweet_sentiment.model.tokenizer import save_tokenizer
from tweet_sentiment.train.blocks import state_digest
from tweet_sentiment.train.setup import TrainingSetup
from tweet_sentiment.train.state import TrainingState

SUMMARY_FILE = "training_summary.json"


def save_model(
    setup: TrainingSetup, state: TrainingState, output: Path, resumed_from: int, wall_seconds: float
) -> dict[str, Any]:
    """Save the best model (or the last one) with its tokenizer and the run's summary; return the summary.

    The tokenizer is saved with the TweetEval rules in its tokenizer.json (model/tokenizer.py), so
    the folder classifies raw tweets wherever it is loaded.
    """
    model = setup.model
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    save_tokenizer(setup.tokenizer, output, max_length=setup.config.max_length)
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
