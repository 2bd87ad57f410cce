"""retrain_policy under kfp.local: the same pipeline, run like a schedule, trains only when it pays.

* on_change, the same snapshot twice: the second run executes no train task, registers nothing, and
  its summary, its notice and the champion's check history say why.
* when_needed: no champion -> trains; a snapshot on which the champion decays (the same tweets with
  rotated labels: no drift, only decay) -> trains; new vocabulary -> drift -> trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipeline
from deploy.local_run import summarize_local_run
from tests.fakes.http_stub import Reply, StubServer
from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.dataset import read_stats
from tweet_sentiment.registry import open_registry

pytestmark = pytest.mark.slow

TINY_RUN = dict(
    epochs=10.0,
    learning_rate=6e-3,
    force_learning_rate=True,  # the tiny random BERT needs more than the ceiling
    max_length=32,
    min_accuracy=0.0,
    max_regression=1.0,  # every trained model registers and becomes champion: the checks are the subject
    checkpoint_every_steps=20,
)


@pytest.fixture()
def local_runner(tmp_path, monkeypatch):
    from kfp import local

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        workspace_root=str(tmp_path / "workspace"),
    )
    return tmp_path / "root"


@pytest.fixture()
def webhook():
    with StubServer(lambda request: Reply(body={"ok": True})) as server:
        yield server


def _snapshot(folder: Path, train: list[dict], test: list[dict]) -> str:
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", test)
    return str(folder)


def _rotated(rows: list[dict]) -> list[dict]:
    """The same tweets, each labelled with the next class: the champion's answers turn wrong."""
    return [{"text": r["text"], "label": (r["label"] + 1) % 3} for r in rows]


def _run(root: Path, data: str, registry: Path, webhook, **settings) -> Path:
    before = set(root.iterdir()) if root.exists() else set()
    pipeline.create_pipeline()(
        registry_uri=str(registry), data_source=data, webhook_url=webhook.url, **TINY_RUN, **settings
    )
    (run_dir,) = set(root.iterdir()) - before
    return run_dir


def _trained(run_dir: Path) -> bool:
    return any(p.name.startswith("train") for p in run_dir.rglob("*") if p.is_dir())


def _notices(server) -> list[dict]:
    return [r.json() for r in server.requests if r.method == "POST"]


def test_on_change_skips_the_snapshot_the_champion_was_trained_on(
    local_runner, tiny_model_dir, tmp_path, webhook
):
    data = _snapshot(tmp_path / "tweets" / "2024-05-01", make_tweets(90, 11), make_tweets(30, 12))
    registry = tmp_path / "registry"
    settings = dict(model_name=str(tiny_model_dir), retrain_policy="on_change")
    first = _run(local_runner, data, registry, webhook, **settings)
    second = _run(local_runner, data, registry, webhook, **settings)

    store = open_registry(str(registry))
    assert store.versions() == [1]  # the second run registered nothing
    assert _trained(first) and not _trained(second)
    assert not (second / "evaluate").exists() and not (second / "register").exists()
    fingerprint = store.metadata(1)["dataset_fingerprint"]
    profile = json.loads(store.version_file(1, "profile.json"))  # register kept the data's profile
    assert profile["snapshot"]["fingerprint"] == fingerprint and len(profile["text_sample"]) > 0
    (check,) = store.checks(1)
    assert (check["decision"], check["fingerprint"]) == ("skip", fingerprint)
    summary, passed = summarize_local_run(second, str(registry))
    assert passed  # a skipped run is a success, not a refused gate
    assert f"skipped: snapshot {fingerprint[:12]} is the one champion version 1 was trained on" in summary
    assert "nothing trained, nothing registered" in summary
    assert "trained: the registry has no champion" in summarize_local_run(first, str(registry))[0]
    notices = _notices(webhook)
    assert [n["state"] for n in notices] == ["SUCCEEDED", "SUCCEEDED"]
    assert "retrain" not in notices[0]  # no champion yet: nothing recorded to report
    assert notices[1]["retrain"] == check["summary"]
    assert (second / "check-retrain" / "drift_report").exists()


def test_when_needed_trains_without_a_champion_on_decay_and_on_new_vocabulary(
    local_runner, tiny_model_dir, tmp_path, webhook
):
    train, test = make_tweets(90, 11), make_tweets(30, 12)
    registry = tmp_path / "registry"
    settings = dict(model_name=str(tiny_model_dir), retrain_policy="when_needed")
    store = open_registry(str(registry))

    first = _run(local_runner, _snapshot(tmp_path / "a", train, test), registry, webhook, **settings)
    assert _trained(first) and store.versions() == [1]
    assert "trained: the registry has no champion" in summarize_local_run(first, str(registry))[0]
    assert store.metadata(1)["metrics"]["macro_recall"] > 0.45  # above chance (1/3): it learned something

    decayed = _run(
        local_runner,
        _snapshot(tmp_path / "b", _rotated(train), _rotated(test)),
        registry,
        webhook,
        **settings,
    )
    (check,) = store.checks(1)
    assert check["decision"] == "train" and check["summary"].startswith("trained: decay ")
    assert check["summary"].count(">=") == 1  # the same tweets: no drift measure reached its threshold
    assert _trained(decayed) and store.versions() == [1, 2]

    new_words = [
        {"text": f"{w} quokka zorbing {w}bert felicitations {i}", "label": i % 3}
        for i, w in enumerate(["snorkel", "kazoo", "tamarind", "gondola", "yodel", "fjord"] * 15)
    ]
    drifted = _run(local_runner, _snapshot(tmp_path / "c", new_words, test), registry, webhook, **settings)
    (check,) = store.checks(2)
    assert check["decision"] == "train"
    assert "new_word_rate_increase" in check["summary"] and "text_drift_auc" in check["summary"]
    assert _trained(
        drifted
    )  # trained; whether its model passes the gate on tweets without signal is not the point
    assert read_stats(drifted / "preprocess" / "dataset")["fingerprint"] == check["fingerprint"]
    assert [n["retrain"] for n in _notices(webhook)[1:]] == [
        c["summary"] for c in store.checks(1) + store.checks(2)
    ]
