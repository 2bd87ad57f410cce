"""Reading and writing ``gs://`` prefixes with google-cloud-storage.

Authentication comes only from the environment's standard credentials (Application
Default Credentials, or ``STORAGE_EMULATOR_HOST`` for the emulator used in tests).
"""

from __future__ import annotations

import os
from pathlib import Path

from tweet_sentiment.errors import DataSourceError

GCS_SCHEME = "gs://"


def is_gcs_uri(uri: str) -> bool:
    return uri.startswith(GCS_SCHEME)


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not is_gcs_uri(uri):
        raise DataSourceError(f"{uri!r} is not a gs:// URI")
    bucket, _, prefix = uri[len(GCS_SCHEME) :].partition("/")
    if not bucket:
        raise DataSourceError(f"{uri!r} has no bucket name")
    return bucket, prefix.strip("/")


def gcs_client():
    """A storage client from the environment's credentials (anonymous against an emulator)."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="emulator", credentials=AnonymousCredentials())
    return storage.Client()


def download_prefix(uri: str, destination: str | os.PathLike[str]) -> Path:
    """Copy every object under ``uri`` into ``destination``, keeping relative names."""
    bucket_name, prefix = split_gcs_uri(uri)
    destination = Path(destination)
    client = gcs_client()
    listing_prefix = f"{prefix}/" if prefix else ""
    count = 0
    try:
        for blob in client.list_blobs(bucket_name, prefix=listing_prefix):
            relative = blob.name[len(listing_prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
            count += 1
    except Exception as exc:  # google-api-core raises many types; the user needs one line
        raise DataSourceError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc
    if count == 0:
        raise DataSourceError(f"no objects found under {uri}")
    return destination


def upload_directory(source: str | os.PathLike[str], uri: str) -> int:
    """Upload every file below ``source`` to ``uri`` (a gs:// prefix). Returns the file count."""
    bucket_name, prefix = split_gcs_uri(uri)
    source = Path(source)
    bucket = gcs_client().bucket(bucket_name)
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = "/".join(filter(None, [prefix, path.relative_to(source).as_posix()]))
        bucket.blob(name).upload_from_filename(str(path))
        count += 1
    return count


def list_child_prefixes(uri: str) -> list[str]:
    """Names of the "folders" directly under a gs:// prefix (objects listed with a ``/`` delimiter)."""
    bucket_name, prefix = split_gcs_uri(uri)
    listing_prefix = f"{prefix}/" if prefix else ""
    try:
        iterator = gcs_client().list_blobs(bucket_name, prefix=listing_prefix, delimiter="/")
        for _page in iterator.pages:  # prefixes are filled in page by page
            pass
        prefixes = sorted(iterator.prefixes)
    except Exception as exc:  # google-api-core raises many types; the user needs one line
        raise DataSourceError(f"cannot list {uri}: {type(exc).__name__}: {exc}") from exc
    return [p[len(listing_prefix) :].strip("/") for p in prefixes]
