"""Bad settings are refused before anything runs: by run-local before any task, by submit before any
request, by compile before writing; the last line names the parameter, the exit code is 2 (usage)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import pipeline
from deploy import exit_codes
from tests.fakes.http_stub import StubServer

ROOT = Path(__file__).resolve().parents[2]

# (run-local flags, the same as a submit --param, the parameter the last line must name)
BAD_SETTINGS = [
    (["--min-accuracy", "1.5"], "min_accuracy=1.5", "min_accuracy"),
    (["--min-macro-recall", "-0.1"], "min_macro_recall=-0.1", "min_macro_recall"),
    (["--max-regression", "2"], "max_regression=2", "max_regression"),
    (["--epochs", "0"], "epochs=0", "epochs"),
    (["--lr", "0"], "learning_rate=0", "learning_rate"),
    (["--lr", "5"], "learning_rate=5", "learning_rate"),
    (["--sweep", '[{"learning_rate": 5}]'], 'sweep=[{"learning_rate": 5}]', "sweep"),
    (["--sweep", '[{"learning_rate": 0}]'], 'sweep=[{"learning_rate": 0}]', "sweep"),
    (["--sweep", "[{"], "sweep=[{", "sweep"),
    (["--sweep", '[{"lr": 1e-5}]'], 'sweep=[{"lr": 1e-5}]', "sweep"),
    (["--batch-size", "0"], "batch_size=0", "batch_size"),
    (["--max-length", "4"], "max_length=4", "max_length"),
    (["--class-weight-power", "2"], "class_weight_power=2", "class_weight_power"),
    (["--precision", "fp8"], "precision=fp8", "precision"),
    (["--max-bad-fraction", "1.5"], "max_bad_fraction=1.5", "max_bad_fraction"),
    (["--dev-fraction", "1"], "dev_fraction=1", "dev_fraction"),
    (["--max-text-chars", "0"], "max_text_chars=0", "max_text_chars"),
    (["--eval-split", "tset"], "eval_split=tset", "eval_split"),
    (["--num-gpus", "0"], "num_gpus=0", "num_gpus"),
    (["--soup-top-k", "-1"], "soup_top_k=-1", "soup_top_k"),
    (["--checkpoint-every-steps", "0"], "checkpoint_every_steps=0", "checkpoint_every_steps"),
    (["--eval-every-steps", "-1"], "eval_every_steps=-1", "eval_every_steps"),
    (
        ["--onnx-max-accuracy-drop-points", "-1"],
        "onnx_max_accuracy_drop_points=-1",
        "onnx_max_accuracy_drop_points",
    ),
    (["--vertex-model", "tweet-sentiment"], "vertex_model=tweet-sentiment", "vertex_model"),
]


@pytest.mark.parametrize(
    ("flags", "param", "name"), BAD_SETTINGS, ids=[c[2] + str(i) for i, c in enumerate(BAD_SETTINGS)]
)
def test_run_local_refuses_before_any_task(tmp_path, capsys, flags, param, name):
    root = tmp_path / "runs"
    started = time.perf_counter()
    code = pipeline.main(
        ["run-local", "--pipeline-root", str(root), "--registry", str(tmp_path / "r"), *flags]
    )
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == exit_codes.USAGE, err
    assert err[-1].startswith(f"error: {name}="), err
    assert not root.exists()  # kfp.local never started: no run folder, no task
    assert seconds < 20


def test_run_local_refuses_a_registry_it_cannot_write(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = pipeline.main(
        ["run-local", "--pipeline-root", str(tmp_path / "runs"), "--registry", str(tmp_path / "file" / "r")]
    )
    assert code == exit_codes.USAGE
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: registry_uri=")


def test_force_learning_rate_lets_a_high_rate_through_the_check(tmp_path):
    from tweet_sentiment.preflight import check_parameters

    base = {"registry_uri": str(tmp_path), "learning_rate": 5e-3}
    assert [p.parameter for p in check_parameters(base)] == ["learning_rate"]
    assert check_parameters({**base, "force_learning_rate": True}) == []


def test_the_command_line_refuses_within_seconds_on_its_own():
    """A fresh interpreter (imports included), as a user types it."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "pipeline.py", "run-local", "--epochs", "0", "--pipeline-root", "/nonexistent/runs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == exit_codes.USAGE
    assert result.stderr.strip().splitlines()[-1] == "error: epochs=0.0: must be > 0"
    assert time.perf_counter() - started < 20


@pytest.fixture()
def recording_host():
    with StubServer(
        lambda request: pytest.fail(f"a request was sent: {request.method} {request.path}")
    ) as server:
        yield server


@pytest.mark.parametrize(
    ("flags", "param", "name"), [c for c in BAD_SETTINGS if c[1]], ids=lambda c: str(c)[:30]
)
def test_submit_refuses_the_same_values_before_any_request(recording_host, capsys, flags, param, name):
    argv = ["submit", "--host", recording_host.url, "--package", str(ROOT / "pipeline.yaml")]
    code = pipeline.main([*argv, "--param", "registry_uri=/mnt/registry", "--param", param])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == exit_codes.USAGE, err
    assert err[-1].startswith(f"error: {name}="), err
    assert recording_host.requests == []


def test_compile_param_refuses_and_writes_nothing(tmp_path, capsys):
    output = tmp_path / "p.yaml"
    assert (
        pipeline.main(["compile", "--output", str(output), "--param", "min_accuracy=1.5"]) == exit_codes.USAGE
    )
    assert capsys.readouterr().err.startswith("error: min_accuracy=1.5:")
    assert not output.exists()
    assert pipeline.main(["compile", "--output", str(output), "--param", "min_accuracy=0.7"]) == exit_codes.OK
    assert "defaultValue: 0.7" in output.read_text()
