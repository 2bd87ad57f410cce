"""Dated data snapshots: ``<prefix>/latest`` means the newest snapshot folder under ``<prefix>``.

Scheduled retraining points the pipeline's ``data_source`` at e.g. ``gs://bucket/tweets/latest``
while upstream jobs drop dated folders beside it::

    gs://bucket/tweets/2024-05-01/train.jsonl, test.jsonl
    gs://bucket/tweets/2024-05-08/...
    gs://bucket/tweets/dt=20240515T0300/...

Folder names are dates (``YYYY-MM-DD``, ``YYYYMMDD``, optionally ``[T_-]HHMM[SS]`` and ``Z``,
optionally behind a ``key=`` as in Hive layouts). Names that are not dates (``_tmp``, ``README``)
are ignored, so a half-written folder can be staged under another name and renamed. The resolved
folder, not the word ``latest``, is what preprocess records in ``stats.json``, so every run says which
snapshot it trained on. A local directory literally named ``latest`` is used as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from tweet_sentiment.core.errors import DataSourceError
from tweet_sentiment.core.storage import is_remote, list_children

LATEST = "latest"
_SNAPSHOT_NAME = re.compile(
    r"^(?:[A-Za-z_][A-Za-z0-9_]*=)?"
    r"(?P<date>\d{4}-?\d{2}-?\d{2})"
    r"(?:[T_-]?(?P<time>\d{2}:?\d{2}(?::?\d{2})?))?Z?$"
)


def snapshot_sort_key(name: str) -> str | None:
    """A sortable ``YYYYMMDDHHMMSS`` string for a dated folder name; None for anything else."""
    match = _SNAPSHOT_NAME.match(name)
    if not match:
        return None
    date = match["date"].replace("-", "")
    time = (match["time"] or "").replace(":", "")
    month, day = int(date[4:6]), int(date[6:8])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return date + time.ljust(6, "0")


def latest_snapshot(prefix: str) -> str:
    """The newest dated snapshot directly under ``prefix`` (a local directory or a remote prefix)."""
    dated = {}
    for name in list_children(prefix):
        key = snapshot_sort_key(name)
        if key is not None:
            dated[name] = key
    if not dated:
        raise DataSourceError(
            f"{prefix}: no dated snapshot folder (e.g. 2024-05-01/ or 20240501T0300/) to use as 'latest'"
        )
    newest = max(dated, key=lambda name: (dated[name], name))
    return f"{prefix.rstrip('/')}/{newest}"


def resolve_data_source(source: str) -> str:
    """``<prefix>/latest`` -> the newest snapshot under ``<prefix>``; any other source unchanged."""
    stripped = source.rstrip("/")
    head, _, last = stripped.rpartition("/")
    if last != LATEST or not head:
        return source
    if not is_remote(source) and Path(stripped).expanduser().exists():
        return source
    if is_remote(source) and head.endswith(":/"):  # gs://latest is a bucket name, not a marker
        return source
    return latest_snapshot(head)
