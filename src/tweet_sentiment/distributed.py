"""Several processes: the rank's view of the job, its collectives, and the ``torchrun`` launcher.

:class:`Distributed` is what the train loop knows about the other processes: its rank, whether it
is the main one, and the few collectives the loop needs (barrier, "did any rank get SIGTERM",
gather of per-rank objects such as RNG states). With one process every collective is a no-op, so
the loop has no ``if distributed`` branches.

``launch_training(config, dataset_dir, output_dir, nproc)`` starts
``python -m torch.distributed.run --standalone --nproc_per_node <nproc> -m tweet_sentiment.distributed``;
each worker reads the config from a JSON file and calls ``train``, which sees ``WORLD_SIZE`` and
wraps the model in DistributedDataParallel (NCCL on GPUs, gloo on CPUs). torchrun is PyTorch's own
elastic launcher, so rendezvous, per-rank environment and failure handling are not home-made.
SIGTERM sent to the launching process is passed on to torchrun, which passes it to the workers;
they checkpoint at the same step and exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweet_sentiment.errors import ConfigError, TweetSentimentError
from tweet_sentiment.inference import choose_device

if TYPE_CHECKING:  # training imports this module; the launcher imports training lazily
    from tweet_sentiment.training import TrainConfig


class DistributedTrainingError(TweetSentimentError):
    """A torchrun worker failed; its log lines are above this message."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job (from torchrun's ``RANK`` / ``LOCAL_RANK`` / ``WORLD_SIZE``)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(
            rank=int(os.environ.get("RANK", "0")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def start(self, requested_device: str):
        """Join the process group (NCCL on GPUs, gloo on CPUs) and return this rank's device."""
        if not self.enabled:
            return choose_device(requested_device)
        import torch
        import torch.distributed as torch_dist

        backend = "nccl" if torch.cuda.is_available() and requested_device != "cpu" else "gloo"
        if not torch_dist.is_initialized():
            torch_dist.init_process_group(backend=backend)
        device = torch.device(f"cuda:{self.local_rank}") if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return device

    def wrap(self, model, device):
        """The module to train: ``model`` itself, or a DistributedDataParallel around it."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as torch_dist

            torch_dist.barrier()

    def any_rank(self, flag: bool, device) -> bool:
        """Whether any rank has ``flag`` set (one tiny all-reduce, a host sync, under DDP)."""
        if not self.enabled:
            return flag
        import torch
        import torch.distributed as torch_dist

        value = torch.tensor([1.0 if flag else 0.0], device=device)
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (a collective: every rank calls it)."""
        if not self.enabled:
            return [value]
        import torch.distributed as torch_dist

        values: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(values, value)
        return values

    def stop(self) -> None:
        """Leave the process group (after the last collective)."""
        if self.enabled:
            import torch.distributed as torch_dist

            torch_dist.destroy_process_group()


def launch_training(
    config: TrainConfig,
    dataset_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    nproc: int,
) -> dict[str, Any]:
    """Train with ``nproc`` DDP processes on this node; returns rank 0's summary."""
    if nproc < 1:
        raise ConfigError(f"nproc must be >= 1, got {nproc}")
    from tweet_sentiment.training import SUMMARY_FILE, TrainingInterrupted, train

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
            "tweet_sentiment.distributed",
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
    from tweet_sentiment.training import TrainConfig, TrainingInterrupted, train

    config = TrainConfig(**json.loads(Path(args.config).read_text(encoding="utf-8")))
    try:
        train(config, args.dataset_dir, args.output_dir)
    except TrainingInterrupted as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return _INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
