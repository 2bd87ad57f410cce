"""Managing schedules by name: list them, delete one, and create-or-replace without duplicates.

A schedule is a KFP *recurring run* on Kubeflow and a *pipeline job schedule* on Vertex AI; both
are looked up by display name (the ``name`` of a schedule file). Neither API updates the pipeline a
schedule runs, so replacing one is delete-then-create: ``schedule FILE`` refuses a name that exists
unless ``--replace`` is given (:func:`refuse_or_replace`).

Kubeflow calls go through ``kfp.Client``; Vertex calls through google-cloud-aiplatform with
``client_settings`` (project, location and, for tests, ``api_endpoint``, ``api_transport`` and
``credentials``) handed to ``aiplatform.init``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy.package import DeployError


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule as ``schedule list`` shows it."""

    name: str
    id: str
    cron: str
    state: str  # ENABLED / DISABLED (Kubeflow), ACTIVE / PAUSED / COMPLETED (Vertex)
    created: str = ""

    def line(self) -> str:
        return f"{self.name:<32} {self.cron:<22} {self.state:<9} {self.id}"


HEADER = f"{'NAME':<32} {'CRON':<22} {'STATE':<9} ID"


# ----------------------------------------------------------------------------- Kubeflow


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def _kfp_info(recurring) -> ScheduleInfo:
    trigger = recurring.trigger
    cron_schedule = getattr(trigger, "cron_schedule", None) if trigger else None
    cron = getattr(cron_schedule, "cron", "") or ""
    return ScheduleInfo(
        name=recurring.display_name or "",
        id=recurring.recurring_run_id or "",
        cron=cron,
        state=str(recurring.mode or recurring.status or ""),
        created=str(recurring.created_at or ""),
    )


def kubeflow_schedules(client, namespace: str | None = None, name: str | None = None) -> list[ScheduleInfo]:
    """Every recurring run (of ``namespace``), or those named ``name``; all pages."""
    from deploy.kubeflow import _api_errors

    found, token = [], ""
    with _api_errors("listing recurring runs"):
        while True:
            page = client.list_recurring_runs(
                page_token=token,
                page_size=100,
                namespace=namespace,
                filter=_name_filter(name) if name else None,
            )
            found += [_kfp_info(r) for r in page.recurring_runs or []]
            token = page.next_page_token or ""
            if not token:
                return found


def kubeflow_delete(client, name: str, namespace: str | None = None) -> list[ScheduleInfo]:
    """Delete every recurring run named ``name``; a clear error when there is none."""
    from deploy.kubeflow import _api_errors

    existing = kubeflow_schedules(client, namespace, name)
    if not existing:
        raise DeployError(f"no recurring run named {name!r} on this Kubeflow Pipelines host")
    with _api_errors(f"deleting {name}"):
        for schedule in existing:
            client.delete_recurring_run(schedule.id)
    return existing


# ----------------------------------------------------------------------------- Vertex AI


def _vertex(client_settings: dict[str, Any]):
    from google.cloud import aiplatform

    aiplatform.init(**{k: v for k, v in client_settings.items() if v is not None})
    return aiplatform


def _vertex_info(schedule) -> ScheduleInfo:
    resource = schedule._gca_resource
    return ScheduleInfo(
        name=resource.display_name,
        id=resource.name,
        cron=resource.cron,
        state=resource.state.name,
        created=resource.create_time.isoformat() if resource.create_time else "",
    )


def vertex_schedules(client_settings: dict[str, Any], name: str | None = None) -> list[ScheduleInfo]:
    """Every pipeline job schedule of the project and region, or those named ``name``."""
    return [_vertex_info(s) for s in _vertex_schedule_objects(client_settings, name)]


def _vertex_schedule_objects(client_settings: dict[str, Any], name: str | None):
    aiplatform = _vertex(client_settings)
    found = aiplatform.PipelineJobSchedule.list(filter=f'display_name="{name}"' if name else None)
    # The filter is the service's; keep the exact name (a service may match more loosely).
    return [s for s in found if name is None or s._gca_resource.display_name == name]


def vertex_delete(client_settings: dict[str, Any], name: str) -> list[ScheduleInfo]:
    """Delete every pipeline job schedule named ``name``; a clear error when there is none."""
    schedules = _vertex_schedule_objects(client_settings, name)
    if not schedules:
        raise DeployError(f"no Vertex AI pipeline job schedule named {name!r} in this project and region")
    deleted = [_vertex_info(s) for s in schedules]
    for schedule in schedules:
        schedule.delete()
    return deleted


# ----------------------------------------------------------------------------- create or replace


def refuse_or_replace(
    existing: list[ScheduleInfo], name: str, replace: bool, delete: Callable[[], Any]
) -> list[ScheduleInfo]:
    """Before creating schedule ``name``: refuse when it exists (unless ``replace``), else delete it."""
    if not existing:
        return []
    if not replace:
        ids = ", ".join(s.id for s in existing)
        raise DeployError(
            f"a schedule named {name!r} already exists ({ids}); pass --replace to replace it "
            f"or run `schedule delete {name}` first"
        )
    delete()
    return existing
