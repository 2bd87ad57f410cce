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
    *,
    state: str,
    run: str,
    task: str,
    error_code: int | None,
    error_message: str,
    pipeline: str,
    retrain: str | None = None,
) -> dict[str, Any]:
    """The JSON body: what ended, how, (when it failed) the error KFP reports and, when the run's
    check-retrain task recorded one, its decision (``retrain``: "trained: ..." / "skipped: ...")."""
    message = {
        "pipeline": pipeline,
        "run": run,
        "state": state,
        "succeeded": state == "SUCCEEDED",
        "task": task,
        "error": {"code": error_code, "message": error_message} if error_message or error_code else None,
    }
    if retrain is not None:
        message["retrain"] = retrain
    return message


def retrain_summary(registry_uri: str, run_id: str) -> str | None:
    """What the run's check-retrain task decided ("trained: ..." / "skipped: ..."), from the check it
    recorded in the registry; None when it recorded none (policy always, no champion yet) or the
    registry cannot be read (the notice must go out regardless)."""
    if not registry_uri or not run_id:
        return None
    try:
        from tweet_sentiment.registry import open_registry

        check = open_registry(registry_uri).find_check(run_id)
    except Exception as exc:  # noqa: BLE001 - a notice without the decision beats no notice
        print(f"could not read the retrain check of run {run_id}: {type(exc).__name__}: {exc}", flush=True)
        return None
    return None if check is None else str(check["summary"])


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
