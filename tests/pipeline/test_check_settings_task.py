"""On a cluster, every setting is checked by the check-settings task before any train task starts.

Read from pipeline.py's pipeline compiled for both targets (conftest ``compiled_packages``): the task
takes every pipeline parameter, each bound to the pipeline input of that name (so a value typed into the
KFP or Vertex AI UI reaches it), check-retrain waits for it, and plan-trials - whose output the train loop
iterates over - sits in the condition on check-retrain's decision, so it depends
on it; it runs on the CPU image, never from the cache. The component body is the preflight check
itself (tests/unit/test_preflight.py).
"""

from __future__ import annotations

import pytest
import yaml

TARGETS = ("kubeflow", "vertex")


@pytest.fixture()
def spec_of(compiled_packages):
    return lambda target: next(d for d in yaml.safe_load_all(compiled_packages[target].read_text()) if d)


def _tasks(spec: dict) -> dict[str, dict]:
    tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    return tasks


@pytest.mark.parametrize("target", TARGETS)
def test_check_settings_takes_every_pipeline_parameter_from_the_run(spec_of, target):
    spec = spec_of(target)
    check = _tasks(spec)["check-settings"]
    bound = check["inputs"]["parameters"]
    pipeline_inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(bound) == set(pipeline_inputs)
    for name, binding in bound.items():
        # Inside the exit handler a pipeline input arrives as the handler's input of the same name.
        assert binding["componentInputParameter"].removeprefix("pipelinechannel--") == name, name
    assert not check.get("cachingOptions", {}).get("enableCache")


@pytest.mark.parametrize("target", TARGETS)
def test_no_train_task_starts_before_the_check_passed(spec_of, target):
    spec = spec_of(target)
    tasks = _tasks(spec)
    # check-retrain waits for check-settings; plan-trials sits in the condition on check-retrain's decision.
    assert "check-settings" in tasks["check-retrain"]["dependentTasks"]
    holder = next(
        name
        for name, component in spec["components"].items()
        if "plan-trials" in component.get("dag", {}).get("tasks", {})
    )
    condition = next(t for t in tasks.values() if t.get("componentRef", {}).get("name") == holder)
    assert "check-retrain" in condition["dependentTasks"]
    loop = next(t for t in tasks.values() if t.get("parameterIterator"))
    # The loop of train tasks iterates over plan-trials' output: it cannot start before plan-trials.
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("plan-trials-Output")
    assert "plan-trials" in loop["dependentTasks"]
    executor = spec_of(target)["deploymentSpec"]["executors"]["exec-check-settings"]
    assert "tweet-sentiment-cpu" in executor["container"]["image"]
