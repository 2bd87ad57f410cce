"""register: store the gated model as a new immutable registry version and promote it to champion."""

from typing import NamedTuple

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    model="The model that passed the gate (train's Model).",
    dataset="The preprocessed tweets (preprocess's Dataset): its fingerprint and statistics are recorded.",
    evaluation="evaluate's JSON report: the metrics, the gate's verdict and the champion it compared with.",
    run_id="Pipeline job id; registering the same run id twice returns the existing version.",
    run_name="Pipeline job name, recorded in the version (models show prints it).",
    run_resource="Vertex AI: the pipeline job's resource name (the version records its console URL); "
    "Kubeflow: empty.",
    html_report="evaluate's HTML report, stored in the version's folder as report.html.",
    registered_model="Output: lineage record of the registered version (its URI, number, aliases and "
    "headline metrics in the metadata), so the run's lineage leads to it.",
)
def register(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    evaluation: dsl.Input[dsl.Artifact],
    html_report: dsl.Input[dsl.HTML],
    registered_model: dsl.Output[dsl.Model],
    run_id: str = "",
    run_name: str = "",
    run_resource: str = "",
    *,
    registry_uri: str,
    eval_split: str,
    onnx_max_accuracy_drop_points: float,
    mlflow_tracking_uri: str,
    mlflow_model_name: str,
    vertex_model: str,
    vertex_serving_image: str,
) -> NamedTuple("Registration", version=int, uri=str):
    """Registers the model as a new version. `champion` moves to it only if it still points at the
    champion that evaluate compared against. An int8 ONNX export judged on `eval_split` is stored beside
    the model, or refused when it loses more than `onnx_max_accuracy_drop_points`. The version is then
    mirrored to MLflow and/or Vertex AI Model Registry when `mlflow_tracking_uri` / `vertex_model` are
    set; a failed mirror fails the step, the registration stands and a retry only mirrors."""
    from tweet_sentiment.register.step import run_register

    return run_register(
        model.path,
        dataset.path,
        registry_uri,
        parameters=model.metadata,
        run_id=run_id,
        evaluation_path=evaluation.path,
        eval_split=eval_split,
        max_accuracy_drop_points=onnx_max_accuracy_drop_points,
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_model_name=mlflow_model_name,
        vertex_model=vertex_model,
        vertex_serving_image=vertex_serving_image,
        lineage=registered_model,
        run_name=run_name,
        run_resource=run_resource,
        html_report_path=html_report.path,
    )
