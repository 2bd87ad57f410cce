"""A sweep: several train trials, the best kept on the dev split, optionally a uniform "model soup".

Two plain functions behind two thin components:

* :func:`plan_trials` turns the ``sweep`` setting (a JSON list of overrides of ``learning_rate``,
  ``class_weight_power`` and ``seed``) into one complete settings record per trial. An empty sweep is
  one trial with the pipeline's own settings, so the pipeline has one shape: a plan step, a loop of
  train tasks (one iteration by default), a select step. Bad trials are refused here, on a CPU,
  before any GPU pod starts.
* :func:`select_model` reads each trial's training summary (its best figures on the split model
  choices are made on: ``dev`` or the data's own validation split, never the evaluation split), keeps
  the best by macro-recall then accuracy, and with ``soup_top_k`` >= 2 also scores the uniform weight
  average of the top-k trials that share the best trial's architecture (Wortsman et al. 2022, the
  "uniform soup") on the same split; the soup is kept only when it scores better than the best trial,
  both scored by the same function.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.train.config import InvalidTrainConfig, TrainConfig
from tweet_sentiment.train.output import SUMMARY_FILE

# What a trial may override, with the type its value must have.
TRIAL_KEYS: dict[str, type] = {"learning_rate": float, "class_weight_power": float, "seed": int}
MAX_TRIALS = 32
SELECTION_FILE = "selection.json"
MODEL_WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class SweepConfig:
    """Settings of the sweep (several train trials) and of the select step."""

    sweep: str = field(
        default="",
        metadata={
            "help": "Trials as a JSON list, each overriding some of learning_rate, class_weight_power and "
            'seed, e.g. [{"learning_rate": 5e-5}, {"learning_rate": 8e-5, "class_weight_power": 0}]. '
            "Each trial is its own train task (its own GPU pod); the best on the dev split is kept. "
            "Empty: one trial with the pipeline's own settings."
        },
    )
    soup_top_k: int = field(
        default=0,
        metadata={
            "help": "Model soup: also score the uniform weight average of the best k trials of the best "
            "trial's architecture on the dev split, and keep it when it beats the best trial. 0 or 1: off."
        },
    )

    def __post_init__(self) -> None:
        if self.soup_top_k < 0:
            raise ConfigError(f"soup_top_k must be >= 0 (0 or 1: no soup), got {self.soup_top_k}")


# ----------------------------------------------------------------------------- plan


def plan_trials(
    sweep: str, *, learning_rate: float, class_weight_power: float, seed: int, run_id: str = ""
) -> list[dict[str, Any]]:
    """One settings record per trial: ``trial`` (0-based), ``run_id`` and every key of :data:`TRIAL_KEYS`.

    ``run_id`` names the trial's checkpoint directory: the pipeline run's id for a single trial (as
    without a sweep), ``<run id>-trial-<i>`` for each of several, so parallel trials never share one.
    """
    defaults = {"learning_rate": learning_rate, "class_weight_power": class_weight_power, "seed": seed}
    overrides = _parse_sweep(sweep)
    trials = []
    for index, override in enumerate(overrides or [{}]):
        trial = {**defaults, **override}
        _check_ranges(index, trial)
        trial_run_id = run_id if len(overrides) <= 1 else f"{run_id or 'run'}-trial-{index}"
        trials.append({"trial": index, "run_id": trial_run_id, **trial})
    return trials


def _parse_sweep(sweep: str) -> list[dict[str, Any]]:
    if not sweep.strip():
        return []
    try:
        trials = json.loads(sweep)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"sweep: not JSON ({exc.msg} at column {exc.colno}): {sweep!r}") from None
    if not isinstance(trials, list):
        raise ConfigError(f"sweep: expected a JSON list of trials, got {type(trials).__name__}")
    if len(trials) > MAX_TRIALS:
        raise ConfigError(f"sweep: {len(trials)} trials, more than the limit of {MAX_TRIALS}")
    return [_parse_trial(index, trial) for index, trial in enumerate(trials)]


def _parse_trial(index: int, trial: Any) -> dict[str, Any]:
    if not isinstance(trial, dict):
        raise ConfigError(f"sweep: trial {index}: expected an object, got {json.dumps(trial)}")
    unknown = sorted(set(trial) - set(TRIAL_KEYS))
    if unknown:
        raise ConfigError(
            f"sweep: trial {index}: unknown setting(s) {', '.join(unknown)}; a trial may set "
            f"{', '.join(TRIAL_KEYS)}"
        )
    parsed = {}
    for key, value in trial.items():
        kind = TRIAL_KEYS[key]
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or (kind is int and not float(value).is_integer()):
            raise ConfigError(f"sweep: trial {index}: {key} must be {kind.__name__}, got {json.dumps(value)}")
        parsed[key] = kind(value)
    return parsed


def _check_ranges(index: int, trial: dict[str, Any]) -> None:
    """The train step's own range checks (``TrainConfig``), run here so a bad trial fails before any pod."""
    try:
        TrainConfig(**{key: trial[key] for key in TRIAL_KEYS})
    except InvalidTrainConfig as exc:
        raise ConfigError(f"sweep: trial {index}: {'; '.join(exc.problems)}") from None


# ----------------------------------------------------------------------------- select


@dataclass(frozen=True)
class Trial:
    """A finished trial: its model directory, settings and best figures on the selection split."""

    index: int
    model_dir: Path
    settings: dict[str, Any]
    split: str
    macro_recall: float | None
    accuracy: float | None

    @property
    def key(self) -> tuple[float, float]:
        return (self.macro_recall or 0.0, self.accuracy or 0.0)

    def record(self) -> dict[str, Any]:
        return {
            "trial": self.index,
            **{k: self.settings.get(k) for k in TRIAL_KEYS},
            f"{self.split}_macro_recall": self.macro_recall,
            f"{self.split}_accuracy": self.accuracy,
        }


def read_trial(index: int, model_dir: str | os.PathLike[str]) -> Trial:
    """A trial from the ``training_summary.json`` its train task wrote beside the model."""
    path = Path(model_dir) / SUMMARY_FILE
    if not path.exists():
        raise ConfigError(f"trial {index}: {path} is missing: not a model written by the train step")
    summary = json.loads(path.read_text(encoding="utf-8"))
    config = summary["config"]
    split = config.get("eval_split") or ""
    return Trial(
        index=index,
        model_dir=Path(model_dir),
        settings=config,
        split=split,
        macro_recall=summary.get(f"best_{split}_macro_recall"),
        accuracy=summary.get(f"best_{split}_accuracy"),
    )


def rank_trials(trials: list[Trial]) -> list[Trial]:
    """Best first by (macro-recall, accuracy) on the selection split; ties keep the trial order."""
    if len(trials) > 1:
        unscored = [t.index for t in trials if t.macro_recall is None]
        if unscored:
            raise ConfigError(
                f"trial(s) {unscored} have no figures on a selection split (validation_split empty or "
                "absent): trials cannot be compared"
            )
        if len({t.split for t in trials}) > 1:
            raise ConfigError(f"trials were scored on different splits: {sorted({t.split for t in trials})}")
    return sorted(trials, key=lambda t: t.key, reverse=True)


def same_architecture(a: Trial, b: Trial) -> bool:
    """Whether two trials' weights can be averaged: same encoder and same tensor names and shapes."""
    if a.settings.get("model_name") != b.settings.get("model_name"):
        return False
    return _shapes(a.model_dir) == _shapes(b.model_dir)


def _shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(model_dir / MODEL_WEIGHTS), framework="pt") as weights:
        return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118


def uniform_soup(model_dirs: list[Path]) -> dict[str, Any]:
    """The mean of the models' weights (floating tensors; others from the first), each in its own dtype."""
    import torch
    from safetensors.torch import load_file

    states = [load_file(str(d / MODEL_WEIGHTS)) for d in model_dirs]
    soup = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            total = torch.stack([state[name].float() for state in states]).mean(dim=0)
            soup[name] = total.to(first.dtype)
        else:
            soup[name] = first.clone()
    return soup


def score_on_split(model_dir: Path, dataset_dir: str | os.PathLike[str], split: str):
    """(macro-recall, accuracy) of a saved model on ``split`` of the dataset (evaluate's scoring, with
    the max_length the model was trained with)."""
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.scoring import score_model

    report, _ = score_model(model_dir, load_split(dataset_dir, split))
    return report["macro_recall"], report["accuracy"]


def select_model(
    model_dirs: list[str],
    dataset_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    soup_top_k: int = 0,
) -> dict[str, Any]:
    """Copy the best trial (or the soup, when it scores better) to ``output_dir``; return the decision.

    The decision (every trial's settings and figures, the soup's figures, what was kept) is also
    written to ``output_dir/selection.json``.
    """
    if not model_dirs:
        raise ConfigError("select: no trials to choose from (the sweep produced no model)")
    ranked = rank_trials([read_trial(i, d) for i, d in enumerate(model_dirs)])
    best = ranked[0]
    output = Path(output_dir)
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(best.model_dir, output)
    decision: dict[str, Any] = {
        "selection_split": best.split,
        "trials": [t.record() for t in sorted(ranked, key=lambda t: t.index)],
        "best_trial": best.index,
        "kept": f"trial-{best.index}",
    }
    members = [t for t in ranked if same_architecture(best, t)][: max(soup_top_k, 0)]
    if soup_top_k >= 2 and len(members) >= 2 and best.split:
        decision["soup"] = _try_soup(best, members, dataset_dir, output)
        if decision["soup"]["kept"]:
            decision["kept"] = f"soup-of-{len(members)}"
    (output / SELECTION_FILE).write_text(json.dumps(decision, indent=2) + "\n", encoding="utf-8")
    return decision


def _try_soup(best: Trial, members: list[Trial], dataset_dir, output: Path) -> dict[str, Any]:
    """Score the best trial and the soup of ``members`` on the selection split; the winner stays in
    ``output``."""
    from safetensors.torch import save_file

    best_key = score_on_split(output, dataset_dir, best.split)
    best_weights = (output / MODEL_WEIGHTS).read_bytes()
    save_file(
        uniform_soup([t.model_dir for t in members]), str(output / MODEL_WEIGHTS), metadata={"format": "pt"}
    )
    soup_key = score_on_split(output, dataset_dir, best.split)
    kept = soup_key > best_key
    if not kept:
        (output / MODEL_WEIGHTS).write_bytes(best_weights)
    return {
        "members": [t.index for t in members],
        f"{best.split}_macro_recall": soup_key[0],
        f"{best.split}_accuracy": soup_key[1],
        f"best_trial_{best.split}_macro_recall": best_key[0],
        f"best_trial_{best.split}_accuracy": best_key[1],
        "kept": kept,
    }


def selection_metrics(decision: dict[str, Any]) -> dict[str, float]:
    """Flat figures of the decision for a KFP ``Metrics`` artifact / the Model's metadata."""
    split = decision["selection_split"]
    best = next(t for t in decision["trials"] if t["trial"] == decision["best_trial"])
    figures = {"trials": float(len(decision["trials"])), "best_trial": float(decision["best_trial"])}
    for name in ("macro_recall", "accuracy"):
        value = best.get(f"{split}_{name}")
        if value is not None:
            figures[f"best_trial_{split}_{name}"] = float(value)
        soup_value = decision.get("soup", {}).get(f"{split}_{name}")
        if soup_value is not None:
            figures[f"soup_{split}_{name}"] = float(soup_value)
    figures["soup_kept"] = float(decision["kept"].startswith("soup"))
    return figures


def describe_selection(decision: dict[str, Any]) -> str:
    """One line for run-local's summary: what select-model kept, on which split, with which figure."""
    split, trials = decision["selection_split"], decision["trials"]
    best = next(t for t in trials if t["trial"] == decision["best_trial"])
    settings = ", ".join(f"{k} {best[k]:g}" for k in TRIAL_KEYS)
    recall = best.get(f"{split}_macro_recall")
    figure = f"{split} macro recall {recall:.4f}" if recall is not None else "no selection split"
    line = f"selected on {split or '-'}: {decision['kept']} of {len(trials)} trial(s) ({settings}; {figure})"
    soup = decision.get("soup")
    if soup:
        verdict = "kept" if soup["kept"] else "not better"
        line += f"; soup of {len(soup['members'])}: {soup[f'{split}_macro_recall']:.4f} ({verdict})"
    return line
