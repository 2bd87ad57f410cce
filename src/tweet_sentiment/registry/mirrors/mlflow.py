"""Mirror registered versions into an MLflow Model Registry (``mlflow_tracking_uri``; empty: off).

Each registry version becomes one MLflow model version of ``model_name`` whose source is the
registry version's model URI (``gs://.../versions/000003/model``: MLflow points at it, nothing is
copied), tagged with the headline metrics, the gate verdict, the dataset fingerprint, the pipeline
run id and the registry version number. The MLflow alias ``champion`` follows ours.

A retried step must not create a second MLflow version: versions are found again by the
``pipeline_run_id`` tag (or, for a version registered without a run id, by the
``registry_source`` tag). The tags are sent in the same CreateModelVersion request as the
version, so a version either exists with them or not at all.

Authentication is MLflow's own: ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``
/ ``MLFLOW_TRACKING_PASSWORD`` in the environment. On Kubeflow the pipeline maps the Kubernetes
secret ``mlflow-tracking`` (key ``token``) to ``MLFLOW_TRACKING_TOKEN`` when it exists.

An MLflow *server* refuses a local path as a version source (it only accepts paths inside a run's
artifacts), so mirror a ``gs://`` registry to a server; a local registry can be mirrored to a
server-less store such as ``sqlite:///mlflow.db``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tweet_sentiment.registry.base import CHAMPION, RegisteredVersion
from tweet_sentiment.registry.mirrors import gate_verdict, headline_metrics

DEFAULT_MODEL_NAME = "tweet-sentiment"
RUN_ID_TAG = "pipeline_run_id"
SOURCE_TAG = "registry_source"
VERSION_TAG = "registry_version"
# Read by mlflow/telemetry/utils.py (is_telemetry_disabled) when mlflow is imported and at each event.
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(frozen=True)
class MlflowMirror:
    """``MlflowMirror(uri)(version, champion)`` mirrors one registry version; returns the record kept."""

    tracking_uri: str
    model_name: str = DEFAULT_MODEL_NAME

    def __call__(self, registered: RegisteredVersion, champion: bool) -> dict[str, Any]:
        client = mlflow_client(self.tracking_uri)
        ensure_registered_model(client, self.model_name)
        existing = find_version(client, self.model_name, registered)
        if existing is None:
            existing = client.create_model_version(
                self.model_name,
                source=registered.model_uri,
                tags=version_tags(registered),
                description=f"tweet-sentiment registry version {registered.version} ({registered.uri})",
            )
        if champion:
            client.set_registered_model_alias(self.model_name, CHAMPION, existing.version)
        return {
            "tracking_uri": self.tracking_uri,
            "model": self.model_name,
            "version": int(existing.version),
            "champion": champion,
            "ref": f"{self.model_name} v{existing.version}",
        }

    def move_champion(self, mlflow_version: int | str) -> None:
        """Point the ``champion`` alias at ``mlflow_version`` (after a promotion by hand)."""
        mlflow_client(self.tracking_uri).set_registered_model_alias(
            self.model_name, CHAMPION, str(mlflow_version)
        )


def mlflow_client(tracking_uri: str):
    """An ``MlflowClient`` for ``tracking_uri`` (tracking and model registry), with telemetry off."""
    os.environ.update(TELEMETRY_OFF)  # before the first `import mlflow`, which starts telemetry
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name, description="Tweet sentiment classifier (negative/neutral/positive), mirrored."
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another run, or an earlier one, made it
            raise


def find_version(client, name: str, registered: RegisteredVersion):
    """The MLflow version made before for this registry version, or None."""
    key, value = version_key(registered)
    found = client.search_model_versions(f"name = '{_quoted(name)}' and tags.`{key}` = '{_quoted(value)}'")
    return max(found, key=lambda v: int(v.version)) if found else None


def version_key(registered: RegisteredVersion) -> tuple[str, str]:
    run_id = registered.metadata.get("run_id")
    return (RUN_ID_TAG, str(run_id)) if run_id else (SOURCE_TAG, registered.model_uri)


def version_tags(registered: RegisteredVersion) -> dict[str, str]:
    metadata = registered.metadata
    tags = {name: f"{value:.6g}" for name, value in headline_metrics(metadata).items()}
    tags.update(
        {
            "gate": gate_verdict(metadata),
            "dataset_fingerprint": str(metadata.get("dataset_fingerprint") or ""),
            RUN_ID_TAG: str(metadata.get("run_id") or ""),
            VERSION_TAG: str(registered.version),
            SOURCE_TAG: registered.model_uri,
        }
    )
    return tags


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
