"""Issues 13 and 22: compare the recipes that ``bench.recipe_on_dev`` trained, as the decision rule asks.

    python -m bench.recipe_compare --out /tmp/rod --baseline defaults                     # on dev (issue 13)
    python -m bench.recipe_compare --out /tmp/rt --split validation \
        --ensemble seeds=defaults+seed43 --soup soup-seeds=defaults+seed43               # issue 22

``--split validation`` runs the paired bootstrap on the validation rows instead (issue 22: the temporal
copy's validation is the yardstick for recipe choices, its dev only picks checkpoints). ``--ensemble
NAME=a+b+...`` adds the average of those recipes' class probabilities (one prediction per row from
several models: N times the inference), ``--soup NAME=a+b+...`` the uniform average of their weights
(one model, what the select step's ``soup_top_k`` builds), each compared with the baseline like a recipe.

For every recipe in ``<out>/results.jsonl`` (the newest full run of each), prints:

- the paired-bootstrap 95 % interval of its dev macro-recall minus the baseline's (the same dev rows
  resampled for both models, ``--resamples`` times): a default changes only when the interval excludes 0;
- the dev history of its training run: the step kept by macro-recall (what training selects on) and the
  step accuracy would have kept, with their dev figures and the epoch each falls in;
- its validation figures and the dev - validation gap, already in results.jsonl.

Dev predictions come from ``<out>/models/<recipe>.dev_probabilities.npy`` (written by recipe_on_dev), or
are scored again from the saved model when that file is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import recall_score

from bench.recipe_on_dev import score_saved_model


def newest_runs(out: Path) -> dict[str, dict]:
    runs: dict[str, dict] = {}
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        if not result["smoke"]:
            runs[result["recipe"]] = result
    return runs


def probabilities(out: Path, recipe: str, split: str = "dev") -> np.ndarray:
    path = out / "models" / f"{recipe}.{split}_probabilities.npy"
    if not path.exists():  # a run from before recipe_on_dev kept them
        score_saved_model(out / "models", recipe, out / "dataset", split)
    return np.load(path)


def predictions_of(out: Path, recipe: str, split: str = "dev") -> np.ndarray:
    return probabilities(out, recipe, split).argmax(axis=1)


def parse_members(spec: str) -> tuple[str, list[str]]:
    name, _, members = spec.partition("=")
    if not name or len(members.split("+")) < 2:
        raise SystemExit(f"expected NAME=recipe+recipe[+...], got {spec!r}")
    return name, members.split("+")


def ensemble_predictions(out: Path, members: list[str], split: str) -> np.ndarray:
    """Argmax of the members' averaged class probabilities on ``split``."""
    return np.mean([probabilities(out, m, split) for m in members], axis=0).argmax(axis=1)


def make_soup(out: Path, name: str, members: list[str]) -> None:
    """``<out>/models/<name>``: the first member's model with the uniform average of the members' weights,
    scored on dev and validation like a trained recipe (its probabilities kept beside it)."""
    import shutil

    from safetensors.torch import save_file

    from tweet_sentiment.train.sweep import MODEL_WEIGHTS, uniform_soup

    models = out / "models"
    if (models / f"{name}.validation_probabilities.npy").exists():
        return
    shutil.rmtree(models / name, ignore_errors=True)
    shutil.copytree(models / members[0], models / name)
    weights = uniform_soup([models / m for m in members])
    save_file(weights, str(models / name / MODEL_WEIGHTS), metadata={"format": "pt"})
    for split in ("dev", "validation"):
        score_saved_model(models, name, out / "dataset", split)


def macro_recall(truth, predicted) -> float:
    return recall_score(truth, predicted, average="macro", labels=[0, 1, 2], zero_division=0)


def paired_bootstrap(labels: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int = 0):
    """Macro-recall of a minus b on the full rows, and the 2.5 / 97.5 percentiles over resampled rows."""
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(labels), len(labels))
        differences.append(macro_recall(labels[rows], a[rows]) - macro_recall(labels[rows], b[rows]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return macro_recall(labels, a) - macro_recall(labels, b), low, high


def history_choices(out: Path, recipe: str) -> dict:
    """The step training kept (its summary: best by macro-recall) and the step accuracy would have kept."""
    summary = json.loads((out / "models" / recipe / "training_summary.json").read_text(encoding="utf-8"))
    evaluated = [h for h in summary["history"] if "dev_macro_recall" in h]
    if not evaluated:
        return {"steps": summary["steps"], "evaluations": 0}
    figures = ("step", "epoch", "dev_accuracy", "dev_macro_recall")
    kept = {"step": summary["best_step"], "epoch": summary["best_epoch"]}
    kept |= {name: summary[f"best_{name}"] for name in figures[2:]}
    by_accuracy = max(evaluated, key=lambda h: (h["dev_accuracy"], h["dev_macro_recall"]))
    return {
        "steps": summary["steps"],
        "evaluations": len(evaluated),
        "kept_by_macro_recall": kept,
        "kept_by_accuracy": {k: by_accuracy[k] for k in figures},
        "dev_by_step": [(h["step"], h["dev_accuracy"], h["dev_macro_recall"]) for h in evaluated],
    }


def compared(labels, predictions, baseline, resamples, name, split) -> dict:
    """``{split}_macro_recall_minus_{name}_points``: [difference, 2.5 %, 97.5 %] of the paired bootstrap."""
    diff, low, high = paired_bootstrap(labels, predictions, baseline, resamples)
    return {f"{split}_macro_recall_minus_{name}_points": [round(100 * v, 2) for v in (diff, low, high)]}


def split_figures(labels: np.ndarray, predictions: np.ndarray) -> dict:
    recalls = recall_score(labels, predictions, average=None, labels=[0, 1, 2], zero_division=0)
    return {
        "accuracy": round(float((labels == predictions).mean()), 4),
        "macro_recall": round(macro_recall(labels, predictions), 4),
        "recall_neg_neu_pos": [round(float(r), 3) for r in recalls],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recipe_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/recipe_on_dev"))
    parser.add_argument("--baseline", default="defaults")
    parser.add_argument("--split", default="dev", choices=["dev", "validation"])
    parser.add_argument("--ensemble", action="append", default=[], metavar="NAME=a+b[+...]")
    parser.add_argument("--soup", action="append", default=[], metavar="NAME=a+b[+...]")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    from tweet_sentiment.core.dataset import load_split

    runs = newest_runs(args.out)
    labels = np.asarray(load_split(args.out / "dataset", args.split).labels)
    baseline = predictions_of(args.out, args.baseline, args.split)
    for recipe, result in runs.items():
        row = {
            "recipe": recipe,
            "dev": [result["dev_accuracy"], result["dev_macro_recall"]],
            "validation": [result["validation_accuracy"], result["validation_macro_recall"]],
            "gap_macro_recall_points": result["gap_macro_recall_points"],
            "train_minutes": round(result["train_seconds"] / 60, 1),
            "history": history_choices(args.out, recipe),
        }
        if recipe != args.baseline:
            predictions = predictions_of(args.out, recipe, args.split)
            row |= compared(labels, predictions, baseline, args.resamples, args.baseline, args.split)
        print(json.dumps(row))
    combined = [("soup", spec) for spec in args.soup] + [("ensemble", spec) for spec in args.ensemble]
    for kind, spec in combined:
        name, members = parse_members(spec)
        if kind == "soup":
            make_soup(args.out, name, members)
            predictions = predictions_of(args.out, name, args.split)
        else:
            predictions = ensemble_predictions(args.out, members, args.split)
        row = {kind: name, "members": members, args.split: split_figures(labels, predictions)}
        row |= compared(labels, predictions, baseline, args.resamples, args.baseline, args.split)
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
