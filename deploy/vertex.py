"""Submitting to Vertex AI Pipelines with google-cloud-aiplatform (``PipelineJob`` / ``PipelineJobSchedule``).

Vertex takes the single-document package of ``compile --target vertex``; the kubeflow package's
second (kubernetes platform) document is refused by ``PipelineJob``. Credentials are Google
Application Default Credentials unless a caller (a test) passes others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.package import DeployError, PipelinePackage


@dataclass(frozen=True)
class VertexTarget:
    project: str
    region: str
    pipeline_root: str
    service_account: str | None = None
    experiment: str | None = None

    def __post_init__(self) -> None:
        if not self.project or not self.region:
            raise DeployError("Vertex AI needs --project and --region")
        if not self.pipeline_root.startswith("gs://"):
            raise DeployError(f"--pipeline-root {self.pipeline_root!r} must be a gs:// prefix for Vertex AI")


def build_pipeline_job(
    target: VertexTarget,
    package: PipelinePackage,
    display_name: str,
    arguments: dict[str, Any],
    credentials=None,
    enable_caching: bool | None = None,
):
    """The ``PipelineJob`` (not yet submitted) for one run of ``package``."""
    if len(package.documents) != 1:
        raise DeployError(
            f"{package.path} has {len(package.documents)} YAML documents; Vertex AI needs the single-"
            "document "
            "package of `python pipeline.py compile --target vertex`"
        )
    arguments = package.check_arguments(arguments)
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(
        display_name=display_name,
        template_path=str(package.path),
        pipeline_root=target.pipeline_root,
        parameter_values=arguments,
        project=target.project,
        location=target.region,
        credentials=credentials,
        enable_caching=enable_caching,
    )


def submit_run(
    target: VertexTarget,
    package: PipelinePackage,
    display_name: str,
    arguments: dict[str, Any],
    enable_caching: bool | None = None,
) -> str:
    """Submit one run. ``enable_caching``: None keeps the compiled per-task caching, False turns it off."""
    job = build_pipeline_job(target, package, display_name, arguments, enable_caching=enable_caching)
    job.submit(service_account=target.service_account, experiment=target.experiment)
    return job.resource_name


def create_schedule(
    target: VertexTarget,
    package: PipelinePackage,
    name: str,
    cron: str,
    arguments: dict[str, Any],
    max_concurrency: int = 1,
    enable_caching: bool | None = False,
) -> str:
    """A Vertex ``PipelineJobSchedule`` (5-field cron, optional ``TZ=...`` prefix); its runs use no
    cache unless ``enable_caching`` is None (the compiled per-task caching).

    A paused schedule resumed with Vertex's default ``catch_up=False`` does not backfill the missed
    runs, which is what the KFP recurring run gets from ``no_catchup``.
    """
    job = build_pipeline_job(target, package, name, arguments, enable_caching=enable_caching)
    schedule = job.create_schedule(
        cron=cron,
        display_name=name,
        max_concurrent_run_count=max_concurrency,
        service_account=target.service_account,
    )
    return schedule.resource_name
