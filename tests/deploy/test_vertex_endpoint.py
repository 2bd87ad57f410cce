"""models deploy --target vertex: a mirrored version put on an endpoint, against a loopback Vertex AI fake.

The version is first mirrored by the register step's own mirror (so what is deployed is what the mirror
uploaded: our serving image and routes), then deployed with the SDK's REST transport.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from google.auth.credentials import AnonymousCredentials

from deploy.package import DeployError
from deploy.vertex_endpoint import EndpointSettings, deploy_to_endpoint
from tests.fakes.http_stub import StubServer
from tests.fakes.vertex import LOCATION, MODEL, PARENT, PROJECT, FakeModelService
from tweet_sentiment.registry import RegisteredVersion
from tweet_sentiment.registry.mirrors.vertex import VertexMirror


@pytest.fixture
def vertex():
    service = FakeModelService()
    with StubServer(service) as server:
        server.service = service
        yield server


def _sdk(server) -> dict:
    return {"api_endpoint": server.url, "api_transport": "rest", "credentials": AnonymousCredentials()}


def _mirrored(server, version: int) -> str:
    registered = RegisteredVersion(
        version, f"gs://team-models/tweets/versions/{version:06d}", {"run_id": f"job-{version}"}, created=True
    )
    mirror = VertexMirror(MODEL, project=PROJECT, location=LOCATION, **_sdk(server))
    return mirror(registered, champion=True)["ref"]


def _deploy_requests(server):
    return [r for r in server.requests if r.method == "POST" and unquote(r.path).endswith(":deployModel")]


def test_a_mirrored_version_goes_on_a_new_endpoint_with_all_the_traffic(vertex):
    ref = _mirrored(vertex, 1)
    settings = EndpointSettings(
        endpoint="tweets-online", machine_type="n1-standard-2", min_replicas=1, max_replicas=4
    )
    result = deploy_to_endpoint(ref, settings, display_name="tweet-sentiment-v1", sdk_options=_sdk(vertex))

    (endpoint,) = vertex.service.endpoints.values()
    assert endpoint["displayName"] == "tweets-online"
    (request,) = _deploy_requests(vertex)
    body = request.json()
    assert body["deployedModel"]["model"] == f"{MODEL}@1"
    assert body["deployedModel"]["displayName"] == "tweet-sentiment-v1"
    resources = body["deployedModel"]["dedicatedResources"]
    assert resources["machineSpec"]["machineType"] == "n1-standard-2"
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 4)
    assert body["trafficSplit"] == {"0": 100}
    assert result == {"endpoint": endpoint["name"], "model": ref, "traffic_split": {"7000": 100}}


def test_a_new_version_can_take_a_canary_share_of_the_same_endpoint(vertex):
    deploy_to_endpoint(
        _mirrored(vertex, 1),
        EndpointSettings(endpoint="tweets-online"),
        display_name="v1",
        sdk_options=_sdk(vertex),
    )
    result = deploy_to_endpoint(
        _mirrored(vertex, 2),
        EndpointSettings(endpoint="tweets-online", traffic_percentage=10),
        display_name="v2",
        sdk_options=_sdk(vertex),
    )
    assert len(vertex.service.endpoints) == 1  # found by its display name, not created again
    assert _deploy_requests(vertex)[-1].json()["trafficSplit"] == {"0": 10, "7000": 90}
    assert result["traffic_split"] == {"7000": 90, "7001": 10}


def test_a_version_mirrored_with_another_serving_container_is_refused(vertex):
    ref = _mirrored(vertex, 1)
    vertex.service.versions[0]["containerSpec"] = {
        "imageUri": "us-docker.pkg.dev/hf/huggingface-pytorch-inference"
    }
    with pytest.raises(
        DeployError, match="mirrored with serving image us-docker.pkg.dev/hf/huggingface-pytorch-inference"
    ):
        deploy_to_endpoint(ref, EndpointSettings(), display_name="v1", sdk_options=_sdk(vertex))
    assert not _deploy_requests(vertex) and not vertex.service.endpoints


def test_an_endpoint_given_by_resource_name_must_exist(vertex):
    ref = _mirrored(vertex, 1)
    with pytest.raises(DeployError, match="Vertex AI refused the deployment"):
        deploy_to_endpoint(
            ref,
            EndpointSettings(endpoint=f"{PARENT}/endpoints/404"),
            display_name="v1",
            sdk_options=_sdk(vertex),
        )


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"min_replicas": 0}, "need 1 <= min <= max"),
        ({"min_replicas": 3, "max_replicas": 2}, "need 1 <= min <= max"),
        ({"traffic_percentage": 0}, "traffic percentage must be 1..100"),
    ],
)
def test_bad_endpoint_settings_are_refused(settings, message):
    with pytest.raises(DeployError, match=message):
        EndpointSettings(**settings)
