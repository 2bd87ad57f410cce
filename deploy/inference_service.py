"""A KServe ``InferenceService`` for a registered version: rendered with KServe's model classes, applied
with the Kubernetes client.

The predictor is a custom container, our serving image (``images/serve.Dockerfile``), named
``kserve-container`` as KServe expects; its ``STORAGE_URI`` makes KServe's storage initializer copy the
version's model directory into ``/mnt/models`` before the server starts, so the image needs no cloud
credentials of its own. Probes use the server's V2 health routes. ``render`` builds the object from
``kserve.V1beta1*`` and ``kubernetes.client.V1*`` classes (a misspelt or mistyped field fails there, and
``check_manifest`` proves that every key of the manifest is one those classes know), ``apply`` creates it
or merge-patches it in place (``dry_run``: the API server checks it and persists nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from deploy.package import DeployError
from tweet_sentiment.serve.config import DEFAULT_HTTP_PORT, DEFAULT_MODEL_NAME

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
CONTAINER_NAME = "kserve-container"  # the name KServe gives (and expects of) the predictor's container
MOUNTED_MODEL = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI
FIELD_MANAGER = "tweet-sentiment"
VERSION_LABEL = "tweet-sentiment/registry-version"
REGISTRY_ANNOTATION = "tweet-sentiment/registry-uri"


@dataclass(frozen=True)
class ServingResources:
    """The predictor pod's size and replicas (CPU serving: the int8 ONNX export or torch on CPUs)."""

    cpu_request: str = field(default="1", metadata={"help": "CPU request of the predictor container."})
    cpu_limit: str = field(default="2", metadata={"help": "CPU limit of the predictor container."})
    memory: str = field(
        default="2Gi", metadata={"help": "Memory request = limit of the predictor container."}
    )
    min_replicas: int = field(default=1, metadata={"help": "Fewest predictor replicas (0: scale to zero)."})
    max_replicas: int = field(default=3, metadata={"help": "Most predictor replicas."})

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise DeployError(
                f"replicas: need 0 <= min_replicas <= max_replicas and max_replicas >= 1, "
                f"got {self.min_replicas}..{self.max_replicas}"
            )


def _probe(path: str, period: int):
    from kubernetes.client import V1HTTPGetAction, V1Probe

    return V1Probe(http_get=V1HTTPGetAction(path=path, port=DEFAULT_HTTP_PORT), period_seconds=period)


def render(
    *,
    name: str,
    namespace: str,
    image: str,
    storage_uri: str,
    registry_version: int,
    registry_uri: str = "",
    resources: ServingResources = ServingResources(),
    model_name: str = DEFAULT_MODEL_NAME,
) -> dict[str, Any]:
    """The InferenceService manifest (a dict, as ``kubectl apply -f`` takes it) for one registered version."""
    import kserve
    from kubernetes.client import V1Container, V1ContainerPort, V1EnvVar, V1ObjectMeta, V1ResourceRequirements

    if "://" not in storage_uri:
        raise DeployError(
            f"KServe copies the model from a storage URI (gs://, s3://, pvc://...); {storage_uri!r} is a "
            "local path: deploy from a gs:// registry"
        )
    container = V1Container(
        name=CONTAINER_NAME,
        image=image,
        args=[
            "--model-uri",
            MOUNTED_MODEL,
            "--model-name",
            model_name,
            "--http-port",
            str(DEFAULT_HTTP_PORT),
        ],
        env=[V1EnvVar(name="STORAGE_URI", value=storage_uri)],
        ports=[V1ContainerPort(container_port=DEFAULT_HTTP_PORT, protocol="TCP")],
        resources=V1ResourceRequirements(
            requests={"cpu": resources.cpu_request, "memory": resources.memory},
            limits={"cpu": resources.cpu_limit, "memory": resources.memory},
        ),
        readiness_probe=_probe("/v2/health/ready", 5),
        liveness_probe=_probe("/v2/health/live", 15),
    )
    service = kserve.V1beta1InferenceService(
        api_version=f"{GROUP}/{VERSION}",
        kind=KIND,
        metadata=V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={VERSION_LABEL: str(registry_version)},
            annotations={REGISTRY_ANNOTATION: registry_uri} if registry_uri else None,
        ),
        spec=kserve.V1beta1InferenceServiceSpec(
            predictor=kserve.V1beta1PredictorSpec(
                containers=[container],
                min_replicas=resources.min_replicas,
                max_replicas=resources.max_replicas,
            )
        ),
    )
    return kserve.ApiClient().sanitize_for_serialization(service)


PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool, "object": object, "datetime": str}


def check_manifest(manifest: dict[str, Any]) -> None:
    """Raise :class:`DeployError` unless every key of ``manifest`` is a field of KServe's / Kubernetes'
    model classes with a value of its type (what a client-side ``kubectl apply --dry-run`` checks).

    The classes' own ``openapi_types`` / ``attribute_map`` are the schema (KServe ships no CRD file).
    """
    problems = _problems(manifest, "V1beta1InferenceService", "")
    if problems:
        raise DeployError("the InferenceService does not fit the KServe schema: " + "; ".join(problems[:5]))


def _model_class(name: str):
    import kserve.models
    import kubernetes.client.models

    return getattr(kserve.models, name, None) or getattr(kubernetes.client.models, name)


def _problems(value: Any, kind: str, path: str) -> list[str]:
    where = path or "the manifest"
    if kind.startswith("list["):
        if not isinstance(value, list):
            return [f"{where} must be a list"]
        return [p for i, item in enumerate(value) for p in _problems(item, kind[5:-1], f"{path}[{i}]")]
    if kind.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{where} must be a mapping"]
        inner = kind[5:-1].split(", ", 1)[1]
        return [p for key, item in value.items() for p in _problems(item, inner, f"{path}.{key}")]
    if kind in PRIMITIVES:
        wrong = not isinstance(value, PRIMITIVES[kind]) or (kind != "bool" and isinstance(value, bool))
        return [f"{where} must be {kind}, got {value!r}"] if wrong and kind != "object" else []
    if not isinstance(value, dict):
        return [f"{where} must be a mapping ({kind})"]
    model = _model_class(kind)
    fields_by_key = {key: attribute for attribute, key in model.attribute_map.items()}
    problems = []
    for key, item in value.items():
        inner = f"{path}.{key}" if path else key
        if key not in fields_by_key:
            problems.append(f"{inner} is not a field of {kind}")
        elif item is not None:
            problems += _problems(item, model.openapi_types[fields_by_key[key]], inner)
    return problems


def apply(manifest: dict[str, Any], api_client=None, *, dry_run: bool = False) -> dict[str, Any]:
    """Create the InferenceService, or merge-patch it when it exists (a new version rolls the predictor).

    ``api_client``: a ``kubernetes.client.ApiClient`` (default: the kubeconfig's, or the pod's service
    account in a cluster). Returns the object the API server answers with.
    """
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    check_manifest(manifest)
    if api_client is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                # $KUBECONFIG read now (the client reads it once, at import), else ~/.kube/config.
                config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
            except (config.ConfigException, OSError) as exc:
                raise DeployError(
                    f"no Kubernetes cluster configured (kubeconfig or in-cluster): {exc}"
                ) from None
        api_client = client.ApiClient()
    api = client.CustomObjectsApi(api_client)
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    options = {"dry_run": "All"} if dry_run else {}
    where = (GROUP, VERSION, namespace, PLURAL)
    try:
        try:
            api.get_namespaced_custom_object(*where, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return api.create_namespaced_custom_object(
                *where, manifest, field_manager=FIELD_MANAGER, **options
            )
        return api.patch_namespaced_custom_object(
            *where, name, manifest, field_manager=FIELD_MANAGER, **options
        )
    except ApiException as exc:
        raise DeployError(
            f"InferenceService {namespace}/{name}: the API server said {exc.status} {_reason(exc)}"
        ) from None
    except HTTPError as exc:  # connection refused, timeouts (after urllib3's retries)
        raise DeployError(
            f"InferenceService {namespace}/{name}: cannot reach the API server: {exc}"
        ) from None


def _reason(exc) -> str:
    import json

    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)
