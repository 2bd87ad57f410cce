"""The serving image under Docker (`pytest -m containers`): real HTTP on loopback, predict's labels, load.

The image is built once per session by the project's own command (`images build --only serve`, on the
mmdebstrap base of `images base`), then started on a registry version mounted read-only, as `docker run`
users, KServe (the version in /mnt/models) and Vertex AI (`AIP_STORAGE_URI`, `AIP_HTTP_PORT`) start it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from bench.serve_load import run_level
from tests.containers.build import BASE_IMAGE, IMAGES, host_cpu_torch_wheel, run_cli
from tests.fakes.serve_process import DockerServer, get, post
from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.labels import LABELS

pytestmark = pytest.mark.containers

NAME = "tweet-sentiment"
TWEETS = [row["text"] for row in make_tweets(24, seed=31)]


@pytest.fixture(scope="session")
def serving_image(engine, tmp_path_factory):
    assert run_cli(["images", "base", "--tag", BASE_IMAGE]) == 0
    build = ["images", "build", "--only", "serve", "--registry", IMAGES.registry, "--tag", IMAGES.tag]
    wheel = host_cpu_torch_wheel(tmp_path_factory)
    assert run_cli([*build, "--base-image", BASE_IMAGE, *(["--torch-wheel", wheel] if wheel else [])]) == 0
    return IMAGES.serve


@pytest.fixture(scope="module")
def registry_dir(tiny_model_dir, tmp_path_factory):
    """A local registry with the tiny model as version 1, readable by the image's user (uid 1000)."""
    from tweet_sentiment.registry import open_registry

    root = tmp_path_factory.mktemp("serving-registry")
    open_registry(str(root)).register(
        tiny_model_dir, {"run_id": "job-1", "gate": {"passed": True}, "metrics": {}}
    )
    for path in [root, *root.rglob("*")]:  # save_pretrained writes its weights 0600
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def served(engine, serving_image, registry_dir):
    args = ["--model-uri", "/registry/versions/000001", "--max-batch-delay-ms", "20"]
    with DockerServer(engine, serving_image, args, volumes={str(registry_dir): "/registry"}) as server:
        yield server


def _predict(model_dir, tmp_path) -> list[dict]:
    from tweet_sentiment.predict.cli import run_predict
    from tweet_sentiment.predict.config import PredictConfig

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in TWEETS])
    run_predict(
        PredictConfig(
            model=str(model_dir), input=str(source), output=str(tmp_path / "out.jsonl"), progress=False
        )
    )
    return [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]


def test_docker_run_answers_v1_and_v2_with_the_labels_predict_gives(served, registry_dir, tmp_path):
    expected = _predict(registry_dir / "versions" / "000001" / "model", tmp_path)
    status, v1 = post(f"{served.url}/v1/models/{NAME}:predict", {"instances": TWEETS})
    assert status == 200
    assert [p["label"] for p in v1["predictions"]] == [row["label"] for row in expected]
    for got, want in zip(v1["predictions"], expected, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=2e-5)
    body = {"inputs": [{"name": "text", "shape": [len(TWEETS)], "datatype": "BYTES", "data": TWEETS}]}
    status, v2 = post(f"{served.url}/v2/models/{NAME}/infer", body)
    outputs = {output["name"]: output for output in v2["outputs"]}
    assert status == 200 and outputs["label"]["data"] == [row["label"] for row in expected]
    assert outputs["probabilities"]["shape"] == [len(TWEETS), len(LABELS)]


def test_the_server_runs_as_a_non_root_user_with_health_routes(served):
    exit_code, output = served.container.exec_run(["id", "-u"])
    assert exit_code == 0 and output.decode().strip() != "0"
    assert get(f"{served.url}/v2/health/live")[0] == 200
    assert json.loads(get(f"{served.url}/v1/models/{NAME}")[1]) == {"name": NAME, "ready": True}


def test_malformed_requests_under_load_lose_no_process(served):
    started = served.container.attrs["State"]["StartedAt"]
    result = run_level(served.url, TWEETS, requests=240, clients=16, malformed_every=4)
    assert result["statuses"] == {(False, 200): 180, (True, 400): 60}
    served.container.reload()
    assert served.alive() and served.restarts() == 0
    assert served.container.attrs["State"]["StartedAt"] == started  # the same process, never restarted
    assert get(f"{served.url}/v2/health/ready")[0] == 200


def test_vertex_ai_style_start_loads_the_version_from_cloud_storage(engine, serving_image, tiny_model_dir):
    """No flags: the model from AIP_STORAGE_URI (gs://: the GCS emulator), the port from AIP_HTTP_PORT."""
    from tests.fakes.gcs_emulator import make_bucket, running_emulator
    from tweet_sentiment.core.storage import upload_directory

    with running_emulator() as emulator:
        make_bucket("vertex-models")
        upload_directory(tiny_model_dir, "gs://vertex-models/registry/versions/000003/model")
        environment = {
            "AIP_STORAGE_URI": "gs://vertex-models/registry/versions/000003/model",
            "STORAGE_EMULATOR_HOST": emulator,
        }
        with DockerServer(engine, serving_image, [], network_mode="host", environment=environment) as server:
            status, answer = post(f"{server.url}/v1/models/{NAME}:predict", {"instances": TWEETS[:3]})
    assert status == 200 and len(answer["predictions"]) == 3


def test_a_plain_model_directory_serves_too(engine, serving_image, tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    for path in [tmp_path, model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with DockerServer(engine, serving_image, ["--model-uri", "/m"], volumes={str(model): "/m"}) as server:
        assert post(f"{server.url}/v1/models/{NAME}:predict", {"instances": ["fine"]})[0] == 200
