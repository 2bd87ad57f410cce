"""The MLflow mirror against a real MLflow tracking server (SQLite store, proxied artifacts) on loopback.

Most tests use a registry on GCS (gcp-storage-emulator); the first two a local one, as a first
``mlflow server`` + ``run-local`` would. Either way each version is logged as an MLflow model
(transformers flavor) in a run and registered from ``runs:/``, and the champion loads by alias and
labels raw tweets as ``predict`` does.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.gcs_emulator import make_bucket, running_emulator
from tests.fakes.mlflow_server import running_mlflow_server
from tests.fakes.raw_tweets import make_raw_tweets
from tweet_sentiment.registry import CHAMPION, open_registry, register_model
from tweet_sentiment.registry.mirrors import MirrorError, mirror_version
from tweet_sentiment.registry.mirrors.mlflow import MlflowMirror, mlflow_client

FINGERPRINT = "ab" * 32


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def gcs():
    with running_emulator() as host:
        yield host


@pytest.fixture
def registry_uri(gcs, tmp_path, monkeypatch):
    monkeypatch.setenv("TWEET_SENTIMENT_CACHE", str(tmp_path / "cache"))
    bucket = f"mirror-{uuid.uuid4().hex[:12]}"
    make_bucket(bucket)
    return f"gs://{bucket}/tweet-sentiment"


@pytest.fixture
def model_name():
    return f"tweets-{uuid.uuid4().hex[:8]}"  # one MLflow model per test: the server is shared


def _register(registry_uri, model_dir, run_id, *, passed=True, accuracy=0.75, parent=None):
    registry = open_registry(registry_uri)
    result = register_model(
        registry_uri,
        model_dir,
        metrics={"accuracy": accuracy, "macro_recall": 0.7, "macro_f1": 0.69, "per_class": {}},
        parameters={"param_model_name": "tiny"},
        dataset_fingerprint=FINGERPRINT,
        run_id=run_id,
        gate={"passed": passed, "reasons": [] if passed else ["accuracy too low"]},
        parent_champion=parent if parent is not None else registry.get_alias(CHAMPION),
        promote=passed,
    )
    return registry, result


def _mirror(registry, result, mlflow_uri, model_name):
    return mirror_version(registry, result, {"mlflow": MlflowMirror(mlflow_uri, model_name)})


def _versions(mlflow_uri, model_name):
    client = mlflow_client(mlflow_uri)
    return sorted(client.search_model_versions(f"name = '{model_name}'"), key=lambda v: int(v.version))


def _champion(mlflow_uri, model_name):
    return mlflow_client(mlflow_uri).get_registered_model(model_name).aliases.get(CHAMPION)


def test_registered_version_is_mirrored_with_its_tags_and_champion(
    registry_uri, tiny_model_dir, mlflow_uri, model_name
):
    registry, result = _register(registry_uri, tiny_model_dir, "run-1")
    records = _mirror(registry, result, mlflow_uri, model_name)

    (version,) = _versions(mlflow_uri, model_name)
    assert version.source == f"runs:/{version.run_id}/model"
    assert version.tags["registry_source"] == f"{registry_uri}/versions/000001/model" == result.model_uri
    assert version.tags["accuracy"] == "0.75" and version.tags["macro_f1"] == "0.69"
    assert version.tags["gate"] == "passed"
    assert version.tags["dataset_fingerprint"] == FINGERPRINT
    assert version.tags["pipeline_run_id"] == "run-1"
    assert version.tags["registry_version"] == "1"
    assert _champion(mlflow_uri, model_name) == version.version
    # Where it went is kept beside the version in the registry.
    assert records["mlflow"]["version"] == int(version.version)
    stored = registry.mirrors(result.version)["mlflow"]
    assert stored["ok"] and stored["model"] == model_name and stored["champion"]
    assert stored["tracking_uri"] == mlflow_uri


def _predict_raw(model_dir, tweets, tmp_path):
    """``predict`` (torch, fp32) on raw tweets: labels and the top probability, in input order."""
    import json

    from tweet_sentiment.predict.cli import run_predict
    from tweet_sentiment.predict.config import PredictConfig

    source, output = tmp_path / "raw.jsonl", tmp_path / "scored.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in tweets), encoding="utf-8")
    run_predict(
        PredictConfig(
            model=str(model_dir), input=str(source), output=str(output), progress=False, precision="fp32"
        )
    )
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return [row["label"] for row in rows], [max(row["probabilities"].values()) for row in rows]


@pytest.mark.slow
def test_a_local_registry_mirrors_and_the_champion_loads_by_alias_as_predict_scores(
    varied_model_dir, mlflow_uri, model_name, tmp_path, monkeypatch
):
    import mlflow
    import numpy as np

    local_uri = str(tmp_path / "registry")
    registry, result = _register(local_uri, varied_model_dir, "run-local")
    records = _mirror(registry, result, mlflow_uri, model_name)
    (version,) = _versions(mlflow_uri, model_name)
    assert version.source == f"runs:/{records['mlflow']['run_id']}/model"
    assert version.tags["registry_source"] == result.model_uri
    assert mlflow_client(mlflow_uri).get_run(version.run_id).data.metrics["accuracy"] == 0.75

    tweets = make_raw_tweets(320)
    labels, top = _predict_raw(registry.model_dir(1), tweets, tmp_path)
    assert set(labels) == {"negative", "neutral", "positive"}  # the comparison means something
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    frame = mlflow.pyfunc.load_model(f"models:/{model_name}@champion").predict(tweets)
    assert list(frame["label"]) == labels
    np.testing.assert_allclose(frame["score"].to_numpy(), top, atol=1e-5)
    classify = mlflow.transformers.load_model(f"models:/{model_name}@champion")
    assert [r["label"] for r in classify(tweets)] == labels


def test_a_run_logged_before_a_failure_is_registered_on_retry(
    varied_model_dir, mlflow_uri, model_name, tmp_path
):
    """The step died after logging the model, before registering it: the retry logs nothing again."""
    local_uri = str(tmp_path / "registry")
    registry, result = _register(local_uri, varied_model_dir, "run-retry")
    mirror = MlflowMirror(mlflow_uri, model_name)
    client = mlflow_client(mlflow_uri)
    logged = mirror.logged_run(client, result)  # as far as the first attempt got
    records = mirror_version(registry, result, {"mlflow": mirror})

    assert records["mlflow"]["run_id"] == logged
    experiment = client.get_experiment_by_name(model_name)
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_a_retried_step_creates_no_second_version(registry_uri, tiny_model_dir, mlflow_uri, model_name):
    registry, first = _register(registry_uri, tiny_model_dir, "run-1")
    _mirror(registry, first, mlflow_uri, model_name)
    registry, again = _register(registry_uri, tiny_model_dir, "run-1")  # the step, retried
    assert not again.created and again.version == first.version
    records = _mirror(registry, again, mlflow_uri, model_name)

    assert [v.version for v in _versions(mlflow_uri, model_name)] == ["1"]
    assert records["mlflow"]["version"] == 1


def test_a_failed_gate_mirrors_nothing(registry_uri, tiny_model_dir, mlflow_uri, model_name):
    registry, result = _register(registry_uri, tiny_model_dir, "run-bad", passed=False, accuracy=0.2)
    assert _mirror(registry, result, mlflow_uri, model_name) == {}
    client = mlflow_client(mlflow_uri)
    assert client.search_registered_models(f"name = '{model_name}'") == []
    assert registry.mirrors(result.version) == {}


def test_champion_moves_exactly_when_ours_moves(registry_uri, tiny_model_dir, mlflow_uri, model_name):
    registry, first = _register(registry_uri, tiny_model_dir, "run-1")
    _mirror(registry, first, mlflow_uri, model_name)
    registry, second = _register(registry_uri, tiny_model_dir, "run-2", accuracy=0.8)
    _mirror(registry, second, mlflow_uri, model_name)
    assert registry.get_alias(CHAMPION) == second.version
    assert _champion(mlflow_uri, model_name) == "2"

    # Passed its gate, but against version 1: our champion (2) does not move, so neither does MLflow's.
    registry, third = _register(registry_uri, tiny_model_dir, "run-3", accuracy=0.9, parent=first.version)
    assert registry.get_alias(CHAMPION) == second.version
    records = _mirror(registry, third, mlflow_uri, model_name)
    assert records["mlflow"]["version"] == 3 and not records["mlflow"]["champion"]
    assert [v.version for v in _versions(mlflow_uri, model_name)] == ["1", "2", "3"]
    assert _champion(mlflow_uri, model_name) == "2"


def test_a_failed_mirror_keeps_the_registered_version(registry_uri, tiny_model_dir, monkeypatch):
    from tests.fakes.gcs_emulator import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    registry, result = _register(registry_uri, tiny_model_dir, "run-1")
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        MirrorError, match="version 1 is registered at .* and is champion, but mirroring failed"
    ):
        _mirror(registry, result, nobody, "tweets")

    assert registry.versions() == [1] and registry.get_alias(CHAMPION) == 1
    record = registry.mirrors(1)["mlflow"]
    assert record["ok"] is False and record["error"]


def test_mlflow_telemetry_is_switched_off(tmp_path):
    """Without the switch, importing mlflow starts a telemetry client (checked here too)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "CI")}
    env.pop("PYTEST_CURRENT_TEST", None)
    probe = (
        "import sys\n"
        "if sys.argv[1] == 'ours':\n"
        "    from tweet_sentiment.registry.mirrors.mlflow import mlflow_client\n"
        f"    mlflow_client('sqlite:///{tmp_path / 'm.db'}')\n"
        "else:\n"
        "    import mlflow\n"
        "from mlflow.telemetry import get_telemetry_client\n"
        "print(get_telemetry_client() is None)\n"
    )
    results = {
        how: subprocess.run(
            [sys.executable, "-c", probe, how], env=env, capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for how in ("ours", "plain")
    }
    assert results == {"ours": "True", "plain": "False"}
