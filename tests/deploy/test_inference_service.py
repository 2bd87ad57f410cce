"""The KServe InferenceService of a registered version: rendered, checked against KServe's model classes,
applied to a loopback fake of the Kubernetes API server (create, then patch; dry run persists nothing)."""

from __future__ import annotations

import pytest

from deploy.inference_service import (
    CONTAINER_NAME,
    FIELD_MANAGER,
    ServingResources,
    apply,
    check_manifest,
    render,
)
from deploy.package import DeployError
from tests.fakes.http_stub import StubServer
from tests.fakes.kubernetes import FakeKubernetes

IMAGE = "ghcr.io/tweet-sentiment/tweet-sentiment-serve:0.1.0"


def _manifest(version=3, **overrides):
    settings = {
        "name": "tweet-sentiment",
        "namespace": "models",
        "image": IMAGE,
        "storage_uri": f"gs://bucket/registry/versions/{version:06d}/model",
        "registry_version": version,
        "registry_uri": "gs://bucket/registry",
        "resources": ServingResources(
            cpu_request="500m", cpu_limit="2", memory="3Gi", min_replicas=2, max_replicas=5
        ),
    }
    return render(**{**settings, **overrides})


def test_the_rendered_service_runs_our_image_on_the_version_with_its_resources():
    manifest = _manifest()
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1" and manifest["kind"] == "InferenceService"
    predictor = manifest["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)
    (container,) = predictor["containers"]
    assert container["name"] == CONTAINER_NAME and container["image"] == IMAGE
    assert {"name": "STORAGE_URI", "value": "gs://bucket/registry/versions/000003/model"} in container["env"]
    assert container["args"][:2] == ["--model-uri", "/mnt/models"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "3Gi"},
        "limits": {"cpu": "2", "memory": "3Gi"},
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert manifest["metadata"]["labels"] == {"tweet-sentiment/registry-version": "3"}
    check_manifest(manifest)  # every field one KServe's classes know, with its type


def test_the_server_flags_in_the_manifest_are_flags_the_server_takes():
    from tweet_sentiment.serve.server import build_parser

    args = _manifest()["spec"]["predictor"]["containers"][0]["args"]
    parsed = build_parser().parse_args(args)
    assert (parsed.model_uri, parsed.model_name, parsed.http_port) == ("/mnt/models", "tweet-sentiment", 8080)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda m: m["spec"]["predictor"].update(minReplica=1),
            "spec.predictor.minReplica is not a field of V1beta1PredictorSpec",
        ),
        (
            lambda m: m["spec"]["predictor"]["containers"][0].update(imagePullPolicy_="Always"),
            "imagePullPolicy_",
        ),
        (
            lambda m: m["spec"]["predictor"].update(minReplicas="two"),
            "spec.predictor.minReplicas must be int",
        ),
    ],
    ids=["misspelt field", "unknown container field", "wrong type"],
)
def test_a_manifest_with_a_field_kserve_does_not_know_is_refused(change, message):
    manifest = _manifest()
    change(manifest)
    with pytest.raises(DeployError, match=message):
        check_manifest(manifest)


def test_a_local_registry_cannot_be_served_by_kserve():
    with pytest.raises(DeployError, match="local path: deploy from a gs:// registry"):
        _manifest(storage_uri="/home/me/model_registry/versions/000003/model")


def test_replicas_out_of_order_are_refused():
    with pytest.raises(DeployError, match="min_replicas <= max_replicas"):
        ServingResources(min_replicas=4, max_replicas=2)


@pytest.fixture
def cluster():
    from kubernetes import client

    fake = FakeKubernetes()
    with StubServer(fake) as server:
        configuration = client.Configuration(host=server.url)
        configuration.api_key = {"authorization": "Bearer test-token"}
        with client.ApiClient(configuration) as api_client:
            yield fake, server, api_client


def test_apply_creates_the_service_then_rolls_it_to_a_new_version(cluster):
    fake, server, api_client = cluster
    apply(_manifest(3), api_client)
    create = [r for r in server.requests if r.method == "POST"]
    assert len(create) == 1 and create[0].json() == _manifest(3)
    assert create[0].query["fieldManager"] == [FIELD_MANAGER]
    assert create[0].headers["authorization"] == "Bearer test-token"

    answer = apply(_manifest(4), api_client)
    stored = fake.objects["tweet-sentiment"]
    env = stored["spec"]["predictor"]["containers"][0]["env"]
    assert env == [{"name": "STORAGE_URI", "value": "gs://bucket/registry/versions/000004/model"}]
    assert stored["metadata"]["labels"]["tweet-sentiment/registry-version"] == "4"
    assert answer == stored
    assert [r.method for r in server.requests] == ["GET", "POST", "GET", "PATCH"]


def test_a_dry_run_is_checked_by_the_api_server_and_persists_nothing(cluster):
    fake, server, api_client = cluster
    answer = apply(_manifest(3), api_client, dry_run=True)
    assert answer["metadata"]["name"] == "tweet-sentiment" and fake.objects == {}
    assert server.requests[-1].query["dryRun"] == ["All"]


def test_an_api_server_refusal_is_one_line_with_its_message(cluster):
    _, _, api_client = cluster
    with pytest.raises(
        DeployError, match="forbidden/tweet-sentiment: the API server said 403 inferenceservices is forbidden"
    ):
        apply(_manifest(3, namespace="forbidden"), api_client)


def test_an_unreachable_api_server_is_one_line():
    from kubernetes import client

    from tests.fakes.serve_process import free_port

    configuration = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    configuration.retries = 0
    with (
        client.ApiClient(configuration) as api_client,
        pytest.raises(DeployError, match="cannot reach the API server"),
    ):
        apply(_manifest(3), api_client)
