"""The MLflow mirror against a real MLflow tracking server (SQLite store) on loopback.

The registry is on GCS (gcp-storage-emulator): an MLflow server accepts ``gs://`` sources and
refuses local paths, as it would in production.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.gcs_emulator import make_bucket, running_emulator
from tests.fakes.mlflow_server import running_mlflow_server
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
    assert version.source == f"{registry_uri}/versions/000001/model" == result.model_uri
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
