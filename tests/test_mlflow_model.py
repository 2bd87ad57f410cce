"""A version logged as an MLflow model (transformers flavor, run artifacts, registered from runs:/) loads
from a real MLflow server by alias and gives raw tweets the labels of the scored normalised text."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from mlflow_server import running_mlflow_server
from raw_tweets import make_raw_tweets
from varied_model import reference_probabilities, save_varied_model

from tweet_sentiment.labels import LABELS

TWEETS = make_raw_tweets(320, seed=0)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def base_tokenizer():
    from tweet_sentiment.modeling import OFFLINE_MODEL, load_tokenizer

    return load_tokenizer(OFFLINE_MODEL)


@pytest.fixture(scope="module")
def model_dir(base_tokenizer, tmp_path_factory):
    return save_varied_model(tmp_path_factory.mktemp("normalising-model"), base_tokenizer)


@pytest.mark.slow
def test_the_champion_loads_by_alias_and_labels_raw_tweets_as_scoring_does(
    model_dir, base_tokenizer, mlflow_uri, monkeypatch
):
    import mlflow

    from tweet_sentiment.mirrors.mlflow import ensure_registered_model, mlflow_client
    from tweet_sentiment.mirrors.mlflow_model import ensure_experiment, log_model_run, run_model_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    name = f"tweets-{uuid.uuid4().hex[:8]}"
    client = mlflow_client(mlflow_uri)
    experiment_id = ensure_experiment(client, name)
    run_id = log_model_run(
        client,
        experiment_id,
        model_dir,
        run_name="registry-v1",
        tags={"registry_version": "1"},
        metrics={"accuracy": 0.5},
    )
    ensure_registered_model(client, name)
    version = client.create_model_version(name, source=run_model_uri(run_id), run_id=run_id)
    client.set_registered_model_alias(name, "champion", version.version)
    assert client.get_run(run_id).data.metrics == {"accuracy": 0.5}

    reference = reference_probabilities(model_dir, base_tokenizer, TWEETS)
    assert set(reference.argmax(1).tolist()) == {0, 1, 2}  # the labels vary
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    frame = loaded.predict(TWEETS)
    assert list(frame["label"]) == [LABELS[i] for i in reference.argmax(1)]
    np.testing.assert_allclose(frame["score"].to_numpy(), reference.max(1), atol=1e-5)

    classify = mlflow.transformers.load_model(f"models:/{name}@champion")
    results = classify(TWEETS, top_k=None, truncation=True)
    scores = [{r["label"]: r["score"] for r in result} for result in results]
    np.testing.assert_allclose([[s[n] for n in LABELS] for s in scores], reference, atol=1e-5)
