"""``pipeline.py models deploy``: the champion of a gs:// registry (the GCS emulator) rendered, written or
applied as a KServe InferenceService (a loopback Kubernetes API fake, found through KUBECONFIG)."""

from __future__ import annotations

import pytest
import yaml

import pipeline
from tests.fakes.gcs_emulator import make_bucket, running_emulator
from tests.fakes.http_stub import StubServer
from tests.fakes.kubernetes import FakeKubernetes
from tweet_sentiment.registry import CHAMPION, open_registry

REGISTRY = "gs://serving-models/registry"


@pytest.fixture(scope="module")
def registry(tiny_model_dir):
    with running_emulator():
        make_bucket("serving-models")
        store = open_registry(REGISTRY)
        for run in ("job-1", "job-2"):
            store.register(tiny_model_dir, {"run_id": run, "gate": {"passed": True}, "metrics": {}})
        store.set_alias(CHAMPION, 1)
        yield store


def _deploy(*extra: str) -> list[str]:
    return ["models", "deploy", "--registry", REGISTRY, "--target", "kserve", "--namespace", "models", *extra]


def test_the_champion_is_printed_as_an_inference_service_of_our_image(registry, capsys):
    assert (
        pipeline.main(
            _deploy("--image-registry", "registry.example/team", "--tag", "1.2.0", "--min-replicas", "2")
        )
        == 0
    )
    manifest = yaml.safe_load(capsys.readouterr().out)
    (container,) = manifest["spec"]["predictor"]["containers"]
    assert container["image"] == "registry.example/team/tweet-sentiment-serve:1.2.0"
    assert container["env"] == [{"name": "STORAGE_URI", "value": f"{REGISTRY}/versions/000001/model"}]
    assert manifest["spec"]["predictor"]["minReplicas"] == 2
    assert manifest["metadata"]["namespace"] == "models"


def test_a_version_number_is_written_to_a_file(registry, tmp_path, capsys):
    target = tmp_path / "isvc.yaml"
    assert pipeline.main(["models", "deploy", "2", *_deploy("--output", str(target))[2:]]) == 0
    manifest = yaml.safe_load(target.read_text())
    assert manifest["metadata"]["labels"]["tweet-sentiment/registry-version"] == "2"
    assert f"wrote {target}" in capsys.readouterr().out


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    fake = FakeKubernetes()
    with StubServer(fake) as server:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
            "users": [{"name": "me", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}],
            "current-context": "fake",
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield fake


def test_apply_creates_it_in_the_cluster_of_the_kubeconfig(registry, kubeconfig, capsys):
    assert pipeline.main(_deploy("--apply")) == 0
    assert "InferenceService models/tweet-sentiment applied: version 1" in capsys.readouterr().out
    stored = kubeconfig.objects["tweet-sentiment"]
    assert stored["spec"]["predictor"]["containers"][0]["env"][0]["value"].endswith("versions/000001/model")


def test_a_local_registry_is_refused_in_one_line(tmp_path, tiny_model_dir, capsys):
    local = open_registry(str(tmp_path / "registry"))
    local.register(tiny_model_dir, {"run_id": "job-1", "gate": {"passed": True}, "metrics": {}})
    status = pipeline.main(
        ["models", "deploy", "1", "--registry", str(tmp_path / "registry"), "--target", "kserve"]
    )
    err = capsys.readouterr().err.strip()
    assert (
        status == 2
        and err.startswith("error: KServe copies the model from a storage URI")
        and "\n" not in err
    )


def test_vertex_needs_the_version_to_have_been_mirrored(registry, capsys):
    status = pipeline.main(["models", "deploy", "champion", "--registry", REGISTRY, "--target", "vertex"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "error: version 1 has no Vertex AI mirror: register it with vertex_model set (gs:// registry)"
    )
