"""Submitting runs and recurring runs to a Kubeflow Pipelines host with ``kfp.Client``.

Every run references a pipeline *version* named after the package's content hash, so the KFP UI
shows exactly which compiled spec a run or a schedule executes, and resubmitting an unchanged
package reuses its version instead of uploading a copy.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deploy.package import DeployError, PipelinePackage


@dataclass(frozen=True)
class KubeflowTarget:
    """Where and as whom runs are created; authentication is the kfp client's own (env, kube context)."""

    host: str
    experiment: str = "tweet-sentiment"
    namespace: str | None = None
    pipeline_root: str | None = None
    service_account: str | None = None

    def __post_init__(self) -> None:
        if not self.host.startswith(("http://", "https://")):
            raise DeployError(f"--host {self.host!r} must be an http(s):// URL of the KFP API")
        if not self.experiment:
            raise DeployError("the experiment name must not be empty")


def connect(target: KubeflowTarget, health_retry_seconds: int = 1):
    """A ``kfp.Client`` whose health endpoint answered; a clear error otherwise."""
    import kfp
    import urllib3

    try:
        # The constructor itself may call healthz (to detect a multi-user deployment).
        client = kfp.Client(host=target.host, namespace=target.namespace or "kubeflow")
        client.get_kfp_healthz(sleep_duration=health_retry_seconds)
    except (TimeoutError, urllib3.exceptions.HTTPError, OSError) as exc:
        reason = str(exc).splitlines()[0][:160]
        raise DeployError(f"no Kubeflow Pipelines API answering at {target.host} ({reason})") from exc
    return client


@contextmanager
def _api_errors(what: str):
    """KFP API refusals (auth, quota, validation) as one line with the server's own message."""
    import kfp_server_api

    try:
        yield
    except kfp_server_api.ApiException as exc:
        detail = (exc.body or "").strip().splitlines()[0][:300] if exc.body else ""
        raise DeployError(f"{what}: KFP API answered {exc.status} {exc.reason} {detail}".strip()) from exc


def _equals_filter(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def ensure_pipeline_version(client, package: PipelinePackage) -> tuple[str, str]:
    """(pipeline_id, version_id) of the package's content-addressed version, uploading what is missing."""
    version_name = f"{package.name}-{package.content_hash}"
    pipeline_id = client.get_pipeline_id(package.name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(str(package.path), pipeline_name=package.name).pipeline_id
    existing = client.list_pipeline_versions(
        pipeline_id, page_size=1, filter=_equals_filter("display_name", version_name)
    ).pipeline_versions
    if existing:
        return pipeline_id, existing[0].pipeline_version_id
    version = client.upload_pipeline_version(str(package.path), version_name, pipeline_id=pipeline_id)
    return pipeline_id, version.pipeline_version_id


def submit_run(
    target: KubeflowTarget, package: PipelinePackage, run_name: str, arguments: dict[str, Any], client=None
) -> str:
    """Create one run; returns its run id."""
    arguments = package.check_arguments(arguments)
    client = client or connect(target)
    with _api_errors(f"submitting {run_name}"):
        experiment = client.create_experiment(target.experiment, namespace=target.namespace)
        pipeline_id, version_id = ensure_pipeline_version(client, package)
        run = client.run_pipeline(
            experiment_id=experiment.experiment_id,
            job_name=run_name,
            params=arguments,
            pipeline_id=pipeline_id,
            version_id=version_id,
            pipeline_root=target.pipeline_root,
            service_account=target.service_account,
        )
    return run.run_id


def create_recurring_run(
    target: KubeflowTarget,
    package: PipelinePackage,
    name: str,
    cron: str,
    arguments: dict[str, Any],
    max_concurrency: int = 1,
    client=None,
    description: str = "",
) -> str:
    """A KFP recurring run (6-field cron, seconds first) that never backfills missed intervals."""
    arguments = package.check_arguments(arguments)
    client = client or connect(target)
    with _api_errors(f"scheduling {name}"):
        experiment = client.create_experiment(target.experiment, namespace=target.namespace)
        pipeline_id, version_id = ensure_pipeline_version(client, package)
        recurring = client.create_recurring_run(
            experiment_id=experiment.experiment_id,
            job_name=name,
            description=description or None,
            cron_expression=cron,
            max_concurrency=max_concurrency,
            # A cluster that was down for a week retrains once on the newest snapshot, not seven times.
            no_catchup=True,
            params=arguments,
            pipeline_id=pipeline_id,
            version_id=version_id,
            pipeline_root=target.pipeline_root,
            service_account=target.service_account,
        )
    return recurring.recurring_run_id
