"""Errors a user can act on become one line and an exit code (deploy/exit_codes.py)."""

from __future__ import annotations

import pytest

from deploy import exit_codes
from deploy.package import DeployError
from tweet_sentiment.core.errors import DataValidationError
from tweet_sentiment.preflight import SettingsError, check_parameters


def test_the_codes_are_distinct():
    codes = [exit_codes.OK, exit_codes.ERROR, exit_codes.USAGE, exit_codes.GATE_REFUSED]
    assert codes == [0, 1, 2, 3]


def test_missing_google_credentials_are_one_line(monkeypatch, tmp_path):
    import google.auth

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(Exception) as raised:
        google.auth.default()
    code, line = exit_codes.one_line(raised.value)
    assert code == exit_codes.ERROR and len(line.splitlines()) == 1
    assert line.startswith("error: no Google credentials: run `gcloud auth application-default login`")


def test_our_errors_and_refused_settings():
    assert exit_codes.one_line(DataValidationError("a.jsonl: the file is empty")) == (
        exit_codes.ERROR,
        "error: a.jsonl: the file is empty",
    )
    assert exit_codes.one_line(DeployError("--host must be http(s)"))[0] == exit_codes.USAGE
    refused = SettingsError(check_parameters({"registry_uri": "/r", "epochs": 0.0, "min_accuracy": 1.5}))
    code, text = exit_codes.one_line(refused)
    assert code == exit_codes.USAGE and text.splitlines() == [
        "error: epochs=0.0: must be > 0",
        "error: min_accuracy=1.5: must be between 0 and 1 (a fraction, not a percentage)",
    ]
    assert exit_codes.one_line(KeyError("a bug")) is None
