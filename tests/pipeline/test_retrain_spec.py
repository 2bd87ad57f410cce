"""The retrain check in the compiled pipeline, on both targets (compiled here, not the checked-in YAMLs):
check-retrain runs after preprocess on a CPU, uncached, and its decision wraps the whole train loop."""

from __future__ import annotations

import pytest
import yaml

import pipeline

TARGETS = ("kubeflow", "vertex")
CONDITION = "inputs.parameter_values['pipelinechannel--check-retrain-Output'] == 'train'"


@pytest.fixture(scope="module", params=TARGETS)
def compiled(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "pipeline.yaml"
    pipeline.compile_pipeline(path, pipeline.PipelineOptions(target=request.param))
    return request.param, [d for d in yaml.safe_load_all(path.read_text()) if d]


def _nested_tasks(spec: dict, component: str) -> set[str]:
    """Every task under ``component``'s DAG, through nested conditions and loops."""
    found = set()
    for name, task in spec["components"][component].get("dag", {}).get("tasks", {}).items():
        found.add(name)
        child = task.get("componentRef", {}).get("name", "")
        if "dag" in spec["components"].get(child, {}):
            found |= _nested_tasks(spec, child)
    return found


def test_the_decision_wraps_train_select_evaluate_and_register(compiled):
    _target, (spec, *_platform) = compiled
    run = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    (retrain,) = [
        task for task in run.values() if task.get("triggerPolicy", {}).get("condition") == CONDITION
    ]
    assert "check-retrain" in retrain["dependentTasks"]
    guarded = _nested_tasks(spec, retrain["componentRef"]["name"])
    assert {"plan-trials", "train", "select-model", "evaluate", "register", "batch-predict"} <= guarded
    # what runs whatever the decision: the data, the settings check and the decision itself
    always = {"preprocess", "check-settings", "check-retrain"}
    assert always <= set(run) and not always & guarded
    assert sorted(run["check-retrain"]["dependentTasks"]) == ["check-settings", "preprocess"]


def test_the_check_is_cpu_only_and_never_cached(compiled):
    target, (spec, *platform) = compiled
    task = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]["check-retrain"]
    assert not task.get("cachingOptions", {}).get("enableCache", False)
    resources = spec["deploymentSpec"]["executors"]["exec-check-retrain"]["container"]["resources"]
    assert "accelerator" not in resources
    assert resources["resourceCpuRequest"] and resources["resourceMemoryLimit"]
    # the train task, by contrast, asks for a GPU: the check sees the same spec shape
    assert "accelerator" in spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    if target == "kubeflow":
        executors = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert "exec-check-retrain" not in executors  # no GPU node selector, toleration or /dev/shm
        assert "nodeSelector" in executors["exec-train"]
    else:
        assert platform == []


def test_the_retrain_settings_are_pipeline_parameters_with_their_declared_defaults(compiled):
    from tweet_sentiment.settings import default

    _target, (spec, *_platform) = compiled
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["retrain_policy"]["defaultValue"] == default("retrain_policy") == "always"
    for name in ("max_champion_age_days", "max_decay", "max_label_drift", "max_text_drift_auc"):
        assert parameters[name]["defaultValue"] == default(name)
