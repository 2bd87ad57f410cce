"""Issue 13: compare the recipes that ``bench.recipe_on_dev`` trained, on dev, as the decision rule asks.

    python -m bench.recipe_compare --out /tmp/rod --baseline defaults

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


def dev_predictions(out: Path, recipe: str) -> np.ndarray:
    path = out / "models" / f"{recipe}.dev_probabilities.npy"
    if not path.exists():  # a run from before recipe_on_dev kept them
        score_saved_model(out / "models", recipe, out / "dataset", "dev")
    return np.load(path).argmax(axis=1)


def paired_bootstrap(labels: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int = 0):
    """Macro-recall of a minus b on the full rows, and the 2.5 / 97.5 percentiles over resampled rows."""

    def macro_recall(truth, predicted):
        return recall_score(truth, predicted, average="macro", labels=[0, 1, 2], zero_division=0)

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recipe_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/recipe_on_dev"))
    parser.add_argument("--baseline", default="defaults")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    from tweet_sentiment.core.dataset import load_split

    runs = newest_runs(args.out)
    labels = np.asarray(load_split(args.out / "dataset", "dev").labels)
    baseline = dev_predictions(args.out, args.baseline)
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
            diff, low, high = paired_bootstrap(
                labels, dev_predictions(args.out, recipe), baseline, args.resamples
            )
            row[f"dev_macro_recall_minus_{args.baseline}_points"] = [
                round(100 * diff, 2),
                round(100 * low, 2),
                round(100 * high, 2),
            ]
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
