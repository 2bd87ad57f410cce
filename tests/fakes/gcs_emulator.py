"""gcp-storage-emulator started in-process on 127.0.0.1 for the GCS registry tests.

The emulator ignores ``ifGenerationMatch``; real GCS enforces it, and the registry's
exclusive creates and alias compare-and-swap depend on it. So the emulator's upload handler
is wrapped to answer 412 when the precondition does not hold. Its HTTP server handles one
request at a time, which makes the check and the write one atomic step, as on GCS.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from http import HTTPStatus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _upload_object_name(request) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        return data["meta"].get("name")
    return None


def _enforcing_insert(original):
    def insert(request, response, storage, *args, **kwargs):
        wanted = request.query.get("ifGenerationMatch")
        name = _upload_object_name(request) if wanted else None
        if wanted and name:
            try:
                current = int(storage.get_file_obj(request.params["bucket_name"], name)["generation"])
            except Exception:  # the emulator's NotFound: the object does not exist, generation 0
                current = 0
            if current != int(wanted[0]):
                response.status = HTTPStatus.PRECONDITION_FAILED
                message = f"ifGenerationMatch={wanted[0]} but {name} is at generation {current}"
                response.json(
                    {"error": {"code": 412, "message": message, "errors": [{"reason": "conditionNotMet"}]}}
                )
                return None
        return original(request, response, storage, *args, **kwargs)

    return insert


@contextlib.contextmanager
def running_emulator() -> Iterator[str]:
    """Start the emulator, point ``STORAGE_EMULATOR_HOST`` at it, yield the host URL."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    original_insert, original_handlers = objects.insert, server.HANDLERS
    enforcing = _enforcing_insert(original_insert)
    objects.insert = enforcing
    server.HANDLERS = tuple(
        (
            pattern,
            {
                method: enforcing if handler is original_insert else handler
                for method, handler in routes.items()
            },
        )
        for pattern, routes in original_handlers
    )
    port = free_port()
    emulator = server.create_server("127.0.0.1", port, in_memory=True)
    emulator.start()
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    host = f"http://127.0.0.1:{port}"
    os.environ["STORAGE_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        emulator.stop()
        objects.insert, server.HANDLERS = original_insert, original_handlers
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


def make_bucket(name: str) -> None:
    from tweet_sentiment.core.storage import gcs_client

    gcs_client().create_bucket(name)
