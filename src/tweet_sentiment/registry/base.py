"""What every registry backend shares: the version record, the alias rules and the ``Registry`` base.

Backends: ``LocalRegistry`` (local.py) and ``GcsRegistry`` (gcs.py); pick one
by URI with ``tweet_sentiment.registry.open_registry``. They import this module, never each other.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import TweetSentimentError

# Safetensors only: pickled weights and trainer state never enter the registry.
MODEL_SUFFIXES_SKIPPED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MODEL_FILES_SKIPPED = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}
VERSION_DIGITS = 6
# The model card, inside the version's model folder (versions registered before: beside it).
CARD_FILE = "README.md"
CHAMPION = "champion"
ALIAS_HISTORY_KEPT = 50
CHECK_HISTORY_KEPT = 200  # retrain checks remembered per version (one a night: over half a year)


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


def version_name(version: int) -> str:
    return f"{version:0{VERSION_DIGITS}d}"


def now() -> str:
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
    def mirrors(self, version: int) -> dict[str, Any]:
        """Where ``version`` is mirrored: ``{target: record}`` (see ``registry.mirrors``), or {}.

        Kept beside the version, not in it: a version never changes once visible.
        """

    @abc.abstractmethod
    def _update_mirrors(
        self, version: int, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Atomically replace the version's mirror records with ``change(current)``; returns them."""

    @abc.abstractmethod
    def checks(self, version: int) -> list[dict[str, Any]]:
        """The retrain checks made against ``version`` as champion, oldest first (see ``retrain``).

        Kept beside the version, like the mirror records.
        """

    @abc.abstractmethod
    def _update_checks(
        self, version: int, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Atomically replace the version's check records with ``change(current)``; returns them."""

    @abc.abstractmethod
    def version_file(self, version: int, name: str) -> str | None:
        """The text of file ``name`` stored in the version's folder at registration; None when absent."""

    @abc.abstractmethod
    def _publish(
        self,
        model_dir: Path,
        metadata: dict[str, Any],
        model_card: Callable[[dict[str, Any]], str],
        files: dict[str, Path],
    ) -> RegisteredVersion:
        """Write a new version under a fresh number (``files``: name -> local file, stored beside the
        metadata); visible only once complete."""

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
            return {"version": version, "history": history, "updated_at": now(), "reason": reason}

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
            return {"version": previous, "history": history, "updated_at": now(), "reason": "rollback"}

        record = self._update_alias(name, change)
        assert record is not None
        return int(record["version"])

    def record_mirror(self, version: int, target: str, record: dict[str, Any]) -> None:
        """Remember where ``version`` went in ``target`` (``mlflow``, ``vertex``), replacing any earlier."""
        self.metadata(version)
        self._update_mirrors(version, lambda current: {**current, target: record})

    def record_check(self, version: int, record: dict[str, Any]) -> None:
        """Append a retrain check's record to ``version``'s history (the last CHECK_HISTORY_KEPT)."""
        self.metadata(version)
        self._update_checks(version, lambda current: [*current, record][-CHECK_HISTORY_KEPT:])

    def find_check(self, run_id: str) -> dict[str, Any] | None:
        """The check that run ``run_id`` recorded, looked up in the histories of the champion and the
        versions it replaced most recently (the run may have moved it); None when there is none."""
        record = self.alias_record(CHAMPION)
        if not run_id or record is None:
            return None
        for version in [int(record["version"]), *reversed(record.get("history", [])[-2:])]:
            for check in reversed(self.checks(version)):
                if check.get("run_id") == run_id:
                    return check
        return None

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
        files: dict[str, Path] | None = None,
    ) -> RegisteredVersion:
        """Store ``model_dir`` as a new immutable version; a run id registered before returns that version.

        ``model_card(record)`` renders README.md from the final metadata (with its version number);
        ``files`` (name -> local file, e.g. ``report.html``) are stored in the version's folder.
        """
        run_id = metadata.get("run_id")
        if run_id:
            existing = self.find_run(run_id)
            if existing is not None:
                return RegisteredVersion(existing, self.uri(existing), self.metadata(existing), created=False)
        model_dir = Path(model_dir)
        check_model_dir(model_dir)
        return self._publish(model_dir, metadata, model_card or (lambda _record: ""), dict(files or {}))


class _Any:
    def __repr__(self) -> str:
        return "<any>"


_ANY = _Any()
