"""The exit handler's notice: JSON posted to a webhook, off without one, never fatal."""

from __future__ import annotations

import pytest

from tests.fakes.http_stub import Reply, StubServer
from tweet_sentiment.notify.step import WEBHOOK_ENV, final_status_message, post_final_status

FAILED = final_status_message(
    state="FAILED", run="run-7", task="train", error_code=13, error_message="OOMKilled", pipeline="p"
)


def test_posts_the_final_status_as_json(monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    with StubServer(lambda request: Reply(body={})) as server:
        outcome = post_final_status(server.url, FAILED)
        (request,) = server.requests
    assert "HTTP 200" in outcome
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "pipeline": "p",
        "run": "run-7",
        "state": "FAILED",
        "succeeded": False,
        "task": "train",
        "error": {"code": 13, "message": "OOMKilled"},
    }


@pytest.mark.parametrize("error_code", [None, 0])  # what the backend fills in for a run without error
def test_posts_a_success_as_json_with_no_error(monkeypatch, error_code):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    succeeded = final_status_message(
        state="SUCCEEDED",
        run="run-8",
        task="tweet-sentiment",
        error_code=error_code,
        error_message="",
        pipeline="p",
    )
    with StubServer(lambda request: Reply(body={})) as server:
        outcome = post_final_status(server.url, succeeded)
        (request,) = server.requests
    assert outcome == "posted the final status (SUCCEEDED) to the webhook: HTTP 200"
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "pipeline": "p",
        "run": "run-8",
        "state": "SUCCEEDED",
        "succeeded": True,
        "task": "tweet-sentiment",
        "error": None,
    }


def test_the_url_may_come_from_the_environment_and_nothing_means_off(monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    assert post_final_status("", FAILED) == "no webhook configured: notification off"
    with StubServer(lambda request: Reply(body={})) as server:
        monkeypatch.setenv(WEBHOOK_ENV, server.url)
        assert "HTTP 200" in post_final_status("", FAILED)
        assert len(server.requests) == 1


def test_an_unreachable_receiver_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr("tweet_sentiment.notify.step.time.sleep", lambda seconds: None)
    outcome = post_final_status("http://127.0.0.1:9/hook", FAILED, attempts=2, timeout=1)
    assert outcome.startswith("could not post the final status to the webhook after 2 attempts")


def test_the_notice_says_what_the_retrain_check_decided(tiny_model_dir, tmp_path):
    from tweet_sentiment.notify.step import retrain_summary
    from tweet_sentiment.registry import CHAMPION, open_registry, register_model

    uri = str(tmp_path / "registry")
    assert retrain_summary(uri, "night-1") is None  # no registry yet, no champion: nothing to say
    register_model(uri, tiny_model_dir, metrics={}, parameters={}, dataset_fingerprint="x", run_id="r")
    registry = open_registry(uri)
    registry.set_alias(CHAMPION, 1)
    registry.record_check(1, {"run_id": "night-1", "summary": "skipped: same snapshot"})
    assert retrain_summary(uri, "night-1") == "skipped: same snapshot"
    assert retrain_summary(uri, "night-2") is None
    message = final_status_message(
        state="SUCCEEDED",
        run="r",
        task="",
        error_code=None,
        error_message="",
        pipeline="p",
        retrain=retrain_summary(uri, "night-1"),
    )
    assert message["retrain"] == "skipped: same snapshot"
    assert "retrain" not in FAILED
