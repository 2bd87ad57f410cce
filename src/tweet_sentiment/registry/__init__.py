"""Shared layer: the model registry — numbered, immutable versions and named aliases, on local disk or GCS.

``open_registry(uri)`` picks the backend from the URI (``BACKENDS``: the one place to add
another store); ``register_model`` is what the register step does. The layout, versioning and
concurrency rules are described in ``local.py`` and ``gcs.py``; what all backends share is in
``base.py``. Backends never import each other.

Also here: ``evaluation`` (the evaluate -> register contract: the gate's verdict a version records),
``model_card``, ``mirrors/`` (MLflow, Vertex AI Model Registry) and ``cli`` (``pipeline.py models ...``).
To add a registry backend: a module beside ``local.py`` implementing ``base.Registry``, and a row in
``BACKENDS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tweet_sentiment.registry.base import (
    CHAMPION,
    RegisteredVersion,
    Registry,
    RegistryError,
)
from tweet_sentiment.registry.gcs import GcsRegistry
from tweet_sentiment.registry.local import LocalRegistry

__all__ = [
    "CHAMPION",
    "GcsRegistry",
    "LocalRegistry",
    "RegisteredVersion",
    "Registry",
    "RegistryError",
    "open_existing_registry",
    "open_registry",
]

# URI scheme -> backend; anything else is a local directory.
BACKENDS: dict[str, type[Registry]] = {"gs://": GcsRegistry}


def open_registry(uri: str) -> Registry:
    """The registry at ``uri``: a local directory or ``gs://bucket/prefix``."""
    for scheme, backend in BACKENDS.items():
        if uri.startswith(scheme):
            return backend(uri)
    return LocalRegistry(uri)


def open_existing_registry(uri: str) -> Registry:
    """The registry at ``uri`` for reading: a clear error when nothing is there or it is not a registry
    (a typo must not read as "no versions")."""
    registry = open_registry(uri)
    if isinstance(registry, LocalRegistry):
        root = registry.root
        if not root.exists():
            raise RegistryError(f"no registry at {root}: the path does not exist")
        if not root.is_dir():
            raise RegistryError(f"{root} is a file, not a registry directory")
        if any(root.iterdir()) and not (registry.versions_dir.is_dir() or registry.aliases_dir.is_dir()):
            raise RegistryError(f"{root} is not a model registry (it has no versions/ or aliases/ folder)")
    elif not registry.exists():
        raise RegistryError(f"no registry at {uri}: nothing is stored under that prefix")
    return registry


def register_model(
    registry_uri: str,
    model_dir: str | os.PathLike[str],
    *,
    metrics: dict[str, Any],
    parameters: dict[str, Any],
    dataset_fingerprint: str,
    run_id: str = "",
    gate: dict[str, Any] | None = None,
    parent_champion: int | None = None,
    promote: bool = False,
    extra: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
) -> RegisteredVersion:
    """Store ``model_dir`` as a new immutable version; a run id registered before returns that version.
    ``files`` (name -> local file, e.g. the evaluation's ``report.html``) go into the version's folder.

    With ``promote``, ``champion`` then moves to the version, but only if it still points at
    ``parent_champion`` (the champion the gate compared against): a champion that moved while
    this run was evaluating was never compared with this model, so it is not replaced blindly.
    """
    from tweet_sentiment.registry.model_card import render_model_card

    registry = open_registry(registry_uri)
    result = registry.register(
        model_dir,
        {
            "run_id": run_id,
            "metrics": metrics,
            "gate": gate or {},
            "parameters": parameters,
            "dataset_fingerprint": dataset_fingerprint,
            "parent_champion": parent_champion,
            **(extra or {}),
        },
        model_card=render_model_card,
        files=files,
    )
    verb = "registered" if result.created else "already registered (same run id)"
    print(f"{verb}: version {result.version} at {result.uri}", flush=True)
    if promote:
        current = registry.get_alias(CHAMPION)
        if current == result.version:
            print(f"{CHAMPION} already points at version {result.version}", flush=True)
        elif registry.compare_and_set_alias(
            CHAMPION, result.version, expected=parent_champion, reason=f"gate passed (run {run_id})"
        ):
            print(f"{CHAMPION}: version {parent_champion} -> {result.version}", flush=True)
        else:
            print(
                f"{CHAMPION} NOT moved: it points at version {registry.get_alias(CHAMPION)}, not at version "
                f"{parent_champion} that this model was compared with; version {result.version} is "
                f"registered but not promoted (compare them, then `models promote {result.version}`)",
                flush=True,
            )
    return result
