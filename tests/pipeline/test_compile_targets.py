"""`compile --target kubeflow|vertex`, image overrides, and the Vertex package accepted by PipelineJob."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import pipeline
from components._images import CPU_IMAGE, GPU_IMAGE, ImageSet
from deploy.package import DeployError, load_package

ROOT = Path(__file__).resolve().parents[2]


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _train_resources(spec: dict) -> dict:
    return spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]


def test_kubeflow_target_has_the_kubernetes_platform_document(tmp_path):
    out = pipeline.main(["compile", "--target", "kubeflow", "--output", str(tmp_path / "k.yaml")])
    assert out == 0
    spec, platform = _documents(tmp_path / "k.yaml")
    assert _train_resources(spec)["accelerator"]["resourceType"] == "nvidia.com/gpu"
    train = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert train["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]


def test_vertex_target_is_one_document_with_a_vertex_accelerator(tmp_path):
    assert pipeline.main(["compile", "--target", "vertex", "--output", str(tmp_path / "v.yaml")]) == 0
    documents = _documents(tmp_path / "v.yaml")
    assert len(documents) == 1 and "platforms" not in documents[0]
    accelerator = _train_resources(documents[0])["accelerator"]
    assert accelerator["resourceType"] == "NVIDIA_L4" and accelerator["resourceCount"] == "1"


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_checked_in_packages_are_up_to_date(tmp_path, target):
    fresh = pipeline.compile_pipeline(tmp_path / "p.yaml", pipeline.PipelineOptions(target=target))
    checked_in = pipeline.DEFAULT_PACKAGE_PATHS[target]
    assert fresh.read_text() == checked_in.read_text(), f"run: python pipeline.py compile --target {target}"


def test_image_registry_and_tag_override_every_component_and_leave_the_defaults(tmp_path):
    images = ImageSet("europe-docker.pkg.dev/proj/repo", "abc123")
    argv = [
        "compile",
        "--image-registry",
        images.registry,
        "--tag",
        images.tag,
        "--output",
        str(tmp_path / "o.yaml"),
    ]
    assert pipeline.main(argv) == 0
    executors = _documents(tmp_path / "o.yaml")[0]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["container"]["image"] == images.gpu
    assert {name: e["container"]["image"] for name, e in executors.items() if name != "exec-train"} == {
        "exec-preprocess": images.cpu,
        "exec-check-retrain": images.cpu,
        "exec-evaluate": images.cpu,
        "exec-register": images.cpu,
        "exec-batch-predict": images.cpu,
        "exec-plan-trials": images.cpu,
        "exec-select-model": images.cpu,
        "exec-notify": images.cpu,
        "exec-check-settings": images.cpu,
    }
    # The import-time defaults are untouched: a later compile without overrides uses them.
    spec = _documents(pipeline.compile_pipeline(tmp_path / "d.yaml"))[0]
    assert spec["deploymentSpec"]["executors"]["exec-train"]["container"]["image"] == GPU_IMAGE
    assert spec["deploymentSpec"]["executors"]["exec-evaluate"]["container"]["image"] == CPU_IMAGE


def test_bad_image_settings_and_targets_are_refused():
    with pytest.raises(ValueError, match="tag"):
        ImageSet("r.example/p", "v1:latest")
    with pytest.raises(ValueError, match="target"):
        pipeline.PipelineOptions(target="sagemaker")


@pytest.mark.slow  # importing google-cloud-aiplatform takes ~10 s
def test_vertex_pipeline_job_accepts_the_vertex_package_offline(compiled_packages):
    """PipelineJob is built with anonymous credentials and no network; nothing is submitted."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    from deploy.vertex import VertexTarget, build_pipeline_job

    target = VertexTarget(project="demo-project", region="us-central1", pipeline_root="gs://demo-bucket/root")
    vertex_package = load_package(compiled_packages["vertex"])
    # registry_uri is the one required parameter (where models are registered is a deployment fact);
    # every other parameter keeps its default.
    job = build_pipeline_job(
        target,
        vertex_package,
        "offline-check",
        {"registry_uri": "/gcs/demo-bucket/registry"},
        credentials=AnonymousCredentials(),
    )
    resource = job._gca_resource
    assert resource.runtime_config.gcs_output_directory == "gs://demo-bucket/root"
    assert dict(resource.runtime_config.parameter_values).keys() == {"registry_uri"}
    assert resource.pipeline_spec["pipelineInfo"]["name"] == pipeline.PIPELINE_NAME
    train = resource.pipeline_spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["resources"]["accelerator"]["resourceType"] == "NVIDIA_L4"

    with pytest.raises(DeployError, match="missing required pipeline parameter"):
        build_pipeline_job(target, vertex_package, "x", {}, credentials=AnonymousCredentials())
    # The kubeflow package is refused: by us with a hint, and by PipelineJob itself (measured).
    with pytest.raises(DeployError, match="--target vertex"):
        build_pipeline_job(target, load_package(compiled_packages["kubeflow"]), "x", {"registry_uri": "/r"})
    with pytest.raises(Exception, match="single document"):
        aiplatform.PipelineJob(
            display_name="x",
            template_path=str(compiled_packages["kubeflow"]),
            pipeline_root="gs://demo-bucket/root",
            project="demo-project",
            location="us-central1",
            credentials=AnonymousCredentials(),
        )
