"""The register task's one function (``components/register.py`` calls it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tweet_sentiment.core.dataset import read_stats
from tweet_sentiment.model.metrics import HEADLINE_METRICS
from tweet_sentiment.registry import open_registry, register_model
from tweet_sentiment.registry.base import Registry
from tweet_sentiment.registry.evaluation import EvaluationResult
from tweet_sentiment.registry.mirrors import MirrorConfig, mirror_version
from tweet_sentiment.registry.profile import PROFILE_FILE, ProfileConfig, profile_dataset, profile_json


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
    run_name: str = "",
    run_resource: str = "",
    html_report_path: str | None = None,
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
    (see tweet_sentiment.registry.mirrors; a failed mirror fails the step, the registration stands).
    ``lineage`` (a KFP artifact: ``path`` and ``metadata``) receives :func:`registration_record` of
    the new version. The version records the run (:func:`pipeline_run_record`), keeps evaluate's
    ``html_report_path`` as ``report.html`` and its data's profile (``registry.profile``).
    """
    import dataclasses
    import tempfile

    mirror_fields = {f.name for f in dataclasses.fields(MirrorConfig)}
    mirror_config = MirrorConfig(**{k: settings.pop(k) for k in list(settings) if k in mirror_fields})
    onnx_settings = settings
    stats = read_stats(dataset_dir)
    gate, parent, extra = {}, None, {"dataset": {k: v for k, v in stats.items() if k != "fingerprint"}}
    run_extra, files = _run_and_report(pipeline_run_record(run_id, run_name, run_resource), html_report_path)
    extra.update(run_extra)
    evaluation = EvaluationResult.read(evaluation_path) if evaluation_path else None
    if evaluation is not None:
        metrics, gate, parent = (
            evaluation.registry_metrics(),
            evaluation.gate_record(),
            evaluation.parent_champion,
        )
    metrics, parameters = dict(metrics or {}), dict(parameters)
    with tempfile.TemporaryDirectory(prefix="register-") as workdir:
        files[PROFILE_FILE] = _profile_file(dataset_dir, model_dir, evaluation, eval_split, Path(workdir))
        if eval_split:
            from tweet_sentiment.register.onnx_export import OnnxExportConfig, model_copy_with_onnx

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
            files=files,
        )
    registry = open_registry(registry_uri)
    mirror_version(registry, result, mirror_config.mirrors())
    if lineage is not None:
        record = registration_record(registry, registry_uri, result.version)
        Path(lineage.path).parent.mkdir(parents=True, exist_ok=True)
        Path(lineage.path).write_text(json.dumps(record, indent=2), encoding="utf-8")
        lineage.metadata.update(record)
    return result.version, result.uri


REPORT_FILE = "report.html"  # evaluate's HTML report, in the version's folder


def _run_and_report(run: dict[str, str], html_report_path: str | None) -> tuple[dict, dict[str, Path]]:
    """(metadata entries, files) that tie a version to its run and keep the run's HTML report."""
    if html_report_path and Path(html_report_path).is_file():
        return {"pipeline_run": run, "report": REPORT_FILE}, {REPORT_FILE: Path(html_report_path)}
    return {"pipeline_run": run}, {}


def _profile_file(
    dataset_dir, model_dir, evaluation: EvaluationResult | None, eval_split: str, workdir: Path
):
    """The reference profile the version keeps for later retrain checks, written to ``workdir``."""
    profile = profile_dataset(
        dataset_dir,
        model_dir,
        evaluation_report=None if evaluation is None else evaluation.report,
        eval_split=evaluation.split if evaluation is not None else eval_split,
        config=ProfileConfig(),
    )
    path = workdir / PROFILE_FILE
    path.write_text(profile_json(profile), encoding="utf-8")
    return path


def pipeline_run_record(run_id: str, run_name: str, run_resource: str = "") -> dict[str, str]:
    """The run a version came from: id, name and, on Vertex AI (``projects/P/locations/L/pipelineJobs/N``),
    its console URL. A Kubeflow pod does not know the UI's host: there the run id leads back
    (``<host>/#/runs/details/<id>``)."""
    record = {"id": run_id, "name": run_name}
    parts = run_resource.split("/")
    if len(parts) == 6 and parts[0] == "projects" and parts[4] == "pipelineJobs":
        project, location, job = parts[1], parts[3], parts[5]
        record["url"] = (
            f"https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/runs/{job}?project={project}"
        )
    return record


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
