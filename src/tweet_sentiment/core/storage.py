"""Where data and models live, and moving them: local paths, remote stores (``gs://``), installed
packages (``pkg:``) and Hugging Face Hub ids.

This is the one module that knows URI schemes. :func:`locate` tells the kinds of source apart
for data and model sources alike and brings a source to a local path (None for a hub id);
``STORES`` maps a scheme to a ``Store``. To read and write another store (``s3://``, ...), write
a class with the four ``Store`` methods and add it there: data sources, model sources,
batch-predict inputs and ``…/latest`` snapshots (snapshots.py) all go through :func:`locate`,
:func:`fetch`, :func:`fetch_file` and :func:`list_children`.
(The registry's backends, which need the store's own concurrency primitives, are picked in
``registry.BACKENDS``.)

GCS transfers use google-cloud-storage's ``transfer_manager`` (parallel, threads) and the
client's default retries, which for uploads of whole files are switched on explicitly
(rewriting the same file is harmless). Authentication comes only from the environment's
standard credentials (Application Default Credentials, or ``STORAGE_EMULATOR_HOST`` for the
emulator used in tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tweet_sentiment.core.errors import DataSourceError

GCS_SCHEME = "gs://"
PACKAGE_SCHEME = "pkg:"
TRANSFER_WORKERS = 8


class Store(Protocol):
    """What a remote store offers; ``uri`` always starts with the store's scheme."""

    def download(self, uri: str, destination: Path) -> int:
        """Copy every object under the prefix ``uri`` into ``destination``; returns the count."""

    def download_file(self, uri: str, destination: Path) -> None:
        """Copy the single object ``uri`` to the file ``destination``."""

    def upload(self, files: list[Path], source: Path, uri: str) -> None:
        """Copy ``files`` (below ``source``) under the prefix ``uri``, keeping relative names."""

    def children(self, uri: str) -> list[str]:
        """Names of the "folders" directly under the prefix ``uri``."""


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


class GcsStore:
    """Google Cloud Storage through google-cloud-storage."""

    def download(self, uri: str, destination: Path) -> int:
        from google.cloud.storage import transfer_manager

        bucket_name, prefix = split_gcs_uri(uri)
        client = gcs_client()
        listing_prefix = f"{prefix}/" if prefix else ""
        names = [
            blob.name[len(listing_prefix) :]
            for blob in client.list_blobs(bucket_name, prefix=listing_prefix)
            if blob.name != listing_prefix and not blob.name.endswith("/")
        ]
        transfer_manager.download_many_to_path(
            client.bucket(bucket_name),
            names,
            destination_directory=str(destination),
            blob_name_prefix=listing_prefix,
            worker_type=transfer_manager.THREAD,
            max_workers=TRANSFER_WORKERS,
            raise_exception=True,
        )
        return len(names)

    def download_file(self, uri: str, destination: Path) -> None:
        bucket_name, name = split_gcs_uri(uri)
        gcs_client().bucket(bucket_name).blob(name).download_to_filename(str(destination))

    def upload(self, files: list[Path], source: Path, uri: str) -> None:
        from google.cloud.storage import transfer_manager
        from google.cloud.storage.retry import DEFAULT_RETRY

        bucket_name, prefix = split_gcs_uri(uri)
        transfer_manager.upload_many_from_filenames(
            gcs_client().bucket(bucket_name),
            [path.relative_to(source).as_posix() for path in files],
            source_directory=str(source),
            blob_name_prefix=f"{prefix}/" if prefix else "",
            upload_kwargs={"retry": DEFAULT_RETRY},
            worker_type=transfer_manager.THREAD,
            max_workers=TRANSFER_WORKERS,
            raise_exception=True,
        )

    def children(self, uri: str) -> list[str]:
        bucket_name, prefix = split_gcs_uri(uri)
        listing_prefix = f"{prefix}/" if prefix else ""
        iterator = gcs_client().list_blobs(bucket_name, prefix=listing_prefix, delimiter="/")
        for _page in iterator.pages:  # prefixes are filled in page by page
            pass
        return [p[len(listing_prefix) :].strip("/") for p in sorted(iterator.prefixes)]


# URI scheme -> store; a URI with none of these schemes is a local path.
STORES: dict[str, Store] = {GCS_SCHEME: GcsStore()}


def store_for(uri: str) -> Store | None:
    """The remote store of ``uri``; None for a local path."""
    return next((store for scheme, store in STORES.items() if uri.startswith(scheme)), None)


def is_remote(uri: str) -> bool:
    return store_for(uri) is not None


def _remote_call(what: str, uri: str, call: Callable[[], object]):
    try:
        return call()
    except DataSourceError:
        raise
    except Exception as exc:  # the client libraries raise many types; the user needs one line
        raise DataSourceError(f"cannot {what} {uri}: {type(exc).__name__}: {exc}") from None


def _existing(uri: str, check: Callable[[Path], bool], missing: str) -> Path:
    path = Path(uri).expanduser()
    if not check(path):
        raise DataSourceError(f"{uri}: {missing}")
    return path


def fetch(uri: str, destination: str | os.PathLike[str]) -> Path:
    """A local path holding what ``uri`` names: a remote prefix is downloaded into ``destination``
    (relative names kept); a local path is returned as it is, nothing copied."""
    store = store_for(uri)
    if store is None:
        return _existing(uri, Path.exists, "no such file or directory")
    destination = Path(destination)
    count = _remote_call("read", uri, lambda: store.download(uri, destination))
    if count == 0:
        raise DataSourceError(f"no objects found under {uri}")
    return destination


def fetch_file(uri: str, directory: str | os.PathLike[str]) -> Path:
    """A local copy of the single file ``uri`` (into ``directory`` when remote)."""
    store = store_for(uri)
    if store is None:
        return _existing(uri, Path.is_file, "no such file")
    target = Path(directory) / uri.rstrip("/").rsplit("/", 1)[-1]
    _remote_call("read", uri, lambda: store.download_file(uri, target))
    return target


def upload_directory(
    source: str | os.PathLike[str], uri: str, keep: Callable[[Path], bool] = lambda _relative: True
) -> int:
    """Copy every file below ``source`` whose relative path passes ``keep`` to the remote prefix ``uri``."""
    store = store_for(uri)
    if store is None:
        raise DataSourceError(f"{uri!r} is not a remote location ({', '.join(STORES)})")
    source = Path(source)
    files = sorted(p for p in source.rglob("*") if p.is_file() and keep(p.relative_to(source)))
    _remote_call("write", uri, lambda: store.upload(files, source, uri))
    return len(files)


def list_children(uri: str) -> list[str]:
    """Names of the non-empty folders directly under ``uri`` (a local directory or a remote prefix)."""
    store = store_for(uri)
    if store is not None:
        return _remote_call("list", uri, lambda: store.children(uri))
    root = Path(uri).expanduser()
    if not root.is_dir():
        raise DataSourceError(f"{uri}: no such directory")
    return [p.name for p in root.iterdir() if p.is_dir() and any(f.is_file() for f in p.rglob("*"))]


def package_path(source: str) -> Path:
    """``pkg:<module>``: the directory the installed package's ``get_model_path()`` names.

    It resolves inside whatever environment runs the step, so it works offline on a laptop and
    inside the images alike.
    """
    import importlib

    module_name = source[len(PACKAGE_SCHEME) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise DataSourceError(
            f"Python package {module_name!r} is not installed (pip install {module_name.replace('_', '-')})"
        ) from None
    if not hasattr(module, "get_model_path"):
        raise DataSourceError(f"package {module_name!r} has no get_model_path()")
    return Path(module.get_model_path())


def is_hub_id(source: str) -> bool:
    """Whether ``source`` names a Hugging Face Hub repository (``name`` or ``org/name``) rather than
    a package, a remote URI or a local path (an existing one, or one written like a path)."""
    if source.startswith(PACKAGE_SCHEME) or is_remote(source) or Path(source).expanduser().exists():
        return False
    from tweet_sentiment.core.readers import FORMATS

    parts = source.split("/")
    looks_like_a_file = Path(source).suffix.lower() in FORMATS  # "tweets.csv", not "Qwen/Qwen2.5-0.5B"
    return not source.startswith((".", "/", "~")) and len(parts) <= 2 and all(parts) and not looks_like_a_file


def locate(source: str, destination: Callable[[], str | os.PathLike[str]]) -> Path | None:
    """A local path holding ``source`` (a package, remote prefix or local path); None for a hub id.

    A remote source is downloaded into ``destination()`` (called only then).
    """
    if source.startswith(PACKAGE_SCHEME):
        return package_path(source)
    if is_hub_id(source):
        return None
    return fetch(source, destination() if is_remote(source) else "")
