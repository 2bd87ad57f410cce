"""Copies of registered versions in the registries teams already look at: MLflow and Vertex AI Model Registry.

The project's own registry (``registry.py``) stays the source of truth: a version is registered
there first, then mirrored. A mirror never decides anything; it repeats what the registry says:

- a version whose gate failed is not mirrored;
- ``champion`` moves in a mirror exactly when it moved in the registry;
- mirroring the same version again (a retried step) finds the copy made before instead of making
  a second one.

Where each version went is kept beside it in the registry (``mirrors/<version>.json``, see
``Registry.record_mirror``) and shown by ``pipeline.py models list|show``.

A mirror that fails does not undo the registration: the version is registered (and promoted) and
stays so. ``mirror_version`` records the failure and then raises :class:`MirrorError`, so the
register step fails visibly; running it again (a KFP retry or a new run of the same job) returns
the registered version and repeats only the mirroring. Only a warning would let the registries
drift apart without anyone noticing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tweet_sentiment.core.errors import MirrorError
from tweet_sentiment.model.serving import SERVING_IMAGE
from tweet_sentiment.registry.base import CHAMPION, RegisteredVersion, Registry

# mirror(version, champion) -> the record kept in the registry; raises on failure.
Mirror = Callable[[RegisteredVersion, bool], dict[str, Any]]


@dataclass(frozen=True)
class MirrorConfig:
    """Where the register step copies each version it registers (both off by default)."""

    mlflow_tracking_uri: str = field(
        default="",
        metadata={
            "help": "MLflow tracking server (http(s)://...) to mirror registered versions to, with "
            "their metrics, gate verdict and the champion alias; empty: no MLflow mirror. Token: the "
            "Kubernetes secret mlflow-tracking (key token) on Kubeflow, MLFLOW_TRACKING_TOKEN elsewhere."
        },
    )
    mlflow_model_name: str = field(
        default="tweet-sentiment",
        metadata={"help": "Registered model name in MLflow that the versions are mirrored under."},
    )
    vertex_model: str = field(
        default="",
        metadata={
            "help": "Vertex AI Model Registry model to mirror registered versions to: a display name "
            "(in the job's project and region) or projects/P/locations/L/models/ID; needs a gs:// "
            "registry. Empty: no Vertex AI mirror."
        },
    )
    vertex_serving_image: str = field(
        default=SERVING_IMAGE,
        metadata={
            "help": "Serving container of the Vertex AI model versions: our model server "
            "(images/serve.Dockerfile), which loads the version from its artifact URI; Vertex AI pulls "
            "it from Artifact Registry, so give the copy `images build --push` put there."
        },
    )

    def mirrors(self) -> dict[str, Mirror]:
        """The mirrors switched on, by target name."""
        mirrors: dict[str, Mirror] = {}
        if self.mlflow_tracking_uri:
            from tweet_sentiment.registry.mirrors.mlflow import MlflowMirror

            mirrors["mlflow"] = MlflowMirror(self.mlflow_tracking_uri, self.mlflow_model_name)
        if self.vertex_model:
            from tweet_sentiment.registry.mirrors.vertex import VertexMirror

            mirrors["vertex"] = VertexMirror(self.vertex_model, serving_image=self.vertex_serving_image)
        return mirrors


def gate_verdict(metadata: dict[str, Any]) -> str:
    """``passed``, ``failed`` or ``none`` (registered without an evaluation)."""
    gate = metadata.get("gate") or {}
    if "passed" not in gate:
        return "none"
    return "passed" if gate["passed"] else "failed"


def headline_metrics(metadata: dict[str, Any]) -> dict[str, float]:
    """The version's scalar figures (accuracy, macro recall/F1/precision, the ONNX check's), by name."""
    metrics = metadata.get("metrics") or {}
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def mirror_version(
    registry: Registry, registered: RegisteredVersion, mirrors: dict[str, Mirror]
) -> dict[str, dict[str, Any]]:
    """Copy ``registered`` to each of ``mirrors`` (``{"mlflow": ..., "vertex": ...}``) and record where.

    Every mirror is tried even when one fails; the failures are recorded and then raised together.
    Returns the records written, by target.
    """
    if not mirrors:
        return {}
    if gate_verdict(registered.metadata) == "failed":
        print(f"version {registered.version} failed its gate: not mirrored", flush=True)
        return {}
    champion = registry.get_alias(CHAMPION) == registered.version
    records, failures = {}, []
    for target, mirror in mirrors.items():
        try:
            record = {**mirror(registered, champion), "ok": True}
        except Exception as exc:  # any client or network error: record it, try the other mirrors
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            failures.append(f"{target}: {record['error']}")
        record["at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        registry.record_mirror(registered.version, target, record)
        records[target] = record
        print(f"mirror {target}: {describe(record)}", flush=True)
    if failures:
        raise MirrorError(
            f"version {registered.version} is registered at {registered.uri}"
            f"{' and is champion' if champion else ''}, but mirroring failed; run the step again "
            "to retry (it will not register twice):\n  " + "\n  ".join(failures)
        )
    return records


def move_champion(registry: Registry, version: int) -> list[str]:
    """Our ``champion`` was moved to ``version`` by hand (``models promote|rollback``): move it in
    each mirror that holds that version, as recorded in ``mirrors/<version>.json``.

    Returns one line per mirror; raises :class:`MirrorError` naming the mirrors that failed.
    """
    lines, failures = [], []
    for target, record in sorted(registry.mirrors(version).items()):
        if not record.get("ok"):
            lines.append(f"{target}: version {version} was never mirrored there; its champion stays")
            continue
        try:
            _mirror_from_record(target, record).move_champion(record["version"])
        except Exception as exc:  # any client or network error
            failures.append(f"{target}: {type(exc).__name__}: {exc}")
            continue
        lines.append(f"{target}: champion -> {describe(record)}")
    if failures:
        raise MirrorError(
            f"champion now points at version {version} in the registry, but not in: " + "; ".join(failures)
        )
    return lines


def _mirror_from_record(target: str, record: dict[str, Any]):
    if target == "mlflow":
        from tweet_sentiment.registry.mirrors.mlflow import MlflowMirror

        return MlflowMirror(record["tracking_uri"], record["model"])
    if target == "vertex":
        from tweet_sentiment.registry.mirrors.vertex import VertexMirror

        return VertexMirror(record["model"])
    raise MirrorError(f"unknown mirror {target!r}")


def describe(record: dict[str, Any]) -> str:
    """One line for a mirror record, e.g. ``tweet-sentiment v3 at https://...`` or ``FAILED (...)``."""
    if not record.get("ok"):
        return f"FAILED ({record.get('error', 'unknown error')})"
    where = record.get("tracking_uri")
    return f"{record.get('ref') or '?'}{f' at {where}' if where else ''}"


def summarize(records: dict[str, dict[str, Any]]) -> str:
    """The listing's short form: ``mlflow:3 vertex:2``, ``mlflow:FAILED``; ``-`` when mirrored nowhere."""
    parts = [
        f"{target}:{record.get('version', '?') if record.get('ok') else 'FAILED'}"
        for target, record in sorted(records.items())
    ]
    return " ".join(parts) or "-"
