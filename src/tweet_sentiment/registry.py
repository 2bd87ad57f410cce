"""A model registry on local disk: numbered, immutable versions.

Layout::

    <registry>/
      versions/000001/            one complete version, never modified once visible
        model/                    HF save_pretrained directory (safetensors + tokenizer)
        metadata.json             metrics, parameters, dataset fingerprint, run id, created-at
      aliases/<name>.json         {"version": N}: a pointer moved only after version N is complete
      .staging/<uuid>/            versions being written; invisible to readers

A version is written in full under ``.staging`` and then claimed with one ``rename`` onto
its number; ``rename`` onto an existing non-empty directory fails, so two writers racing
for the same number cannot both win, and a writer killed halfway leaves only staging debris.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.errors import TweetSentimentError

MODEL_FILES_SKIPPED = {"pytorch_model.bin", "training_args.bin"}  # safetensors only
VERSION_DIGITS = 6


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


class LocalRegistry:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        self.versions_dir = self.root / "versions"

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
        """Local directory of a version's HF model (``from_pretrained`` loads it)."""
        self.metadata(version)  # raises a clear error for a missing version
        return self.versions_dir / _version_name(version) / "model"

    def get_alias(self, name: str) -> int | None:
        path = self.root / "aliases" / f"{name}.json"
        if not path.exists():
            return None
        return int(json.loads(path.read_text(encoding="utf-8"))["version"])

    def set_alias(self, name: str, version: int) -> None:
        """Point ``name`` at ``version`` atomically (write a temporary file, then rename over the old one)."""
        self.metadata(version)
        aliases = self.root / "aliases"
        aliases.mkdir(parents=True, exist_ok=True)
        temporary = aliases / f".{name}.{uuid.uuid4().hex}.tmp"
        temporary.write_text(json.dumps({"version": version}) + "\n", encoding="utf-8")
        os.replace(temporary, aliases / f"{name}.json")

    def resolve(self, reference: str) -> int:
        """A version number from ``"7"``, ``"latest"`` or an alias name such as ``"champion"``."""
        if reference.isdigit():
            version = int(reference)
            self.metadata(version)
            return version
        if reference == "latest":
            versions = self.versions()
            if not versions:
                raise RegistryError(f"the registry {self.root} has no versions")
            return versions[-1]
        version = self.get_alias(reference)
        if version is None:
            raise RegistryError(f"no alias {reference!r} in the registry {self.root}")
        return version

    def find_run(self, run_id: str) -> int | None:
        for version in reversed(self.versions()):
            if self.metadata(version).get("run_id") == run_id:
                return version
        return None

    def register(self, model_dir: str | os.PathLike[str], metadata: dict[str, Any]) -> RegisteredVersion:
        run_id = metadata.get("run_id")
        if run_id:
            existing = self.find_run(run_id)
            if existing is not None:
                return RegisteredVersion(existing, self.uri(existing), self.metadata(existing), created=False)
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise RegistryError(f"{model_dir} is not a save_pretrained model directory (no config.json)")
        staging = self.root / ".staging" / uuid.uuid4().hex
        shutil.copytree(
            model_dir,
            staging / "model",
            ignore=lambda _dir, names: [n for n in names if n in MODEL_FILES_SKIPPED],
        )
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        try:
            for _attempt in range(1000):
                version = (self.versions() or [0])[-1] + 1
                record = {
                    **metadata,
                    "version": version,
                    "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
                (staging / "metadata.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
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


def open_registry(uri: str) -> LocalRegistry:
    if uri.startswith("gs://"):
        raise RegistryError("the gs:// registry backend is not available yet; use a local directory")
    return LocalRegistry(uri)


def register_model(
    registry_uri: str,
    model_dir: str | os.PathLike[str],
    *,
    metrics: dict[str, Any],
    parameters: dict[str, Any],
    dataset_fingerprint: str,
    run_id: str = "",
) -> RegisteredVersion:
    """Store ``model_dir`` as a new immutable version; a run id registered before returns that version."""
    registry = open_registry(registry_uri)
    result = registry.register(
        model_dir,
        {
            "run_id": run_id,
            "metrics": metrics,
            "parameters": parameters,
            "dataset_fingerprint": dataset_fingerprint,
        },
    )
    verb = "registered" if result.created else "already registered (same run id)"
    print(f"{verb}: version {result.version} at {result.uri}", flush=True)
    return result
