"""Mirror registered versions into Vertex AI Model Registry (``vertex_model``; empty: off).

``vertex_model`` is a model's display name (project and region from the environment: on Vertex AI
Pipelines the job's own, elsewhere ``GOOGLE_CLOUD_PROJECT`` / application default credentials and
``GOOGLE_CLOUD_REGION``) or its resource name ``projects/P/locations/L/models/ID``. The first
mirrored version creates the model; later ones are uploaded as new versions of it
(``parent_model``). Each version points at the registry version's model directory
(``artifact_uri``, a ``gs://`` prefix: nothing is copied), carries labels (pipeline run id, registry
version, gate verdict, dataset fingerprint) and gets the evaluation attached
(``ImportModelEvaluation``: the confusion matrix, top-1 precision/recall, the macro figures). The
version alias ``champion`` is given exactly when our champion moved to the version (Vertex AI moves
an alias that another version held).

Serving: Vertex AI needs a serving container for every model. The default is our model server
(``model.serving.SERVING_IMAGE``, built from images/serve.Dockerfile), which loads the version from
``AIP_STORAGE_URI`` (the ``artifact_uri``) with this package's own loading, normalisation and int8
ONNX path; the version records its port, predict route and health route. (Google's prebuilt Hugging
Face image, the former default, carries transformers 4.46 and cannot read our transformers 5 save
format.) ``models deploy VERSION --target vertex`` puts a mirrored version on an endpoint.

Retries: versions carry the label ``pipeline_run_id``; a version with the same label is found and
reused (its alias and evaluation completed if missing) instead of uploaded twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tweet_sentiment.model.serving import HEALTH_ROUTE, HTTP_PORT, PREDICT_ROUTE, SERVING_IMAGE
from tweet_sentiment.registry.base import CHAMPION, RegisteredVersion
from tweet_sentiment.registry.mirrors import MirrorError, gate_verdict, headline_metrics

DEFAULT_SERVING_IMAGE = SERVING_IMAGE
CLASSIFICATION_METRICS_SCHEMA = (
    "gs://google-cloud-aiplatform/schema/modelevaluation/classification_metrics_1.0.0.yaml"
)
RUN_ID_LABEL = "pipeline_run_id"
RESOURCE_NAME = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/models/(?P<id>[^/@]+)$"
)


@dataclass(frozen=True)
class VertexMirror:
    """``VertexMirror(model)(version, champion)`` mirrors one registry version; returns the record kept.

    ``api_endpoint`` / ``api_transport`` / ``credentials`` are for private endpoints and for tests.
    """

    model: str
    serving_image: str = DEFAULT_SERVING_IMAGE
    project: str = ""
    location: str = ""
    api_endpoint: str = ""
    api_transport: str = ""
    credentials: Any = field(default=None, compare=False)

    def __call__(self, registered: RegisteredVersion, champion: bool) -> dict[str, Any]:
        if not registered.model_uri.startswith("gs://"):
            raise MirrorError(
                f"Vertex AI reads models from Cloud Storage; {registered.model_uri} is not a gs:// URI "
                "(use a gs:// registry to mirror to Vertex AI)"
            )
        aiplatform = self._sdk()
        parent = self._existing_model(aiplatform)
        model = self._find_version(aiplatform, parent, registered) if parent else None
        if model is None:
            model = self._upload(aiplatform, parent, registered, champion)
        elif champion and CHAMPION not in model.version_aliases:
            aiplatform.models.ModelRegistry(model).add_version_aliases(
                [CHAMPION, "default"], model.version_id
            )
        if not list(model.list_model_evaluations()):
            import_evaluation(model, registered)
        return {
            "model": model.resource_name,
            "version": model.version_id,
            "champion": champion,
            "ref": f"{model.resource_name}@{model.version_id}",
        }

    def move_champion(self, version_id: str) -> None:
        """Give version ``version_id`` of the model the aliases ``champion`` and ``default``."""
        aiplatform = self._sdk()
        aiplatform.models.ModelRegistry(self.model).add_version_aliases([CHAMPION, "default"], version_id)

    def _sdk(self):
        from google.cloud import aiplatform

        match = RESOURCE_NAME.match(self.model)
        settings = {
            "project": self.project or (match and match["project"]) or None,
            "location": self.location or (match and match["location"]) or None,
            "credentials": self.credentials,
            "api_endpoint": self.api_endpoint or None,
            "api_transport": self.api_transport or None,
        }
        aiplatform.init(**{k: v for k, v in settings.items() if v is not None})
        return aiplatform

    def _existing_model(self, aiplatform) -> str | None:
        """The resource name of the model to add a version to; None when it does not exist yet."""
        from google.api_core.exceptions import NotFound

        if RESOURCE_NAME.match(self.model):
            try:
                return aiplatform.Model(self.model).resource_name
            except NotFound:
                return None
        found = aiplatform.Model.list(filter=f'display_name="{self.model}"')
        if len(found) > 1:
            names = ", ".join(m.resource_name for m in found)
            raise MirrorError(
                f"{len(found)} Vertex AI models are named {self.model!r} ({names}); "
                "set vertex_model to the resource name of the one to use"
            )
        return found[0].resource_name if found else None

    def _find_version(self, aiplatform, parent: str, registered: RegisteredVersion):
        run_id = label_value(str(registered.metadata.get("run_id") or ""))
        if not run_id:
            return None
        registry = aiplatform.models.ModelRegistry(parent)
        found = registry.list_versions(filter=f'labels.{RUN_ID_LABEL}="{run_id}"')
        if not found:
            return None
        newest = max(found, key=lambda info: int(info.version_id))
        return registry.get_model(version=newest.version_id)

    def _upload(self, aiplatform, parent: str | None, registered: RegisteredVersion, champion: bool):
        match = RESOURCE_NAME.match(self.model)
        return aiplatform.Model.upload(
            display_name=match["id"] if match else self.model,
            model_id=match["id"] if match and parent is None else None,
            parent_model=parent,
            is_default_version=champion or parent is None,
            version_aliases=[CHAMPION] if champion else None,
            version_description=describe_version(registered),
            labels=version_labels(registered),
            artifact_uri=registered.model_uri,
            serving_container_image_uri=self.serving_image,
            serving_container_predict_route=PREDICT_ROUTE,
            serving_container_health_route=HEALTH_ROUTE,
            serving_container_ports=[HTTP_PORT],
            sync=True,
        )


def version_labels(registered: RegisteredVersion) -> dict[str, str]:
    """Labels: lowercase letters, digits, ``-`` and ``_``, at most 63 characters each."""
    metadata = registered.metadata
    labels = {
        RUN_ID_LABEL: label_value(str(metadata.get("run_id") or "")),
        "registry_version": str(registered.version),
        "gate": gate_verdict(metadata),
        "dataset_fingerprint": label_value(str(metadata.get("dataset_fingerprint") or ""))[:16],
    }
    return {key: value for key, value in labels.items() if value}


def label_value(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def describe_version(registered: RegisteredVersion) -> str:
    figures = ", ".join(f"{k} {v:.4f}" for k, v in headline_metrics(registered.metadata).items())
    return f"tweet-sentiment registry version {registered.version} ({registered.uri}): {figures}"


def evaluation_metrics(metadata: dict[str, Any]) -> dict[str, Any]:
    """The figures in Vertex AI's classification metrics schema.

    For single-label classification, top-1 precision and recall over all examples both equal the
    accuracy. The macro figures have no field in the schema: they go into the evaluation's metadata.
    """
    metrics = metadata.get("metrics") or {}
    result: dict[str, Any] = {}
    if isinstance(metrics.get("accuracy"), (int, float)):
        accuracy = float(metrics["accuracy"])
        result["confidenceMetrics"] = [
            {
                "confidenceThreshold": 0.0,
                "precisionAt1": accuracy,
                "recallAt1": accuracy,
                "f1ScoreAt1": accuracy,
            }
        ]
    if metrics.get("confusion_matrix") and metrics.get("labels"):
        result["confusionMatrix"] = {
            "annotationSpecs": [
                {"id": str(i), "displayName": name} for i, name in enumerate(metrics["labels"])
            ],
            "rows": metrics["confusion_matrix"],
        }
    return result


def import_evaluation(model, registered: RegisteredVersion) -> None:
    from google.cloud.aiplatform.compat.types import model_evaluation as gca_model_evaluation
    from google.protobuf import json_format, struct_pb2

    metadata = registered.metadata
    details = {
        "pipeline_job_id": str(metadata.get("run_id") or ""),
        "split": str((metadata.get("metrics") or {}).get("split") or ""),
        "gate": gate_verdict(metadata),
        "registry_version": registered.version,
        "registry_uri": registered.uri,
        **headline_metrics(metadata),
    }
    evaluation = gca_model_evaluation.ModelEvaluation(
        display_name=f"registry version {registered.version}",
        metrics_schema_uri=CLASSIFICATION_METRICS_SCHEMA,
        metrics=json_format.ParseDict(evaluation_metrics(metadata), struct_pb2.Value()),
        metadata=json_format.ParseDict(details, struct_pb2.Value()),
    )
    model.api_client.import_model_evaluation(
        parent=model.versioned_resource_name, model_evaluation=evaluation
    )
