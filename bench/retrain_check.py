"""Time and peak memory of the check-retrain step on the shared data (issue 19).

    nice -n 10 python -m bench.retrain_check --work /tmp/retrain-bench            # both cases
    nice -n 10 python -m bench.retrain_check --work /tmp/retrain-bench --case same

Cases (each: a reference snapshot, a champion registered on it with its profile, then the check of
a current snapshot under ``when_needed``, run in a fresh process so that its wall time includes
the imports and its peak RSS is the step's own):

* ``same``: ``../shared/data/tweet_eval_sentiment`` (train + validation) checked against the profile
  made from itself: the nightly "nothing changed" run.
* ``temporal``: ``../shared/data/tweet_eval_sentiment_temporal``: the reference is its train file
  (2013-2015 tweets) with TweetEval's validation split as eval split; the current snapshot is the 2016
  tweets, split by SHA-256 of the text into train (90 %) and validation (10 %): a real shift.

The champion is the offline MiniLM-L6 encoder with a freshly initialised (seeded) classification
head, not a fine-tuned model: no fine-tuned model is available offline and a full training is not
run for a benchmark. Its cost is that of any MiniLM-L6 champion (same network, same tokens); its
figures (accuracy, predicted classes) are those of an untrained head and say nothing about decay.
The data-only measures (labels, lengths, texts, vocabulary) do not depend on the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _raw_snapshots(case: str, work: Path) -> tuple[Path, Path]:
    """(reference raw folder, current raw folder) of ``case``."""
    tweet_eval = SHARED / "tweet_eval_sentiment"
    if case == "same":
        return tweet_eval, tweet_eval
    temporal = SHARED / "tweet_eval_sentiment_temporal"
    reference, current = work / "raw-2013-2015", work / "raw-2016"
    if not (current / "validation.jsonl").exists():
        _write(reference / "train.jsonl", _rows(temporal / "train.jsonl"))
        _write(reference / "validation.jsonl", _rows(tweet_eval / "validation.jsonl"))
        later = _rows(temporal / "validation.jsonl")
        held = [int(hashlib.sha256(r["text"].encode()).hexdigest(), 16) / 2**256 < 0.1 for r in later]
        _write(current / "train.jsonl", [r for r, h in zip(later, held, strict=True) if not h])
        _write(current / "validation.jsonl", [r for r, h in zip(later, held, strict=True) if h])
    return reference, current


def _dataset(raw: Path, out: Path) -> Path:
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess

    if not (out / "stats.json").exists():
        config = PreprocessConfig(
            source=str(raw), required_splits=("train", "validation"), held_out_split="validation"
        )
        preprocess(config, out)
    return out


def _champion_model(work: Path) -> Path:
    """MiniLM-L6 with a seeded fresh head, saved once (see the module docstring)."""
    import torch

    from tweet_sentiment.model.loading import OFFLINE_MODEL, load_classifier, load_tokenizer

    out = work / "champion-model"
    if not (out / "config.json").exists():
        torch.manual_seed(0)
        load_classifier(OFFLINE_MODEL, fresh_head=True).save_pretrained(out, safe_serialization=True)
        load_tokenizer(OFFLINE_MODEL).save_pretrained(out)
    return out


def _register(registry: Path, model_dir: Path, dataset: Path) -> dict:
    """Register the champion on ``dataset`` as the register step does: figures, profile, alias."""
    from tweet_sentiment.core.dataset import load_split, read_stats
    from tweet_sentiment.model.scoring import score_model
    from tweet_sentiment.registry import CHAMPION, open_registry, register_model
    from tweet_sentiment.registry.profile import PROFILE_FILE, ProfileConfig, profile_dataset, profile_json

    opened = open_registry(str(registry))
    if opened.get_alias(CHAMPION) is not None:
        return json.loads(opened.version_file(opened.get_alias(CHAMPION), PROFILE_FILE))
    report, _ = score_model(model_dir, load_split(dataset, "validation"), device="cpu")
    profile = profile_dataset(
        dataset, model_dir, evaluation_report=report, eval_split="validation", config=ProfileConfig()
    )
    metrics = {k: report[k] for k in ("accuracy", "macro_recall", "macro_precision", "macro_f1")}
    (registry.parent / PROFILE_FILE).write_text(profile_json(profile), encoding="utf-8")
    register_model(
        str(registry),
        model_dir,
        metrics=metrics,
        parameters={},
        dataset_fingerprint=read_stats(dataset)["fingerprint"],
        promote=True,
        files={PROFILE_FILE: registry.parent / PROFILE_FILE},
    )
    return profile


def measure(dataset: str, registry: str, out: str) -> None:
    """The measured process: one check, as the component runs it; prints its record as JSON."""
    started = time.perf_counter()
    from tweet_sentiment.retrain.step import run_check_retrain

    record = run_check_retrain(
        dataset,
        registry_uri=registry,
        eval_split="validation",
        decision_path=f"{out}/decision.md",
        report_path=f"{out}/drift.html",
        retrain_policy="when_needed",
    )
    record["wall_s"] = round(time.perf_counter() - started, 1)
    print("RESULT " + json.dumps(record))


def run_case(case: str, work: Path) -> dict:
    work = work / case
    reference_raw, current_raw = _raw_snapshots(case, work)
    reference = _dataset(reference_raw, work / "dataset-reference")
    current = reference if case == "same" else _dataset(current_raw, work / "dataset-current")
    profile = _register(work / "registry", _champion_model(work.parent), reference)
    profile_bytes = len(json.dumps(profile, ensure_ascii=False, separators=(",", ":")).encode())
    load_before = os.getloadavg()
    command = [sys.executable, "-m", "bench.retrain_check", "--measure", str(current), str(work / "registry")]
    process = subprocess.Popen([*command, str(work / "out")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"the measured check failed (status {status}):\n{output}")
    record = json.loads(output.split("RESULT ", 1)[1])
    stats = json.loads((current / "stats.json").read_text())
    return {
        "case": case,
        "rows": {s: stats.get(f"{s}_rows") for s in ("train", "dev", "validation")},
        "profile_bytes": profile_bytes,
        "wall_s": record["wall_s"],
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "decision": record["summary"],
        "measures": {m["name"]: round(m["value"], 4) for m in record["measures"]},
        "champion_today": record["champion_today"],
        "champion_at_registration": record["champion_at_registration"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/retrain-bench"))
    parser.add_argument("--case", choices=("same", "temporal", "both"), default="both")
    parser.add_argument("--measure", nargs=3, metavar=("DATASET", "REGISTRY", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(*args.measure)
        return 0
    for case in ("same", "temporal") if args.case == "both" else (args.case,):
        print(json.dumps(run_case(case, args.work), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
