"""The registry on local disk (or any mounted file system).

Local layout (``GcsRegistry`` in ``gcs.py`` keeps the same names under ``gs://bucket/prefix``)::

    <registry>/
      versions/000001/            one complete version, never modified once visible
        model/                    HF save_pretrained directory (safetensors + tokenizer)
          README.md               the model card (Hub front matter; before: versions/000001/README.md)
        metadata.json             metrics, gate, parameters, data fingerprint, parent champion, run id, time
        report.html, profile.json files registered with it: evaluate's report, the data's profile
      aliases/<name>.json         {"version": N, "history": [...]}: moved only once version N is complete
      mirrors/000001.json         where version 1 was copied to (MLflow, Vertex AI), written after it
      checks/000001.json          the retrain checks made while version 1 was champion
      .staging/<uuid>/            versions being written; invisible to readers

A local version is written in full under ``.staging`` and then claimed with one ``rename`` onto
its number; ``rename`` onto an existing non-empty directory fails, so two writers racing for
the same number cannot both win, and a writer killed halfway leaves only staging debris.
Alias updates are read-modify-write under an exclusive ``flock`` and land with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tweet_sentiment.registry.base import (
    CARD_FILE,
    RegisteredVersion,
    Registry,
    RegistryError,
    is_model_file_kept,
    now,
    version_name,
)


class LocalRegistry(Registry):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        self.root_uri = str(self.root)
        self.versions_dir = self.root / "versions"
        self.aliases_dir = self.root / "aliases"
        self.mirrors_dir = self.root / "mirrors"
        self.checks_dir = self.root / "checks"

    def versions(self) -> list[int]:
        if not self.versions_dir.exists():
            return []
        return sorted(int(p.name) for p in self.versions_dir.iterdir() if p.name.isdigit())

    def metadata(self, version: int) -> dict[str, Any]:
        path = self.versions_dir / version_name(version) / "metadata.json"
        if not path.exists():
            raise RegistryError(f"version {version} does not exist in {self.root}")
        return json.loads(path.read_text(encoding="utf-8"))

    def uri(self, version: int) -> str:
        return str(self.versions_dir / version_name(version))

    def model_dir(self, version: int) -> Path:
        self.metadata(version)  # raises a clear error for a missing version
        return self.versions_dir / version_name(version) / "model"

    def model_card(self, version: int) -> str:
        self.metadata(version)
        version_dir = self.versions_dir / version_name(version)
        for path in (version_dir / "model" / CARD_FILE, version_dir / CARD_FILE):
            if path.exists():
                return path.read_text(encoding="utf-8")
        return ""

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
            _replace_json(self.aliases_dir / f"{name}.json", record)
            return record

    def mirrors(self, version: int) -> dict[str, Any]:
        path = self.mirrors_dir / f"{version_name(version)}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _update_mirrors(self, version, change):
        self.mirrors_dir.mkdir(parents=True, exist_ok=True)
        with self._alias_lock():
            record = change(self.mirrors(version))
            _replace_json(self.mirrors_dir / f"{version_name(version)}.json", record)
            return record

    def checks(self, version: int) -> list[dict[str, Any]]:
        path = self.checks_dir / f"{version_name(version)}.json"
        return json.loads(path.read_text(encoding="utf-8"))["checks"] if path.exists() else []

    def _update_checks(self, version, change):
        self.checks_dir.mkdir(parents=True, exist_ok=True)
        with self._alias_lock():
            records = change(self.checks(version))
            _replace_json(self.checks_dir / f"{version_name(version)}.json", {"checks": records})
            return records

    def version_file(self, version: int, name: str) -> str | None:
        self.metadata(version)
        path = self.versions_dir / version_name(version) / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def _publish(self, model_dir, metadata, model_card, files):
        staging = self.root / ".staging" / uuid.uuid4().hex
        shutil.copytree(
            model_dir,
            staging / "model",
            ignore=lambda _dir, names: [n for n in names if not is_model_file_kept(n)],
        )
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        try:
            for _attempt in range(1000):
                version = (self.versions() or [0])[-1] + 1
                record = {**metadata, "version": version, "created_at": now()}
                (staging / "metadata.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                (staging / "model" / CARD_FILE).write_text(model_card(record), encoding="utf-8")
                _fsync_tree(staging)
                try:
                    os.rename(staging, self.versions_dir / version_name(version))
                except OSError:
                    continue  # another writer took this number first; try the next one
                return RegisteredVersion(version, self.uri(version), record, created=True)
            raise RegistryError(f"could not claim a version number in {self.root}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _replace_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` in one step: readers see the old file or the new one, never half."""
    temporary = path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
