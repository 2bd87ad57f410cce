"""What a Kubeflow or Vertex AI backend reads from the compiled pipeline, task by task, on both targets.

kfp.local ignores caching keys, resources, accelerators and Kubernetes settings, so these tests
read pipeline.py's pipeline compiled in the test session (conftest ``compiled_packages``; that the
checked-in YAMLs equal it is test_compile_targets' job) and freshly compiled variants. Each test
would fail if its part of the spec regressed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import pipeline
from deploy.package import load_package, without_caching
from deploy.placement import DEFAULT_RESOURCES, GpuSettings
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.train.step import check_visible_gpus

TARGETS = ("kubeflow", "vertex")
STEPS = ("preprocess", "plan-trials", "train", "select-model", "evaluate", "register", "batch-predict")


def _documents(packages: dict[str, Path], target: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(packages[target].read_text()) if d]


def _tasks(spec: dict) -> dict[str, dict]:
    tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    return tasks


def _container(spec: dict, task: str) -> dict:
    return spec["deploymentSpec"]["executors"][f"exec-{task}"]["container"]


def _kubernetes(packages: dict[str, Path], target: str) -> dict:
    documents = _documents(packages, target)
    return documents[1]["platforms"]["kubernetes"] if len(documents) > 1 else {}


@pytest.mark.parametrize("target", TARGETS)
def test_only_train_and_evaluate_may_come_from_the_cache(target, compiled_packages):
    tasks = _tasks(_documents(compiled_packages, target)[0])
    cached = {name for name in (*STEPS, "notify") if tasks[name].get("cachingOptions", {}).get("enableCache")}
    assert cached == {"train", "select-model", "evaluate"}


@pytest.mark.parametrize("target", TARGETS)
def test_every_task_has_cpu_and_memory_requests_and_limits(target, compiled_packages):
    spec = _documents(compiled_packages, target)[0]
    for task, sized in DEFAULT_RESOURCES.items():
        resources = _container(spec, task)["resources"]
        assert resources["resourceCpuRequest"] == sized.cpu_request, task
        assert resources["resourceCpuLimit"] == sized.cpu_limit, task
        assert resources["resourceMemoryRequest"] == sized.memory_request, task
        assert resources["resourceMemoryLimit"] == sized.memory_limit, task


def test_train_fits_the_allocatable_share_of_a_g2_standard_8_node():
    train = DEFAULT_RESOURCES["train"]
    # GKE reservations on 8 vCPU / 32 GiB (deploy/placement.py): 7.91 CPU and about 28.3 GiB allocatable.
    assert float(train.cpu_limit) <= 7.91 and float(train.cpu_request) <= float(train.cpu_limit)
    assert train.memory_limit.endswith("Gi") and int(train.memory_limit[:-2]) <= 28


@pytest.mark.parametrize("target", TARGETS)
def test_every_step_retries_with_exponential_backoff(target, compiled_packages):
    tasks = _tasks(_documents(compiled_packages, target)[0])
    for name in STEPS:
        policy = tasks[name]["retryPolicy"]
        assert policy["maxRetryCount"] >= 2, name
        assert policy["backoffDuration"] == "60s" and policy["backoffFactor"] == 2.0, name


def test_train_is_placed_on_the_gpu_node_with_a_memory_backed_dev_shm(compiled_packages):
    executors = _kubernetes(compiled_packages, "kubeflow")["deploymentSpec"]["executors"]
    train = executors["exec-train"]
    gpu = GpuSettings()
    assert train["nodeSelector"]["labels"] == {gpu.node_selector_key: gpu.node_selector_value}
    assert train["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert train["emptyDirMounts"] == [
        {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": gpu.shm_size}
    ]
    for task in ("preprocess", "plan-trials", "select-model", "evaluate", "register", "batch-predict"):
        assert "nodeSelector" not in executors.get(f"exec-{task}", {}), task
    spec = _documents(compiled_packages, "kubeflow")[0]
    assert _container(spec, "train")["resources"]["accelerator"]["resourceCount"] == (
        "{{$.inputs.parameters['pipelinechannel--num_gpus']}}"
    )


def test_vertex_has_one_document_and_a_compile_time_gpu_count(compiled_packages):
    documents = _documents(compiled_packages, "vertex")
    assert len(documents) == 1
    accelerator = _container(documents[0], "train")["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == ("NVIDIA_L4", "1")
    assert documents[0]["root"]["inputDefinitions"]["parameters"]["num_gpus"]["defaultValue"] == 1


def test_the_train_step_refuses_more_processes_than_visible_gpus():
    with pytest.raises(
        ConfigError, match=r"num_gpus=2 but this node shows 1 GPU\(s\).*--accelerator-limit 2"
    ):
        check_visible_gpus(2, visible=1)
    check_visible_gpus(1, visible=2)  # more GPUs than asked for: allowed


@pytest.mark.parametrize(
    ("target", "expected", "workspace"),
    [
        ("kubeflow", "{{$.workspace_path}}/checkpoints", "20Gi"),
        ("vertex", "{{$.pipeline_root}}/checkpoints", None),  # no workspace: pipeline_root (GCS)
    ],
)
def test_checkpoints_default_to_storage_that_outlives_the_pod(target, expected, workspace, compiled_packages):
    train = _tasks(_documents(compiled_packages, target)[0])["train"]
    assert train["inputs"]["parameters"]["default_checkpoint_root"] == {
        "runtimeValue": {"constant": expected}
    }
    assert (
        _kubernetes(compiled_packages, target).get("pipelineConfig", {}).get("workspace", {}).get("size")
        == workspace
    )


@pytest.mark.parametrize("target", TARGETS)
def test_register_runs_past_the_gate_and_batch_predict_only_when_asked(target, compiled_packages):
    spec = _documents(compiled_packages, target)[0]
    tasks = _tasks(spec)
    parents = {
        child: name
        for name, component in spec["components"].items()
        for child in component.get("dag", {}).get("tasks", {})
    }

    def condition_of(task: str) -> str:
        component = parents[task]
        (holder,) = [t for t in tasks.values() if t.get("componentRef", {}).get("name") == component]
        return holder["triggerPolicy"]["condition"]

    assert condition_of("register") == "inputs.parameter_values['pipelinechannel--evaluate-Output'] == true"
    assert condition_of("batch-predict") == (
        "inputs.parameter_values['pipelinechannel--batch_predict_source'] != ''"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_notify_runs_after_everything_else_whatever_happened(target, compiled_packages):
    spec = _documents(compiled_packages, target)[0]
    notify = spec["root"]["dag"]["tasks"]["notify"]
    assert notify["dependentTasks"] == ["exit-handler-1"]
    assert notify["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert set(_tasks(spec)) >= {*STEPS, "notify"}


def test_on_kubeflow_notify_reads_the_webhook_from_an_optional_secret(compiled_packages):
    executors = _kubernetes(compiled_packages, "kubeflow")["deploymentSpec"]["executors"]
    (secret,) = executors["exec-notify"]["secretAsEnv"]
    assert secret["optional"] is True and secret["keyToEnv"] == [
        {"secretKey": "webhook_url", "envVar": "NOTIFY_WEBHOOK_URL"}
    ]
    assert _kubernetes(compiled_packages, "vertex") == {}  # Vertex: the webhook_url parameter only


def test_register_outputs_a_lineage_artifact(compiled_packages):
    spec = _documents(compiled_packages, "kubeflow")[0]
    outputs = spec["components"]["comp-register"]["outputDefinitions"]
    assert outputs["artifacts"]["registered_model"]["artifactType"]["schemaTitle"] == "system.Model"
    assert set(outputs["parameters"]) == {"version", "uri"}


def test_placement_flags_reach_the_spec(tmp_path):
    out = tmp_path / "p.yaml"
    argv = ["compile", "--output", str(out), "--cpu", "train=3/4", "--memory", "evaluate=8Gi"]
    argv += ["--shm-size", "2Gi", "--retries", "5", "--backoff", "10s", "--workspace-size", "50Gi"]
    assert pipeline.main(argv) == 0
    spec, platform = [d for d in yaml.safe_load_all(out.read_text()) if d]
    train = _container(spec, "train")["resources"]
    assert (train["resourceCpuRequest"], train["resourceCpuLimit"]) == ("3", "4")
    evaluate = _container(spec, "evaluate")["resources"]
    assert (evaluate["resourceMemoryRequest"], evaluate["resourceMemoryLimit"]) == ("8Gi", "8Gi")
    assert _tasks(spec)["register"]["retryPolicy"]["maxRetryCount"] == 5
    assert _tasks(spec)["register"]["retryPolicy"]["backoffDuration"] == "10s"
    kubernetes = platform["platforms"]["kubernetes"]
    assert kubernetes["deploymentSpec"]["executors"]["exec-train"]["emptyDirMounts"][0]["sizeLimit"] == "2Gi"
    assert kubernetes["pipelineConfig"]["workspace"]["size"] == "50Gi"
    assert pipeline.main(["compile", "--output", str(out), "--cpu", "trian=3"]) == 2


def test_no_cache_package_turns_caching_off_in_every_nested_task(tmp_path, compiled_packages):
    package = without_caching(load_package(compiled_packages["kubeflow"]), tmp_path)
    assert (
        len(package.documents) == 2
        and package.parameters == load_package(compiled_packages["kubeflow"]).parameters
    )
    tasks = _tasks(package.documents[0])
    assert not [name for name, task in tasks.items() if task.get("cachingOptions", {}).get("enableCache")]
    assert Path(package.path).parent == tmp_path
