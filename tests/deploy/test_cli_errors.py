"""Errors every command turns into one line (deploy/exit_codes.py), instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipeline
from deploy import exit_codes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def no_google_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "list", "--registry", "gs://a-bucket/registry"],
        ["models", "show", "3", "--registry", "gs://a-bucket/registry"],
        ["predict", "--model", "champion", "--registry", "gs://a-bucket/registry", "--input-format", "jsonl"],
    ],
    ids=["models-list", "models-show", "predict"],
)
def test_missing_google_credentials_are_one_line(no_google_credentials, capsys, argv):
    assert pipeline.main(argv) == exit_codes.ERROR
    assert _one_error_line(capsys).startswith("error: no Google credentials: run `gcloud auth")


@pytest.mark.slow  # importing google-cloud-aiplatform takes ~10 s
@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_vertex_without_credentials_is_one_line(no_google_credentials, capsys, command):
    flags = [
        "--project",
        "p",
        "--pipeline-root",
        "gs://a-bucket/root",
        "--package",
        str(ROOT / "pipeline.vertex.yaml"),
    ]
    if command == "submit":
        argv = ["submit", "--target", "vertex", *flags, "--param", "registry_uri=gs://a-bucket/registry"]
    else:
        argv = ["schedule", str(ROOT / "schedules" / "weekly-vertex.yaml"), *flags]
        argv += [
            "--param",
            "registry_uri=gs://a-bucket/registry",
            "--param",
            "data_source=gs://a-bucket/tweets/latest",
        ]
    assert pipeline.main(argv) == exit_codes.ERROR
    assert _one_error_line(capsys).startswith("error: no Google credentials")


def test_models_commands_refuse_a_path_that_is_not_a_registry(tmp_path, capsys):
    assert pipeline.main(["models", "list", "--registry", str(tmp_path / "typo")]) == exit_codes.ERROR
    assert _one_error_line(capsys) == f"error: no registry at {tmp_path / 'typo'}: the path does not exist"
    (tmp_path / "file").write_text("x")
    assert pipeline.main(["models", "show", "--registry", str(tmp_path / "file")]) == exit_codes.ERROR
    assert "is a file, not a registry directory" in _one_error_line(capsys)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "README.md").write_text("x")
    assert pipeline.main(["models", "list", "--registry", str(tmp_path / "project")]) == exit_codes.ERROR
    assert "is not a model registry (it has no versions/ or aliases/ folder)" in _one_error_line(capsys)
    predict = [
        "predict",
        "--model",
        "champion",
        "--registry",
        str(tmp_path / "typo"),
        "--input-format",
        "jsonl",
    ]
    assert pipeline.main(predict) == exit_codes.USAGE  # predict's own handler: its flags name the registry
    assert _one_error_line(capsys) == f"predict: no registry at {tmp_path / 'typo'}: the path does not exist"
    (tmp_path / "empty").mkdir()
    assert pipeline.main(["models", "list", "--registry", str(tmp_path / "empty")]) == exit_codes.OK
    assert "no versions in" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cpu", "train=lots"], "error: --cpu 'train=lots': 'lots' is not a positive Kubernetes quantity"),
        (
            ["--memory", "train=24GB"],
            "error: --memory 'train=24GB': '24GB' is not a positive Kubernetes quantity",
        ),
        (["--cpu", "train=8/7"], "error: cpu limit '7' is below its request '8'"),
        (["--retries", "-1"], "error: --retries -1 must be >= 0"),
        (["--backoff", "1m"], "error: --backoff '1m' must be a number of seconds like 60s"),
        (["--shm-size", "big"], "error: --shm-size 'big' is not a positive Kubernetes quantity"),
        (["--workspace-size", "0"], "error: --workspace-size '0' is not a positive Kubernetes quantity"),
        (["--accelerator-limit", "0"], "error: --accelerator-limit 0 must be >= 1"),
        (["--tag", "v1:latest"], "error: image tag 'v1:latest' must be a plain tag"),
        (["--image-registry", "not a registry"], "error: image registry 'not a registry' must be like"),
        (
            ["--output", "/no/such/folder/p.yaml"],
            "error: --output '/no/such/folder/p.yaml': the folder /no/such",
        ),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_compile_flags_are_checked_in_one_line(capsys, tmp_path, flags, expected):
    argv = ["compile", "--output", str(tmp_path / "p.yaml"), *flags]
    assert pipeline.main(argv) == exit_codes.USAGE
    assert _one_error_line(capsys).startswith(expected)
    assert not (tmp_path / "p.yaml").exists()


def test_every_flag_shows_its_default_in_help(capsys):
    with pytest.raises(SystemExit):
        pipeline.main(["compile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--retries RETRIES retries of every task (default: 2)" in text
    with pytest.raises(SystemExit):
        pipeline.main(["models", "list", "--help"])
    assert (
        "(not the image registry): a directory or gs://bucket/prefix (default: model_registry)"
        in " ".join(capsys.readouterr().out.split())
    )
