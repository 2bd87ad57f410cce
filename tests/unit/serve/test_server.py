"""The model server (tweet_sentiment.serve) as a process on a loopback port, with the tiny model.

What predict gives is the reference: the server must give the same labels and probabilities for the
same tweets over V1 and V2, turn every malformed request into a 400 with a line saying what is wrong
(and stay up), batch concurrent requests, and serve the stored int8 ONNX export where there is one.
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.serve_process import ServerProcess, get, post
from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.labels import LABELS

NAME = "tweet-sentiment"
TWEETS = [row["text"] for row in make_tweets(12, seed=21)]  # with @mentions and URLs: normalisation counts


def _version_dir(model_dir, root):
    """A registry-like version directory (versions/000001/model) holding ``model_dir``."""
    version = root / "versions" / "000001"
    shutil.copytree(model_dir, version / "model")
    return version


@pytest.fixture(scope="module")
def version_dir(tiny_model_dir, tmp_path_factory):
    return _version_dir(tiny_model_dir, tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def server(version_dir):
    # A batch waits up to 100 ms for more requests, so that concurrent requests meet deterministically.
    with ServerProcess(["--model-uri", str(version_dir), "--max-batch-delay-ms", "100"]) as running:
        yield running


def _predict(model_dir, tmp_path, backend="torch") -> list[dict]:
    from tweet_sentiment.predict.cli import run_predict
    from tweet_sentiment.predict.config import PredictConfig

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in TWEETS])
    output = tmp_path / f"out-{backend}.jsonl"
    run_predict(
        PredictConfig(
            model=str(model_dir), input=str(source), output=str(output), backend=backend, progress=False
        )
    )
    return [json.loads(line) for line in output.read_text().splitlines()]


def _v2_body(texts, name="text"):
    return {"inputs": [{"name": name, "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}


def _v2_rows(answer) -> list[dict]:
    outputs = {output["name"]: output for output in answer["outputs"]}
    labels = outputs["label"]["data"]
    flat = outputs["probabilities"]["data"]
    assert outputs["probabilities"]["shape"] == [len(labels), len(LABELS)]
    return [
        {"label": label, "probabilities": dict(zip(LABELS, flat[i * 3 : i * 3 + 3], strict=True))}
        for i, label in enumerate(labels)
    ]


def _assert_same(served: list[dict], expected: list[dict]) -> None:
    assert [row["label"] for row in served] == [row["label"] for row in expected]
    for got, want in zip(served, expected, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=2e-5)


def test_v1_and_v2_answer_what_predict_gives_on_the_same_tweets(server, tiny_model_dir, tmp_path):
    expected = _predict(tiny_model_dir, tmp_path)
    status, v1 = post(f"{server.url}/v1/models/{NAME}:predict", {"instances": TWEETS})
    assert status == 200, v1
    _assert_same(v1["predictions"], expected)
    # Objects with a "text" field are the same instances.
    status, v1_objects = post(
        f"{server.url}/v1/models/{NAME}:predict", {"instances": [{"text": t} for t in TWEETS]}
    )
    assert status == 200 and v1_objects == v1
    status, v2 = post(f"{server.url}/v2/models/{NAME}/infer", _v2_body(TWEETS))
    assert status == 200, v2
    _assert_same(_v2_rows(v2), expected)
    assert v2["parameters"]["backend"].startswith("torch-")


def test_health_readiness_and_metadata_answer(server):
    assert get(f"{server.url}/v2/health/live")[0] == 200
    assert get(f"{server.url}/v2/health/ready")[0] == 200
    status, body = get(f"{server.url}/v1/models/{NAME}")
    assert status == 200 and json.loads(body) == {"name": NAME, "ready": True}
    status, body = get(f"{server.url}/v2/models/{NAME}")
    metadata = json.loads(body)
    assert [i["name"] for i in metadata["inputs"]] == ["text"]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "probabilities"]
    assert get(f"{server.url}/v1/models/another-model")[0] == 404


V1_BAD = [
    ({"instances": [""]}, "instances[0]: text is empty"),
    ({"instances": ["   "]}, "instances[0]: text is empty"),
    ({"instances": ["x" * 1001]}, "instances[0]: text is over-long (1001 characters; the limit is 1000)"),
    ({"instances": ["fine", 42]}, "instances[1]: text is not a string (int)"),
    ({"instances": ["fine", None]}, "instances[1]: text is missing (null)"),
    ({"instances": [{"tweet": "x"}]}, 'instances[0]: an object needs a "text" field'),
    ({"instances": []}, "instances is empty"),
    ({"instances": ["a"] * 257}, "instances has 257 texts; the limit is 256 a request"),
    ({"instances": "one text"}, '"instances" to be a list'),
    ({"texts": ["a"]}, 'a JSON object with an "instances" list'),
    (b"[1, 2]", 'a JSON object with an "instances" list'),
    (b'{"instances": ["unclosed', "Unrecognized request format"),
    (b"\xff\xfe not utf-8", "Unrecognized request format"),
]


@pytest.mark.parametrize("body, message", V1_BAD, ids=range(len(V1_BAD)))
def test_a_malformed_v1_request_is_a_400_that_says_what_is_wrong(server, body, message):
    status, answer = post(f"{server.url}/v1/models/{NAME}:predict", body)
    assert status == 400, answer
    assert message in answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert server.alive()


def test_a_v1_body_that_is_not_json_is_a_400(server):
    status, answer = post(f"{server.url}/v1/models/{NAME}:predict", b"what a game", content_type="text/plain")
    assert status == 400 and "the body must be JSON" in answer["error"]


V2_BAD = [
    (_v2_body([""]), "input 'text'[0]: text is empty"),
    (_v2_body(["y" * 1001]), "over-long (1001 characters"),
    ({"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, "datatype BYTES"),
    (
        {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]},
        "shape says 3 texts, data holds 1",
    ),
    (
        {"inputs": [{"name": "text", "shape": [1, 2], "datatype": "BYTES", "data": [["a", "b"]]}]},
        "shape [n] or [n, 1]",
    ),
    ({"inputs": [_v2_body(["a"])["inputs"][0], _v2_body(["b"], "more")["inputs"][0]]}, "exactly one input"),
    (
        {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES"}]},
        "invalid request body: inputs.0.data: Field required",
    ),
    ({"inputs": "text"}, "invalid request body: inputs: Input should be a valid list"),
    (b'{"inputs": [', "invalid request body"),
]


@pytest.mark.parametrize("body, message", V2_BAD, ids=range(len(V2_BAD)))
def test_a_malformed_v2_request_is_a_400_that_says_what_is_wrong(server, body, message):
    status, answer = post(f"{server.url}/v2/models/{NAME}/infer", body)
    assert status == 400, answer
    assert message in answer["error"]
    assert "\n" not in answer["error"]
    assert server.alive()


def _batch_metric(url: str) -> tuple[float, float]:
    """(model calls, texts scored) so far, from the server's Prometheus histogram."""
    text = get(f"{url}/metrics")[1]
    figures = dict(re.findall(r"^tweet_sentiment_batch_texts_(count|sum) ([0-9.e+]+)$", text, re.MULTILINE))
    return float(figures.get("count", 0)), float(figures.get("sum", 0))


def test_concurrent_requests_are_scored_together_and_each_gets_its_own_rows(server, tiny_model_dir, tmp_path):
    expected = {text: row for text, row in zip(TWEETS, _predict(tiny_model_dir, tmp_path), strict=True)}
    calls_before, texts_before = _batch_metric(server.url)
    with ThreadPoolExecutor(len(TWEETS)) as pool:
        answers = list(
            pool.map(lambda t: post(f"{server.url}/v1/models/{NAME}:predict", {"instances": [t]}), TWEETS)
        )
    for text, (status, answer) in zip(TWEETS, answers, strict=True):
        assert status == 200
        _assert_same(answer["predictions"], [expected[text]])
    calls, texts = _batch_metric(server.url)
    assert texts - texts_before == len(TWEETS)
    assert calls - calls_before < len(TWEETS) / 2, "concurrent requests were scored one by one"


@pytest.mark.slow
def test_a_version_with_a_stored_int8_export_is_served_with_onnx(tiny_model_dir, tmp_path):
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_for_registration

    version = _version_dir(tiny_model_dir, tmp_path / "registry")
    rows = make_tweets(60, seed=5)
    report = export_for_registration(
        version / "model",
        [r["text"] for r in rows],
        [r["label"] for r in rows],
        OnnxExportConfig(max_accuracy_drop_points=100.0),  # kept whatever it costs: the point is the path
    )
    assert report["int8_stored"]
    expected = _predict(version / "model", tmp_path, backend="onnx")
    with ServerProcess(["--model-uri", str(version)]) as running:
        status, v2 = post(f"{running.url}/v2/models/{NAME}/infer", _v2_body(TWEETS))
    assert status == 200 and v2["parameters"]["backend"] == "onnx-int8"
    _assert_same(_v2_rows(v2), expected)


def test_a_missing_model_stops_the_server_with_one_line(tmp_path):
    server = ServerProcess(["--model-uri", str(tmp_path / "nowhere")])
    with pytest.raises(RuntimeError, match="exited before it was ready") as failure:
        server.__enter__()
    assert f"serve: model '{tmp_path / 'nowhere'}'" in str(failure.value)
    assert "Traceback" not in str(failure.value)
