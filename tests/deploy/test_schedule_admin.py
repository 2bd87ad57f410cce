"""Schedules by name (deploy/schedule_admin.py) against loopback fakes of the two APIs.

Kubeflow: the v2beta1 REST fake of tests/test_submit.py, with recurring runs listed (filtered by
display name) and deleted. Vertex AI: just enough of the v1 Schedule Service (list with a
display-name filter, delete as a finished long-running operation) for google-cloud-aiplatform's
REST transport. The tests check the requests our code makes, not a real cluster.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

import pipeline
from deploy import exit_codes
from deploy.kubeflow import KubeflowTarget, connect
from deploy.package import DeployError
from deploy.schedule_admin import (
    ScheduleInfo,
    kubeflow_delete,
    kubeflow_schedules,
    refuse_or_replace,
    vertex_delete,
    vertex_schedules,
)
from tests.deploy.test_submit import FakeKfp
from tests.fakes.http_stub import Reply, StubServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def kfp():
    fake = FakeKfp()
    with StubServer(fake) as server:
        yield connect(KubeflowTarget(host=server.url)), fake


def test_kubeflow_schedules_are_listed_and_found_by_name(kfp):
    client, fake = kfp
    fake.add("tweet-sentiment-nightly")
    fake.add("other", cron="0 0 4 * * *")
    listed = kubeflow_schedules(client)
    assert [(s.name, s.cron, s.id) for s in listed] == [
        ("tweet-sentiment-nightly", "0 0 3 * * *", "rr-1"),
        ("other", "0 0 4 * * *", "rr-2"),
    ]
    assert [s.id for s in kubeflow_schedules(client, name="other")] == ["rr-2"]
    assert kubeflow_schedules(client, name="absent") == []


def test_kubeflow_delete_by_name(kfp):
    client, fake = kfp
    fake.add("tweet-sentiment-nightly")
    fake.add("other")
    (deleted,) = kubeflow_delete(client, "tweet-sentiment-nightly")
    assert deleted.id == "rr-1" and fake.deleted == ["rr-1"]
    assert [r["display_name"] for r in fake.recurring_runs] == ["other"]
    with pytest.raises(DeployError, match="no recurring run named 'tweet-sentiment-nightly'"):
        kubeflow_delete(client, "tweet-sentiment-nightly")
    assert fake.deleted == ["rr-1"]


def test_an_existing_name_is_refused_unless_replaced():
    existing = [ScheduleInfo("nightly", "rr-1", "0 0 3 * * *", "ENABLE")]
    deleted = []
    with pytest.raises(DeployError, match="pass --replace to replace it or run `schedule delete nightly`"):
        refuse_or_replace(existing, "nightly", False, lambda: deleted.append(1))
    assert deleted == []
    assert refuse_or_replace(existing, "nightly", True, lambda: deleted.append(1)) == existing
    assert deleted == [1]
    assert refuse_or_replace([], "nightly", False, lambda: deleted.append(2)) == [] and deleted == [1]


# ----------------------------------------------------------------------------- Vertex AI

PROJECT, LOCATION = "proj", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


class FakeScheduleService:
    """The v1 Schedule Service's list and delete, over REST."""

    def __init__(self):
        self.schedules: list[dict] = []
        self.deleted: list[str] = []

    def add(self, name: str, cron: str = "TZ=Etc/UTC 0 3 * * 1") -> str:
        resource = f"{PARENT}/schedules/{len(self.schedules) + 101}"
        self.schedules.append(
            {
                "name": resource,
                "displayName": name,
                "cron": cron,
                "state": "ACTIVE",
                "maxConcurrentRunCount": "1",
                "createTime": "2026-12-01T03:00:00Z",
            }
        )
        return resource

    def __call__(self, request) -> Reply:
        path = unquote(request.path)
        if request.method == "GET" and path == f"/v1/{PARENT}/schedules":
            raw = request.query.get("filter", [""])[0]
            wanted = raw.split('"')[1] if '"' in raw else None
            return Reply(
                body={"schedules": [s for s in self.schedules if wanted in (None, s["displayName"])]}
            )
        if request.method == "DELETE" and path.startswith(f"/v1/{PARENT}/schedules/"):
            name = path.removeprefix("/v1/")
            self.deleted.append(name)
            self.schedules = [s for s in self.schedules if s["name"] != name]
            empty = {"@type": "type.googleapis.com/google.protobuf.Empty"}
            return Reply(body={"name": f"{name}/operations/1", "done": True, "response": empty})
        if request.method == "GET" and path.startswith(f"/v1/{PARENT}/schedules/"):
            name = path.removeprefix("/v1/")
            found = [s for s in self.schedules if s["name"] == name]
            return (
                Reply(body=found[0]) if found else Reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
            )
        return Reply(404, {"error": {"code": 404, "message": f"{path} not served", "status": "NOT_FOUND"}})


@pytest.fixture()
def vertex():
    from google.auth.credentials import AnonymousCredentials

    service = FakeScheduleService()
    with StubServer(service) as server:
        settings = {
            "project": PROJECT,
            "location": LOCATION,
            "api_endpoint": server.url,
            "api_transport": "rest",
            "credentials": AnonymousCredentials(),
        }
        yield settings, service


@pytest.mark.slow  # importing google-cloud-aiplatform takes ~10 s
def test_vertex_schedules_are_listed_and_deleted_by_name(vertex):
    settings, service = vertex
    first = service.add("tweet-sentiment-weekly")
    service.add("other", cron="0 4 * * *")
    listed = vertex_schedules(settings)
    assert [(s.name, s.cron, s.state, s.id) for s in listed] == [
        ("tweet-sentiment-weekly", "TZ=Etc/UTC 0 3 * * 1", "ACTIVE", first),
        ("other", "0 4 * * *", "ACTIVE", f"{PARENT}/schedules/102"),
    ]
    assert [s.id for s in vertex_schedules(settings, "tweet-sentiment-weekly")] == [first]
    (deleted,) = vertex_delete(settings, "tweet-sentiment-weekly")
    assert deleted.id == first and service.deleted == [first]
    assert [s["displayName"] for s in service.schedules] == ["other"]
    with pytest.raises(
        DeployError, match="no Vertex AI pipeline job schedule named 'tweet-sentiment-weekly'"
    ):
        vertex_delete(settings, "tweet-sentiment-weekly")


# ----------------------------------------------------------------------------- the schedule command


NIGHTLY = str(ROOT / "schedules" / "nightly-kubeflow.yaml")
REAL_VALUES = [
    "--param",
    "registry_uri=/mnt/registry",
    "--param",
    "data_source=gs://tweets-bucket/tweets/latest",
]


@pytest.fixture()
def kfp_host():
    fake = FakeKfp()
    with StubServer(fake) as server:
        yield server, fake


def test_schedule_file_placeholders_are_refused_before_any_request(kfp_host, capsys):
    server, fake = kfp_host
    assert pipeline.main(["schedule", NIGHTLY, "--host", server.url]) == exit_codes.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: placeholder value(s) left: ") and "gs://YOUR_BUCKET/tweets/latest" in err
    assert server.requests == []


def test_schedule_creates_once_by_name_and_replaces_only_when_asked(kfp_host, capsys):
    server, fake = kfp_host
    argv = ["schedule", NIGHTLY, "--host", server.url, "--package", str(ROOT / "pipeline.yaml"), *REAL_VALUES]
    assert pipeline.main(argv) == exit_codes.OK
    assert "created recurring run tweet-sentiment-nightly" in capsys.readouterr().out
    assert pipeline.main(argv) == exit_codes.USAGE
    assert (
        "a schedule named 'tweet-sentiment-nightly' already exists (rr-1); pass --replace"
        in capsys.readouterr().err
    )
    assert [r["display_name"] for r in fake.recurring_runs] == ["tweet-sentiment-nightly"]
    assert pipeline.main([*argv, "--replace"]) == exit_codes.OK
    assert "replaced recurring run tweet-sentiment-nightly (id rr-" in capsys.readouterr().out
    assert fake.deleted == ["rr-1"] and len(fake.recurring_runs) == 1


def test_schedule_list_and_delete_on_kubeflow(kfp_host, capsys):
    server, fake = kfp_host
    fake.add("tweet-sentiment-nightly")
    fake.add("other", cron="0 30 2 * * *")
    assert pipeline.main(["schedule", "list", "--host", server.url]) == exit_codes.OK
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["NAME", "CRON", "STATE", "ID"]
    assert listed[1].split()[0] == "tweet-sentiment-nightly" and listed[2].split()[-1] == "rr-2"
    assert pipeline.main(["schedule", "delete", "other", "--host", server.url]) == exit_codes.OK
    assert capsys.readouterr().out.strip() == "deleted schedule other (rr-2)"
    assert pipeline.main(["schedule", "delete", "other", "--host", server.url]) == exit_codes.USAGE
    assert "no recurring run named 'other'" in capsys.readouterr().err
    assert fake.deleted == ["rr-2"]
