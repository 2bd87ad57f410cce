"""Atomic training checkpoints on a local path or a ``gs://`` prefix.

A checkpoint is a directory ``ckpt-<step, 9 digits>`` holding ``state.pt`` (model, optimizer,
scheduler, RNG and data position) and, last, a ``COMPLETE`` marker. Readers only ever consider
checkpoints that carry the marker, so a save cut short (SIGKILL, preemption, full disk) is never
picked up:

* locally the files are written into a hidden ``.tmp-*`` directory, fsynced, the marker is
  written, and the directory is renamed into place (rename is atomic on one filesystem);
* on ``gs://`` (no rename there) the files are uploaded first and the marker object last.

Deleting goes the other way round: locally the directory is first renamed to a hidden
``.tmp-*`` name (atomic), then removed, so a ``ckpt-*`` directory without its marker is never
visible either. Left-over ``.tmp-*`` directories from an interrupted save or delete are removed by
the next save.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.storage import gcs_client, is_gcs_uri, split_gcs_uri

COMPLETE_MARKER = "COMPLETE"
STATE_FILE = "state.pt"
_NAME = re.compile(r"^ckpt-(\d{9})$")


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:09d}"


@dataclass(frozen=True)
class CheckpointRef:
    step: int
    location: str  # a local directory or a gs:// prefix


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointStore:
    """Saves, lists, loads and prunes checkpoints under ``root`` (a directory or a gs:// prefix)."""

    def __init__(self, root: str, keep: int = 2) -> None:
        self.root = root.rstrip("/") if is_gcs_uri(root) else root
        self.keep = max(1, keep)
        self.remote = is_gcs_uri(root)

    # ------------------------------------------------------------------ listing

    def list_complete(self) -> list[CheckpointRef]:
        """Complete checkpoints, oldest first."""
        refs = []
        if self.remote:
            bucket, prefix = split_gcs_uri(self.root)
            listing = f"{prefix}/" if prefix else ""
            for blob in gcs_client().list_blobs(bucket, prefix=listing):
                parts = blob.name[len(listing) :].split("/")
                if len(parts) == 2 and parts[1] == COMPLETE_MARKER and (match := _NAME.match(parts[0])):
                    refs.append(CheckpointRef(int(match.group(1)), f"{self.root}/{parts[0]}"))
        else:
            root = Path(self.root)
            if root.is_dir():
                for child in root.iterdir():
                    match = _NAME.match(child.name)
                    if match and (child / COMPLETE_MARKER).is_file():
                        refs.append(CheckpointRef(int(match.group(1)), str(child)))
        return sorted(refs, key=lambda ref: ref.step)

    def latest(self) -> CheckpointRef | None:
        refs = self.list_complete()
        return refs[-1] if refs else None

    # ------------------------------------------------------------------ saving

    def save(self, step: int, state: dict[str, Any]) -> CheckpointRef:
        import torch

        name = checkpoint_name(step)
        if self.remote:
            with tempfile.TemporaryDirectory(prefix="ckpt-upload-") as scratch:
                local = Path(scratch) / STATE_FILE
                torch.save(state, local)
                bucket_name, prefix = split_gcs_uri(self.root)
                bucket = gcs_client().bucket(bucket_name)
                base = "/".join(filter(None, [prefix, name]))
                bucket.blob(f"{base}/{STATE_FILE}").upload_from_filename(str(local))
                # The marker goes last: until it exists, readers do not see this checkpoint.
                bucket.blob(f"{base}/{COMPLETE_MARKER}").upload_from_string(str(step))
            ref = CheckpointRef(step, f"{self.root}/{name}")
        else:
            root = Path(self.root)
            root.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temporaries(root)
            scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
            torch.save(state, scratch / STATE_FILE)
            _fsync_path(scratch / STATE_FILE)
            (scratch / COMPLETE_MARKER).write_text(str(step), encoding="utf-8")
            _fsync_path(scratch / COMPLETE_MARKER)
            _fsync_path(scratch)
            final = root / name
            if final.exists():  # the same step saved twice (SIGTERM right after a periodic save)
                self._retire(final)
            os.rename(scratch, final)
            _fsync_path(root)
            ref = CheckpointRef(step, str(final))
        self.prune()
        return ref

    def prune(self) -> None:
        """Keep the newest ``keep`` complete checkpoints."""
        refs = self.list_complete()
        for ref in refs[: -self.keep]:
            self.delete(ref)

    def delete(self, ref: CheckpointRef) -> None:
        if self.remote:
            bucket_name, prefix = split_gcs_uri(ref.location)
            bucket = gcs_client().bucket(bucket_name)
            # The marker first, so that a half-deleted checkpoint is never taken for a complete one.
            bucket.blob(f"{prefix}/{COMPLETE_MARKER}").delete()
            for blob in list(gcs_client().list_blobs(bucket_name, prefix=f"{prefix}/")):
                blob.delete()
        else:
            path = Path(ref.location)
            if path.exists():
                self._retire(path)

    @staticmethod
    def _retire(path: Path) -> None:
        """Move a checkpoint directory out of sight in one rename, then remove it.

        Removing it in place would leave a ``ckpt-*`` directory without its marker (or with half
        its files) visible to anyone listing the store if the process died mid-way.
        """
        hidden = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-retired-", dir=path.parent))
        os.rename(path, hidden / path.name)
        shutil.rmtree(hidden, ignore_errors=True)

    def delete_all(self) -> None:
        for ref in self.list_complete():
            self.delete(ref)
        if not self.remote and Path(self.root).is_dir():
            self._remove_stale_temporaries(Path(self.root))
            if not any(Path(self.root).iterdir()):
                Path(self.root).rmdir()

    @staticmethod
    def _remove_stale_temporaries(root: Path) -> None:
        for child in root.glob(".tmp-ckpt-*"):
            shutil.rmtree(child, ignore_errors=True)

    # ------------------------------------------------------------------ loading

    def load(self, ref: CheckpointRef) -> dict[str, Any]:
        import torch

        if self.remote:
            bucket_name, prefix = split_gcs_uri(ref.location)
            with tempfile.TemporaryDirectory(prefix="ckpt-download-") as scratch:
                local = Path(scratch) / STATE_FILE
                gcs_client().bucket(bucket_name).blob(f"{prefix}/{STATE_FILE}").download_to_filename(
                    str(local)
                )
                return torch.load(local, map_location="cpu", weights_only=False)
        return torch.load(Path(ref.location) / STATE_FILE, map_location="cpu", weights_only=False)


class Checkpointable(Protocol):
    """What :class:`Checkpointer` saves: an object that describes itself as one state dict."""

    step: int

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Checkpointer:
    """When and where a training run checkpoints: resume at start, every ``every_steps``, on demand.

    ``root`` '' turns it off (nothing is saved or resumed). ``state_dict()`` may be a collective
    (under DDP it gathers every rank's RNG state), so every rank calls :meth:`save`; only the main
    rank writes. Every rank reads the checkpoint it resumes from.
    """

    def __init__(self, root: str, *, every_steps: int, keep: int, is_main: bool = True, barrier=None) -> None:
        self.store = CheckpointStore(root, keep) if root else None
        self.root = root
        self.every_steps = every_steps
        self.is_main = is_main
        self._barrier = barrier or (lambda: None)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def resume(self, state: Checkpointable) -> CheckpointRef | None:
        """Load the newest complete checkpoint into ``state``; None when there is none."""
        latest = self.store.latest() if self.store else None
        if latest is not None:
            try:
                state.load_state_dict(self.store.load(latest))
            except ConfigError as exc:
                raise ConfigError(f"{latest.location}: {exc}") from None
        return latest

    def due(self, step: int) -> bool:
        return self.store is not None and step % self.every_steps == 0

    def save(self, state: Checkpointable) -> None:
        """Write ``state`` at its step (every rank calls this; the main rank writes)."""
        saved = state.state_dict()
        if self.store is not None and self.is_main:
            self.store.save(state.step, saved)
        self._barrier()

    def discard(self) -> None:
        """Remove every checkpoint (the run finished and its model is saved)."""
        if self.store is not None and self.is_main:
            self.store.delete_all()
