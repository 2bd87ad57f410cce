"""The train step as the pipeline sees it: parameters, accelerators, retries, checkpoint location, metrics."""

from __future__ import annotations

import json

import pytest
import yaml

from tweet_sentiment.train.step import checkpoint_location, run_train


def test_checkpoint_location():
    assert checkpoint_location("gs://b/ckpt/", "job-7", "/tmp/m") == "gs://b/ckpt/job-7/train"
    assert checkpoint_location("", "job-7", "/gcs/b/m", "gs://b/m") == "gs://b/m/checkpoints"
    assert checkpoint_location("", "", "/tmp/m", "/tmp/m") == "/tmp/m/checkpoints"


def test_num_gpus_is_a_run_time_accelerator_count_and_train_retries(tmp_path):
    from pipeline import compile_pipeline

    spec, *_platform = yaml.safe_load_all(compile_pipeline(tmp_path / "p.yaml").read_text())
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["num_gpus"]["defaultValue"] == 1
    for name in ("checkpoint_root", "checkpoint_every_steps", "eval_every_steps"):
        assert name in inputs
    executor = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "num_gpus" in executor["resources"]["accelerator"]["resourceCount"]
    # The train task runs in the sweep's loop (one iteration without a sweep).
    (task,) = [
        c["dag"]["tasks"]["train"]
        for c in spec["components"].values()
        if "train" in c.get("dag", {}).get("tasks", {})
    ]
    assert task["retryPolicy"]["maxRetryCount"] >= 1
    assert task["inputs"]["parameters"]["num_gpus"] == {
        "componentInputParameter": "pipelinechannel--num_gpus"
    }
    assert "metrics" in spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]


class _Metrics:
    """Stands in for KFP's Metrics artifact (a kfp object, not our code)."""

    def __init__(self):
        self.logged = {}

    def log_metric(self, name, value):
        self.logged[name] = value


@pytest.mark.slow
def test_run_train_logs_metrics_and_leaves_no_checkpoints(tiny_model_dir, dataset_dir, tmp_path):
    sink = _Metrics()
    output = tmp_path / "model"
    figures = run_train(
        str(dataset_dir),
        str(output),
        model_name=str(tiny_model_dir),
        epochs=1,
        learning_rate=1e-3,
        batch_size=16,
        max_length=32,
        checkpoint_every_steps=2,
        min_steps=0,
        metrics_sink=sink,
    )
    summary = json.loads((output / "training_summary.json").read_text())
    assert figures["steps"] == summary["steps"] == 6
    assert sink.logged["steps"] == 6 and sink.logged["samples_per_second"] > 0
    assert not (output / "checkpoints").exists()
    assert list((output / "tensorboard").glob("events.out.tfevents.*"))
