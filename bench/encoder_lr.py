"""Issue 22, item 3: does the learning rate transfer to a wider encoder? Same slice, several rates.

    python -m bench.encoder_lr --encoder /path/to/all-mpnet-base-v2 --lrs 2e-5,4e-5,8e-5 \
        --dataset /tmp/rt/dataset --out /tmp/encoder_lr

A full run of a base-size encoder does not fit a 2-core session, so every rate is trained on the same
fixed slice of the train split (``--train-rows``, drawn with a fixed seed; ``--epochs``, last step kept:
no dev scoring) and scored on the same fixed slice of validation (``--val-rows``). ``--dataset`` is a
Dataset artifact (e.g. the one ``bench.recipe_on_dev`` prepared from the temporal copy). (The runs of
BENCHMARKS.md, issue 22, named 4e-5 ``auto``: a width rule tried at 69061e1 and reverted.) Prints one
JSON line per rate and then, for each rate, the paired-bootstrap 95 % interval of its validation
macro-recall minus the best rate's. A short slice favours larger rates (fewer steps to learn in), so
read a rate that is *worse* than a larger one as real and a rate that is better by a hair as noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.recipe_compare import compared


def write_slice(dataset: Path, out: Path, train_rows: int, val_rows: int, seed: int) -> Path:
    """train.jsonl and validation.jsonl: fixed random samples of the dataset's splits (same every run)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, rows in (("train", train_rows), ("validation", val_rows)):
        lines = (dataset / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        keep = sorted(rng.choice(len(lines), size=min(rows, len(lines)), replace=False))
        (out / f"{split}.jsonl").write_text("".join(lines[i] + "\n" for i in keep), encoding="utf-8")
    stats = json.loads((dataset / "stats.json").read_text(encoding="utf-8"))
    stats |= {"splits": ["train", "validation"], "selection_split": ""}
    (out / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return out


def run_rate(
    encoder: str,
    rate: str,
    data: Path,
    out: Path,
    epochs: float,
    batch_size: int,
    layer_lr_decay: float | None,
) -> dict:
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.scoring import score_model
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.loop import train

    name = f"lr-{rate}"
    config = TrainConfig(
        model_name=encoder,
        learning_rate=float(rate),
        epochs=epochs,
        batch_size=batch_size,
        eval_split="",
        progress=False,
        **({} if layer_lr_decay is None else {"layer_lr_decay": layer_lr_decay}),
    )
    started = time.perf_counter()
    summary = train(config, data, out / name)
    wall = time.perf_counter() - started
    scoring_started = time.perf_counter()
    report, probabilities = score_model(out / name, load_split(data, "validation"))
    score_seconds = time.perf_counter() - scoring_started
    np.save(out / f"{name}.validation_probabilities.npy", probabilities)
    return {
        "rate": rate,
        "learning_rate": summary["config"]["learning_rate"],
        "layer_lr_decay": summary["config"]["layer_lr_decay"],
        "encoder": encoder,
        "train_rows": summary.get("train_examples"),
        "steps": summary["steps"],
        "train_seconds": summary["train_seconds"],
        "wall_seconds": round(wall, 1),  # the train() call: scoring is score_seconds
        "score_seconds": round(score_seconds, 1),
        "validation_accuracy": report["accuracy"],
        "validation_macro_recall": report["macro_recall"],
        "validation_recall_by_class": {k: v["recall"] for k, v in report["per_class"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoder_lr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", required=True, help="model source (hub id, directory, pkg:...)")
    parser.add_argument("--lrs", default="2e-5,4e-5,8e-5", help="comma-separated rates")
    parser.add_argument("--dataset", type=Path, required=True, help="a Dataset artifact (train, validation)")
    parser.add_argument("--train-rows", type=int, default=3200)
    parser.add_argument("--val-rows", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="seed of the slices")
    parser.add_argument(
        "--layer-lr-decay", type=float, default=None, help="for every rate (default: TrainConfig's)"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/encoder_lr"))
    args = parser.parse_args(argv)
    data = write_slice(args.dataset, args.out / "slice", args.train_rows, args.val_rows, args.seed)
    from tweet_sentiment.core.dataset import load_split

    labels = np.asarray(load_split(data, "validation").labels)
    results = []
    for rate in args.lrs.split(","):
        result = run_rate(
            args.encoder, rate, data, args.out, args.epochs, args.batch_size, args.layer_lr_decay
        )
        results.append(result)
        with open(args.out / "results.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)
    best = max(results, key=lambda r: r["validation_macro_recall"])
    best_predictions = np.load(args.out / f"lr-{best['rate']}.validation_probabilities.npy").argmax(axis=1)
    for result in results:
        predictions = np.load(args.out / f"lr-{result['rate']}.validation_probabilities.npy").argmax(axis=1)
        row = compared(labels, predictions, best_predictions, 2000, f"lr-{best['rate']}", "validation")
        print(json.dumps({"rate": result["rate"], **row}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
