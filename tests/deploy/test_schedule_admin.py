"""Schedules by name (deploy/schedule_admin.py) against loopback fakes of the two APIs.

Kubeflow: the v2beta1 REST fake of tests/test_submit.py, with recurring runs listed (filtered by
display name) and deleted. Vertex AI: just enough of the v1 Schedule Service (list with a
display-name filter, delete as a finished long-running operation) for google-cloud-aiplatform's
REST transport. The tests check the requests our code makes, not a real cluster.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

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
from tests.deploy.test_submit import API, FakeKfp
from tests.fakes.http_stub import Reply, StubServer


class FakeKfpSchedules(FakeKfp):
    """FakeKfp whose recurring runs can also be listed (by display name) and deleted."""

    def __init__(self):
        super().__init__()
        self.deleted: list[str] = []

    def add(self, name: str, cron: str = "0 0 3 * * *") -> str:
        rid = f"rr-{len(self.recurring_runs) + 1}"
        self.recurring_runs.append(
            {
                "recurring_run_id": rid,
                "display_name": name,
                "trigger": {"cron_schedule": {"cron": cron}},
                "mode": "ENABLE",
            }
        )
        return rid

    def __call__(self, request) -> Reply:
        if request.method == "GET" and request.path == f"{API}/recurringruns":
            raw = request.query.get("filter", [None])[0]
            wanted = json.loads(raw)["predicates"][0]["stringValue"] if raw else None
            found = [r for r in self.recurring_runs if wanted in (None, r["display_name"])]
            return Reply(body={"recurringRuns": found, "total_size": len(found)} if found else {})
        match = re.fullmatch(f"{API}/recurringruns/([^/]+)", request.path)
        if request.method == "DELETE" and match:
            self.deleted.append(match.group(1))
            self.recurring_runs = [r for r in self.recurring_runs if r["recurring_run_id"] != match.group(1)]
            return Reply(body={})
        return super().__call__(request)


@pytest.fixture()
def kfp():
    fake = FakeKfpSchedules()
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
