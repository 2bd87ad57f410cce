"""Issue 22: a prior correction (logit adjustment) of saved models, measured without training.

    python -m bench.prior_correction --out /tmp/rt --recipes defaults,seed43,lld0.8 --taus 0,0.25,0.5,0.75,1

For each recipe that ``bench.recipe_on_dev`` trained into ``<out>``, and each τ, the argmax of
``log p(y | x) − τ · log prior_train(y)`` (the train split's label mix, from ``<out>/dataset/stats.json``),
scored on dev and on validation, with the paired-bootstrap interval of its macro-recall minus τ = 0's
(``bench.recipe_compare.compared``). Softmax is shift-invariant per row, so this is the argmax the model
would give with ``−τ · log prior`` added to its classifier bias.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.recipe_compare import compared, probabilities, split_figures
from tweet_sentiment.core.labels import LABELS


def train_log_prior(dataset: Path) -> np.ndarray:
    counts = json.loads((dataset / "stats.json").read_text(encoding="utf-8"))["train_label_counts"]
    total = sum(counts.values())
    return np.log(np.array([counts[name] / total for name in LABELS]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipes", default="defaults")
    parser.add_argument("--taus", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    from tweet_sentiment.core.dataset import load_split

    log_prior = train_log_prior(args.out / "dataset")
    taus = [float(t) for t in args.taus.split(",")]
    for split in ("dev", "validation"):
        labels = np.asarray(load_split(args.out / "dataset", split).labels)
        for recipe in args.recipes.split(","):
            log_p = np.log(np.clip(probabilities(args.out, recipe, split), 1e-12, None))
            baseline = log_p.argmax(axis=1)
            for tau in taus:
                predictions = (log_p - tau * log_prior).argmax(axis=1)
                row = {"split": split, "recipe": recipe, "tau": tau, **split_figures(labels, predictions)}
                row |= compared(labels, predictions, baseline, args.resamples, "tau0", split)
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
