"""The train task's one function (``components/train.py`` calls it), and its GPU and checkpoint checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.sinks import MetricsSink
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.launcher import launch_training
from tweet_sentiment.train.output import log_training_metrics
from tweet_sentiment.train.sweep import plan_trials, select_model, selection_metrics


def run_train(
    dataset_dir: str,
    output_dir: str,
    *,
    checkpoint_root: str = "",
    run_id: str = "",
    model_uri: str = "",
    nproc: int = 1,
    metrics_sink: MetricsSink | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Fine-tune and save the model; returns flat figures for the Model artifact's metadata.

    ``settings`` are ``TrainConfig`` fields (model_name, epochs, learning_rate, ...; unset ones keep
    their declared defaults). ``nproc`` > 1 trains with that many DDP processes under torchrun (one
    per GPU, or gloo on CPU). Checkpoints go where :func:`checkpoint_location` says; a retried task
    resumes from them. The best validation figures and the throughput go to ``metrics_sink`` (a KFP
    ``Metrics``).
    """
    check_visible_gpus(nproc)
    checkpoint_dir = checkpoint_location(checkpoint_root, run_id, output_dir, model_uri)
    config = TrainConfig(checkpoint_dir=checkpoint_dir, **settings)
    summary = launch_training(config, dataset_dir, output_dir, nproc)
    if metrics_sink is not None:
        log_training_metrics(summary, metrics_sink)
    flat = {k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and v is not None}
    flat.update({f"param_{k}": v for k, v in summary["config"].items() if isinstance(v, (int, float, str))})
    return flat


def check_visible_gpus(num_gpus: int, visible: int | None = None) -> None:
    """Refuse to start ``num_gpus`` GPU processes on a node that shows fewer GPUs.

    On Vertex AI the machine's accelerator count is fixed when the pipeline is compiled, while
    ``num_gpus`` is a run-time parameter; on Kubeflow the device plugin may expose fewer GPUs than
    asked for. Without CUDA at all, ``num_gpus`` processes train on the CPU (gloo), as locally.
    """
    if visible is None:
        import torch

        if not torch.cuda.is_available():
            return
        visible = torch.cuda.device_count()
    if visible < num_gpus:
        raise ConfigError(
            f"num_gpus={num_gpus} but this node shows {visible} GPU(s); on Vertex AI the machine gets the "
            f"accelerator count it was compiled with (compile --target vertex --accelerator-limit {num_gpus})"
        )


def checkpoint_location(checkpoint_root: str, run_id: str, output_dir: str, model_uri: str = "") -> str:
    """``<root>/<run_id>/train`` when a root is given; otherwise ``checkpoints`` inside the model artifact.

    The artifact's own location survives a retry of the same task, and the checkpoints are deleted
    once the model is saved. A ``gs://`` artifact URI is used as such (writes go through the GCS
    API, where the marker-last protocol is atomic) rather than through its gcsfuse mount.
    """
    if checkpoint_root:
        return f"{checkpoint_root.rstrip('/')}/{run_id or 'default'}/train"
    if model_uri.startswith("gs://"):
        return f"{model_uri.rstrip('/')}/checkpoints"
    return str(Path(output_dir) / "checkpoints")


# The sweep's two tasks (components/sweep.py) call these.
__all__ = [
    "check_visible_gpus",
    "checkpoint_location",
    "plan_trials",
    "run_train",
    "select_model",
    "selection_metrics",
]
