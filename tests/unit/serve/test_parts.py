"""The model server's parts without a server: the batcher, the settings, where a model is found."""

from __future__ import annotations

import asyncio
import re
import shutil
import time

import numpy as np
import pytest

from tweet_sentiment.core.errors import ConfigError, ModelSourceError
from tweet_sentiment.serve.batching import MicroBatcher
from tweet_sentiment.serve.config import ServeConfig


class LengthScorer:
    """A scorer whose row for a text is (its length, 0, 0); records every call's texts. Takes 20 ms."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts):
        self.calls.append(list(texts))
        time.sleep(0.02)
        if self.fail_on in texts:
            raise ValueError(f"cannot score {self.fail_on!r}")
        return np.array([[len(t), 0.0, 0.0] for t in texts])


def _score_concurrently(batcher, requests):
    async def run():
        return await asyncio.gather(*(batcher.score(texts) for texts in requests), return_exceptions=True)

    return asyncio.run(run())


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_rows():
    scorer = LengthScorer()
    batcher = MicroBatcher(scorer, max_batch_size=64)
    requests = [["a" * (i + 1)] * (i % 3 + 1) for i in range(10)]
    results = _score_concurrently(batcher, requests)
    for texts, result in zip(requests, results, strict=True):
        assert result[:, 0].tolist() == [len(t) for t in texts]
    assert len(scorer.calls) < len(requests)
    assert sum(len(c) for c in scorer.calls) == sum(len(r) for r in requests)
    assert batcher.stats.batches == len(scorer.calls)


def test_a_batch_stops_growing_at_max_batch_size():
    scorer = LengthScorer()
    batcher = MicroBatcher(scorer, max_batch_size=4)
    _score_concurrently(batcher, [["x"]] * 10)
    assert [len(call) for call in scorer.calls] == [4, 4, 2]


def test_a_lone_request_waits_at_most_max_delay_for_company():
    scorer = LengthScorer()
    batcher = MicroBatcher(scorer, max_batch_size=64, max_delay_s=0.05)

    async def staggered():
        first = asyncio.ensure_future(batcher.score(["first"]))
        await asyncio.sleep(0.01)  # arrives within the first one's 50 ms
        second = asyncio.ensure_future(batcher.score(["second"]))
        return await asyncio.gather(first, second)

    asyncio.run(staggered())
    assert scorer.calls == [["first", "second"]]


def test_a_failed_batch_fails_its_requests_and_the_next_batch_is_scored():
    scorer = LengthScorer(fail_on="boom")
    batcher = MicroBatcher(scorer, max_batch_size=2)

    async def run():
        failed = await asyncio.gather(batcher.score(["boom"]), batcher.score(["ok"]), return_exceptions=True)
        after = await batcher.score(["fine"])
        return failed, after

    failed, after = asyncio.run(run())
    assert all(isinstance(result, ValueError) for result in failed)
    assert after[:, 0].tolist() == [4]


def test_vertex_environment_gives_the_model_and_the_port():
    config = ServeConfig().with_environment(
        {"AIP_STORAGE_URI": "gs://b/versions/000002/model", "AIP_HTTP_PORT": "9000"}
    )
    assert (config.model_uri, config.http_port) == ("gs://b/versions/000002/model", 9000)
    # An explicit --model-uri wins over the environment.
    explicit = ServeConfig(model_uri="/models/x").with_environment({"AIP_STORAGE_URI": "gs://b/y"})
    assert explicit.model_uri == "/models/x"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({}, "no model to serve: pass --model-uri or set $AIP_STORAGE_URI"),
        ({"model_uri": "m", "backend": "tf"}, "backend must be one of torch, onnx, auto, got 'tf'"),
        ({"model_uri": "m", "max_batch_size": 0}, "max_batch_size must be >= 1, got 0"),
        ({"model_uri": "m", "model_name": "a/b"}, "model_name must be a plain name"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ServeConfig(**settings).with_environment({})


def test_a_model_is_found_in_a_version_directory_or_as_itself(tiny_model_dir, tmp_path):
    from tweet_sentiment.serve.model import resolve_model_dir

    version = tmp_path / "versions" / "000001"
    shutil.copytree(tiny_model_dir, version / "model")
    assert resolve_model_dir(str(version)) == version / "model"
    assert resolve_model_dir(str(version / "model")) == version / "model"
    with pytest.raises(ModelSourceError, match="neither it nor its model/ holds a config.json"):
        resolve_model_dir(str(tmp_path / "versions"))


def test_a_gs_version_is_downloaded_at_start(tiny_model_dir):
    from tests.fakes.gcs_emulator import make_bucket, running_emulator
    from tweet_sentiment.core.storage import upload_directory
    from tweet_sentiment.serve.model import resolve_model_dir

    with running_emulator():
        make_bucket("serving")
        upload_directory(tiny_model_dir, "gs://serving/registry/versions/000004/model")
        local = resolve_model_dir("gs://serving/registry/versions/000004")
        assert (local / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()
        assert local.name == "model"
