"""The plain functions behind the four components, run for real on tiny data with a tiny model."""

import json
import shutil
from pathlib import Path

import pytest

from tests.fakes.training import TINY_TRAINING
from tweet_sentiment.core.errors import ConfigError, DataValidationError, ModelSourceError
from tweet_sentiment.evaluate.config import EvaluateConfig
from tweet_sentiment.evaluate.gate import apply_gate
from tweet_sentiment.evaluate.step import run_evaluate
from tweet_sentiment.model.loading import load_classifier
from tweet_sentiment.preprocess.step import run_preprocess
from tweet_sentiment.register.step import run_register
from tweet_sentiment.registry import LocalRegistry
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.step import run_train


@pytest.fixture(scope="module")
def trained_dir(trained_model_dir):
    return trained_model_dir


def test_preprocess_step_requires_the_eval_split(raw_data_dir, tmp_path):
    stats = run_preprocess(str(raw_data_dir), str(tmp_path / "ok"), eval_split="validation")
    assert stats["validation_rows"] == 30
    (tmp_path / "only-train").mkdir()
    (tmp_path / "only-train" / "train.jsonl").write_text((raw_data_dir / "train.jsonl").read_text())
    with pytest.raises(DataValidationError, match=r"missing split\(s\) test"):
        run_preprocess(str(tmp_path / "only-train"), str(tmp_path / "bad"), eval_split="test")


def test_train_learns_the_tiny_task_and_saves_a_labelled_classifier(trained_dir):
    summary = json.loads((trained_dir / "training_summary.json").read_text())
    # The synthetic tweets carry their label in one word; a model that learned nothing scores ~1/3.
    assert summary["best_validation_accuracy"] >= 0.6, summary["history"]
    assert (trained_dir / "model.safetensors").exists() and (trained_dir / "tokenizer.json").exists()
    model = load_classifier(str(trained_dir), fresh_head=False)
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}


def test_train_is_seeded(dataset_dir, tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    settings = dict(TINY_TRAINING, epochs=1)
    run_train(str(dataset_dir), str(tmp_path / "a"), model_name=str(tiny_model_dir), **settings)
    run_train(str(dataset_dir), str(tmp_path / "b"), model_name=str(tiny_model_dir), **settings)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_config_rejects_nonsense():
    with pytest.raises(ConfigError, match="learning_rate must be > 0.*batch_size must be >= 1"):
        TrainConfig(learning_rate=0, batch_size=0)


def test_missing_model_directory_is_a_clear_error(dataset_dir, tmp_path):
    with pytest.raises(ModelSourceError, match="no such file or directory"):
        run_train(str(dataset_dir), str(tmp_path), model_name="./no/such/model", **TINY_TRAINING)


class _Sink:
    def __init__(self):
        self.metrics, self.matrix = {}, None

    def log_metric(self, name, value):
        self.metrics[name] = value

    def log_confusion_matrix(self, categories, matrix):
        self.matrix = (categories, matrix)


def test_evaluate_scores_and_gates(trained_dir, dataset_dir, tmp_path):
    sink = _Sink()
    passed = run_evaluate(
        str(trained_dir),
        str(dataset_dir),
        split="test",
        min_accuracy=0.5,
        metrics_sink=sink,
        confusion_sink=sink,
        report_path=str(tmp_path / "report.json"),
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert passed is True and report["gate_passed"] is True
    assert sink.metrics["accuracy"] == pytest.approx(report["accuracy"], abs=1e-6)
    assert sink.matrix[0] == ["negative", "neutral", "positive"]
    assert sum(map(sum, sink.matrix[1])) == 30
    # A test split that holds one tweet twice, under two labels: no model scores 1.0 on it.
    unreachable = tmp_path / "unreachable"
    shutil.copytree(dataset_dir, unreachable)
    first = json.loads((unreachable / "test.jsonl").read_text().splitlines()[0])
    relabelled = {"text": first["text"], "label": (first["label"] + 1) % 3}
    with open(unreachable / "test.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(relabelled) + "\n")
    strict = run_evaluate(
        str(trained_dir),
        str(unreachable),
        split="test",
        min_accuracy=1.0,
        report_path=str(tmp_path / "strict.json"),
    )
    strict_report = json.loads((tmp_path / "strict.json").read_text())
    assert strict_report["examples"] == 31 and strict_report["accuracy"] <= 30 / 31
    assert strict is False and strict_report["gate_passed"] is False
    assert strict_report["gate_reasons"][0] == (
        f"accuracy {strict_report['accuracy']:.4f} is below the minimum 1.0000"
    )


def test_gate_collects_every_failed_threshold():
    from tweet_sentiment.model.metrics import classification_report

    # 4 of 8 right; every prediction "neutral": fails both floors and the degenerate-model guard at once.
    report = classification_report([0, 1, 1, 1, 1, 2, 2, 0], [1] * 8)
    decision = apply_gate(report, EvaluateConfig(min_accuracy=0.7, min_macro_recall=0.6))
    assert not decision.passed
    assert decision.reasons[:2] == [
        "accuracy 0.5000 is below the minimum 0.7000",
        "macro_recall 0.3333 is below the minimum 0.6000",
    ]
    assert any(reason.startswith("degenerate model") for reason in decision.reasons[2:])
    assert "gate failed" in decision.message()


def test_gate_thresholds_are_fractions():
    with pytest.raises(ConfigError, match="a fraction, not a percentage"):
        EvaluateConfig(min_accuracy=74.05)


def test_evaluate_missing_split_is_clear(trained_dir, dataset_dir, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(dataset_dir, partial)
    (partial / "test.jsonl").unlink()
    with pytest.raises(DataValidationError, match="split 'test' is not in the dataset"):
        run_evaluate(str(trained_dir), str(partial), split="test", min_accuracy=0.0)


def test_register_creates_immutable_numbered_versions(trained_dir, dataset_dir, tmp_path):
    registry = tmp_path / "registry"

    def register(metrics, parameters, run_id):
        return run_register(
            str(trained_dir),
            str(dataset_dir),
            str(registry),
            metrics=metrics,
            parameters=parameters,
            run_id=run_id,
        )

    first = register({"accuracy": 0.9}, {"epochs": 8}, "run-a")
    again = register({"accuracy": 0.9}, {"epochs": 8}, "run-a")
    second = register({"accuracy": 0.8}, {}, "run-b")
    assert first[0] == 1 and again == first and second[0] == 2
    metadata = LocalRegistry(registry).metadata(1)
    assert metadata["run_id"] == "run-a" and metadata["metrics"] == {"accuracy": 0.9}
    assert len(metadata["dataset_fingerprint"]) == 64 and metadata["created_at"]
    model_files = {p.name for p in LocalRegistry(registry).model_dir(1).iterdir()}
    assert "model.safetensors" in model_files and "pytorch_model.bin" not in model_files


@pytest.mark.slow
def test_register_step_mirrors_a_local_registry_to_an_mlflow_server(
    trained_dir, dataset_dir, tmp_path, monkeypatch
):
    """A real ``mlflow server``: the version is logged as an MLflow model, the champion loads by alias."""
    from tests.fakes.mlflow_server import running_mlflow_server

    passed_report = tmp_path / "passed.json"
    assert run_evaluate(
        str(trained_dir), str(dataset_dir), split="test", min_accuracy=0.0, report_path=str(passed_report)
    )
    failed_report = tmp_path / "failed.json"
    failed = {**json.loads(passed_report.read_text()), "gate_passed": False, "gate_reasons": ["too low"]}
    failed_report.write_text(json.dumps(failed))
    with running_mlflow_server(tmp_path) as tracking_uri:

        def register(report, run_id):
            return run_register(
                str(trained_dir),
                str(dataset_dir),
                str(tmp_path / "registry"),
                parameters={},
                run_id=run_id,
                evaluation_path=str(report),
                mlflow_tracking_uri=tracking_uri,
                mlflow_model_name="tweets",
            )

        first = register(passed_report, "run-a")
        assert register(passed_report, "run-a") == first  # the step, retried
        rejected = register(failed_report, "run-b")
        _check_mirrored(tracking_uri, first, rejected, tmp_path / "registry", monkeypatch)


def _check_mirrored(tracking_uri, first, rejected, registry_dir, monkeypatch):
    import mlflow

    from tweet_sentiment.core.labels import LABELS
    from tweet_sentiment.model.inference import Scorer
    from tweet_sentiment.registry.mirrors.mlflow import mlflow_client

    client = mlflow_client(tracking_uri)
    (version,) = client.search_model_versions("name = 'tweets'")
    assert version.source == f"runs:/{version.run_id}/model" and version.tags["pipeline_run_id"] == "run-a"
    assert version.tags["registry_source"] == f"{first[1]}/model"
    assert client.get_registered_model("tweets").aliases == {"champion": version.version}
    registry = LocalRegistry(registry_dir)
    assert registry.mirrors(first[0])["mlflow"]["version"] == 1
    assert registry.mirrors(rejected[0]) == {}
    assert registry.metadata(first[0])["metrics"]["labels"] == ["negative", "neutral", "positive"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    tweets = ["@united lost my bag AGAIN, worst airline ever https://t.co/Xy12", "lunch was great \\u2019"]
    frame = mlflow.pyfunc.load_model("models:/tweets@champion").predict(tweets)
    expected = Scorer(registry.model_dir(first[0]), precision="fp32").score_raw(tweets)
    assert list(frame["label"]) == [LABELS[i] for i in expected.argmax(1)]


def test_a_version_records_its_pipeline_run_and_keeps_the_report(trained_dir, dataset_dir, tmp_path, capsys):
    from pipeline import main

    report = tmp_path / "html_report"
    report.write_text("<html><body>the evaluation</body></html>")
    registry = tmp_path / "registry"
    version, uri = run_register(
        str(trained_dir),
        str(dataset_dir),
        str(registry),
        metrics={"accuracy": 0.9},
        parameters={},
        run_id="job-123",
        run_name="tweet-sentiment-training-20261203",
        run_resource="projects/proj/locations/us-central1/pipelineJobs/tweet-sentiment-training-20261203",
        html_report_path=str(report),
    )
    metadata = LocalRegistry(registry).metadata(version)
    assert metadata["pipeline_run"] == {
        "id": "job-123",
        "name": "tweet-sentiment-training-20261203",
        "url": "https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/runs/"
        "tweet-sentiment-training-20261203?project=proj",
    }
    assert (Path(uri) / "report.html").read_text() == report.read_text()
    capsys.readouterr()
    assert main(["models", "show", str(version), "--registry", str(registry)]) == 0
    shown = capsys.readouterr().out
    assert (
        f"pipeline run: tweet-sentiment-training-20261203 (id job-123) {metadata['pipeline_run']['url']}"
        in shown
    )
    assert f"report: {uri}/report.html" in shown
    # On Kubeflow the pod does not know the UI's host: the run's id and name, no URL.
    second, _ = run_register(
        str(trained_dir),
        str(dataset_dir),
        str(registry),
        metrics={},
        parameters={},
        run_id="kfp-run",
        run_name="r",
    )
    assert LocalRegistry(registry).metadata(second)["pipeline_run"] == {"id": "kfp-run", "name": "r"}
