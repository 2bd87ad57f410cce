"""`pipeline.py models list|show|promote|rollback` on a local registry."""

from __future__ import annotations

from pipeline import main
from tweet_sentiment.registry import CHAMPION, open_registry, register_model


def test_models_commands(tiny_model_dir, tmp_path, capsys):
    uri = str(tmp_path / "registry")
    for i, accuracy in enumerate((0.61, 0.72)):
        register_model(
            uri,
            tiny_model_dir,
            metrics={"accuracy": accuracy, "macro_recall": 0.5},
            parameters={},
            dataset_fingerprint="x",
            run_id=f"run-{i}",
            gate={"passed": True},
            promote=True,
            parent_champion=open_registry(uri).get_alias(CHAMPION),
        )
    capsys.readouterr()
    assert main(["models", "list", "--registry", uri]) == 0
    listing = capsys.readouterr().out
    assert "0.6100" in listing and "0.7200" in listing and "champion" in listing.splitlines()[-1]

    assert main(["models", "show", "--registry", uri]) == 0
    shown = capsys.readouterr().out
    assert '"version": 2' in shown and "## Intended use" in shown

    assert main(["models", "rollback", "--registry", uri]) == 0
    assert "champion: version 2 -> 1" in capsys.readouterr().out
    assert main(["models", "promote", "2", "--registry", uri]) == 0
    assert open_registry(uri).get_alias(CHAMPION) == 2

    assert main(["models", "show", "7", "--registry", uri]) == 1
    assert "version 7 does not exist" in capsys.readouterr().err


def test_models_list_and_show_say_where_each_version_is_mirrored(tiny_model_dir, tmp_path, capsys):
    import json

    uri = str(tmp_path / "registry")
    for run_id in ("run-0", "run-1", "run-2"):
        register_model(uri, tiny_model_dir, metrics={}, parameters={}, dataset_fingerprint="x", run_id=run_id)
    registry = open_registry(uri)
    mlflow = {"ok": True, "model": "tweets", "version": 7, "champion": True, "ref": "tweets v7"}
    mlflow["tracking_uri"] = "http://mlflow.internal"
    registry.record_mirror(1, "mlflow", mlflow)
    registry.record_mirror(1, "vertex", {"ok": True, "version": "2", "ref": "projects/p/.../models/9@2"})
    registry.record_mirror(2, "mlflow", {"ok": False, "error": "ConnectionError: refused"})
    capsys.readouterr()

    assert main(["models", "list", "--registry", uri]) == 0
    rows = capsys.readouterr().out.splitlines()[-3:]
    assert "mlflow:7 vertex:2" in rows[0]
    assert "mlflow:FAILED" in rows[1]
    assert "mlflow" not in rows[2] and "vertex" not in rows[2]

    assert main(["models", "show", "1", "--registry", uri]) == 0
    shown = capsys.readouterr().out
    assert "mirrored to mlflow: tweets v7 at http://mlflow.internal" in shown
    assert "mirrored to vertex: projects/p/.../models/9@2" in shown
    assert main(["models", "show", "2", "--registry", uri]) == 0
    assert "mirrored to mlflow: FAILED (ConnectionError: refused)" in capsys.readouterr().out
    assert main(["models", "show", "1", "--json", "--registry", uri]) == 0
    assert json.loads(capsys.readouterr().out)["mirrors"]["vertex"]["version"] == "2"


def test_champion_moved_by_hand_moves_in_the_mirrors_too(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """promote / rollback move MLflow's champion to the MLflow version of the same registry version."""
    from tests.fakes.gcs_emulator import free_port
    from tweet_sentiment.registry.mirrors import mirror_version
    from tweet_sentiment.registry.mirrors.mlflow import MlflowMirror, mlflow_client

    # A server-less store keeps the logged models under ./mlruns: here, not in the checkout.
    monkeypatch.chdir(tmp_path)
    uri, tracking_uri = str(tmp_path / "registry"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = open_registry(uri)
    for run_id in ("run-0", "run-1"):
        result = register_model(
            uri,
            tiny_model_dir,
            metrics={"accuracy": 0.7},
            parameters={},
            dataset_fingerprint="x",
            run_id=run_id,
            gate={"passed": True},
            promote=True,
            parent_champion=registry.get_alias(CHAMPION),
        )
        mirror_version(registry, result, {"mlflow": MlflowMirror(tracking_uri, "tweets")})
    client = mlflow_client(tracking_uri)
    assert client.get_registered_model("tweets").aliases == {CHAMPION: 2}
    capsys.readouterr()

    assert main(["models", "promote", "1", "--registry", uri]) == 0
    assert "mlflow: champion -> tweets v1" in capsys.readouterr().out
    assert client.get_registered_model("tweets").aliases == {CHAMPION: 1}
    assert main(["models", "rollback", "--registry", uri]) == 0
    assert client.get_registered_model("tweets").aliases == {CHAMPION: 2}

    # A mirror that cannot be reached: our alias moves, the command says which mirror lags and fails.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    record = {**registry.mirrors(1)["mlflow"], "tracking_uri": f"http://127.0.0.1:{free_port()}"}
    registry.record_mirror(1, "mlflow", record)
    assert main(["models", "promote", "1", "--registry", uri]) == 1
    assert "champion now points at version 1 in the registry, but not in: mlflow" in capsys.readouterr().err
    assert registry.get_alias(CHAMPION) == 1


def test_models_show_prints_the_champions_retrain_checks(tiny_model_dir, tmp_path, capsys):
    import json

    uri = str(tmp_path / "registry")
    register_model(uri, tiny_model_dir, metrics={}, parameters={}, dataset_fingerprint="x", run_id="r")
    registry = open_registry(uri)
    assert main(["models", "show", "1", "--registry", uri]) == 0
    assert "retrain checks: none (never checked as champion)" in capsys.readouterr().out
    check = {
        "checked_at": "2026-12-03T03:00:05+00:00",
        "run_id": "night-1",
        "snapshot": "gs://b/tweets/2026-12-02",
        "fingerprint": "ab" * 32,
        "policy": "when_needed",
        "decision": "skip",
        "summary": "skipped: same snapshot; no measure reached its threshold",
        "figures": {"label_drift": 0.0, "decay": 0.001},
        "champion_today": {"accuracy": 0.7321},
    }
    registry.record_check(1, check)
    assert main(["models", "show", "1", "--registry", uri]) == 0
    shown = capsys.readouterr().out
    assert "retrain checks: 1, last 1 (newest last):" in shown
    assert (
        "2026-12-03T03:00:05+00:00  skip  when_needed gs://b/tweets/2026-12-02 (fingerprint abababababab)"
        in shown
    )
    assert "champion today: accuracy 0.7321" in shown and "measures: label_drift 0.000, decay 0.001" in shown
    assert "skipped: same snapshot; no measure reached its threshold" in shown
    assert main(["models", "show", "1", "--json", "--registry", uri]) == 0
    assert json.loads(capsys.readouterr().out)["checks"] == [check]
