"""Issue 22: the temporal runs' models scored on TweetEval's own validation too ("both validations").

    python -m bench.second_validation --out /tmp/rt --data ../shared/data/tweet_eval_sentiment \
        --recipes defaults,seed43,lld0.8,lr5e-5,ls0.1 --baseline defaults

The temporal copy's train split excludes every tweet of TweetEval's validation and test splits (its
README), so the models ``bench.recipe_on_dev`` trained there can be scored on TweetEval's validation
without leakage. The data is prepared as the pipeline does (``<out>/second/dataset``: preprocess, eval
split ``validation``); each model is scored by ``recipe_on_dev.score_saved_model`` into ``<out>/second/``
(the temporal probabilities stay untouched) and compared with the baseline by the paired bootstrap of
``recipe_compare.compared``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.recipe_compare import compared, split_figures
from bench.recipe_on_dev import score_saved_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="recipe_on_dev's --out (models/, results)")
    parser.add_argument("--data", required=True, help="TweetEval sentiment (train.jsonl, validation.jsonl)")
    parser.add_argument("--recipes", default="defaults")
    parser.add_argument("--baseline", default="defaults")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.preprocess.step import run_preprocess

    second = args.out / "second"
    dataset = second / "dataset"
    if not (dataset / "stats.json").exists():
        run_preprocess(str(Path(args.data).resolve()), str(dataset), eval_split="validation")
    labels = np.asarray(load_split(dataset, "validation").labels)
    recipes = list(dict.fromkeys([args.baseline, *args.recipes.split(",")]))
    predictions = {}
    for recipe in recipes:
        link = second / recipe
        if not link.exists():
            link.symlink_to((args.out / "models" / recipe).resolve())
        scored = second / f"{recipe}.validation_probabilities.npy"
        if not scored.exists():
            score_saved_model(second, recipe, dataset, "validation")
        predictions[recipe] = np.load(scored).argmax(axis=1)
    for recipe in recipes:
        row = {"recipe": recipe, "validation": split_figures(labels, predictions[recipe])}
        if recipe != args.baseline:
            row |= compared(
                labels,
                predictions[recipe],
                predictions[args.baseline],
                args.resamples,
                args.baseline,
                "validation",
            )
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
