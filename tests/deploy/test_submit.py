"""`submit` and `schedule` against a loopback KFP v2beta1 REST API.

The stub server below speaks only the part of the Kubeflow Pipelines v2beta1 API that kfp.Client
uses for us (healthz, pipeline and pipeline-version upload and lookup, experiments, runs,
recurring runs) and records every request. These tests check OUR CLIENT CALLS — the compiled
spec uploaded, the parameters, cron, concurrency and catch-up sent — not a real cluster.
"""

from __future__ import annotations

import email.parser
import json
from pathlib import Path

import pytest
import yaml

import pipeline
from deploy import cli
from deploy.kubeflow import KubeflowTarget, connect
from deploy.package import DeployError
from deploy.schedules import load_schedule
from deploy.targets import vertex_target
from tests.fakes.http_stub import Reply, StubServer

ROOT = Path(__file__).resolve().parents[2]
API = "/apis/v2beta1"


def _uploaded_file(request) -> bytes:
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.body
    )
    (part,) = [
        p for p in message.get_payload() if p.get_param("name", header="content-disposition") == "uploadfile"
    ]
    return part.get_payload(decode=True)


def _display_name_filter(request) -> str | None:
    raw = request.query.get("filter", [None])[0]
    return json.loads(raw)["predicates"][0]["stringValue"] if raw else None


class FakeKfp:
    """In-memory KFP: experiments, pipelines, versions by display name; runs and recurring runs recorded."""

    def __init__(self):
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.uploads: list[bytes] = []
        self.runs: list[dict] = []
        self.recurring_runs: list[dict] = []
        self.deleted: list[str] = []  # ids of deleted recurring runs

    def add(self, name: str, cron: str = "0 0 3 * * *") -> str:
        """A recurring run that exists before the test (made by someone else)."""
        rid = f"rr-{len(self.recurring_runs) + len(self.deleted) + 1}"
        trigger = {"cron_schedule": {"cron": cron}}
        self.recurring_runs.append(
            {"recurring_run_id": rid, "display_name": name, "trigger": trigger, "mode": "ENABLE"}
        )
        return rid

    def __call__(self, request) -> Reply:
        method, path = request.method, request.path
        if method == "GET" and path == f"{API}/healthz":
            return Reply(body={"multi_user": False})
        if path == f"{API}/experiments":
            if method == "GET":
                found = [
                    e for e in self.experiments.values() if e["display_name"] == _display_name_filter(request)
                ]
                return Reply(body={"experiments": found, "total_size": len(found)} if found else {})
            body = request.json()
            experiment = {**body, "experiment_id": f"exp-{len(self.experiments) + 1}"}
            self.experiments[experiment["experiment_id"]] = experiment
            return Reply(body=experiment)
        if method == "GET" and path == f"{API}/pipelines":
            found = [p for p in self.pipelines.values() if p["display_name"] == _display_name_filter(request)]
            return Reply(body={"pipelines": found, "total_size": len(found)} if found else {})
        if method == "POST" and path == f"{API}/pipelines/upload":
            self.uploads.append(_uploaded_file(request))
            pipeline_id = f"pipe-{len(self.pipelines) + 1}"
            name = request.query["name"][0]
            self.pipelines[pipeline_id] = {"pipeline_id": pipeline_id, "display_name": name}
            self.versions[pipeline_id] = [
                {"pipeline_id": pipeline_id, "pipeline_version_id": f"{pipeline_id}-v0", "display_name": name}
            ]
            return Reply(body=self.pipelines[pipeline_id])
        if method == "GET" and path.startswith(f"{API}/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[-2]
            wanted = _display_name_filter(request)
            found = [v for v in self.versions[pipeline_id] if wanted in (None, v["display_name"])]
            return Reply(body={"pipeline_versions": found, "total_size": len(found)} if found else {})
        if method == "POST" and path == f"{API}/pipelines/upload_version":
            self.uploads.append(_uploaded_file(request))
            pipeline_id = request.query["pipelineid"][0]
            version = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": f"{pipeline_id}-v{len(self.versions[pipeline_id])}",
                "display_name": request.query["name"][0],
            }
            self.versions[pipeline_id].append(version)
            return Reply(body=version)
        if method == "POST" and path == f"{API}/runs":
            self.runs.append(request.json())
            return Reply(body={**request.json(), "run_id": f"run-{len(self.runs)}"})
        if method == "POST" and path == f"{API}/recurringruns":
            rid = f"rr-{len(self.recurring_runs) + len(self.deleted) + 1}"
            self.recurring_runs.append({**request.json(), "recurring_run_id": rid})
            return Reply(body=self.recurring_runs[-1])
        if method == "GET" and path == f"{API}/recurringruns":
            found = [
                r for r in self.recurring_runs if _display_name_filter(request) in (None, r["display_name"])
            ]
            return Reply(body={"recurringRuns": found, "total_size": len(found)} if found else {})
        if method == "DELETE" and path.startswith(f"{API}/recurringruns/"):
            rid = path.rsplit("/", 1)[1]
            self.deleted.append(rid)
            self.recurring_runs = [r for r in self.recurring_runs if r["recurring_run_id"] != rid]
            return Reply(body={})
        return Reply(status=404, body={"error": f"stub does not serve {method} {path}"})


@pytest.fixture()
def kfp_host():
    fake = FakeKfp()
    with StubServer(fake) as server:
        yield server, fake


def _spec_sent(upload: bytes) -> tuple[dict, dict]:
    documents = [d for d in yaml.safe_load_all(upload) if d]
    assert len(documents) == 2  # the kubeflow package: spec + kubernetes platform section
    return documents[0], documents[1]


def test_submit_uploads_the_compiled_spec_once_and_runs_it_with_the_parameters(kfp_host, tmp_path, capsys):
    server, fake = kfp_host
    argv = [
        "submit",
        "--host",
        server.url,
        "--experiment",
        "retraining",
        "--run-name",
        "manual-1",
        "--param",
        "registry_uri=/mnt/registry",
        "--param",
        "epochs=1.5",
        "--param",
        "batch_size=32",
        "--param",
        "data_source=gs://bucket/tweets/latest",
        "--image-registry",
        "registry.example/team",
        "--tag",
        "v7",
    ]
    assert pipeline.main(argv) == 0, capsys.readouterr().err
    # First submission: the pipeline is created, then the content-addressed version is uploaded.
    assert len(fake.uploads) == 2
    spec, platform = _spec_sent(fake.uploads[-1])
    assert spec["pipelineInfo"]["name"] == pipeline.PIPELINE_NAME
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-train"]["container"]["image"] == "registry.example/team/tweet-sentiment-gpu:v7"
    assert "exec-train" in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    (run,) = fake.runs
    assert run["display_name"] == "manual-1"
    assert fake.experiments[run["experiment_id"]]["display_name"] == "retraining"
    assert run["runtime_config"]["parameters"] == {
        "registry_uri": "/mnt/registry",
        "epochs": 1.5,
        "batch_size": 32,
        "data_source": "gs://bucket/tweets/latest",
    }
    version = next(
        v
        for v in fake.versions["pipe-1"]
        if v["pipeline_version_id"] == run["pipeline_version_reference"]["pipeline_version_id"]
    )
    assert version["display_name"].startswith(f"{pipeline.PIPELINE_NAME}-")
    assert "pipeline_spec" not in run or run["pipeline_spec"] is None

    # Same package again: same experiment and version, nothing uploaded, a second run.
    argv[argv.index("manual-1")] = "manual-2"
    assert pipeline.main(argv) == 0
    assert len(fake.uploads) == 2 and len(fake.experiments) == 1 and len(fake.runs) == 2
    assert fake.runs[1]["pipeline_version_reference"] == run["pipeline_version_reference"]


def test_schedule_creates_a_recurring_run_from_the_schedule_file(kfp_host, capsys):
    server, fake = kfp_host
    spec_file = ROOT / "schedules" / "nightly-kubeflow.yaml"
    schedule = load_schedule(spec_file)
    argv = ["schedule", str(spec_file), "--host", server.url, "--param", "registry_uri=/mnt/registry"]
    argv += ["--param", "data_source=gs://tweets-bucket/tweets/latest"]  # the file's is a placeholder
    assert pipeline.main(argv) == 0, capsys.readouterr().err
    (recurring,) = fake.recurring_runs
    assert recurring["display_name"] == schedule.name == "tweet-sentiment-nightly"
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert int(recurring["max_concurrency"]) == 1
    assert recurring["no_catchup"] is True and recurring["mode"] == "ENABLE"
    parameters = recurring["runtime_config"]["parameters"]
    assert parameters == {
        **schedule.parameters,
        "registry_uri": "/mnt/registry",
        "data_source": "gs://tweets-bucket/tweets/latest",
    }
    assert parameters["data_source"].endswith("/tweets/latest")
    spec, _ = _spec_sent(fake.uploads[-1])
    run_tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        run_tasks.update(component.get("dag", {}).get("tasks", {}))
    (gate,) = [
        task
        for task in run_tasks.values()
        if "evaluate-Output" in task.get("triggerPolicy", {}).get("condition", "")
    ]
    assert gate["triggerPolicy"]["condition"]  # registers only past the gate


def test_bad_input_fails_in_one_line_before_any_request(kfp_host, tmp_path, capsys):
    server, fake = kfp_host
    cases = {
        "unknown pipeline parameter 'epoch'": ["submit", "--host", server.url, "--param", "epoch=3"],
        "missing required pipeline parameter(s): registry_uri": ["submit", "--host", server.url],
        "'many' is not a valid NUMBER_DOUBLE": ["submit", "--host", server.url, "--param", "epochs=many"],
        "needs 6 (seconds minutes": ["schedule", str(tmp_path / "five.yaml"), "--host", server.url],
    }
    (tmp_path / "five.yaml").write_text("name: n\ntarget: kubeflow\ncron: '0 3 * * *'\n")
    for expected, argv in cases.items():
        assert pipeline.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
    assert fake.runs == [] and fake.recurring_runs == [] and fake.uploads == []


def test_vertex_schedule_file_uses_five_fields():
    schedule = load_schedule(ROOT / "schedules" / "weekly-vertex.yaml")
    assert schedule.target == "vertex" and len(schedule.cron.split()) == 6  # "TZ=..." + 5 fields
    with pytest.raises(DeployError, match="needs 5"):
        type(schedule)(name="n", target="vertex", cron="0 0 3 * * *")


def test_unreachable_host_is_a_clear_error():
    with pytest.raises(DeployError, match="no Kubeflow Pipelines API answering at http://127.0.0.1:9"):
        connect(KubeflowTarget(host="http://127.0.0.1:9"), health_retry_seconds=0)


def _cached_tasks(spec: dict) -> set[str]:
    tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    return {name for name, task in tasks.items() if task.get("cachingOptions", {}).get("enableCache")}


def test_scheduled_runs_use_no_cache_unless_asked_and_send_the_description(kfp_host, capsys):
    server, fake = kfp_host
    spec_file = ROOT / "schedules" / "nightly-kubeflow.yaml"
    argv = ["schedule", str(spec_file), "--host", server.url, "--param", "registry_uri=/mnt/registry"]
    argv += ["--param", "data_source=gs://tweets-bucket/tweets/latest"]
    assert pipeline.main(argv) == 0, capsys.readouterr().err
    spec, _ = _spec_sent(fake.uploads[-1])
    assert _cached_tasks(spec) == set()
    assert fake.recurring_runs[-1]["description"] == load_schedule(spec_file).description
    assert pipeline.main([*argv, "--cache", "--replace"]) == 0
    spec, _ = _spec_sent(fake.uploads[-1])
    assert _cached_tasks(spec) == {"train", "select-model", "evaluate"}  # the compiled per-task choice


def test_submit_takes_the_placement_flags_and_no_cache(kfp_host, capsys):
    server, fake = kfp_host
    argv = ["submit", "--host", server.url, "--param", "registry_uri=/r", "--cpu", "train=5/6"]
    assert pipeline.main([*argv, "--accelerator-limit", "2", "--node-selector", "pool=a100"]) == 0
    spec, platform = _spec_sent(fake.uploads[-1])
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert (resources["resourceCpuRequest"], resources["resourceCpuLimit"]) == ("5", "6")
    assert spec["root"]["inputDefinitions"]["parameters"]["num_gpus"]["defaultValue"] == 2
    train = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train["nodeSelector"]["labels"] == {"pool": "a100"}
    assert _cached_tasks(spec) == {"train", "select-model", "evaluate"}
    assert pipeline.main([*argv, "--no-cache"]) == 0
    spec, _ = _spec_sent(fake.uploads[-1])
    assert _cached_tasks(spec) == set()
    assert capsys.readouterr().err == ""


def test_vertex_experiment_and_schedule_description():

    args = cli.build_parser().parse_args(
        [
            "submit",
            "--target",
            "vertex",
            "--project",
            "p",
            "--pipeline-root",
            "gs://b/r",
            "--experiment",
            "e1",
        ]
    )
    assert vertex_target(args).experiment == "e1"
    with pytest.raises(DeployError, match="no description field"):
        type(load_schedule(ROOT / "schedules" / "weekly-vertex.yaml"))(
            name="n", target="vertex", cron="0 3 * * 1", description="x"
        )
