"""The compiled pipeline (golden YAML, GPU placement, gate) and a whole local run."""

from pathlib import Path

import pytest
import yaml

import pipeline
from deploy import exit_codes

ROOT = Path(__file__).resolve().parents[2]


def _documents(path: Path) -> list[dict]:
    return list(yaml.safe_load_all(path.read_text()))


def test_checked_in_pipeline_yaml_is_up_to_date(tmp_path):
    fresh = pipeline.compile_pipeline(tmp_path / "pipeline.yaml")
    assert _documents(fresh) == _documents(ROOT / "pipeline.yaml"), (
        "pipeline.yaml is stale: run `python pipeline.py compile` and commit it"
    )


def test_train_task_requests_a_gpu_on_a_gpu_node(tmp_path):
    spec, platform = _documents(pipeline.compile_pipeline(tmp_path / "p.yaml"))
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    # The count is the run-time parameter num_gpus (one DDP process per GPU), 1 unless a run asks for more.
    assert resources["accelerator"]["resourceCount"] == "{{$.inputs.parameters['pipelinechannel--num_gpus']}}"
    assert spec["root"]["inputDefinitions"]["parameters"]["num_gpus"]["defaultValue"] == 1
    train_config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train_config["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert train_config["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "accelerator" not in spec["deploymentSpec"]["executors"]["exec-evaluate"]["container"]["resources"]


def test_gpu_settings_come_from_compile_options(tmp_path):
    out = tmp_path / "p.yaml"
    assert (
        pipeline.main(
            ["compile", "--output", str(out), "--node-selector", "pool=a100", "--accelerator-limit", "2"]
        )
        == 0
    )
    spec, platform = _documents(out)
    assert spec["root"]["inputDefinitions"]["parameters"]["num_gpus"]["defaultValue"] == 2
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]["nodeSelector"][
        "labels"
    ] == {"pool": "a100"}


def test_register_runs_only_under_the_gate(tmp_path):
    spec = _documents(pipeline.compile_pipeline(tmp_path / "p.yaml"))[0]
    run_tasks = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]  # everything but notify
    # the train loop sits under check-retrain's condition (tests/pipeline/test_retrain_spec.py)
    (retrain_name,) = [name for name in run_tasks if name.startswith("condition")]
    run_tasks = spec["components"][run_tasks[retrain_name]["componentRef"]["name"]]["dag"]["tasks"]
    assert "register" not in run_tasks and "register" not in spec["root"]["dag"]["tasks"]
    (condition_name,) = [name for name in run_tasks if name.startswith("condition")]
    condition = run_tasks[condition_name]
    assert (
        condition["triggerPolicy"]["condition"]
        == "inputs.parameter_values['pipelinechannel--evaluate-Output'] == true"
    )
    assert "register" in spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]


@pytest.mark.slow
def test_whole_pipeline_runs_locally(tiny_model_dir, raw_data_dir, tmp_path, capsys):
    args = [
        "run-local",
        "--data",
        str(raw_data_dir),
        "--model",
        str(tiny_model_dir),
        "--epochs",
        "10",
        "--lr",
        "6e-3",
        "--force-learning-rate",  # the tiny random BERT needs a rate above the ceiling for real models
        "--max-length",
        "32",
        "--min-accuracy",
        "0.0",
        "--registry",
        str(tmp_path / "reg"),
        "--pipeline-root",
        str(tmp_path / "root"),
    ]
    assert pipeline.main(args) == exit_codes.OK
    out = capsys.readouterr().out
    assert "gate: PASSED" in out
    lines = out.strip().splitlines()
    assert len(lines) < 60, out  # one line per task, training's progress and the summary
    assert lines[-1] == f"report: {next((tmp_path / 'root').glob('*/report.html'))}"
    assert "Executor" not in out and "executor_input" not in out
    assert f"registered: version 1 at {tmp_path / 'reg' / 'versions' / '000001'}" in out
    # A gate that cannot be met (a perfect score after one epoch, the step floor off): the run
    # ends with exit code 3, nothing new is registered, the reason is printed.
    assert (
        pipeline.main(
            [
                *args[:-4],
                "--epochs",
                "1",
                "--min-steps",
                "0",
                "--min-accuracy",
                "1.0",
                "--min-macro-recall",
                "1.0",
                "--registry",
                str(tmp_path / "reg"),
                "--pipeline-root",
                str(tmp_path / "root2"),
            ]
        )
        == exit_codes.GATE_REFUSED
    )
    out = capsys.readouterr().out
    assert "gate: REFUSED" in out
    assert "is below the minimum 1.0000" in out
    assert not (tmp_path / "reg" / "versions" / "000002").exists()


@pytest.mark.slow
def test_run_local_reports_bad_data_without_a_traceback(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "hi", "label": 1}\n')
    code = pipeline.main(
        [
            "run-local",
            "--data",
            str(tmp_path / "data"),
            "--registry",
            str(tmp_path / "reg"),
            "--pipeline-root",
            str(tmp_path / "root"),
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "missing split(s) test (splits found: train)" in captured.out + captured.err
    # The task that raised is named, whichever task kfp.local reports as the failed one.
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("pipeline failed in task 'preprocess': "), last
    assert "missing split(s) test (splits found: train)" in last
