"""Put a registered version's Vertex AI mirror on an endpoint (``models deploy VERSION --target vertex``).

The register step mirrors each version into Vertex AI Model Registry, uploaded with our serving image
and its routes (``registry.mirrors.vertex``). Here that model version is deployed to an endpoint (found
by display name or resource name, created when missing) on dedicated CPU machines, taking
``traffic_percentage`` of the endpoint's traffic (the rest stays with what it already serves: a
canary), or all of it. A version mirrored with another image or without our routes is refused: the
endpoint would never become healthy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deploy.package import DeployError
from tweet_sentiment.model.serving import PREDICT_ROUTE

ENDPOINT_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/endpoints/[^/]+$")


@dataclass(frozen=True)
class EndpointSettings:
    """Where and on what the mirrored version is served."""

    endpoint: str = field(
        default="tweet-sentiment",
        metadata={
            "help": "Endpoint display name (created when missing) or projects/P/locations/L/endpoints/ID."
        },
    )
    machine_type: str = field(default="n1-standard-4", metadata={"help": "Machine of each replica."})
    min_replicas: int = field(default=1, metadata={"help": "Fewest replicas."})
    max_replicas: int = field(default=3, metadata={"help": "Most replicas."})
    traffic_percentage: int = field(
        default=100,
        metadata={"help": "Share of the endpoint's traffic the version takes (the rest: as before)."},
    )

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise DeployError(f"replicas: need 1 <= min <= max, got {self.min_replicas}..{self.max_replicas}")
        if not 0 < self.traffic_percentage <= 100:
            raise DeployError(f"traffic percentage must be 1..100, got {self.traffic_percentage}")


def deploy_to_endpoint(
    model_ref: str,
    settings: EndpointSettings,
    *,
    display_name: str,
    project: str = "",
    location: str = "",
    sdk_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Deploy the Vertex AI model version ``model_ref`` (``projects/.../models/ID@VERSION``, as the
    registry's mirror record keeps it). ``sdk_options``: ``api_endpoint`` / ``api_transport`` /
    ``credentials`` for ``aiplatform.init`` (private endpoints, tests). Returns what was deployed where."""
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud import aiplatform

    match = re.match(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/models/", model_ref)
    if not match:
        raise DeployError(
            f"{model_ref!r} is not a Vertex AI model version (projects/P/locations/L/models/ID@V)"
        )
    aiplatform.init(
        project=project or match["project"], location=location or match["location"], **(sdk_options or {})
    )
    try:
        model = aiplatform.Model(model_ref)
        _check_serving_container(model, model_ref)
        endpoint = _endpoint(aiplatform, settings.endpoint)
        model.deploy(
            endpoint=endpoint,
            deployed_model_display_name=display_name,
            machine_type=settings.machine_type,
            min_replica_count=settings.min_replicas,
            max_replica_count=settings.max_replicas,
            traffic_percentage=settings.traffic_percentage,
            sync=True,
        )
        endpoint._sync_gca_resource()
    except GoogleAPICallError as exc:
        raise DeployError(f"Vertex AI refused the deployment of {model_ref}: {exc.message or exc}") from None
    return {
        "endpoint": endpoint.resource_name,
        "model": model_ref,
        "traffic_split": dict(endpoint.traffic_split),
    }


def _check_serving_container(model, model_ref: str) -> None:
    spec = model.gca_resource.container_spec
    if spec.predict_route != PREDICT_ROUTE:
        raise DeployError(
            f"{model_ref} was mirrored with serving image {spec.image_uri or '(none)'} and predict route "
            f"{spec.predict_route or '(none)'}, not our model server's {PREDICT_ROUTE}: it would not load; "
            "register (mirror) the version again with the default vertex_serving_image"
        )


def _endpoint(aiplatform, name: str):
    """The endpoint ``name`` (a resource name, or a display name: found, or created)."""
    if ENDPOINT_NAME.match(name):
        return aiplatform.Endpoint(name)
    found = aiplatform.Endpoint.list(filter=f'display_name="{name}"')
    if len(found) > 1:
        names = ", ".join(e.resource_name for e in found)
        raise DeployError(
            f"{len(found)} Vertex AI endpoints are named {name!r} ({names}); pass the resource name"
        )
    return found[0] if found else aiplatform.Endpoint.create(display_name=name, sync=True)
