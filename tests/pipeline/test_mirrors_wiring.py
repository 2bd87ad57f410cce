"""How the mirrors reach the register task: parameters, the MLflow token secret, retries, run-local flags."""

from __future__ import annotations

import pipeline
from deploy import cli, local_run
from deploy.package import load_package

MIRROR_PARAMETERS = ("mlflow_tracking_uri", "mlflow_model_name", "vertex_model", "vertex_serving_image")


def test_both_targets_take_the_mirror_parameters_and_pass_them_to_register(compiled_packages):
    for target in pipeline.TARGETS:
        spec = load_package(compiled_packages[target]).documents[0]
        inputs = spec["root"]["inputDefinitions"]["parameters"]
        assert {inputs[name]["defaultValue"] for name in MIRROR_PARAMETERS[::2]} == {""}  # off by default
        register = spec["components"]["comp-register"]["inputDefinitions"]["parameters"]
        assert set(MIRROR_PARAMETERS) <= register.keys()
        (condition,) = [
            c["dag"]["tasks"]["register"]
            for c in spec["components"].values()
            if "register" in c.get("dag", {}).get("tasks", {})
        ]
        assert condition["retryPolicy"]["maxRetryCount"] == 2  # a retry after a failed mirror only mirrors
        for name in MIRROR_PARAMETERS:
            bound = condition["inputs"]["parameters"][name]["componentInputParameter"]
            assert bound == f"pipelinechannel--{name}"


def test_kubeflow_maps_the_optional_mlflow_secret_to_the_token_variable(compiled_packages):
    platform = load_package(compiled_packages["kubeflow"]).documents[1]
    register = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-register"]
    (secret,) = register["secretAsEnv"]
    assert secret["secretName"] == "mlflow-tracking" and secret["optional"] is True
    assert secret["keyToEnv"] == [{"envVar": "MLFLOW_TRACKING_TOKEN", "secretKey": "token"}]
    assert len(load_package(compiled_packages["vertex"]).documents) == 1


def test_run_local_has_the_mirror_flags():
    args = cli.build_parser().parse_args(
        ["run-local", "--mlflow-tracking-uri", "http://127.0.0.1:5000", "--vertex-model", "tweets"]
    )
    arguments = local_run.pipeline_arguments(args)
    assert arguments["mlflow_tracking_uri"] == "http://127.0.0.1:5000"
    assert arguments["vertex_model"] == "tweets" and arguments["mlflow_model_name"] == "tweet-sentiment"
