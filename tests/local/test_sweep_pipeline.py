"""The sweep in the pipeline: a loop of train tasks between plan-trials and select-model, compiled and run
under kfp.local (ParallelFor over a task's output, dsl.Collected of the trials' Model artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import pipeline


def _spec(path: Path) -> dict:
    return next(yaml.safe_load_all(path.read_text()))


def test_trials_run_as_a_bounded_parallel_loop_of_gpu_train_tasks(tmp_path):
    options = pipeline.PipelineOptions(sweep_parallelism=3)
    spec = _spec(pipeline.compile_pipeline(tmp_path / "p.yaml", options))
    # The tasks beside the loop: the retrain condition's DAG (plan-trials, the loop, select, evaluate).
    (root,) = [
        c["dag"]["tasks"]
        for c in spec["components"].values()
        if any(name.startswith("for-loop") for name in c.get("dag", {}).get("tasks", {}))
    ]
    assert "train" not in root and "plan-trials" in root
    (loop_name,) = [name for name in root if name.startswith("for-loop")]
    loop = root[loop_name]
    assert loop["iteratorPolicy"]["parallelismLimit"] == 3
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("plan-trials-Output")
    train = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]["train"]
    for name in ("learning_rate", "class_weight_power", "seed", "run_id"):
        assert (
            train["inputs"]["parameters"][name]["parameterExpressionSelector"]
            == f'parseJson(string_value)["{name}"]'
        )
    assert train["retryPolicy"]["maxRetryCount"] == options.placement.retries
    assert spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"]
    # select-model gathers every trial's model; evaluate scores what it keeps.
    select = root["select-model"]["inputs"]["artifacts"]["models"]
    assert select["taskOutputArtifact"] == {
        "outputArtifactKey": "pipelinechannel--train-model",
        "producerTask": loop_name,
    }
    assert (
        root["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]["producerTask"]
        == "select-model"
    )
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["sweep"]["defaultValue"] == "" and inputs["soup_top_k"]["defaultValue"] == 0


@pytest.mark.slow
def test_a_sweep_runs_locally_and_the_best_trial_on_dev_is_registered(tiny_model_dir, tmp_path, capsys):
    """TweetEval-like data (train + validation, evaluated on validation): trials select on the carved dev
    split; select-model keeps the best trial (or the soup); evaluate reports on validation."""
    from tests.fakes.tweets import make_tweets, write_jsonl

    data = tmp_path / "data"
    write_jsonl(data / "train.jsonl", make_tweets(150, seed=21))
    write_jsonl(data / "validation.jsonl", make_tweets(30, seed=22))
    sweep = [{"learning_rate": 1e-5}, {"learning_rate": 6e-3, "seed": 1}]
    args = [
        "run-local",
        *("--data", str(data), "--eval-split", "validation", "--dev-fraction", "0.2"),
        *("--model", str(tiny_model_dir), "--epochs", "8", "--max-length", "32", "--min-accuracy", "0.0"),
        *("--sweep", json.dumps(sweep), "--soup-top-k", "2", "--force-learning-rate"),  # tiny BERT: 6e-3
        *("--registry", str(tmp_path / "reg"), "--pipeline-root", str(tmp_path / "root")),
    ]
    assert pipeline.main(args) == 0
    out = capsys.readouterr().out
    assert "registered: version 1" in out
    (selection_file,) = (tmp_path / "root").rglob("selection.json")
    decision = json.loads(selection_file.read_text())
    assert decision["selection_split"] == "dev"
    assert [(t["trial"], t["learning_rate"], t["seed"]) for t in decision["trials"]] == [
        (0, 1e-5, 42),
        (1, 6e-3, 1),
    ]
    assert (
        decision["best_trial"]
        == max(decision["trials"], key=lambda t: (t["dev_macro_recall"], t["dev_accuracy"]))["trial"]
    )
    assert decision["soup"]["members"] and decision["kept"] in ("trial-0", "trial-1", "soup-of-2")
    assert f"selected on dev: {decision['kept']} of 2 trial(s)" in out
    summaries = sorted((tmp_path / "root").rglob("training_summary.json"))
    assert {json.loads(p.read_text())["config"]["eval_split"] for p in summaries} == {"dev"}
    # The registered version records the kept trial's training parameters and the choice.
    (version,) = (json.loads(next((tmp_path / "reg").rglob("metadata.json")).read_text()),)
    best = decision["trials"][decision["best_trial"]]
    assert version["parameters"]["param_learning_rate"] == best["learning_rate"]
    assert version["parameters"]["param_seed"] == best["seed"]
    assert version["parameters"]["kept"] == decision["kept"]
    (report,) = (tmp_path / "root").rglob("report")
    assert json.loads(Path(report).read_text())["split"] == "validation"


def test_the_readme_sweep_parameter_reaches_the_cluster_as_json_text(compiled_packages):
    from deploy.package import load_package, parse_param_flags
    from tweet_sentiment.train.sweep import plan_trials

    sweep = (
        '[{"learning_rate": 5e-5, "class_weight_power": 0}, {"learning_rate": 8e-5}, '
        '{"learning_rate": 8e-5, "seed": 7}]'
    )
    assert f"--param 'sweep={sweep}'" in (pipeline.ROOT / "README.md").read_text()
    values = parse_param_flags(
        [f"sweep={sweep}", "soup_top_k=3"], load_package(compiled_packages["kubeflow"])
    )
    assert values == {"sweep": sweep, "soup_top_k": 3}
    trials = plan_trials(values["sweep"], learning_rate=8e-5, class_weight_power=0.5, seed=42, run_id="r")
    assert [(t["learning_rate"], t["class_weight_power"], t["seed"]) for t in trials] == [
        (5e-5, 0.0, 42),
        (8e-5, 0.5, 42),
        (8e-5, 0.5, 7),
    ]
