"""The compiled pipeline's run-time behaviour under kfp.local: caching, the exit notice, kill/retry/resume.

* Caching on, two scheduled-style runs against ``<prefix>/latest`` whose newest snapshot changes in
  between: the second run preprocesses and trains on the new snapshot and registers a new version.
* The exit handler posts the final status to a loopback webhook, for a passing and a failing run.
* The train task is SIGKILLed mid-run: the task's own retry policy starts it again, it resumes from
  the newest checkpoint in the run's workspace and ends at the planned step count with the weights of
  an uninterrupted run.
"""

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

import pipeline
from deploy.placement import Placement
from tests.fakes.http_stub import Reply, StubServer
from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.dataset import read_stats
from tweet_sentiment.registry import open_registry

pytestmark = pytest.mark.slow

TINY_RUN = dict(
    epochs=10.0,
    learning_rate=6e-3,
    force_learning_rate=True,  # the tiny random BERT needs a rate above the ceiling for real models
    max_length=32,
    min_accuracy=0.0,
    max_regression=1.0,  # the second run's model registers whatever the first one scored
    checkpoint_every_steps=20,
)


@pytest.fixture()
def local_runner(tmp_path, monkeypatch):
    """kfp.local as run-local sets it up, plus caching; one thread per task keeps the 2 cores usable."""
    from kfp import local

    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    def start(enable_caching: bool = False, raise_on_error: bool = True):
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(tmp_path / "root"),
            workspace_root=str(tmp_path / "workspace"),
            raise_on_error=raise_on_error,
            enable_caching=enable_caching,
        )

    return start


@pytest.fixture()
def webhook():
    with StubServer(lambda request: Reply(body={"ok": True})) as server:
        yield server


def _snapshot(prefix: Path, name: str, seed: int) -> None:
    write_jsonl(prefix / name / "train.jsonl", make_tweets(90, seed))
    write_jsonl(prefix / name / "test.jsonl", make_tweets(30, seed + 1000))


def _posted(server) -> list[dict]:
    return [r.json() for r in server.requests if r.method == "POST"]


def test_caching_on_a_changed_latest_snapshot_trains_anew_and_registers_a_new_version(
    local_runner, tiny_model_dir, tmp_path, webhook
):
    local_runner(enable_caching=True)
    prefix, registry = tmp_path / "tweets", str(tmp_path / "registry")
    run = pipeline.create_pipeline()
    arguments = dict(
        registry_uri=registry,
        data_source=f"{prefix}/latest",
        model_name=str(tiny_model_dir),
        webhook_url=webhook.url,
        **TINY_RUN,
    )
    _snapshot(prefix, "2024-05-01", seed=11)
    run(**arguments)
    _snapshot(prefix, "2024-05-02", seed=22)  # tonight's upload
    run(**arguments)

    store = open_registry(registry)
    assert store.versions() == [1, 2]
    first, second = (store.metadata(v) for v in (1, 2))
    assert first["dataset_fingerprint"] != second["dataset_fingerprint"]
    assert first["run_id"] != second["run_id"]
    # Each run preprocessed its own newest snapshot and trained on it (no cache hit for train).
    runs = sorted((tmp_path / "root").glob("*/preprocess/dataset"), key=lambda p: p.stat().st_mtime)
    assert [read_stats(path)["fingerprint"] for path in runs] == [
        first["dataset_fingerprint"],
        second["dataset_fingerprint"],
    ]
    trained = [
        path
        for path in (tmp_path / "root").rglob("model.safetensors")
        if any(part.startswith("train") for part in path.relative_to(tmp_path / "root").parts[1:])
    ]
    assert len(trained) == 2, trained  # one train task (the sweep's single trial) per run, none from cache
    assert [m["state"] for m in _posted(webhook)] == ["SUCCEEDED", "SUCCEEDED"]


def test_a_failing_run_posts_its_failure_to_the_webhook(local_runner, tmp_path, webhook):
    local_runner(raise_on_error=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "hi", "label": 1}\n')
    quick_retries = pipeline.PipelineOptions(Placement(backoff="1s"))  # preprocess retries twice, then fails
    pipeline.create_pipeline(quick_retries)(
        registry_uri=str(tmp_path / "registry"), data_source=str(tmp_path / "data"), webhook_url=webhook.url
    )
    (message,) = _posted(webhook)
    assert message["state"] == "FAILED" and not message["succeeded"]
    assert message["run"] and message["pipeline"] == pipeline.PIPELINE_NAME
    assert message["error"]["message"], message


def _kill_train_after_first_checkpoint(workspace: Path, killed: list[int], stop: threading.Event) -> None:
    """Watch the run's workspace; once a complete checkpoint exists, SIGKILL the train task's processes."""
    from tweet_sentiment.train.checkpointing import COMPLETE_MARKER

    while not stop.is_set():
        if list(workspace.glob(f"checkpoints/*/train/ckpt-*/{COMPLETE_MARKER}")):
            for process in psutil.Process(os.getpid()).children(recursive=True):
                try:
                    command = " ".join(process.cmdline())
                except psutil.Error:
                    continue
                if (
                    "--function_to_execute" in command
                    and "train" in command.split("--function_to_execute")[1][:8]
                ):
                    process.send_signal(signal.SIGKILL)
                    killed.append(process.pid)
            if killed:
                return
        time.sleep(0.05)


def _train_pipeline(placement: Placement):
    """preprocess -> train, each task set up exactly as in the pipeline (pipeline._size, workspace)."""
    from kfp import dsl

    from components.preprocess import preprocess
    from components.train import train

    @dsl.pipeline(pipeline_config=dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size="1Gi")))
    def train_only(data_source: str, model_name: str) -> dsl.Model:
        dataset = pipeline._size(
            preprocess(
                data_source=data_source,
                hub_config="sentiment",
                eval_split="test",
                max_text_chars=1000,
                max_bad_fraction=0.01,
            ),
            "preprocess",
            placement,
        ).outputs["dataset"]
        task = pipeline._size(
            train(
                dataset=dataset,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                default_checkpoint_root=pipeline.default_checkpoint_root("kubeflow"),
                model_name=model_name,
                epochs=6.0,
                learning_rate=1e-3,
                class_weight_power=0.5,
                batch_size=4,
                max_length=32,
                seed=7,
                precision="fp32",
                num_gpus=1,
                validation_split="",  # the last step's weights are the model: comparable bit for bit
                eval_every_steps=0,
                checkpoint_root="",
                checkpoint_every_steps=10,
            ),
            "train",
            placement,
        )
        return task.outputs["model"]

    return train_only


def test_train_killed_mid_run_is_retried_and_resumes_to_the_weights_of_an_uninterrupted_run(
    local_runner, tiny_model_dir, raw_data_dir, tmp_path
):
    local_runner()
    run = _train_pipeline(Placement(backoff="1s"))
    reference = run(data_source=str(raw_data_dir), model_name=str(tiny_model_dir)).output

    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=_kill_train_after_first_checkpoint, args=(tmp_path / "workspace", killed, stop), daemon=True
    )
    watcher.start()
    try:
        resumed = run(data_source=str(raw_data_dir), model_name=str(tiny_model_dir)).output
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert killed, "the train task finished before it could be killed"
    assert resumed.metadata["resumed_from_step"] > 0
    assert resumed.metadata["steps"] == reference.metadata["steps"] == 6 * 23
    assert resumed.metadata["saved_model_digest"] == reference.metadata["saved_model_digest"]
    assert not list((tmp_path / "workspace").glob("checkpoints/*/train/ckpt-*"))  # removed after success
