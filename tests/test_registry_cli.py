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
    assert "mirrored to mlflow: tweets v7 (champion) at http://mlflow.internal" in shown
    assert "mirrored to vertex: projects/p/.../models/9@2" in shown
    assert main(["models", "show", "2", "--registry", uri]) == 0
    assert "mirrored to mlflow: FAILED (ConnectionError: refused)" in capsys.readouterr().out
    assert main(["models", "show", "1", "--json", "--registry", uri]) == 0
    assert json.loads(capsys.readouterr().out)["mirrors"]["vertex"]["version"] == "2"
