"""The Vertex AI Model Registry mirror, offline: the SDK's REST transport talks to a loopback fake.

The fake keeps model versions, aliases and evaluations the way the Model Service does (an alias
given to one version leaves the others) and records every request, so the tests check what the
SDK really sends: parent model, aliases, labels, artifact URI, serving container, evaluation.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from google.auth.credentials import AnonymousCredentials

from tests.fakes.http_stub import StubServer
from tests.fakes.vertex import LOCATION, MODEL, PARENT, PROJECT, FakeModelService  # noqa: E402
from tweet_sentiment.registry import CHAMPION, RegisteredVersion, open_registry
from tweet_sentiment.registry.mirrors import MirrorError, mirror_version
from tweet_sentiment.registry.mirrors.vertex import (
    CLASSIFICATION_METRICS_SCHEMA,
    DEFAULT_SERVING_IMAGE,
    VertexMirror,
)


@pytest.fixture
def vertex():
    service = FakeModelService()
    with StubServer(service) as server:
        server.service = service
        yield server


def _mirror_to(server, model=MODEL, **kwargs) -> VertexMirror:
    return VertexMirror(
        model,
        project=PROJECT,
        location=LOCATION,
        api_endpoint=server.url,
        api_transport="rest",
        credentials=AnonymousCredentials(),
        **kwargs,
    )


def _version(
    version: int, run_id: str, *, passed=True, bucket="gs://team-models/tweets"
) -> RegisteredVersion:
    metadata = {
        "run_id": run_id,
        "metrics": {
            "accuracy": 0.75,
            "macro_recall": 0.7,
            "split": "test",
            "labels": ["negative", "neutral", "positive"],
            "confusion_matrix": [[5, 1, 0], [1, 4, 1], [0, 2, 6]],
        },
        "gate": {"passed": passed},
        "dataset_fingerprint": "AB" * 32,
    }
    return RegisteredVersion(version, f"{bucket}/versions/{version:06d}", metadata, created=True)


def _requests(server, method: str, suffix: str):
    return [r for r in server.requests if r.method == method and unquote(r.path).endswith(suffix)]


def test_first_version_creates_the_model_with_labels_alias_and_evaluation(vertex):
    record = _mirror_to(vertex, model="tweet-sentiment")(_version(1, "Job-1"), True)

    (upload,) = _requests(vertex, "POST", "/models:upload")
    body = upload.json()
    assert unquote(upload.path) == f"/v1/{PARENT}/models:upload"
    assert "parentModel" not in body  # no model of that name yet: this upload creates it
    model = body["model"]
    assert model["displayName"] == "tweet-sentiment"
    assert model["artifactUri"] == "gs://team-models/tweets/versions/000001/model"
    assert sorted(model["versionAliases"]) == ["champion", "default"]
    assert model["labels"] == {
        "pipeline_run_id": "job-1",
        "registry_version": "1",
        "gate": "passed",
        "dataset_fingerprint": "abababababababab",
    }
    # Our model server, told where Vertex AI should send predictions and health checks.
    assert model["containerSpec"] == {
        "imageUri": DEFAULT_SERVING_IMAGE,
        "predictRoute": "/v1/models/tweet-sentiment:predict",
        "healthRoute": "/v1/models/tweet-sentiment",
        "ports": [{"containerPort": 8080}],
    }

    (evaluation_request,) = _requests(vertex, "POST", "/evaluations:import")
    assert unquote(evaluation_request.path) == f"/v1/{MODEL}@1/evaluations:import"
    evaluation = evaluation_request.json()["modelEvaluation"]
    assert evaluation["metricsSchemaUri"] == CLASSIFICATION_METRICS_SCHEMA
    assert evaluation["metrics"]["confusionMatrix"]["rows"] == [[5, 1, 0], [1, 4, 1], [0, 2, 6]]
    assert [s["displayName"] for s in evaluation["metrics"]["confusionMatrix"]["annotationSpecs"]] == [
        "negative",
        "neutral",
        "positive",
    ]
    assert evaluation["metrics"]["confidenceMetrics"][0]["precisionAt1"] == 0.75
    assert (
        evaluation["metadata"]["macro_recall"] == 0.7 and evaluation["metadata"]["pipeline_job_id"] == "Job-1"
    )
    assert record == {"model": MODEL, "version": "1", "champion": True, "ref": f"{MODEL}@1"}


def test_later_versions_go_under_the_parent_model_and_champion_follows_ours(vertex):
    mirror = _mirror_to(vertex, model="tweet-sentiment")
    mirror(_version(1, "job-1"), True)
    mirror(_version(2, "job-2"), False)  # registered, but our champion did not move
    second = _requests(vertex, "POST", "/models:upload")[1].json()
    assert second["parentModel"] == MODEL
    assert "versionAliases" not in second["model"]  # neither champion nor default
    assert vertex.service._version(f"{MODEL}@1")["versionAliases"] == ["champion", "default"]

    mirror(_version(3, "job-3"), True)
    aliases = {v["versionId"]: v["versionAliases"] for v in vertex.service.versions}
    assert aliases == {"1": [], "2": [], "3": ["champion", "default"]}


def test_a_champion_moved_by_hand_moves_in_vertex_too(vertex):
    mirror = _mirror_to(vertex)
    mirror(_version(1, "job-1"), True)
    mirror(_version(2, "job-2"), True)
    mirror.move_champion("1")  # what `models promote 1` does with version 1's mirror record
    (merge,) = _requests(vertex, "POST", ":mergeVersionAliases")
    assert unquote(merge.path) == f"/v1/{MODEL}@1:mergeVersionAliases"
    aliases = {v["versionId"]: v["versionAliases"] for v in vertex.service.versions}
    assert aliases == {"1": ["champion", "default"], "2": []}


def test_a_retried_step_uploads_nothing_twice(vertex):
    mirror = _mirror_to(vertex)  # a resource name that does not exist yet: created with that id
    first = mirror(_version(1, "job-1"), True)
    again = mirror(_version(1, "job-1"), True)
    assert again == first
    assert len(_requests(vertex, "POST", "/models:upload")) == 1
    assert len(_requests(vertex, "POST", "/evaluations:import")) == 1
    upload = _requests(vertex, "POST", "/models:upload")[0].json()
    assert upload["modelId"] == "4242" and "parentModel" not in upload


def test_a_local_registry_cannot_be_mirrored_to_vertex(vertex):
    with pytest.raises(MirrorError, match="is not a gs:// URI"):
        _mirror_to(vertex)(_version(1, "job-1", bucket="/srv/registry"), True)
    assert vertex.requests == []


def test_mirror_records_land_beside_the_version(vertex, tmp_path, tiny_model_dir):
    registry = open_registry(str(tmp_path / "registry"))
    local = registry.register(tiny_model_dir, {"run_id": "job-9", "gate": {"passed": True}, "metrics": {}})
    registry.set_alias(CHAMPION, local.version)
    # What Vertex AI would see of the same version in a gs:// registry.
    registered = RegisteredVersion(
        local.version, "gs://team-models/tweets/versions/000001", local.metadata, True
    )
    records = mirror_version(registry, registered, {"vertex": _mirror_to(vertex)})
    stored = registry.mirrors(local.version)["vertex"]
    assert stored["ok"] and stored["version"] == "1" and stored["champion"]
    assert records["vertex"]["ref"] == f"{MODEL}@1"
    assert json.loads((tmp_path / "registry" / "mirrors" / "000001.json").read_text())["vertex"]["ok"]
