"""Where and with what each task runs on a cluster: one set of compile-time settings and flags.

``compile``, ``submit`` and ``schedule`` all take the flags of :func:`add_placement_flags`; the
compiled spec is the only place they end up. ``kfp.local`` ignores all of it (resources,
accelerators, Kubernetes settings), so ``tests/pipeline/test_cluster_spec.py`` checks the compiled YAMLs.

Default sizes (requests / limits), from the peak RSS measured per step on the real TweetEval data
(BENCHMARKS.md, "Peak memory per step") with headroom for the larger default encoder:

* train fits a GKE ``g2-standard-8`` node (8 vCPU, 32 GiB, 1 L4). Its allocatable share is about
  7.91 CPU (GKE keeps 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4 and 0.25 % above)
  and 28.3 GiB (25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % of the rest, plus
  100 MiB eviction threshold); the node's own DaemonSets (kube-proxy, logging, GPU device plugin)
  request a few hundred millicores and MiB more, so train asks 7 CPU and 24 GiB.
* the CPU tasks get what their step peaked at, rounded up, with limits above requests for CPU
  (they burst while tokenising) and memory limit = request (an OOM kill, not a noisy neighbour).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, replace

from tweet_sentiment.settings import default

TASKS = (
    "check-settings",
    "preprocess",
    "check-retrain",
    "plan-trials",
    "train",
    "select-model",
    "evaluate",
    "register",
    "batch-predict",
    "notify",
)


def quantity(value: str, what: str, example: str) -> float:
    """A Kubernetes quantity (``7``, ``500m``, ``24Gi``, ``512M``) as a number; a one-line error otherwise."""
    from kubernetes.utils import parse_quantity

    try:
        number = parse_quantity(value)
    except (ValueError, TypeError):
        number = None
    if number is None or number <= 0:
        raise ValueError(f"{what} {value!r} is not a positive Kubernetes quantity (e.g. {example})")
    return float(number)


@dataclass(frozen=True)
class TaskResources:
    """Kubernetes requests and limits of one task (CPU in cores or millicores, memory like 4Gi)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str

    def __post_init__(self) -> None:
        for kind, example in (("cpu", "7, 7.5 or 500m"), ("memory", "24Gi, 512Mi or 4G")):
            request = quantity(getattr(self, f"{kind}_request"), f"{kind} request", example)
            limit = quantity(getattr(self, f"{kind}_limit"), f"{kind} limit", example)
            if limit < request:
                raise ValueError(
                    f"{kind} limit {getattr(self, f'{kind}_limit')!r} is below its request "
                    f"{getattr(self, f'{kind}_request')!r}"
                )


DEFAULT_RESOURCES: dict[str, TaskResources] = {
    # Imports the settings and checks each parameter (a few seconds, well under 256 MiB).
    "check-settings": TaskResources("100m", "500m", "256Mi", "256Mi"),
    "preprocess": TaskResources("1", "2", "2Gi", "2Gi"),
    # Scores the champion on the eval split like evaluate, tokenises train, runs Evidently (CPU only).
    "check-retrain": TaskResources("2", "4", "4Gi", "4Gi"),
    "plan-trials": TaskResources("100m", "500m", "256Mi", "256Mi"),
    "train": TaskResources("7", "7.5", "24Gi", "24Gi"),
    # Scores every trial's model on the selection split, like evaluate, and may average the top k.
    "select-model": TaskResources("2", "4", "6Gi", "6Gi"),
    "evaluate": TaskResources("2", "4", "4Gi", "4Gi"),
    "register": TaskResources("2", "4", "6Gi", "6Gi"),
    "batch-predict": TaskResources("2", "4", "4Gi", "4Gi"),
    "notify": TaskResources("100m", "500m", "256Mi", "256Mi"),
}


@dataclass(frozen=True)
class GpuSettings:
    """Where the train task runs. Defaults target a GKE node pool with one L4 GPU.

    ``accelerator_type`` is the Kubernetes resource (Kubeflow); ``vertex_accelerator_type`` the
    Vertex AI machine-spec accelerator (NVIDIA_L4, NVIDIA_TESLA_T4, NVIDIA_A100_80GB, ...).
    """

    accelerator_type: str = "nvidia.com/gpu"
    vertex_accelerator_type: str = "NVIDIA_L4"
    accelerator_limit: int = default("num_gpus")
    node_selector_key: str = "cloud.google.com/gke-accelerator"
    node_selector_value: str = "nvidia-l4"
    toleration_key: str = "nvidia.com/gpu"
    toleration_operator: str = "Exists"
    toleration_effect: str = "NoSchedule"
    shm_size: str = "8Gi"

    def __post_init__(self) -> None:
        if self.accelerator_limit < 1:
            raise ValueError(f"--accelerator-limit {self.accelerator_limit} must be >= 1")
        quantity(self.shm_size, "--shm-size", "8Gi")


@dataclass(frozen=True)
class Placement:
    """GPU placement, per-task resources, retries and the run's workspace and notification secret."""

    gpu: GpuSettings = field(default_factory=GpuSettings)
    resources: dict[str, TaskResources] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    retries: int = 2
    backoff: str = "60s"
    backoff_factor: float = 2.0
    workspace_size: str = "20Gi"
    notify_secret: str = "tweet-sentiment-notify"

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"--retries {self.retries} must be >= 0 (0: no retry)")
        if not re.fullmatch(r"\d+(\.\d+)?s", self.backoff):
            raise ValueError(f"--backoff {self.backoff!r} must be a number of seconds like 60s")
        quantity(self.workspace_size, "--workspace-size", "20Gi")
        unknown = set(self.resources) - set(TASKS)
        if unknown:
            raise ValueError(f"no task named {', '.join(sorted(unknown))}; tasks are {', '.join(TASKS)}")


def _parse_sizes(flags: list[str] | None, what: str) -> dict[str, tuple[str, str]]:
    """``TASK=REQUEST[/LIMIT]`` flags -> {task: (request, limit)}."""
    sizes = {}
    for flag in flags or []:
        task, sep, value = flag.partition("=")
        request, _, limit = value.partition("/")
        if not sep or task not in TASKS or not request:
            raise ValueError(
                f"--{what} {flag!r} must be TASK=REQUEST[/LIMIT] with TASK one of {', '.join(TASKS)}"
            )
        sizes[task] = (request, limit or request)
        quantity(request, f"--{what} {flag!r}:", "7, 500m" if what == "cpu" else "24Gi, 512Mi")
    return sizes


def add_placement_flags(parser: argparse.ArgumentParser) -> None:
    """The compile-time placement flags, the same for ``compile``, ``submit`` and ``schedule``."""
    gpu, placement = GpuSettings(), Placement()
    group = parser.add_argument_group("placement (compile time)")
    group.add_argument(
        "--accelerator-type",
        help=f"GPU of the train task; default {gpu.accelerator_type} (kubeflow), "
        f"{gpu.vertex_accelerator_type} (vertex)",
    )
    group.add_argument(
        "--accelerator-limit",
        type=int,
        default=gpu.accelerator_limit,
        help="GPUs per train task: Vertex sizes the machine with it; on Kubeflow it is num_gpus' default",
    )
    group.add_argument(
        "--node-selector",
        default=f"{gpu.node_selector_key}={gpu.node_selector_value}",
        help="KEY=VALUE node label the train task must run on (kubeflow)",
    )
    group.add_argument("--toleration-key", default=gpu.toleration_key, help="taint the train task tolerates")
    group.add_argument("--shm-size", default=gpu.shm_size, help="memory-backed /dev/shm of train (kubeflow)")
    group.add_argument(
        "--cpu",
        action="append",
        metavar="TASK=REQUEST[/LIMIT]",
        help="CPU of a task, e.g. train=7/7.5 (repeatable; defaults in deploy/placement.py)",
    )
    group.add_argument(
        "--memory", action="append", metavar="TASK=REQUEST[/LIMIT]", help="memory of a task, e.g. train=24Gi"
    )
    group.add_argument("--retries", type=int, default=placement.retries, help="retries of every task")
    group.add_argument("--backoff", default=placement.backoff, help="first retry delay, doubled each time")
    group.add_argument(
        "--workspace-size",
        default=placement.workspace_size,
        help="the run's workspace volume, where train keeps checkpoints (kubeflow)",
    )
    group.add_argument(
        "--notify-secret",
        default=placement.notify_secret,
        help="Kubernetes secret whose key webhook_url is the failure notice's URL (kubeflow; optional)",
    )


def placement_from_args(args: argparse.Namespace, target: str) -> Placement:
    key, sep, value = args.node_selector.partition("=")
    if not sep or not key:
        raise ValueError(f"--node-selector {args.node_selector!r} must be KEY=VALUE")
    accelerator = {}
    if args.accelerator_type:
        accelerator["vertex_accelerator_type" if target == "vertex" else "accelerator_type"] = (
            args.accelerator_type
        )
    gpu = GpuSettings(
        **accelerator,
        accelerator_limit=args.accelerator_limit,
        node_selector_key=key,
        node_selector_value=value,
        toleration_key=args.toleration_key,
        shm_size=args.shm_size,
    )
    resources = dict(DEFAULT_RESOURCES)
    for task, (request, limit) in _parse_sizes(args.cpu, "cpu").items():
        resources[task] = replace(resources[task], cpu_request=request, cpu_limit=limit)
    for task, (request, limit) in _parse_sizes(args.memory, "memory").items():
        resources[task] = replace(resources[task], memory_request=request, memory_limit=limit)
    return Placement(
        gpu=gpu,
        resources=resources,
        retries=args.retries,
        backoff=args.backoff,
        workspace_size=args.workspace_size,
        notify_secret=args.notify_secret,
    )
