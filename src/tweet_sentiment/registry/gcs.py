"""The registry on Google Cloud Storage (``gs://bucket/prefix``), same layout and behaviour as the local one.

Objects under the prefix::

    versions/000001/.claim          created first, exclusively: owns the number
    versions/000001/model/...       the HF model files
    versions/000001/model/README.md the model card (before: versions/000001/README.md)
    versions/000001/profile.json    the reference profile of its data (retrain checks compare with it)
    versions/000001/metadata.json   written LAST, exclusively: the version is visible once it exists
    aliases/<name>.json             {"version": N, "history": [...]}
    mirrors/000001.json             where version 1 was copied to (MLflow, Vertex AI)
    checks/000001.json              the retrain checks made while version 1 was champion

Concurrency rests on GCS generation preconditions. A number is claimed by creating its
``.claim`` object with ``if_generation_match=0`` (fails with 412 when it exists), so two
writers never get the same number. A version counts as existing only once ``metadata.json``
is there, so a writer killed halfway leaves an invisible, abandoned number (a gap), never a
partial version. Alias updates are compare-and-swap: the new record is written with
``if_generation_match=<generation read>`` and retried on 412.

NOTE: gcp-storage-emulator (used by the tests) does NOT enforce generation preconditions; the
test fixture adds that check to its upload handler so the concurrency tests mean something.
Real GCS enforces them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tweet_sentiment.core.storage import fetch, gcs_client, split_gcs_uri, upload_directory
from tweet_sentiment.registry.base import (
    CARD_FILE,
    RegisteredVersion,
    Registry,
    RegistryError,
    is_model_file_kept,
    now,
    version_name,
)

CACHE_ENV = "TWEET_SENTIMENT_CACHE"
MAX_ALIAS_RETRIES = 100


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tweet_sentiment")


def _precondition_failed():
    from google.api_core.exceptions import PreconditionFailed

    return PreconditionFailed


class GcsRegistry(Registry):
    def __init__(self, uri: str, *, cache_dir: str | os.PathLike[str] | None = None, client=None):
        self.bucket_name, self.prefix = split_gcs_uri(uri)
        self.root_uri = f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")
        self._client = client
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

    # ------------------------------------------------------------------ helpers
    @property
    def bucket(self):
        if self._client is None:
            self._client = gcs_client()
        return self._client.bucket(self.bucket_name)

    def _name(self, *parts: str) -> str:
        return "/".join(filter(None, [self.prefix, *parts]))

    def _version_prefix(self, version: int) -> str:
        return self._name("versions", version_name(version))

    def _numbers_with(self, leaf: str) -> list[int]:
        versions_prefix = self._name("versions") + "/"
        numbers = []
        for blob in self.bucket.client.list_blobs(
            self.bucket_name, prefix=versions_prefix, match_glob=f"{versions_prefix}*/{leaf}"
        ):
            number = blob.name[len(versions_prefix) :].split("/")[0]
            if number.isdigit():
                numbers.append(int(number))
        return sorted(numbers)

    def _read_json(self, name: str) -> tuple[dict[str, Any] | None, int]:
        """The object's JSON and generation; ``(None, 0)`` when it does not exist."""
        blob = self.bucket.get_blob(name)
        if blob is None:
            return None, 0
        generation = int(blob.generation)
        # Download the generation read, not whatever is newest by then.
        text = blob.download_as_text(if_generation_match=generation)
        return json.loads(text), generation

    def exists(self) -> bool:
        """Whether anything is stored under the registry's prefix."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        return any(self.bucket.client.list_blobs(self.bucket_name, prefix=prefix, max_results=1))

    # ------------------------------------------------------------------ Registry
    def versions(self) -> list[int]:
        return self._numbers_with("metadata.json")

    def metadata(self, version: int) -> dict[str, Any]:
        record, _generation = self._read_json(f"{self._version_prefix(version)}/metadata.json")
        if record is None:
            raise RegistryError(f"version {version} does not exist in {self.root_uri}")
        return record

    def uri(self, version: int) -> str:
        return f"gs://{self.bucket_name}/{self._version_prefix(version)}"

    def model_dir(self, version: int) -> Path:
        """Download the version's model once into the cache (versions are immutable) and return it."""
        self.metadata(version)
        target = self.cache_dir / "registry" / self.bucket_name / (self.prefix or "_") / version_name(version)
        model = target / "model"
        if (model / "config.json").exists():
            return model
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
        try:
            fetch(f"{self.uri(version)}/model", staging)
            try:
                os.rename(staging, model)
            except OSError:
                if not (model / "config.json").exists():  # not a concurrent download that won
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return model

    def model_card(self, version: int) -> str:
        self.metadata(version)
        prefix = self._version_prefix(version)
        for name in (f"{prefix}/model/{CARD_FILE}", f"{prefix}/{CARD_FILE}"):
            blob = self.bucket.get_blob(name)
            if blob is not None:
                return blob.download_as_text()
        return ""

    def alias_names(self) -> list[str]:
        aliases_prefix = self._name("aliases") + "/"
        return sorted(
            blob.name[len(aliases_prefix) : -len(".json")]
            for blob in self.bucket.client.list_blobs(self.bucket_name, prefix=aliases_prefix)
            if blob.name.endswith(".json")
        )

    def alias_record(self, name: str) -> dict[str, Any] | None:
        record, _generation = self._read_json(self._name("aliases", f"{name}.json"))
        return record

    def _update_alias(self, name, change):
        return self._compare_and_swap(self._name("aliases", f"{name}.json"), change, f"alias {name!r}")

    def mirrors(self, version: int) -> dict[str, Any]:
        record, _generation = self._read_json(self._name("mirrors", f"{version_name(version)}.json"))
        return record or {}

    def _update_mirrors(self, version, change):
        return self._compare_and_swap(
            self._name("mirrors", f"{version_name(version)}.json"),
            lambda current: change(current or {}),
            f"the mirror records of version {version}",
        )

    def checks(self, version: int) -> list[dict[str, Any]]:
        record, _generation = self._read_json(self._name("checks", f"{version_name(version)}.json"))
        return [] if record is None else record["checks"]

    def _update_checks(self, version, change):
        record = self._compare_and_swap(
            self._name("checks", f"{version_name(version)}.json"),
            lambda current: {"checks": change([] if current is None else current["checks"])},
            f"the check records of version {version}",
        )
        return record["checks"]

    def version_file(self, version: int, name: str) -> str | None:
        self.metadata(version)
        blob = self.bucket.get_blob(f"{self._version_prefix(version)}/{name}")
        return None if blob is None else blob.download_as_text()

    def _compare_and_swap(self, blob_name, change, what):
        """Replace the JSON object ``blob_name`` with ``change(current)`` unless it changed in between."""
        for _attempt in range(MAX_ALIAS_RETRIES):
            current, generation = self._read_json(blob_name)
            record = change(current)
            if record is None:
                return None
            try:
                self.bucket.blob(blob_name).upload_from_string(
                    json.dumps(record) + "\n",
                    content_type="application/json",
                    if_generation_match=generation,  # 0: only if the object does not exist yet
                )
            except _precondition_failed():
                continue  # someone else changed it since we read it: re-read and decide again
            return record
        raise RegistryError(
            f"{what} in {self.root_uri} kept changing; gave up after {MAX_ALIAS_RETRIES} tries"
        )

    def _claim_number(self, token: str) -> int:
        version = max(self._numbers_with(".claim") or [0]) + 1
        for _attempt in range(1000):
            try:
                self.bucket.blob(f"{self._version_prefix(version)}/.claim").upload_from_string(
                    json.dumps({"token": token, "claimed_at": now()}), if_generation_match=0
                )
                return version
            except _precondition_failed():
                version += 1  # another writer holds this number
        raise RegistryError(f"could not claim a version number in {self.root_uri}")

    def _publish(self, model_dir, metadata, model_card, files):
        version = self._claim_number(uuid.uuid4().hex)
        version_prefix = self._version_prefix(version)
        upload_directory(
            model_dir,
            f"{self.uri(version)}/model",
            keep=lambda relative: all(map(is_model_file_kept, relative.parts)),
        )
        for name, source in files.items():
            content_type = "text/html" if name.endswith(".html") else None
            self.bucket.blob(f"{version_prefix}/{name}").upload_from_filename(
                str(source), content_type=content_type
            )
        record = {**metadata, "version": version, "created_at": now()}
        self.bucket.blob(f"{version_prefix}/model/{CARD_FILE}").upload_from_string(
            model_card(record), content_type="text/markdown"
        )
        # Last: the version becomes visible only now, complete.
        self.bucket.blob(f"{version_prefix}/metadata.json").upload_from_string(
            json.dumps(record, indent=2) + "\n", content_type="application/json", if_generation_match=0
        )
        return RegisteredVersion(version, self.uri(version), record, created=True)
