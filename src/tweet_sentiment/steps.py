"""The pipeline steps (preprocess, train, evaluate, register, batch predict) as plain functions.

Each ``components/<step>.py`` calls exactly one of these. Keeping the argument lists flat
(str, int, float, bool and paths) lets the same function be called from a KFP component,
from a test, or from a Python shell, with nothing in between.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tweet_sentiment.data import PreprocessConfig, preprocess, read_stats
from tweet_sentiment.distributed import launch_training
from tweet_sentiment.errors import ConfigError
from tweet_sentiment.evaluation import (
    ConfusionMatrixSink,
    EvaluateConfig,
    EvaluationResult,
    MetricsSink,
    evaluate,
)
from tweet_sentiment.metrics import HEADLINE_METRICS
from tweet_sentiment.mirrors import MirrorConfig, mirror_version
from tweet_sentiment.predict import PredictConfig, run_predict
from tweet_sentiment.registry import open_registry, register_model
from tweet_sentiment.registry_base import Registry
from tweet_sentiment.snapshots import resolve_data_source
from tweet_sentiment.training import TrainConfig, log_training_metrics


def run_preprocess(
    source: str, output_dir: str, *, eval_split: str = "test", **settings: Any
) -> dict[str, Any]:
    """Validate and normalise ``source``; the train split and ``eval_split`` must exist.

    ``<prefix>/latest`` reads the newest dated snapshot under ``<prefix>`` (see snapshots.py).
    ``settings`` are ``PreprocessConfig`` fields (hub_config, max_text_chars, max_bad_fraction, ...).
    """
    source = resolve_data_source(source)
    required = tuple(dict.fromkeys(("train", eval_split)))
    config = PreprocessConfig(source=source, required_splits=required, held_out_split=eval_split, **settings)
    return preprocess(config, output_dir)


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


def run_evaluate(
    model_dir: str,
    dataset_dir: str,
    *,
    metrics_sink: MetricsSink | None = None,
    confusion_sink: ConfusionMatrixSink | None = None,
    report_path: str | None = None,
    registry_uri: str = "",
    html_path: str | None = None,
    **settings: Any,
) -> bool:
    """Score the model (and the registry's champion) and apply the gate.

    ``settings`` are ``EvaluateConfig`` fields (split, min_accuracy, ...). Returns whether
    the gate passed; the reasons are printed and reported.
    """
    result = evaluate(
        EvaluateConfig(**settings),
        model_dir,
        dataset_dir,
        registry_uri=registry_uri,
        metrics_sink=metrics_sink,
        confusion_sink=confusion_sink,
        html_path=html_path,
    )
    if report_path:
        result.write(report_path)
    return result.passed


def run_register(
    model_dir: str,
    dataset_dir: str,
    registry_uri: str,
    *,
    metrics: dict[str, Any] | None = None,
    parameters: dict[str, Any],
    run_id: str = "",
    evaluation_path: str | None = None,
    eval_split: str = "",
    lineage: Any = None,
    **settings: Any,
) -> tuple[int, str]:
    """Store the model as a new registry version. Returns ``(version, uri)``.

    With ``evaluation_path`` (evaluate's JSON report) the version records the gate's verdict and
    the champion it was compared with, and a passed gate moves ``champion`` to it. With
    ``eval_split`` the version also gets an int8 ONNX export in ``model/onnx/``, kept only when its
    accuracy on that split is within ``max_accuracy_drop_points`` of the torch model's; the
    measured figures and the decision go into the version's metadata. ``settings`` are
    ``OnnxExportConfig`` fields (max_accuracy_drop_points, ...) and ``MirrorConfig``
    fields (mlflow_tracking_uri, vertex_model, ...): once registered, the version is mirrored there
    (see tweet_sentiment.mirrors; a failed mirror fails the step, the registration stands).
    ``lineage`` (a KFP artifact: ``path`` and ``metadata``) receives :func:`registration_record` of
    the new version.
    """
    import dataclasses
    import tempfile

    mirror_fields = {f.name for f in dataclasses.fields(MirrorConfig)}
    mirror_config = MirrorConfig(**{k: settings.pop(k) for k in list(settings) if k in mirror_fields})
    onnx_settings = settings

    stats = read_stats(dataset_dir)
    gate, parent, extra = {}, None, {"dataset": {k: v for k, v in stats.items() if k != "fingerprint"}}
    if evaluation_path:
        evaluation = EvaluationResult.read(evaluation_path)
        metrics, gate, parent = (
            evaluation.registry_metrics(),
            evaluation.gate_record(),
            evaluation.parent_champion,
        )
    metrics, parameters = dict(metrics or {}), dict(parameters)
    with tempfile.TemporaryDirectory(prefix="register-") as workdir:
        if eval_split:
            from tweet_sentiment.onnx_export import OnnxExportConfig, model_copy_with_onnx

            config = OnnxExportConfig(**onnx_settings)
            model_dir, onnx_metrics, onnx_parameters = model_copy_with_onnx(
                model_dir, dataset_dir, eval_split, workdir, config
            )
            metrics.update(onnx_metrics)
            parameters.update(onnx_parameters)
        result = register_model(
            registry_uri,
            model_dir,
            metrics=metrics,
            parameters=parameters,
            dataset_fingerprint=stats["fingerprint"],
            run_id=run_id,
            gate=gate,
            parent_champion=parent,
            promote=bool(gate.get("passed")),
            extra=extra,
        )
    registry = open_registry(registry_uri)
    mirror_version(registry, result, mirror_config.mirrors())
    if lineage is not None:
        record = registration_record(registry, registry_uri, result.version)
        Path(lineage.path).parent.mkdir(parents=True, exist_ok=True)
        Path(lineage.path).write_text(json.dumps(record, indent=2), encoding="utf-8")
        lineage.metadata.update(record)
    return result.version, result.uri


def registration_record(registry: Registry, registry_uri: str, version: int) -> dict[str, Any]:
    """What the lineage artifact says about a version of ``registry`` (opened from ``registry_uri``):
    where, which number, its aliases and headline metrics (flat, so that the KFP and Vertex UIs show them)."""
    metrics = registry.metadata(version).get("metrics", {})
    aliases = sorted(name for name, number in registry.aliases().items() if number == version)
    record: dict[str, Any] = {
        "registry_uri": registry_uri,
        "version": version,
        "version_uri": registry.uri(version),
        "aliases": ",".join(aliases),
    }
    record.update(
        {name: metrics[name] for name in HEADLINE_METRICS if isinstance(metrics.get(name), (int, float))}
    )
    return record


def run_batch_predict(
    source: str,
    output_dir: str | os.PathLike[str],
    *,
    registry_uri: str,
    model: str,
    backend: str = "auto",
    text_column: str = "text",
    max_length: int = PredictConfig.max_length,
) -> dict[str, Any]:
    """Score ``source`` (a local or gs:// JSONL/CSV/TSV/text file) into ``output_dir/predictions.jsonl``.

    The pipeline's batch_predict step. Returns flat figures for the output artifact's metadata.
    """
    import tempfile

    from tweet_sentiment.storage import fetch_file

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="batch-predict-") as workdir:
        config = PredictConfig(
            model=model,
            registry=registry_uri,
            input=str(fetch_file(source, workdir)),
            output=str(output / "predictions.jsonl"),
            backend=backend,
            text_column=text_column,
            max_length=max_length,
            progress=False,
        )
        summary = run_predict(config)
    summary.update({"source": source, "model": model})
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
