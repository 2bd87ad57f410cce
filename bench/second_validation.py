"""Issue 22: the temporal runs' models scored on TweetEval's own validation too ("both validations").

    python -m bench.second_validation --out /tmp/rt --data ../shared/data/tweet_eval_sentiment \
        --recipes defaults,seed43,lld0.8,lr5e-5,ls0.1 --baseline defaults

The temporal copy's train split excludes every tweet of TweetEval's validation and test splits (its
README), so the models ``bench.recipe_on_dev`` trained there can be scored on TweetEval's validation
without leakage. ``<out>/second`` is laid out as a ``recipe_on_dev`` output of its own: ``dataset``
prepared as the pipeline does (``recipe_on_dev.prepare_dataset``), ``models/<recipe>`` linked to the
trained models, and their probabilities scored and kept there by ``recipe_compare.predictions_of`` (the
temporal ones stay untouched); each is compared with the baseline by ``recipe_compare.compared``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.recipe_compare import compared, predictions_of, split_figures
from bench.recipe_on_dev import prepare_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="recipe_on_dev's --out (models/, results)")
    parser.add_argument("--data", required=True, help="TweetEval sentiment (train.jsonl, validation.jsonl)")
    parser.add_argument("--recipes", default="defaults")
    parser.add_argument("--baseline", default="defaults")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.preprocess.config import PreprocessConfig

    second = args.out / "second"
    prepare_dataset(Path(args.data).resolve(), second / "dataset", PreprocessConfig.dev_fraction)
    labels = np.asarray(load_split(second / "dataset", "validation").labels)
    recipes = list(dict.fromkeys([args.baseline, *args.recipes.split(",")]))
    (second / "models").mkdir(exist_ok=True)
    for recipe in recipes:
        link = second / "models" / recipe
        if not link.exists():
            link.symlink_to((args.out / "models" / recipe).resolve())
    predictions = {recipe: predictions_of(second, recipe, "validation") for recipe in recipes}
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
