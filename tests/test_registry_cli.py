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
