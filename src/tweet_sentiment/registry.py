"""A model registry of numbered, immutable versions, on local disk or on Google Cloud Storage.

Local layout (``GcsRegistry`` in ``gcs_registry.py`` keeps the same names under ``gs://bucket/prefix``)::

    <registry>/
      versions/000001/            one complete version, never modified once visible
        model/                    HF save_pretrained directory (safetensors + tokenizer)
        metadata.json             metrics, gate, parameters, data fingerprint, parent champion, run id, time
        README.md                 the model card
      aliases/<name>.json         {"version": N, "history": [...]}: moved only once version N is complete
      .staging/<uuid>/            versions being written; invisible to readers

A local version is written in full under ``.staging`` and then claimed with one ``rename`` onto
its number; ``rename`` onto an existing non-empty directory fails, so two writers racing for
the same number cannot both win, and a writer killed halfway leaves only staging debris.
Alias updates are read-modify-write under an exclusive ``flock`` and land with ``os.replace``.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.errors import TweetSentimentError

# Safetensors only: pickled weights and trainer state never enter the registry.
MODEL_SUFFIXES_SKIPPED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MODEL_FILES_SKIPPED = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}
VERSION_DIGITS = 6
CHAMPION = "champion"
ALIAS_HISTORY_KEPT = 50


class RegistryError(TweetSentimentError):
    pass


@dataclass(frozen=True)
class RegisteredVersion:
    version: int
    uri: str
    metadata: dict[str, Any]
    created: bool  # False when this run had already registered this version

    @property
    def model_uri(self) -> str:
        return f"{self.uri}/model"


def _version_name(version: int) -> str:
    return f"{version:0{VERSION_DIGITS}d}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def is_model_file_kept(name: str) -> bool:
    return name not in MODEL_FILES_SKIPPED and not name.endswith(MODEL_SUFFIXES_SKIPPED)


def check_model_dir(model_dir: Path) -> None:
    if not (model_dir / "config.json").exists():
        raise RegistryError(f"{model_dir} is not a save_pretrained model directory (no config.json)")
    if not any(model_dir.glob("*.safetensors")):
        raise RegistryError(
            f"{model_dir} has no *.safetensors weights; the registry stores safetensors only "
            "(save with save_pretrained(..., safe_serialization=True))"
        )


def check_alias_name(name: str) -> None:
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name == "latest":
        raise RegistryError(
            f"alias {name!r} is not allowed: use letters, digits, '-' and '_' (and not 'latest')"
        )


class Registry(abc.ABC):
    """What every backend offers. Version numbers start at 1; aliases are named pointers to versions."""

    root_uri: str

    # ------------------------------------------------------------------ backend primitives
    @abc.abstractmethod
    def versions(self) -> list[int]:
        """Complete (visible) versions, ascending."""

    @abc.abstractmethod
    def metadata(self, version: int) -> dict[str, Any]: ...

    @abc.abstractmethod
    def uri(self, version: int) -> str: ...

    @abc.abstractmethod
    def model_dir(self, version: int) -> Path:
        """A local directory holding the version's HF model (``from_pretrained`` loads it)."""

    @abc.abstractmethod
    def model_card(self, version: int) -> str: ...

    @abc.abstractmethod
    def alias_names(self) -> list[str]: ...

    @abc.abstractmethod
    def alias_record(self, name: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def _update_alias(
        self, name: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Atomically replace the alias record with ``change(current)``; ``None`` from ``change`` aborts.

        Returns the record written, or None when ``change`` aborted.
        """

    @abc.abstractmethod
    def _publish(
        self, model_dir: Path, metadata: dict[str, Any], model_card: Callable[[dict[str, Any]], str]
    ) -> RegisteredVersion:
        """Write a new version under a fresh number; visible only once complete."""

    # ------------------------------------------------------------------ shared behaviour
    def get_alias(self, name: str) -> int | None:
        record = self.alias_record(name)
        return None if record is None else int(record["version"])

    def aliases(self) -> dict[str, int]:
        return {name: version for name in self.alias_names() if (version := self.get_alias(name)) is not None}

    def set_alias(self, name: str, version: int, *, reason: str = "") -> None:
        """Point ``name`` at ``version`` (which must be complete), remembering the previous target."""
        self.compare_and_set_alias(name, version, expected=_ANY, reason=reason)

    def compare_and_set_alias(self, name: str, version: int, *, expected: Any, reason: str = "") -> bool:
        """Point ``name`` at ``version`` only if it still points at ``expected`` (None: unset).

        Returns False, changing nothing, when another writer moved the alias in between.
        """
        check_alias_name(name)
        self.metadata(version)  # only complete versions can be pointed at

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            current_version = None if current is None else int(current["version"])
            if expected is not _ANY and current_version != expected:
                return None
            history = list(current.get("history", [])) if current else []
            if current_version is not None and current_version != version:
                history = [*history, current_version][-ALIAS_HISTORY_KEPT:]
            return {"version": version, "history": history, "updated_at": _now(), "reason": reason}

        return self._update_alias(name, change) is not None

    def rollback_alias(self, name: str = CHAMPION) -> int:
        """Move ``name`` back to the version it pointed at before its last move. Returns that version."""

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            if current is None:
                raise RegistryError(
                    f"no alias {name!r} in the registry {self.root_uri}; nothing to roll back"
                )
            history = list(current.get("history", []))
            if not history:
                raise RegistryError(
                    f"alias {name!r} (version {current['version']}) has no earlier target to roll back to"
                )
            previous = history.pop()
            return {"version": previous, "history": history, "updated_at": _now(), "reason": "rollback"}

        record = self._update_alias(name, change)
        assert record is not None
        return int(record["version"])

    def resolve(self, reference: str | int) -> int:
        """A version number from ``"7"``, ``"latest"`` or an alias name such as ``"champion"``."""
        reference = str(reference)
        if reference.isdigit():
            version = int(reference)
            self.metadata(version)
            return version
        if reference == "latest":
            versions = self.versions()
            if not versions:
                raise RegistryError(f"the registry {self.root_uri} has no versions")
            return versions[-1]
        version = self.get_alias(reference)
        if version is None:
            raise RegistryError(f"no alias {reference!r} in the registry {self.root_uri}")
        return version

    def find_run(self, run_id: str) -> int | None:
        for version in reversed(self.versions()):
            if self.metadata(version).get("run_id") == run_id:
                return version
        return None

    def register(
        self,
        model_dir: str | os.PathLike[str],
        metadata: dict[str, Any],
        *,
        model_card: Callable[[dict[str, Any]], str] | None = None,
    ) -> RegisteredVersion:
        """Store ``model_dir`` as a new immutable version; a run id registered before returns that version.

        ``model_card(record)`` renders README.md from the final metadata (with its version number).
        """
        run_id = metadata.get("run_id")
        if run_id:
            existing = self.find_run(run_id)
            if existing is not None:
                return RegisteredVersion(existing, self.uri(existing), self.metadata(existing), created=False)
        model_dir = Path(model_dir)
        check_model_dir(model_dir)
        return self._publish(model_dir, metadata, model_card or (lambda _record: ""))


class _Any:
    def __repr__(self) -> str:
        return "<any>"


_ANY = _Any()


class LocalRegistry(Registry):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        self.root_uri = str(self.root)
        self.versions_dir = self.root / "versions"
        self.aliases_dir = self.root / "aliases"

    def versions(self) -> list[int]:
        if not self.versions_dir.exists():
            return []
        return sorted(int(p.name) for p in self.versions_dir.iterdir() if p.name.isdigit())

    def metadata(self, version: int) -> dict[str, Any]:
        path = self.versions_dir / _version_name(version) / "metadata.json"
        if not path.exists():
            raise RegistryError(f"version {version} does not exist in {self.root}")
        return json.loads(path.read_text(encoding="utf-8"))

    def uri(self, version: int) -> str:
        return str(self.versions_dir / _version_name(version))

    def model_dir(self, version: int) -> Path:
        self.metadata(version)  # raises a clear error for a missing version
        return self.versions_dir / _version_name(version) / "model"

    def model_card(self, version: int) -> str:
        self.metadata(version)
        path = self.versions_dir / _version_name(version) / "README.md"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def alias_names(self) -> list[str]:
        if not self.aliases_dir.exists():
            return []
        return sorted(p.stem for p in self.aliases_dir.glob("*.json") if not p.name.startswith("."))

    def alias_record(self, name: str) -> dict[str, Any] | None:
        path = self.aliases_dir / f"{name}.json"
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def _alias_lock(self) -> Iterator[None]:
        self.aliases_dir.mkdir(parents=True, exist_ok=True)
        with open(self.aliases_dir / ".lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _update_alias(self, name, change):
        with self._alias_lock():
            record = change(self.alias_record(name))
            if record is None:
                return None
            temporary = self.aliases_dir / f".{name}.{uuid.uuid4().hex}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.aliases_dir / f"{name}.json")
            return record

    def _publish(self, model_dir, metadata, model_card):
        staging = self.root / ".staging" / uuid.uuid4().hex
        shutil.copytree(
            model_dir,
            staging / "model",
            ignore=lambda _dir, names: [n for n in names if not is_model_file_kept(n)],
        )
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        try:
            for _attempt in range(1000):
                version = (self.versions() or [0])[-1] + 1
                record = {**metadata, "version": version, "created_at": _now()}
                (staging / "metadata.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                (staging / "README.md").write_text(model_card(record), encoding="utf-8")
                _fsync_tree(staging)
                try:
                    os.rename(staging, self.versions_dir / _version_name(version))
                except OSError:
                    continue  # another writer took this number first; try the next one
                return RegisteredVersion(version, self.uri(version), record, created=True)
            raise RegistryError(f"could not claim a version number in {self.root}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def open_registry(uri: str) -> Registry:
    """The registry at ``uri``: a local directory or ``gs://bucket/prefix``."""
    if uri.startswith("gs://"):
        from tweet_sentiment.gcs_registry import GcsRegistry

        return GcsRegistry(uri)
    return LocalRegistry(uri)


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
) -> RegisteredVersion:
    """Store ``model_dir`` as a new immutable version; a run id registered before returns that version.

    With ``promote``, ``champion`` then moves to the version, but only if it still points at
    ``parent_champion`` (the champion the gate compared against): a champion that moved while
    this run was evaluating was never compared with this model, so it is not replaced blindly.
    """
    from tweet_sentiment.model_card import render_model_card

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
