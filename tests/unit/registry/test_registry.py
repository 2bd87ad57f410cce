"""The registry contract, run against both backends: a local directory and GCS (gcp-storage-emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.fakes.gcs_emulator import make_bucket, running_emulator
from tweet_sentiment.registry import CHAMPION, RegistryError, open_registry, register_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def gcs_emulator():
    with running_emulator() as host:
        yield host


@pytest.fixture(params=["local", "gcs"])
def registry_uri(request, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("TWEET_SENTIMENT_CACHE", str(tmp_path / "cache"))
    if request.param == "local":
        return str(tmp_path / "registry")
    request.getfixturevalue("gcs_emulator")
    bucket = f"reg-{uuid.uuid4().hex[:12]}"
    make_bucket(bucket)
    return f"gs://{bucket}/team/tweet-sentiment"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _register(uri: str, model_dir: Path, run_id: str, **kwargs):
    return register_model(
        uri,
        model_dir,
        metrics={"accuracy": 0.5, "macro_recall": 0.5},
        parameters={"param_model_name": "tiny"},
        dataset_fingerprint="f" * 64,
        run_id=run_id,
        **kwargs,
    )


def test_register_read_back_and_card(registry_uri, tiny_model_dir):
    result = _register(registry_uri, tiny_model_dir, "run-a", gate={"passed": True, "reasons": []})
    registry = open_registry(registry_uri)
    assert result.created and result.version == 1
    assert registry.versions() == [1]
    record = registry.metadata(1)
    for key in (
        "metrics",
        "gate",
        "parameters",
        "dataset_fingerprint",
        "parent_champion",
        "run_id",
        "created_at",
    ):
        assert key in record, key
    assert record["run_id"] == "run-a"
    assert registry.uri(1).endswith("versions/000001")
    card = registry.model_card(1)
    assert "## Intended use" in card and "## Limitations" in card and "version 1" in card
    model = registry.model_dir(1)
    assert (model / "config.json").exists() and list(model.glob("*.safetensors"))
    with pytest.raises(RegistryError, match="version 2 does not exist"):
        registry.metadata(2)


def test_same_run_id_twice_is_a_noop(registry_uri, tiny_model_dir):
    first = _register(registry_uri, tiny_model_dir, "run-same")
    second = _register(registry_uri, tiny_model_dir, "run-same")
    assert first.created and not second.created
    assert second.version == first.version
    assert open_registry(registry_uri).versions() == [first.version]


def test_mirror_records_are_kept_beside_the_immutable_version(registry_uri, tiny_model_dir):
    result = _register(registry_uri, tiny_model_dir, "run-m")
    registry = open_registry(registry_uri)
    metadata_before = registry.metadata(result.version)
    assert registry.mirrors(result.version) == {}
    registry.record_mirror(result.version, "mlflow", {"ok": False, "error": "down"})
    registry.record_mirror(result.version, "vertex", {"ok": True, "version": "1"})
    registry.record_mirror(result.version, "mlflow", {"ok": True, "version": 4})  # a retry replaces it
    assert registry.mirrors(result.version) == {
        "mlflow": {"ok": True, "version": 4},
        "vertex": {"ok": True, "version": "1"},
    }
    assert registry.metadata(result.version) == metadata_before
    assert registry.alias_names() == []
    with pytest.raises(RegistryError, match="does not exist"):
        registry.record_mirror(9, "mlflow", {"ok": True})


def test_safetensors_only(registry_uri, tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for path in tiny_model_dir.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    (model / "pytorch_model.bin").write_bytes(b"pickled weights")
    (model / "training_args.bin").write_bytes(b"pickled args")
    result = _register(registry_uri, model, "run-st")
    stored = {p.name for p in open_registry(registry_uri).model_dir(result.version).iterdir()}
    assert "pytorch_model.bin" not in stored and "training_args.bin" not in stored
    assert "model.safetensors" in stored

    no_safetensors = tmp_path / "bin-only"
    no_safetensors.mkdir()
    (no_safetensors / "config.json").write_text("{}")
    (no_safetensors / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(RegistryError, match="safetensors"):
        _register(registry_uri, no_safetensors, "run-bin")


def test_aliases_promote_compare_and_rollback(registry_uri, tiny_model_dir):
    for i in range(3):
        _register(registry_uri, tiny_model_dir, f"run-{i}")
    registry = open_registry(registry_uri)
    assert registry.get_alias(CHAMPION) is None
    registry.set_alias(CHAMPION, 1)
    registry.set_alias(CHAMPION, 2)
    assert registry.resolve(CHAMPION) == 2 and registry.resolve("latest") == 3 and registry.resolve("1") == 1
    # compare-and-set refuses when the alias moved away from what the caller compared against
    assert not registry.compare_and_set_alias(CHAMPION, 3, expected=1)
    assert registry.get_alias(CHAMPION) == 2
    assert registry.compare_and_set_alias(CHAMPION, 3, expected=2)
    registry.set_alias("staging", 1)
    assert registry.aliases() == {CHAMPION: 3, "staging": 1}
    assert registry.rollback_alias(CHAMPION) == 2
    assert registry.rollback_alias(CHAMPION) == 1
    with pytest.raises(RegistryError, match="no earlier target"):
        registry.rollback_alias(CHAMPION)
    with pytest.raises(RegistryError, match="does not exist"):
        registry.set_alias(CHAMPION, 9)
    with pytest.raises(RegistryError, match="no alias 'nope'"):
        registry.resolve("nope")


def test_promotion_follows_the_compared_champion(registry_uri, tiny_model_dir):
    first = _register(registry_uri, tiny_model_dir, "run-1", promote=True, parent_champion=None)
    registry = open_registry(registry_uri)
    assert registry.get_alias(CHAMPION) == first.version
    second = _register(registry_uri, tiny_model_dir, "run-2", promote=True, parent_champion=first.version)
    assert registry.get_alias(CHAMPION) == second.version
    # a run that compared against version 1 must not replace version 2, which it never saw
    third = _register(registry_uri, tiny_model_dir, "run-3", promote=True, parent_champion=first.version)
    assert third.created and registry.get_alias(CHAMPION) == second.version


def test_registered_version_loads_with_transformers_pipeline(registry_uri, tiny_model_dir):
    from transformers import pipeline

    result = _register(registry_uri, tiny_model_dir, "run-load")
    model_path = open_registry(registry_uri).model_dir(result.version)
    classifier = pipeline("text-classification", model=str(model_path), device="cpu")
    predictions = classifier(["what a great day", "the train is late again", "meeting at 5"], top_k=None)
    for ranked in predictions:
        assert {p["label"] for p in ranked} == {"negative", "neutral", "positive"}


_CONCURRENT_CHILD = """
import json, os, sys, time
from pathlib import Path
from tweet_sentiment.registry import register_model
uri, model_dir, run_id, go = sys.argv[1:5]
while not Path(go).exists():
    time.sleep(0.005)
result = register_model(uri, model_dir, metrics={}, parameters={}, dataset_fingerprint="x", run_id=run_id,
                        gate={"passed": True}, parent_champion=None, promote=True)
print("RESULT", json.dumps({"version": result.version, "created": result.created}))
"""


@pytest.mark.slow
def test_eight_concurrent_registrations(registry_uri, tiny_model_dir, tmp_path):
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT_CHILD, registry_uri, str(tiny_model_dir), f"run-{i}", str(go)],
            env=_child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(8)
    ]
    time.sleep(2.0)  # let every child import and wait at the barrier, so that they really race
    go.touch()
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    versions = [
        json.loads(line.split("RESULT ", 1)[1])["version"]
        for out in outputs
        for line in out.splitlines()
        if line.startswith("RESULT ")
    ]
    assert sorted(versions) == list(range(1, 9))
    registry = open_registry(registry_uri)
    assert registry.versions() == list(range(1, 9))
    assert {registry.metadata(v)["run_id"] for v in versions} == {f"run-{i}" for i in range(8)}
    # every child compared against "no champion": exactly one may promote, the others must see it moved
    champion = registry.get_alias(CHAMPION)
    assert champion in versions
    promoted = [out for out in outputs if "champion: version None ->" in out]
    assert len(promoted) == 1 and f"-> {champion}" in promoted[0]
    assert sum("champion NOT moved" in out for out in outputs) == 7
    assert (registry.model_dir(champion) / "model.safetensors").exists()


_KILLED_CHILD = """
import os, shutil, signal, sys
from tweet_sentiment.registry import register_model
uri, model_dir, where = sys.argv[1:4]
calls = {"n": 0}

def kill_on(owner, name, when):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if when(calls["n"], args):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real crash
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

if uri.startswith("gs://"):
    from google.cloud.storage import Blob
    if where == "copy":  # every file upload (upload_from_filename, the transfer manager) goes through it
        kill_on(Blob, "_handle_filename_and_upload", lambda n, args: n == 2)
    else:  # just before the version is published
        kill_on(Blob, "upload_from_string", lambda n, args: args[0].name.endswith("metadata.json"))
else:
    if where == "copy":
        kill_on(shutil, "copyfile", lambda n, args: n == 2)
    else:
        kill_on(os, "rename", lambda n, args: "staging" in str(args[0]))
register_model(uri, model_dir, metrics={}, parameters={}, dataset_fingerprint="x", run_id="killed",
               gate={"passed": True}, promote=True)
print("NOT KILLED")
"""


@pytest.mark.parametrize("where", ["copy", "publish"])
def test_registration_killed_halfway_leaves_no_version(registry_uri, tiny_model_dir, where):
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, registry_uri, str(tiny_model_dir), where],
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stdout + child.stderr
    registry = open_registry(registry_uri)
    assert registry.versions() == []
    assert registry.get_alias(CHAMPION) is None
    assert registry.find_run("killed") is None
    # the retried registration of the same run succeeds and is complete
    retried = _register(registry_uri, tiny_model_dir, "killed", promote=True)
    assert retried.created and registry.versions() == [retried.version]
    assert registry.get_alias(CHAMPION) == retried.version
    assert (registry.model_dir(retried.version) / "model.safetensors").exists()


def test_files_stored_with_a_version_and_its_history_of_retrain_checks(
    registry_uri, tiny_model_dir, tmp_path
):
    from tweet_sentiment.registry import CHAMPION

    (tmp_path / "profile.json").write_text('{"format": 1}\n')
    result = _register(
        registry_uri, tiny_model_dir, "run-p", files={"profile.json": tmp_path / "profile.json"}
    )
    registry = open_registry(registry_uri)
    assert registry.version_file(result.version, "profile.json") == '{"format": 1}\n'
    assert registry.version_file(result.version, "absent.json") is None
    metadata_before = registry.metadata(result.version)
    assert registry.checks(result.version) == []
    registry.set_alias(CHAMPION, result.version)
    registry.record_check(result.version, {"run_id": "night-1", "decision": "skip", "summary": "skipped: a"})
    registry.record_check(result.version, {"run_id": "night-2", "decision": "train", "summary": "trained: b"})
    assert [c["run_id"] for c in registry.checks(result.version)] == ["night-1", "night-2"]
    assert registry.find_check("night-1")["summary"] == "skipped: a"
    assert registry.find_check("night-3") is None
    assert registry.metadata(result.version) == metadata_before  # the version itself never changes
    with pytest.raises(RegistryError, match="does not exist"):
        registry.record_check(9, {"run_id": "x"})
