"""A registry version as an MLflow model: logged as a run's artifacts, registered from ``runs:/<run>/model``.

MLflow can load a version only when its source holds an MLflow model (an ``MLmodel`` file and a
flavor), and an MLflow *server* accepts as a source only what its artifact store holds. So the
mirror logs each version, whatever registry it comes from (a local directory or ``gs://``), as one
MLflow run whose ``model`` artifact is the version in the **transformers flavor** (with a pyfunc
entry point): ``mlflow.pyfunc.load_model("models:/<name>@champion")`` and
``mlflow.transformers.load_model(...)`` both load it, without this package: the TweetEval
normalisation is inside the saved tokenizer (tweet_normalizer.py), so a raw tweet gets the label
``predict`` gives. The files are copied into MLflow's artifact store (through the server's
artifact proxy, ``mlflow server``'s default): for a ``gs://`` registry too, so the champion loads
wherever the tracking server is reachable; the registry URI stays in the version's tags.

Everything goes through an ``MlflowClient`` (no fluent API, no global tracking URI). The run is
marked FINISHED only once its model is logged, so a retried step registers a finished run it
finds by tag instead of logging the model again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

TASK = "text-classification"
MODEL_ARTIFACT = "model"


def pip_requirements() -> list[str]:
    """What loading the logged model needs: the versions it was saved with (no inference subprocess)."""
    from importlib.metadata import version

    return [f"{name}=={version(name).split('+')[0]}" for name in ("transformers", "tokenizers", "torch")]


def save_mlflow_model(model_dir: Path, out: Path, *, model_card: Any = None) -> Path:
    """Write ``model_dir`` (a save_pretrained folder) as an MLflow transformers model in ``out``."""
    import mlflow.transformers
    from transformers import pipeline

    classify = pipeline(TASK, model=str(model_dir), device="cpu")
    mlflow.transformers.save_model(
        transformers_model=classify,
        path=str(out),
        task=TASK,
        pip_requirements=pip_requirements(),
        model_card=model_card,
    )
    return out


def ensure_experiment(client, name: str) -> str:
    """The id of experiment ``name``, created if missing (or by a concurrent run)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def find_logged_run(client, experiment_id: str, key: str, value: str):
    """A FINISHED run tagged ``key=value`` (its model is logged), or None."""
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{key}` = '{quoted}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0] if runs else None


def log_model_run(
    client,
    experiment_id: str,
    model_dir: Path,
    *,
    run_name: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    model_card: Any = None,
) -> str:
    """Log ``model_dir`` as the ``model`` artifact of a new run (tags and metrics with it); its id."""
    from mlflow.entities import Metric, RunTag

    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        client.log_batch(
            run_id,
            metrics=[Metric(name, value, 0, 0) for name, value in metrics.items()],
            tags=[RunTag(name, value) for name, value in tags.items()],
        )
        with tempfile.TemporaryDirectory(prefix="mlflow-model-") as tmp:
            saved = save_mlflow_model(model_dir, Path(tmp) / MODEL_ARTIFACT, model_card=model_card)
            client.log_artifacts(run_id, str(saved), MODEL_ARTIFACT)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def run_model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_ARTIFACT}"
