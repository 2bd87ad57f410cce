"""Second test tier: each component runs under kfp.local's SubprocessRunner, as `run-local` runs it."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_runner(tmp_path_factory):
    from kfp import local

    root = tmp_path_factory.mktemp("pipeline-root")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    return root


@pytest.fixture(scope="module")
def preprocessed(local_runner, raw_data_dir):
    from components.preprocess import preprocess

    return preprocess(data_source=str(raw_data_dir), eval_split="test")


def _imported(artifact_class, path, metadata=None):
    """kfp.local runs single components only with parameters, so artifacts come in through an importer.

    The URI must be a constant: kfp 2.17's local importer does not resolve a pipeline parameter there.
    """
    from kfp import dsl

    return dsl.importer(artifact_uri=str(path), artifact_class=artifact_class, metadata=metadata or {}).output


@pytest.fixture(scope="module")
def trained(local_runner, dataset_dir, tiny_model_dir):
    from kfp import dsl

    from components.train import train

    @dsl.pipeline
    def train_only(model_name: str) -> dsl.Model:
        task = train(
            dataset=_imported(dsl.Dataset, dataset_dir),
            model_name=model_name,
            epochs=10.0,
            learning_rate=6e-3,
            batch_size=16,
            max_length=32,
        )
        return task.outputs["model"]

    return train_only(model_name=str(tiny_model_dir))


def test_preprocess_component_writes_dataset_with_metadata(preprocessed):
    dataset = preprocessed.outputs["dataset"]
    assert dataset.metadata["train_rows"] == 90
    assert dataset.metadata["test_label_counts"] == {"negative": 10, "neutral": 10, "positive": 10}
    assert (Path(dataset.path) / "train.jsonl").exists()


def test_preprocess_component_fails_on_bad_data(local_runner, tmp_path):
    from components.preprocess import preprocess

    (tmp_path / "train.jsonl").write_text('{"text": "hi", "label": "happy"}\n')
    (tmp_path / "test.jsonl").write_text('{"text": "yo", "label": 1}\n')
    with pytest.raises(RuntimeError, match="preprocess"):
        preprocess(data_source=str(tmp_path), eval_split="test")


def test_train_component_writes_a_model(trained):
    model = trained.output
    assert (Path(model.path) / "model.safetensors").exists()
    # ceil(90 / 16) = 6 steps in each of 10 epochs: 60, under the default min_steps (64), so 11 epochs
    assert model.metadata["steps"] == 66
    assert model.metadata["param_model_name"]


def test_evaluate_component_scores_and_gates(local_runner, dataset_dir, trained):
    from kfp import dsl

    from components.evaluate import evaluate

    @dsl.pipeline
    def evaluate_only(min_accuracy: float) -> bool:
        task = evaluate(
            model=_imported(dsl.Model, trained.output.path),
            dataset=_imported(dsl.Dataset, dataset_dir),
            eval_split="test",
            min_accuracy=min_accuracy,
            registry_uri="",
        )
        return task.outputs["Output"]

    assert evaluate_only(min_accuracy=0.0).output is True
    assert evaluate_only(min_accuracy=1.0).output is False


def test_register_component_stores_a_version(local_runner, dataset_dir, trained, tmp_path):
    from kfp import dsl

    from components.register import register
    from tweet_sentiment.evaluate.step import run_evaluate

    report_path, html_path = tmp_path / "evaluation.json", tmp_path / "report.html"
    assert run_evaluate(
        trained.output.path,
        str(dataset_dir),
        split="test",
        min_accuracy=0.0,
        report_path=str(report_path),
        html_path=str(html_path),
    )
    report = json.loads(report_path.read_text())

    @dsl.pipeline
    def register_only(registry_uri: str) -> dsl.Model:
        task = register(
            model=_imported(dsl.Model, trained.output.path, {"param_learning_rate": 0.006}),
            dataset=_imported(dsl.Dataset, dataset_dir),
            evaluation=_imported(dsl.Artifact, report_path),
            html_report=_imported(dsl.HTML, html_path),
            registry_uri=registry_uri,
            eval_split="",
            run_id="r1",
        )
        return task.outputs["registered_model"]

    registry = tmp_path / "reg"
    lineage = register_only(registry_uri=str(registry)).output
    # The lineage artifact leads to the registered version: number, URI, aliases, headline metrics.
    assert lineage.metadata["version"] == 1
    assert lineage.metadata["version_uri"] == str(registry / "versions" / "000001")
    assert "champion" in lineage.metadata["aliases"].split(",")
    assert lineage.metadata["accuracy"] == report["accuracy"]
    assert json.loads(Path(lineage.path).read_text())["version"] == 1
    metadata = json.loads((registry / "versions" / "000001" / "metadata.json").read_text())
    assert metadata["metrics"]["accuracy"] == report["accuracy"]
    assert metadata["parameters"]["param_learning_rate"] == 0.006
    assert metadata["run_id"] == "r1"
