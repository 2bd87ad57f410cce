"""Mirror registered versions into an MLflow Model Registry (``mlflow_tracking_uri``; empty: off).

Each registry version becomes one MLflow run and one MLflow model version of ``model_name`` that
MLflow can load. The run (experiment ``model_name``) holds the headline metrics, the tags below and
the version as an **MLflow model in the transformers flavor** (with its pyfunc entry point) as its
``model`` artifact; the version is registered from ``runs:/<run id>/model``. So
``mlflow.pyfunc.load_model("models:/tweet-sentiment@champion")`` (or
``mlflow.transformers.load_model``) loads the champion without this package, and a raw tweet gets
the label ``predict`` gives: the TweetEval normalisation is inside the saved tokenizer
(``model/tokenizer.py``). The same for every registry, local or ``gs://``: the files are copied
into MLflow's artifact store (through the server's artifact proxy, ``mlflow server``'s default, or
the store the server names), so a local registry mirrors to a remote server and a ``gs://`` one
loads wherever MLflow is reachable; the registry's own URI is kept in the ``registry_source`` tag.

Versions and runs are tagged with the headline metrics, the gate verdict, the dataset
fingerprint, the pipeline run id and the registry version number. The MLflow alias ``champion``
follows ours.

A retried step must not create a second MLflow version: versions are found again by the
``pipeline_run_id`` tag (or, for a version registered without a run id, by the
``registry_source`` tag), sent in the same CreateModelVersion request as the version. A run is
marked FINISHED only once its model is logged, so a retry that failed between logging and
registering registers the finished run instead of logging the model again.

Authentication is MLflow's own: ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``
/ ``MLFLOW_TRACKING_PASSWORD`` in the environment. On Kubeflow the pipeline maps the Kubernetes
secret ``mlflow-tracking`` (key ``token``) to ``MLFLOW_TRACKING_TOKEN`` when it exists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.registry.base import CARD_FILE, CHAMPION, RegisteredVersion
from tweet_sentiment.registry.mirrors import gate_verdict, headline_metrics

DEFAULT_MODEL_NAME = "tweet-sentiment"
RUN_ID_TAG = "pipeline_run_id"
SOURCE_TAG = "registry_source"
VERSION_TAG = "registry_version"
TASK = "text-classification"
MODEL_ARTIFACT = "model"
# Read by mlflow/telemetry/utils.py (is_telemetry_disabled) when mlflow is imported and at each event.
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(frozen=True)
class MlflowMirror:
    """``MlflowMirror(uri)(version, champion)`` mirrors one registry version; returns the record kept."""

    tracking_uri: str
    model_name: str = DEFAULT_MODEL_NAME

    def __call__(self, registered: RegisteredVersion, champion: bool) -> dict[str, Any]:
        client = mlflow_client(self.tracking_uri)
        ensure_registered_model(client, self.model_name)
        existing = find_version(client, self.model_name, registered)
        if existing is None:
            run_id = self.logged_run(client, registered)
            existing = client.create_model_version(
                self.model_name,
                source=f"runs:/{run_id}/{MODEL_ARTIFACT}",
                run_id=run_id,
                tags=version_tags(registered),
                description=f"tweet-sentiment registry version {registered.version} ({registered.uri})",
            )
        if champion:
            client.set_registered_model_alias(self.model_name, CHAMPION, existing.version)
        return {
            "tracking_uri": self.tracking_uri,
            "model": self.model_name,
            "version": int(existing.version),
            "run_id": existing.run_id,
            "champion": champion,
            "ref": f"{self.model_name} v{existing.version}",
        }

    def logged_run(self, client, registered: RegisteredVersion) -> str:
        """The run holding ``registered`` as an MLflow model: one logged before (a retry), or a new one."""
        experiment_id = ensure_experiment(client, self.model_name)
        key, value = version_key(registered)
        found = find_logged_run(client, experiment_id, key, value)
        if found is not None:
            return found.info.run_id
        with local_model_dir(registered.model_uri) as model_dir:
            return log_model_run(
                client,
                experiment_id,
                model_dir,
                run_name=f"registry-v{registered.version}",
                tags=version_tags(registered),
                metrics=headline_metrics(registered.metadata),
                model_card=hub_model_card(model_dir),
            )

    def move_champion(self, mlflow_version: int | str) -> None:
        """Point the ``champion`` alias at ``mlflow_version`` (after a promotion by hand)."""
        mlflow_client(self.tracking_uri).set_registered_model_alias(
            self.model_name, CHAMPION, str(mlflow_version)
        )


def mlflow_client(tracking_uri: str):
    """An ``MlflowClient`` for ``tracking_uri`` (tracking and model registry), with telemetry off."""
    os.environ.update(TELEMETRY_OFF)  # before the first `import mlflow`, which starts telemetry
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name, description="Tweet sentiment classifier (negative/neutral/positive), mirrored."
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another run, or an earlier one, made it
            raise


def find_version(client, name: str, registered: RegisteredVersion):
    """The MLflow version made before for this registry version, or None."""
    key, value = version_key(registered)
    found = client.search_model_versions(f"name = '{_quoted(name)}' and tags.`{key}` = '{_quoted(value)}'")
    return max(found, key=lambda v: int(v.version)) if found else None


def version_key(registered: RegisteredVersion) -> tuple[str, str]:
    run_id = registered.metadata.get("run_id")
    return (RUN_ID_TAG, str(run_id)) if run_id else (SOURCE_TAG, registered.model_uri)


def version_tags(registered: RegisteredVersion) -> dict[str, str]:
    metadata = registered.metadata
    tags = {name: f"{value:.6g}" for name, value in headline_metrics(metadata).items()}
    tags.update(
        {
            "gate": gate_verdict(metadata),
            "dataset_fingerprint": str(metadata.get("dataset_fingerprint") or ""),
            RUN_ID_TAG: str(metadata.get("run_id") or ""),
            VERSION_TAG: str(registered.version),
            SOURCE_TAG: registered.model_uri,
        }
    )
    return tags


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@contextlib.contextmanager
def local_model_dir(model_uri: str) -> Iterator[Path]:
    """The registry version's model folder on this machine (a ``gs://`` one is downloaded first)."""
    from tweet_sentiment.core.storage import locate

    with tempfile.TemporaryDirectory(prefix="mlflow-mirror-") as tmp:
        yield locate(model_uri, lambda: tmp)


# ----------------------------------------------------------------------------- the logged model


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


def hub_model_card(model_dir: Path):
    """The version's model card (``model/README.md``) as a ``huggingface_hub.ModelCard``; None without one.

    MLflow keeps its text and front matter beside the logged model (and the declared license).
    """
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        return None
    from huggingface_hub import ModelCard

    return ModelCard.load(path)


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
    from mlflow.entities import Metric

    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        now_ms = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(name, value, now_ms, 0) for name, value in metrics.items()])
        with tempfile.TemporaryDirectory(prefix="mlflow-model-") as tmp:
            saved = save_mlflow_model(model_dir, Path(tmp) / MODEL_ARTIFACT, model_card=model_card)
            client.log_artifacts(run_id, str(saved), MODEL_ARTIFACT)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
