"""Several processes: the rank's view of the job and its collectives (the launcher is ``launcher.py``).

:class:`Distributed` is what the train loop knows about the other processes: its rank, whether it
is the main one, and the few collectives the loop needs (barrier, "did any rank get SIGTERM",
gather of per-rank objects such as RNG states). With one process every collective is a no-op, so
the loop has no ``if distributed`` branches.

``launch_training(config, dataset_dir, output_dir, nproc)`` starts
``python -m torch.distributed.run --standalone --nproc_per_node <nproc> -m tweet_sentiment.train.launcher``
(``launcher.py``);
each worker reads the config from a JSON file and calls ``train``, which sees ``WORLD_SIZE`` and
wraps the model in DistributedDataParallel (NCCL on GPUs, gloo on CPUs). torchrun is PyTorch's own
elastic launcher, so rendezvous, per-rank environment and failure handling are not home-made.
SIGTERM sent to the launching process is passed on to torchrun, which passes it to the workers;
they checkpoint at the same step and exit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tweet_sentiment.model.inference import choose_device


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
