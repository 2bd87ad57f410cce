"""Start the train step's processes: one in this process, or ``nproc`` DDP workers under ``torchrun``.

``python -m tweet_sentiment.train.launcher`` is one worker (torchrun starts it); the parent forwards
SIGTERM to the workers so a preempted pod checkpoints before it goes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError, TweetSentimentError
from tweet_sentiment.train.config import TrainConfig, TrainingInterrupted
from tweet_sentiment.train.loop import train
from tweet_sentiment.train.output import SUMMARY_FILE


class DistributedTrainingError(TweetSentimentError):
    """A torchrun worker failed; its log lines are above this message."""


def launch_training(
    config: TrainConfig,
    dataset_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    nproc: int,
) -> dict[str, Any]:
    """Train with ``nproc`` DDP processes on this node; returns rank 0's summary."""
    if nproc < 1:
        raise ConfigError(f"nproc must be >= 1, got {nproc}")
    if nproc == 1:
        return train(config, dataset_dir, output_dir)
    with tempfile.TemporaryDirectory(prefix="ddp-config-") as scratch:
        config_path = Path(scratch) / "config.json"
        config_path.write_text(json.dumps(asdict(config)), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "tweet_sentiment.train.launcher",
            "--config",
            str(config_path),
            "--dataset-dir",
            str(dataset_dir),
            "--output-dir",
            str(output_dir),
        ]
        environment = dict(os.environ)
        if config.num_threads == 0 and not _has_cuda_device(config):
            # Several CPU workers would each start one thread per core and fight over them.
            environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        process = subprocess.Popen(command, env=environment)
        terminated: list[int] = []
        previous = _forward_sigterm(process, terminated)
        try:
            code = process.wait()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    if code == _INTERRUPTED_EXIT or terminated:
        raise TrainingInterrupted(
            f"training was interrupted (SIGTERM); checkpoints in {config.checkpoint_dir}"
        )
    if code != 0:
        raise DistributedTrainingError(f"torchrun with {nproc} processes exited with code {code}")
    return json.loads((Path(output_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))


# A worker that checkpointed after SIGTERM exits with this code; torchrun reports a failure, which
# is what the KFP retry needs. 143 = 128 + SIGTERM, the conventional "terminated" status.
_INTERRUPTED_EXIT = 143


def _has_cuda_device(config: TrainConfig) -> bool:
    import torch

    return config.device != "cpu" and torch.cuda.is_available()


def _forward_sigterm(process: subprocess.Popen, terminated: list[int]):
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def forward(signum, frame):
        terminated.append(signum)
        process.send_signal(signal.SIGTERM)

    return signal.signal(signal.SIGTERM, forward)


def _worker_main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="one DDP worker of the train step (started by torchrun)")
    parser.add_argument("--config", required=True, help="JSON file with the TrainConfig fields")
    parser.add_argument("--dataset-dir", required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    config = TrainConfig(**json.loads(Path(args.config).read_text(encoding="utf-8")))
    try:
        train(config, args.dataset_dir, args.output_dir)
    except TrainingInterrupted as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return _INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
