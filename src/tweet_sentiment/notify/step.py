"""The run's final status, posted as JSON to a webhook (the pipeline's exit handler step)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

WEBHOOK_ENV = "NOTIFY_WEBHOOK_URL"


def final_status_message(
    *, state: str, run: str, task: str, error_code: int | None, error_message: str, pipeline: str
) -> dict[str, Any]:
    """The JSON body: what ended, how, and (when it failed) the error KFP reports."""
    return {
        "pipeline": pipeline,
        "run": run,
        "state": state,
        "succeeded": state == "SUCCEEDED",
        "task": task,
        "error": {"code": error_code, "message": error_message} if error_message or error_code else None,
    }


def post_final_status(
    webhook_url: str, message: dict[str, Any], *, attempts: int = 3, timeout: float = 10.0
) -> str:
    """POST ``message`` to ``webhook_url`` (or ``$NOTIFY_WEBHOOK_URL``); returns what happened, in words.

    Nothing to post to is not an error (notifications are off). A receiver that keeps failing is
    reported, not raised: the notice must never turn a finished run into a failed one.
    """
    url = webhook_url or os.environ.get(WEBHOOK_ENV, "")
    if not url:
        return "no webhook configured: notification off"
    if not url.startswith(("http://", "https://")):
        return f"webhook {url[:60]!r} is not an http(s) URL: nothing posted"
    body = json.dumps(message).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    problem = ""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return f"posted the final status ({message['state']}) to the webhook: HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))[:200]
            time.sleep(2**attempt)
    return f"could not post the final status to the webhook after {attempts} attempts: {problem}"
